/*
 * The data-parallel training step, measured (bench/dist_bench.sh runs it; docs/SCALING.md
 * reports it):
 *
 *   dist_bench D k H C BATCH STEPS            one process: the step without a collective
 *   mpirun -np N dist_bench D k H C BATCH STEPS   N ranks through libmimic_mpi
 *
 * BATCH is the global batch (each of N ranks reads BATCH / N rows a step). After 3 warm-up
 * steps it times STEPS steps of mimic_trainer_step on synthetic data (uint8 inputs, float32
 * teacher logits, L2 loss, Adam, standardized inputs), and on N ranks also every all-reduce
 * the step makes (the time each rank spends in MPI_Allreduce, waiting for the slower rank
 * included) and, after training, the same all-reduce alone (a barrier, then the gradient's
 * size, STEPS times: the transfer without the wait). Prints one line, on rank 0:
 *
 *   ranks=N params=P batch=B step_ms=M allreduce_ms=A allreduce_alone_ms=R bytes=Y
 *
 * step_ms: the median over steps of the slowest rank's step time; allreduce_ms: the median
 * over steps of rank 0's time in all-reduces; bytes: what one all-reduce carries (the
 * gradient and the ranks' slots, float32). Threads: OPENBLAS_NUM_THREADS (the trainer
 * leaves OpenBLAS alone).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mimic.h>
#include <mimic/mpi.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The MPI collective, timed: seconds in all-reduces and the floats of the largest. */
typedef struct timed {
    mimic_collective inner;
    double seconds;
    size_t largest;
} timed;

static int timed_f32(float *buf, size_t n, void *user)
{
    timed *t = user;
    double t0 = now();
    int rc = t->inner.allreduce_f32(buf, n, t->inner.user_data);
    t->seconds += now() - t0;
    t->largest = n > t->largest ? n : t->largest;
    return rc;
}

static int timed_f64(double *buf, size_t n, void *user)
{
    timed *t = user;
    double t0 = now();
    int rc = t->inner.allreduce_f64(buf, n, t->inner.user_data);
    t->seconds += now() - t0;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, int st)
{
    fprintf(stderr, "dist_bench: %s: %s\n", what, st ? mimic_last_error() : "");
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc != 7) {
        fprintf(stderr, "usage: [mpirun -np N] dist_bench D k H C BATCH STEPS\n");
        MPI_Finalize();
        return 2;
    }
    size_t D = strtoull(argv[1], NULL, 10), k = strtoull(argv[2], NULL, 10);
    size_t H = strtoull(argv[3], NULL, 10), C = strtoull(argv[4], NULL, 10);
    size_t B = strtoull(argv[5], NULL, 10), steps = strtoull(argv[6], NULL, 10);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    /* synthetic data, the same on every rank: enough rows for the timed steps */
    size_t rows = B * (steps + 4);
    uint8_t *x = malloc(rows * D);
    float *z = malloc(rows * C * sizeof(float));
    if (!x || !z)
        die("out of memory for the data", 0);
    uint64_t s = 12345;
    for (size_t i = 0; i < rows * D; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (uint8_t)(s >> 56);
    }
    for (size_t i = 0; i < rows * C; i++)
        z[i] = (float)((i * 2654435761u) % 1000) / 100.0f - 5.0f;
    mimic_dataset_memory m;
    mimic_dataset_memory_init(&m, sizeof m);
    m.inputs = x;
    m.input_dtype = MIMIC_DTYPE_U8;
    m.teacher_logits = z;
    m.logits_dtype = MIMIC_DTYPE_F32;
    m.rows = rows;
    m.n_inputs = D;
    m.n_classes = C;
    mimic_dataset *data = NULL;
    int st = mimic_dataset_wrap_memory(&data, &m);
    if (st)
        die("dataset", st);

    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = D;
    so.n_bottleneck = k;
    so.n_hidden = H;
    so.n_classes = C;
    mimic_student *student = NULL;
    if ((st = mimic_student_create(&student, &so)))
        die("student", st);

    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.loss = MIMIC_LOSS_L2;
    o.batch_size = B;
    o.epochs = 1;
    o.standardize = 1;
    o.std_floor = 25.5;
    timed tc;
    memset(&tc, 0, sizeof tc);
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    if (size > 1) {
        mimic_collective_init(&tc.inner, sizeof tc.inner);
        if ((st = mimic_mpi_collective(&tc.inner, MPI_COMM_WORLD)))
            die("mimic_mpi_collective", st);
        c.rank = tc.inner.rank;
        c.size = tc.inner.size;
        c.allreduce_f32 = timed_f32;
        c.allreduce_f64 = timed_f64;
        c.user_data = &tc;
        o.collective = &c;
    }
    mimic_trainer *t = NULL;
    if ((st = mimic_trainer_create(&t, student, data, &o)))
        die("trainer", st);
    for (int i = 0; i < 3; i++)
        if ((st = mimic_trainer_step(t, NULL)))
            die("warm-up step", st);

    double *step_s = calloc(steps, sizeof(double)), *reduce_s = calloc(steps, sizeof(double));
    if (!step_s || !reduce_s)
        die("out of memory", 0);
    MPI_Barrier(MPI_COMM_WORLD);
    for (size_t i = 0; i < steps; i++) {
        double t0 = now(), r0 = tc.seconds;
        if ((st = mimic_trainer_step(t, NULL)))
            die("step", st);
        step_s[i] = now() - t0;
        reduce_s[i] = tc.seconds - r0;
    }
    /* the slowest rank's time, step by step */
    MPI_Allreduce(MPI_IN_PLACE, step_s, (int)steps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    double step_ms = 1e3 * median(step_s, steps), reduce_ms = 1e3 * median(reduce_s, steps);

    /* the step's all-reduce alone: after a barrier, no rank waits for another's compute */
    double alone_ms = 0;
    size_t n = tc.largest;
    if (size > 1 && n > 0) {
        float *g = calloc(n, sizeof(float));
        if (!g)
            die("out of memory", 0);
        for (size_t i = 0; i < steps; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            tc.inner.allreduce_f32(g, n, tc.inner.user_data);
            step_s[i] = now() - t0;
        }
        alone_ms = 1e3 * median(step_s, steps);
        free(g);
    }
    if (rank == 0)
        printf("ranks=%d params=%zu batch=%zu step_ms=%.3f allreduce_ms=%.3f "
               "allreduce_alone_ms=%.3f bytes=%zu\n",
               size, mimic_student_num_params(student), B, step_ms, reduce_ms, alone_ms,
               n * sizeof(float));
    free(step_s);
    free(reduce_s);
    mimic_trainer_free(t);
    mimic_student_free(student);
    mimic_dataset_free(data);
    free(x);
    free(z);
    MPI_Finalize();
    return 0;
}
