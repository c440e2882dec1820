/*
 * Transfer sets at scale: training throughput from a sharded manifest of uint8 inputs with
 * float16 logits against the same rows as one float32 array in memory, and the anonymous
 * memory a run needs as the manifest grows.
 *
 *   transfer_bench make DIR ROWS SHARDS        write DIR/manifest.json: SHARDS shards of
 *                                              784 uint8 inputs + 10 float16 logits per row
 *                                              (mimic_npy_writer + mimic_manifest_writer)
 *   transfer_bench throughput MANIFEST SECONDS ROUNDS
 *                                              the same student trained on the manifest and
 *                                              on its rows copied into one float32 array,
 *                                              interleaved for ROUNDS rounds of SECONDS each;
 *                                              medians and their ratio
 *   transfer_bench memory MANIFEST SECONDS     train on the manifest for SECONDS, then print
 *                                              VmHWM, RssAnon, RssFile (/proc/self/status)
 *
 * The student: 784-256b-4096-10 ReLU, batch 256, SGD with momentum (as train_bench.c), input
 * standardization fitted on 65536 rows, raw L2 targets. Threads: OPENBLAS_NUM_THREADS.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mimic.h>

#if defined(MIMIC_HAVE_OPENBLAS)
#include <cblas.h>
#endif

enum { D = 784, C = 10, K = 256, H = 4096, BATCH = 256 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", what, mimic_status_str(rc), mimic_last_error());
    exit(1);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* IEEE binary16 of a float in a tame range (|v| < 2^15, normal or zero): truncating. */
static uint16_t to_f16(float v)
{
    uint32_t x;
    memcpy(&x, &v, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    int e = (int)((x >> 23) & 0xff) - 127 + 15;
    if (e <= 0)
        return (uint16_t)sign;
    return (uint16_t)(sign | (uint32_t)e << 10 | ((x >> 13) & 0x3ffu));
}

static int make(const char *dir, uint64_t rows, int shards)
{
    mkdir(dir, 0755);
    char path[4096], xname[64], zname[64];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    mimic_manifest_writer *m = NULL;
    int rc = mimic_manifest_writer_open(&m, path);
    if (rc)
        die(rc, "manifest");
    const size_t chunk = 4096, dx = D, dz = C;
    uint8_t *x = malloc(chunk * D);
    uint16_t *z = malloc(chunk * C * sizeof *z);
    uint64_t s = 88172645463325252ull, done = 0;
    for (int k = 0; k < shards; k++) {
        uint64_t n = rows / (uint64_t)shards + ((uint64_t)k < rows % (uint64_t)shards);
        snprintf(xname, sizeof xname, "shard-%05d.inputs.npy", k);
        snprintf(zname, sizeof zname, "shard-%05d.logits.npy", k);
        mimic_npy_writer *wx = NULL, *wz = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, xname);
        if ((rc = mimic_npy_writer_open(&wx, path, MIMIC_DTYPE_U8, &dx, 1)))
            die(rc, "inputs");
        snprintf(path, sizeof path, "%s/%s", dir, zname);
        if ((rc = mimic_npy_writer_open(&wz, path, MIMIC_DTYPE_F16, &dz, 1)))
            die(rc, "logits");
        for (uint64_t i = 0; i < n; i += chunk) {
            size_t r = n - i < chunk ? (size_t)(n - i) : chunk;
            for (size_t j = 0; j < r * D; j += 8) {
                uint64_t v = next(&s);
                memcpy(x + j, &v, r * D - j < 8 ? r * D - j : 8);
            }
            for (size_t j = 0; j < r * C; j++)
                z[j] = to_f16((float)((int64_t)(next(&s) % 2001) - 1000) * 0.005f);
            if ((rc = mimic_npy_writer_append(wx, x, r)) || (rc = mimic_npy_writer_append(wz, z, r)))
                die(rc, "append");
        }
        if ((rc = mimic_npy_writer_close(wx)) || (rc = mimic_npy_writer_close(wz)))
            die(rc, "close");
        if ((rc = mimic_manifest_writer_add(m, xname, zname, NULL)))
            die(rc, "add");
        done += n;
    }
    if ((rc = mimic_manifest_writer_close(m)))
        die(rc, "manifest close");
    printf("wrote %s/manifest.json: %llu rows in %d shards\n", dir, (unsigned long long)done,
           shards);
    free(x);
    free(z);
    return 0;
}

static mimic_trainer *trainer_for(mimic_student **s, const mimic_dataset *d)
{
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = D;
    so.n_bottleneck = K;
    so.n_hidden = H;
    so.n_classes = C;
    int rc = mimic_student_create(s, &so);
    if (rc)
        die(rc, "student");
    mimic_train_options to;
    mimic_train_options_init(&to, sizeof to);
    to.loss = MIMIC_LOSS_L2;
    to.optimizer = MIMIC_OPTIMIZER_SGD;
    to.target_norm = MIMIC_TARGET_NONE;
    to.batch_size = BATCH;
    to.learning_rate = 1e-4;
    to.epochs = 1000000;
    mimic_trainer *t = NULL;
    if ((rc = mimic_trainer_create(&t, *s, d, &to)))
        die(rc, "trainer");
    /* the same input normalization for both: fitted here on the first rows of the set */
    static float mean[D], scale[D];
    static int fitted;
    if (!fitted) {
        size_t n = mimic_dataset_rows(d) < 65536 ? mimic_dataset_rows(d) : 65536;
        float *row = malloc(D * sizeof *row);
        double sum[D] = {0}, sq[D] = {0};
        for (size_t r = 0; r < n; r++) {
            mimic_dataset_get_inputs(d, r, 1, row);
            for (int j = 0; j < D; j++) {
                sum[j] += row[j];
                sq[j] += (double)row[j] * row[j];
            }
        }
        for (int j = 0; j < D; j++) {
            mean[j] = (float)(sum[j] / (double)n);
            double var = sq[j] / (double)n - (sum[j] / (double)n) * (sum[j] / (double)n);
            scale[j] = (float)(1.0 / sqrt(var > 1 ? var : 1));
        }
        free(row);
        fitted = 1;
    }
    mimic_student_set_input_norm(*s, mean, scale);
    return t;
}

/* Steps for `seconds`; examples per second. */
static double run_for(mimic_trainer *t, double seconds)
{
    long steps = 0;
    double t0 = now(), el;
    do {
        int rc = mimic_trainer_step(t, NULL);
        if (rc)
            die(rc, "step");
        steps++;
        el = now() - t0;
    } while (el < seconds || steps < 3);
    return (double)steps * BATCH / el;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void blas_line(void)
{
#if defined(MIMIC_HAVE_OPENBLAS)
    printf("blas: OpenBLAS core %s, %d threads\n", openblas_get_corename(),
           openblas_get_num_threads());
#endif
}

static int throughput(const char *manifest, double seconds, int rounds)
{
    mimic_dataset *sharded = NULL, *dense = NULL;
    int rc = mimic_dataset_load_manifest(&sharded, manifest);
    if (rc)
        die(rc, "load");
    size_t rows = mimic_dataset_rows(sharded);
    float *x = malloc(rows * D * sizeof *x), *z = malloc(rows * C * sizeof *z);
    if (!x || !z) {
        fprintf(stderr, "out of memory for %zu float32 rows\n", rows);
        return 1;
    }
    if ((rc = mimic_dataset_get_inputs(sharded, 0, rows, x)) ||
        (rc = mimic_dataset_get_logits(sharded, 0, rows, z)))
        die(rc, "copy");
    if ((rc = mimic_dataset_wrap(&dense, x, MIMIC_DTYPE_F32, z, NULL, rows, D, C)))
        die(rc, "wrap");
    mimic_student *s1, *s2;
    mimic_trainer *ts = trainer_for(&s1, sharded), *td = trainer_for(&s2, dense);
    run_for(ts, 1.0); /* warm up: page in the shards, BLAS buffers */
    run_for(td, 1.0);
    double *a = calloc((size_t)rounds, sizeof *a), *b = calloc((size_t)rounds, sizeof *b);
    for (int r = 0; r < rounds; r++) { /* interleaved: both see the same machine */
        a[r] = run_for(td, seconds);
        b[r] = run_for(ts, seconds);
    }
    qsort(a, (size_t)rounds, sizeof *a, cmp);
    qsort(b, (size_t)rounds, sizeof *b, cmp);
    blas_line();
    printf("784-256b-4096-10, batch %d, %zu rows, %d rounds of %.1f s\n", BATCH, rows, rounds,
           seconds);
    printf("| training set | examples/s (median) | min | max | vs in-memory f32 |\n|---|---|---|---|---|\n");
    printf("| one float32 array in memory (f32 inputs, f32 logits) | %.0f | %.0f | %.0f | 1.000 |\n",
           a[rounds / 2], a[0], a[rounds - 1]);
    printf("| manifest, %zu shards (u8 inputs, f16 logits, mapped) | %.0f | %.0f | %.0f | %.3f |\n",
           mimic_dataset_n_shards(sharded), b[rounds / 2], b[0], b[rounds - 1],
           b[rounds / 2] / a[rounds / 2]);
    mimic_trainer_free(ts);
    mimic_trainer_free(td);
    mimic_student_free(s1);
    mimic_student_free(s2);
    mimic_dataset_free(dense);
    mimic_dataset_free(sharded);
    free(x);
    free(z);
    free(a);
    free(b);
    return 0;
}

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n))
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static int memory(const char *manifest, double seconds)
{
    mimic_dataset *d = NULL;
    double t0 = now();
    int rc = mimic_dataset_load_manifest(&d, manifest);
    if (rc)
        die(rc, "load");
    double load_s = now() - t0;
    mimic_student *s;
    mimic_trainer *t = trainer_for(&s, d);
    double rate = run_for(t, seconds);
    blas_line();
    printf("%s: %zu rows in %zu shards, loaded and checked in %.1f s; %.0f examples/s\n",
           manifest, mimic_dataset_rows(d), mimic_dataset_n_shards(d), load_s, rate);
    printf("memory VmHWM %ld kB RssAnon %ld kB RssFile %ld kB\n", status_kb("VmHWM:"),
           status_kb("RssAnon:"), status_kb("RssFile:"));
    mimic_trainer_free(t);
    mimic_student_free(s);
    mimic_dataset_free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "make"))
        return make(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "throughput"))
        return throughput(argv[2], atof(argv[3]), atoi(argv[4]));
    if (argc >= 4 && !strcmp(argv[1], "memory"))
        return memory(argv[2], atof(argv[3]));
    fprintf(stderr, "usage: %s make DIR ROWS SHARDS | throughput MANIFEST SECONDS ROUNDS | "
                    "memory MANIFEST SECONDS\n",
            argv[0]);
    return 2;
}
