/*
 * OpenBLAS CPU detection fix-up for the CLI.
 *
 * OpenBLAS picks its kernels once, when it is loaded, from the CPU model. A release older
 * than the CPU (Debian 12's 0.3.21 on Emerald Rapids, say) does not know the model and falls
 * back to its generic "Prescott" SSE3 kernels: sgemm then runs ~3.5x slower than with the
 * AVX-512 kernels the CPU supports. The library never touches process-wide settings, but the
 * mimic program owns its process: when OPENBLAS_CORETYPE is unset and OpenBLAS reports the
 * generic core on a CPU with AVX-512 (or AVX2), it re-executes itself once with
 * OPENBLAS_CORETYPE=SkylakeX (or Haswell). Setting OPENBLAS_CORETYPE yourself (any value)
 * disables this; `mimic --version` shows the core in use.
 *
 * For the same reason --threads N sets OpenBLAS's thread count for the process as well as
 * libmimic's own threads (the library leaves BLAS's threads to its caller).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The OpenBLAS core name, or NULL when the BLAS in this process is not OpenBLAS. */
const char *cli_blas_core(void)
{
    void *sym = dlsym(RTLD_DEFAULT, "openblas_get_corename");
    char *(*corename)(void) = NULL;
    memcpy(&corename, &sym, sizeof sym); /* POSIX guarantees this; ISO C has no direct cast */
    return corename ? corename() : NULL;
}

void cli_fix_blas_core(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    const char *core = cli_blas_core();
    if (!core || strcmp(core, "Prescott") != 0)
        return;
    const char *better = NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        better = "Haswell";
#endif
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0)
        return;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv); /* by its real path, so ps shows "mimic", not "exe" */
    }
    unsetenv("OPENBLAS_CORETYPE"); /* exec failed: carry on with the generic kernels */
}

void cli_set_blas_threads(uint64_t n)
{
    void *sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    void (*set)(int) = NULL;
    memcpy(&set, &sym, sizeof sym);
    if (set && n > 0)
        set(n > 1024 ? 1024 : (int)n);
}
