/*
 * Training-step throughput of libmimic against its roofline.
 *
 *   train_bench D k H C batch [seconds] [u8|f32] [path/to/inputs.npy path/to/logits.npy]
 *
 * The roofline is the time cblas_sgemm alone needs, in this process, for the GEMM shapes of
 * one training step (forward: 3 with a bottleneck, 2 without; backward: the weight gradients
 * and the activations' gradients, but no gradient for the raw input). libmimic's step adds
 * the batch gather, bias+activation, the loss and the optimizer update. Prints
 *   roofline GFLOP/s, libmimic GFLOP/s and examples/s, and their ratio.
 * Threads: set OPENBLAS_NUM_THREADS (both measurements use the same BLAS setting) and
 * MIMIC_BENCH_THREADS=N for options.threads = N (default 0: no thread of libmimic's own; N
 * threads run the step's passes between the BLAS calls); libmimic never changes OpenBLAS's
 * thread count.
 * OPENBLAS_CORETYPE (e.g. SkylakeX) picks OpenBLAS's kernels; the line "blas" says which.
 */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mimic.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rnd(size_t n, float amp, uint64_t seed)
{
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = amp * (float)((double)(seed >> 11) * 0x1.0p-53 - 0.5);
    }
    return p;
}

typedef struct gemm {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
} gemm;

/* The GEMMs of one step, C(m x n) = op(A)(m x k) op(B)(k x n), in the library's order. */
static int step_gemms(gemm *g, int D, int k, int H, int C, int B)
{
    int n = 0, kin = k ? k : D;
    if (k)
        g[n++] = (gemm){CblasNoTrans, CblasTrans, B, k, D};   /* z = x V^T */
    g[n++] = (gemm){CblasNoTrans, CblasTrans, B, H, kin};     /* h = z W^T */
    g[n++] = (gemm){CblasNoTrans, CblasTrans, B, C, H};       /* s = h Wo^T */
    g[n++] = (gemm){CblasTrans, CblasNoTrans, C, H, B};       /* dWo = ds^T h */
    g[n++] = (gemm){CblasNoTrans, CblasNoTrans, B, H, C};     /* dh = ds Wo */
    g[n++] = (gemm){CblasTrans, CblasNoTrans, H, kin, B};     /* dW = dpre^T z */
    if (k) {
        g[n++] = (gemm){CblasNoTrans, CblasNoTrans, B, k, H}; /* dz = dpre W */
        g[n++] = (gemm){CblasTrans, CblasNoTrans, k, D, B};   /* dV = dz^T x */
    }
    return n;
}

static double roofline_seconds_per_step(const gemm *g, int ng, double seconds)
{
    float *buf[8][3];
    for (int i = 0; i < ng; i++) {
        buf[i][0] = rnd((size_t)g[i].m * (size_t)g[i].k, 1, (uint64_t)i + 1);
        buf[i][1] = rnd((size_t)g[i].k * (size_t)g[i].n, 1, (uint64_t)i + 11);
        buf[i][2] = rnd((size_t)g[i].m * (size_t)g[i].n, 1, (uint64_t)i + 21);
    }
    long reps = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < ng; i++) {
            int lda = g[i].ta == CblasNoTrans ? g[i].k : g[i].m;
            int ldb = g[i].tb == CblasNoTrans ? g[i].n : g[i].k;
            cblas_sgemm(CblasRowMajor, g[i].ta, g[i].tb, g[i].m, g[i].n, g[i].k, 1.0f, buf[i][0], lda,
                        buf[i][1], ldb, 0.0f, buf[i][2], g[i].n);
        }
        reps++;
        t = now() - t0;
    } while (t < seconds || reps < 5);
    for (int i = 0; i < ng; i++)
        for (int j = 0; j < 3; j++)
            free(buf[i][j]);
    return t / (double)reps;
}

/* Resident memory split into anonymous (heap: model + workspaces) and file-backed (mapped
 * dataset pages, reclaimable page cache) from /proc/self/status. */
static void print_memory(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6) || !strncmp(line, "RssAnon:", 8) || !strncmp(line, "RssFile:", 8))
            printf("memory %s", line);
    fclose(f);
}

static void die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", what, mimic_status_str(rc), mimic_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(
            stderr,
            "usage: %s D k H C batch [seconds] [u8|f32] [inputs.npy logits.npy]\n"
            "environment: MIMIC_BENCH_DROPOUT=P trains with options.dropout = P;\n"
            "MIMIC_BENCH_FLIP=P (and MIMIC_BENCH_SHIFT=N) with options.flip = P (shift = N) on\n"
            "square images (D must be a square number);\n"
            "MIMIC_BENCH_THREADS=N trains with options.threads = N\n",
            argv[0]);
        return 2;
    }
    int D = atoi(argv[1]), k = atoi(argv[2]), H = atoi(argv[3]), C = atoi(argv[4]), B = atoi(argv[5]);
    double seconds = argc > 6 ? atof(argv[6]) : 5.0;
    int u8 = argc > 7 && strcmp(argv[7], "u8") == 0;
    if (D <= 0 || k < 0 || H <= 0 || C < 2 || B <= 0 || seconds <= 0) {
        fprintf(stderr, "bad sizes\n");
        return 2;
    }
    const size_t rows = 16384;
    mimic_dataset *ds = NULL;
    float *x = NULL, *z = NULL;
    uint8_t *xb = NULL;
    int rc;
    if (argc > 9) {
        rc = mimic_dataset_load_npy(&ds, argv[8], argv[9], NULL);
        if (rc)
            die(rc, "load");
    } else {
        z = rnd(rows * (size_t)C, 6, 7);
        if (u8) {
            xb = malloc(rows * (size_t)D);
            for (size_t i = 0; i < rows * (size_t)D; i++)
                xb[i] = (uint8_t)((i * 2654435761u) >> 24);
            rc = mimic_dataset_wrap(&ds, xb, MIMIC_DTYPE_U8, z, NULL, rows, (size_t)D, (size_t)C);
        } else {
            x = rnd(rows * (size_t)D, 2, 3);
            rc = mimic_dataset_wrap(&ds, x, MIMIC_DTYPE_F32, z, NULL, rows, (size_t)D, (size_t)C);
        }
        if (rc)
            die(rc, "dataset");
    }

    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = (size_t)D;
    so.n_bottleneck = (size_t)k;
    so.n_hidden = (size_t)H;
    so.n_classes = (size_t)C;
    mimic_student *s = NULL;
    if ((rc = mimic_student_create(&s, &so)))
        die(rc, "student");
    mimic_train_options to;
    mimic_train_options_init(&to, sizeof to);
    to.loss = MIMIC_LOSS_L2;
    to.optimizer = MIMIC_OPTIMIZER_SGD;   /* the step: SGD with momentum 0.9, */
    to.target_norm = MIMIC_TARGET_NONE;   /* raw logits, as bench/torch_bench.py */
    to.batch_size = (uint64_t)B;
    to.learning_rate = 1e-4;
    to.epochs = 1000000;
    to.standardize = 1; /* every config pays the fused convert + normalize in the gather */
    const char *dropout = getenv("MIMIC_BENCH_DROPOUT");
    to.dropout = dropout ? atof(dropout) : 0.0; /* the trainer validates it */
    const char *flip = getenv("MIMIC_BENCH_FLIP"), *shift = getenv("MIMIC_BENCH_SHIFT");
    if (flip || shift) {
        uint64_t side = (uint64_t)(sqrt((double)D) + 0.5);
        to.image_height = to.image_width = side; /* the trainer checks side^2 == D */
        to.flip = flip ? atof(flip) : 0.0;
        to.shift = shift ? (uint64_t)atoi(shift) : 0;
    }
    const char *threads = getenv("MIMIC_BENCH_THREADS");
    to.threads = threads ? atoi(threads) : 0; /* the trainer validates it */
    mimic_trainer *t = NULL;
    if ((rc = mimic_trainer_create(&t, s, ds, &to)))
        die(rc, "trainer");

    gemm g[8];
    int ng = step_gemms(g, D, k, H, C, B);
    double flops = 0;
    for (int i = 0; i < ng; i++)
        flops += 2.0 * g[i].m * g[i].n * g[i].k;

    for (int i = 0; i < 5; i++)
        if ((rc = mimic_trainer_step(t, NULL)))
            die(rc, "step");
    /* Interleave the two measurements so both see the same machine state. */
    double roof = 0, mine = 0;
    for (int round = 0; round < 2; round++) {
        roof += roofline_seconds_per_step(g, ng, seconds / 4);
        long steps = 0;
        double t0 = now(), el;
        do {
            if ((rc = mimic_trainer_step(t, NULL)))
                die(rc, "step");
            steps++;
            el = now() - t0;
        } while (el < seconds / 4 || steps < 5);
        mine += el / (double)steps;
    }
    roof /= 2;
    mine /= 2;
    if (k)
        printf("config %d-%db-%d-%d batch %d inputs %s rows %zu\n", D, k, H, C, B,
               mimic_dataset_input_dtype(ds) == MIMIC_DTYPE_U8 ? "u8" : "f32", mimic_dataset_rows(ds));
    else
        printf("config %d-%d-%d batch %d inputs %s rows %zu\n", D, H, C, B,
               mimic_dataset_input_dtype(ds) == MIMIC_DTYPE_U8 ? "u8" : "f32", mimic_dataset_rows(ds));
#if defined(MIMIC_HAVE_OPENBLAS)
    printf("blas OpenBLAS core %s, %d threads\n", openblas_get_corename(), openblas_get_num_threads());
#endif
    printf("threads options.threads %d\n", (int)to.threads);
    printf("roofline  %8.1f GFLOP/s  %9.0f examples/s\n", flops / roof * 1e-9, B / roof);
    printf("libmimic  %8.1f GFLOP/s  %9.0f examples/s\n", flops / mine * 1e-9, B / mine);
    printf("ratio     %8.3f of roofline\n", roof / mine);
    printf("mimic train %d %d %d %d %d %.1f\n", D, k, H, C, B, B / mine);

    /* Batch-1 inference latency (median of many calls). */
    float *x1 = rnd((size_t)D, 2, 99), out[64];
    if (C <= 64) {
        enum { N = 2000 };
        static double lat[N];
        for (int i = 0; i < 50; i++)
            mimic_student_forward(s, x1, 1, out);
        for (int i = 0; i < N; i++) {
            double t0 = now();
            mimic_student_forward(s, x1, 1, out);
            lat[i] = now() - t0;
        }
        for (int i = 1; i < N; i++) /* insertion sort: N is small */
            for (int j = i; j > 0 && lat[j] < lat[j - 1]; j--) {
                double tmp = lat[j];
                lat[j] = lat[j - 1];
                lat[j - 1] = tmp;
            }
        printf("mimic infer1 %d %d %d %d %.2f\n", D, k, H, C, lat[N / 2] * 1e6);
    }
    free(x1);
    print_memory();
    mimic_trainer_free(t);
    mimic_student_free(s);
    mimic_dataset_free(ds);
    free(x);
    free(xb);
    free(z);
    return 0;
}
