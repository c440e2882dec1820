/*
 * Widening float16 teacher logits to float32 (lib/common/half.c), each implementation called
 * directly: the portable path and the F16C one (when this CPU has F16C), on a batch-sized
 * block (256 rows x 10 classes, what the trainer widens per step) and on a large array.
 *
 *   half_bench [SECONDS]
 *
 * Prints values per second for each; both give the same bits (tests/check_common.c).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/common.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef void (*widen_fn)(const uint16_t *, float *, size_t);

static double rate(widen_fn f, const uint16_t *src, float *dst, size_t n, double seconds)
{
    long reps = 0;
    double t0 = now(), el;
    do {
        f(src, dst, n);
        reps++;
        el = now() - t0;
    } while (el < seconds);
    volatile float sink = dst[n / 2];
    (void)sink;
    return (double)reps * (double)n / el;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const size_t sizes[2] = {256 * 10, (size_t)1 << 24};
    uint16_t *src = malloc(sizes[1] * sizeof *src);
    float *dst = malloc(sizes[1] * sizeof *dst);
    uint64_t s = 1;
    for (size_t i = 0; i < sizes[1]; i++) { /* finite values of every magnitude */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint16_t h = (uint16_t)(s >> 48);
        src[i] = (h & 0x7c00u) == 0x7c00u ? (uint16_t)(h & 0xbfffu) : h;
    }
    printf("cpu has F16C: %s\n", mimic__f16c_available() ? "yes" : "no");
    printf("| values | portable (Mvalues/s) | F16C (Mvalues/s) | F16C / portable |\n|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        double p = rate(mimic__f16_to_f32_portable, src, dst, sizes[k], seconds);
        double f = mimic__f16c_available()
                       ? rate(mimic__f16_to_f32_f16c, src, dst, sizes[k], seconds)
                       : 0;
        printf("| %zu | %.0f | %.0f | %.1f |\n", sizes[k], p * 1e-6, f * 1e-6, f ? f / p : 0);
    }
    free(src);
    free(dst);
    return 0;
}
