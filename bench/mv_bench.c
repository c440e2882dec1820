/*
 * The hand-written kernels, each instruction set's called directly, so an AVX-512 machine
 * also measures the AVX2 and portable code, one thread:
 * - the small-batch kernels (lib/model/matvec.c): the matrix-vector products of the two bench
 *   students' layers in sequence (784-256b-4096-10: 256x784, 4096x256, 10x4096; 784-4096-10:
 *   4096x784, 10x4096), i.e. a batch-R forward pass without bias and activation, for each
 *   weight type;
 * - the inference GEMM (lib/model/gemm.c): the same layers for a batch of 256 rows.
 *
 *   mv_bench [SECONDS]
 *
 * Prints Markdown tables: median microseconds per pass over repeated 0.2 s rounds, the weight
 * bytes streamed per second (GB/s) and multiply-adds per second (GMAC/s); for the GEMM,
 * milliseconds and GFLOP/s. Every kernel of a table gives the same bits
 * (tests/check_matvec.c, tests/check_gemm.c).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct layer {
    size_t n, kk;
} layer;

typedef struct model {
    const char *name;
    layer layers[3];
    size_t n_layers;
} model;

static const model MODELS[] = {
    {"784-256b-4096-10", {{256, 784}, {4096, 256}, {10, 4096}}, 3},
    {"784-4096-10", {{4096, 784}, {10, 4096}}, 2},
};

enum { DT_F32, DT_F16, DT_I8, DT_COUNT };
static const char *const DT_NAME[DT_COUNT] = {"float32", "float16", "int8"};
static const size_t DT_SIZE[DT_COUNT] = {4, 2, 1};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct pass {
    const model *m;
    void *const *w;
    const float *scale, *x;
    float *y;
    size_t R;
    mimic__mv_fn f;
    mimic__gemm_fn g;
} pass;

/* One pass over the model's layers: the small-batch kernel on R rows, or the GEMM on 256. */
static void run_pass(const pass *a)
{
    for (size_t l = 0; l < a->m->n_layers; l++) {
        const layer *L = &a->m->layers[l];
        if (a->g) {
            const mimic__gemm g = {a->w[l], L->kk, L->kk, a->x, 256, a->y, L->n, NULL, false};
            a->g(&g, 0, L->n);
        } else {
            const mimic__mv mv = {a->w[l], a->scale, L->kk, L->kk, a->x, L->kk, a->R, a->y, L->n};
            a->f(&mv, 0, L->n);
        }
    }
}

/* Median seconds per pass over repeated 0.2 s rounds. */
static double time_pass(const pass *a, double seconds)
{
    double rounds[64];
    size_t n_rounds = 0;
    double t_end = now() + seconds;
    do {
        long reps = 0;
        double t0 = now(), el;
        do {
            run_pass(a);
            reps++;
            el = now() - t0;
        } while (el < 0.2);
        rounds[n_rounds++] = el / (double)reps;
    } while (now() < t_end && n_rounds < 64);
    qsort(rounds, n_rounds, sizeof *rounds, cmp_double);
    return rounds[n_rounds / 2];
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    float *x = malloc(256 * 4096 * sizeof(float)); /* also the GEMM's X^T and Y^T panels */
    float *y = malloc(256 * 4096 * sizeof(float));
    float *scale = malloc(4096 * sizeof(float));
    for (size_t i = 0; i < 256 * 4096; i++)
        x[i] = (float)(i % 17) * 0.01f - 0.08f;
    for (size_t i = 0; i < 4096; i++)
        scale[i] = 0.01f;
    printf("CPU instruction set: %s\n\n", mimic__mv_kernels_best()->name);
    printf("| model | weights | rows | kernels | us per pass | GB/s | GMAC/s |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (size_t mi = 0; mi < sizeof MODELS / sizeof *MODELS; mi++) {
        const model *m = &MODELS[mi];
        size_t macs = 0;
        for (size_t l = 0; l < m->n_layers; l++)
            macs += m->layers[l].n * m->layers[l].kk;
        for (int dt = 0; dt < DT_COUNT; dt++) {
            void *w[3];
            for (size_t l = 0; l < m->n_layers; l++) {
                size_t n = m->layers[l].n * m->layers[l].kk;
                w[l] = mimic__aligned_alloc(n * DT_SIZE[dt]);
                for (size_t i = 0; i < n; i++) {
                    float v = (float)((i * 7919) % 201) * 0.001f - 0.1f;
                    if (dt == DT_F32)
                        ((float *)w[l])[i] = v;
                    else if (dt == DT_F16)
                        ((uint16_t *)w[l])[i] = mimic__f32_to_f16(v);
                    else
                        ((int8_t *)w[l])[i] = (int8_t)(i % 255 - 127);
                }
            }
            const size_t rows[] = {1, 4};
            for (size_t ri = 0; ri < 2; ri++)
                for (int isa = MIMIC__ISA_COUNT - 1; isa >= 0; isa--) {
                    const mimic__mv_kernels *k = mimic__mv_kernels_of(isa);
                    if (!k || isa > mimic__cpu_isa())
                        continue;
                    const pass a = {m,
                                    w,
                                    scale,
                                    x,
                                    y,
                                    rows[ri],
                                    dt == DT_F32 ? k->f32 : dt == DT_F16 ? k->f16 : k->i8,
                                    NULL};
                    double t = time_pass(&a, seconds);
                    printf("| %s | %s | %zu | %s | %.1f | %.1f | %.2f |\n", m->name, DT_NAME[dt],
                           rows[ri], k->name, t * 1e6, (double)(macs * DT_SIZE[dt]) / t * 1e-9,
                           (double)(macs * rows[ri]) / t * 1e-9);
                    fflush(stdout);
                }
            for (size_t l = 0; l < m->n_layers; l++)
                mimic__free(w[l]);
        }
    }
    printf("\n| model | batch | GEMM kernels | ms per pass | GFLOP/s |\n|---|---|---|---|---|\n");
    for (size_t mi = 0; mi < sizeof MODELS / sizeof *MODELS; mi++) {
        const model *m = &MODELS[mi];
        size_t macs = 0;
        void *w[3];
        for (size_t l = 0; l < m->n_layers; l++) {
            size_t n = m->layers[l].n * m->layers[l].kk;
            macs += n;
            w[l] = mimic__falloc(n, 1);
            for (size_t i = 0; i < n; i++)
                ((float *)w[l])[i] = (float)((i * 7919) % 201) * 0.001f - 0.1f;
        }
        for (int isa = MIMIC__ISA_COUNT - 1; isa >= 0; isa--) {
            mimic__gemm_fn g = mimic__gemm_of(isa);
            if (!g || isa > mimic__cpu_isa() || isa == MIMIC__ISA_PORTABLE) /* fmaf: too slow */
                continue;
            const pass a = {m, w, NULL, x, y, 256, NULL, g};
            double t = time_pass(&a, seconds);
            printf("| %s | 256 | %s | %.2f | %.1f |\n", m->name, mimic__mv_kernels_of(isa)->name,
                   t * 1e3, 2.0 * (double)(macs * 256) / t * 1e-9);
            fflush(stdout);
        }
        for (size_t l = 0; l < m->n_layers; l++)
            mimic__free(w[l]);
    }
    free(x);
    free(y);
    free(scale);
    return 0;
}
