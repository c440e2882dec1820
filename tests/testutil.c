#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mimic.h>

static const char *tmp_dir(void)
{
    static char dir[1024];
    if (!dir[0]) {
        const char *d = getenv("MIMIC_TEST_TMP");
        if (!d || !*d)
            snprintf(dir, sizeof dir, "/tmp/mimic_test_%ld", (long)getpid());
        else
            snprintf(dir, sizeof dir, "%s", d);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            ck_abort_msg("cannot create %s", dir);
    }
    return dir;
}

const char *tu_path(const char *name)
{
    static char slots[8][1200];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, sizeof slots[0], "%s/%s", tmp_dir(), name);
    return p;
}

void tu_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, n, f) == n || n == 0);
    ck_assert(fclose(f) == 0);
}

void tu_write_npy(const char *path, const char *descr, size_t rows, size_t cols,
                  const void *data, size_t n)
{
    char dict[128], shape[64];
    if (cols)
        snprintf(shape, sizeof shape, "(%zu, %zu)", rows, cols);
    else
        snprintf(shape, sizeof shape, "(%zu,)", rows);
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       descr, shape);
    ck_assert(len > 0 && len < 100);
    /* pad with spaces so the data starts at byte 128, header ending in '\n' */
    uint8_t buf[128];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = 128 - 10;
    buf[9] = 0;
    memcpy(buf + 10, dict, (size_t)len);
    buf[127] = '\n';
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(buf, 1, sizeof buf, f) == sizeof buf);
    ck_assert(fwrite(data, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

void *tu_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && len > 0 && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *n = (size_t)len;
    return buf;
}

int tu_python(const char *script, const char *const *args, size_t n_args)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        const char *argv[32];
        size_t i = 0;
        argv[i++] = MIMIC_PYTHON;
        argv[i++] = "-c";
        argv[i++] = script;
        for (size_t j = 0; j < n_args && i < 31; j++)
            argv[i++] = args[j];
        argv[i] = NULL;
        execv(MIMIC_PYTHON, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int tu_have_python(const char *modules, const char *test)
{
    static char cached_modules[128];
    static int cached = -1;
    if (cached < 0 || strcmp(cached_modules, modules) != 0) {
        char script[256];
        snprintf(script, sizeof script,
                 "import sys\nfor m in sys.argv[1].split(): __import__(m)\n");
        const char *args[1] = {modules};
        cached = access(MIMIC_PYTHON, X_OK) == 0 && tu_python(script, args, 1) == 0;
        snprintf(cached_modules, sizeof cached_modules, "%s", modules);
    }
    int ok = cached;
    if (!ok)
        fprintf(stderr, "SKIP %s: needs %s with %s (not available here)\n", test, MIMIC_PYTHON,
                modules);
    return ok;
}

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) * 0x1.0p-53;
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

mimic_student *tu_student(size_t D, size_t k, size_t H, size_t C, int32_t act, uint64_t seed)
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = D;
    o.n_bottleneck = k;
    o.n_hidden = H;
    o.n_classes = C;
    o.activation = act;
    o.seed = seed;
    mimic_student *s = NULL;
    int rc = mimic_student_create(&s, &o);
    ck_assert_msg(rc == MIMIC_OK, "mimic_student_create: %s", mimic_last_error());
    return s;
}

void tu_set_norm(mimic_student *s, size_t D, uint64_t seed)
{
    float *mean = malloc(D * sizeof *mean), *scale = malloc(D * sizeof *scale);
    tu_fill_uniform(mean, D, -1, 1, seed);
    tu_fill_uniform(scale, D, 0.5f, 2, seed + 1);
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    free(mean);
    free(scale);
}

void tu_expect_load_error(const char *path, int code, const char *what, const char *needle)
{
    mimic_student *s = (mimic_student *)(uintptr_t)1;
    int rc = mimic_student_load(&s, path);
    ck_assert_msg(rc == code, "%s: got %d (%s)", what, rc, mimic_last_error());
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(mimic_last_error(), needle) != NULL, "%s: message '%s'", what,
                  mimic_last_error());
    ck_assert(strstr(mimic_last_error(), path) != NULL);
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
