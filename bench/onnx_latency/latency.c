/*
 * Inference latency of libmimic's forward pass, and the models for ONNX Runtime's side.
 *
 * usage: onnx_latency OUTDIR ITERS [THREADS [DTYPES]]
 * For each configuration and weight type (DTYPES, comma-separated, default
 * "float32,float16,int8": mimic_student_quantize) it creates a student (fixed seed), writes
 * it to OUTDIR as <name>.safetensors (for the PyTorch side) and exports it as
 * <name>.gemm.onnx (what mimic_student_export_onnx writes) and, for float32,
 * <name>.matmul.onnx (the MatMul-on-transposed-weights variant), writes the batch-1 and
 * batch-256 inputs as raw float32, times mimic_student_forward on them (warm-up, then ITERS
 * timed calls at batch 1, max(20, ITERS / 50) at batch 256) and prints
 *   mimic <name> <batch> <median_us> <p10_us> <p90_us>
 * and appends "<name> D C <weight dtype>" to OUTDIR/models.txt (the other sides' list). A
 * compact student's name ends in _float16 or _int8.
 * THREADS (default 1) is the students' own thread count (mimic_student_set_threads); the BLAS
 * thread count comes from OPENBLAS_NUM_THREADS (bench/onnx_latency/run.sh sets both to ONNX
 * Runtime's intraOpNumThreads). Not a test: numbers go into bench/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/model.h"

typedef struct config {
    const char *name;
    size_t D, k, H, C;
    int norm;
} config;

static const config CONFIGS[] = {
    {"784-256b-4096-10_relu_norm", 784, 256, 4096, 10, 1},
    {"784-4096-10_relu", 784, 0, 4096, 10, 0},
};
static const size_t BATCHES[] = {1, 256};

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill(float *x, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 0.5f;
}

static void die(int rc, const char *what)
{
    fprintf(stderr, "onnx_latency: %s: %s (%s)\n", what, mimic_status_str(rc), mimic_last_error());
    exit(1);
}

static void write_f32(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof *x, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "onnx_latency: cannot write %s\n", path);
        exit(1);
    }
}

static void bench_one(const config *c, const char *outdir, size_t iters, size_t threads,
                      const char *dtype)
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = c->D;
    o.n_bottleneck = c->k;
    o.n_hidden = c->H;
    o.n_classes = c->C;
    o.activation = MIMIC_ACT_RELU;
    o.seed = 3;
    mimic_student *s = NULL;
    int rc = mimic_student_create(&s, &o);
    if (rc)
        die(rc, "create");
    if (c->norm) {
        float *mean = malloc(c->D * sizeof *mean), *scale = malloc(c->D * sizeof *scale);
        fill(mean, c->D, 1);
        for (size_t i = 0; i < c->D; i++)
            scale[i] = 1.0f + 0.5f * mean[i];
        if ((rc = mimic_student_set_input_norm(s, mean, scale)) != 0)
            die(rc, "set_input_norm");
        free(mean);
        free(scale);
    }
    if ((rc = mimic_student_set_threads(s, threads)) != 0)
        die(rc, "set_threads");
    const int32_t wd = mimic__weight_dtype_lookup(dtype);
    if (!wd)
        die(MIMIC_ERR_INVALID, dtype);
    if ((rc = mimic_student_quantize(s, wd)) != 0)
        die(rc, "quantize");
    char name[256], path[4096];
    snprintf(name, sizeof name, "%s%s%s", c->name, wd == MIMIC_DTYPE_F32 ? "" : "_",
             wd == MIMIC_DTYPE_F32 ? "" : dtype);
    snprintf(path, sizeof path, "%s/%s.safetensors", outdir, name);
    if ((rc = mimic_student_save(s, path)) != 0)
        die(rc, path);
    snprintf(path, sizeof path, "%s/%s.gemm.onnx", outdir, name);
    if ((rc = mimic__onnx_export(s, path, MIMIC__ONNX_GEMM)) != 0)
        die(rc, path);
    snprintf(path, sizeof path, "%s/%s.matmul.onnx", outdir, name);
    if (wd == MIMIC_DTYPE_F32 && (rc = mimic__onnx_export(s, path, MIMIC__ONNX_MATMUL)) != 0)
        die(rc, path);
    snprintf(path, sizeof path, "%s/models.txt", outdir);
    FILE *list = fopen(path, "a");
    if (!list || fprintf(list, "%s %zu %zu %s\n", name, c->D, c->C, dtype) < 0 || fclose(list))
        die(MIMIC_ERR_IO, path);

    double *t = malloc(iters * sizeof *t);
    for (size_t b = 0; b < sizeof BATCHES / sizeof *BATCHES; b++) {
        size_t rows = BATCHES[b];
        float *x = malloc(rows * c->D * sizeof *x), *y = malloc(rows * c->C * sizeof *y);
        fill(x, rows * c->D, (unsigned)(10 + rows));
        snprintf(path, sizeof path, "%s/%s.b%zu.input.f32", outdir, name, rows);
        write_f32(path, x, rows * c->D);
        size_t n = rows == 1 ? iters : (iters / 50 > 20 ? iters / 50 : 20);
        size_t warm = n / 10 + 5;
        for (size_t i = 0; i < warm; i++)
            if ((rc = mimic_student_forward(s, x, rows, y)) != 0)
                die(rc, "forward");
        for (size_t i = 0; i < n; i++) {
            double t0 = now_us();
            mimic_student_forward(s, x, rows, y);
            t[i] = now_us() - t0;
        }
        snprintf(path, sizeof path, "%s/%s.b%zu.logits.f32", outdir, name, rows);
        write_f32(path, y, rows * c->C);
        qsort(t, n, sizeof *t, cmp_double);
        printf("mimic %s %zu %.1f %.1f %.1f\n", name, rows, t[n / 2], t[n / 10], t[n * 9 / 10]);
        fflush(stdout);
        free(x);
        free(y);
    }
    free(t);
    mimic_student_free(s);
}

#ifdef MIMIC_HAVE_OPENBLAS
char *openblas_get_corename(void);
#endif

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: onnx_latency OUTDIR ITERS [THREADS [DTYPES]]\n");
        return 2;
    }
    long iters = strtol(argv[2], NULL, 10);
    if (iters < 10) {
        fprintf(stderr, "onnx_latency: ITERS must be >= 10\n");
        return 2;
    }
    long threads = argc >= 4 ? strtol(argv[3], NULL, 10) : 1;
    char dtypes[256];
    snprintf(dtypes, sizeof dtypes, "%s", argc == 5 ? argv[4] : "float32,float16,int8");
    if (threads < 1) {
        fprintf(stderr, "onnx_latency: THREADS must be >= 1\n");
        return 2;
    }
#ifdef MIMIC_HAVE_OPENBLAS
    printf("# openblas-core %s\n", openblas_get_corename());
#endif
    for (char *save = NULL, *dt = strtok_r(dtypes, ",", &save); dt; dt = strtok_r(NULL, ",", &save))
        for (size_t i = 0; i < sizeof CONFIGS / sizeof *CONFIGS; i++)
            bench_one(&CONFIGS[i], argv[1], (size_t)iters, (size_t)threads, dt);
    return 0;
}
