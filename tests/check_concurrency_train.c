/* Independent trainers in parallel threads on one shared const dataset: each thread trains
 * its own student, and the result is bitwise the one of the same run done alone. Run it
 * under ThreadSanitizer (clang, -DMIMIC_SANITIZE=thread) to check for data races. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/blas.h"
#include "train/train.h"
#include "testutil.h"

enum { ROWS = 512, D = 12, C = 4, N_JOBS = 4 };

static mimic_dataset *shared_train, *shared_val;

static void make_data(void)
{
    static float x[ROWS * D], z[ROWS * C];
    static int32_t y[ROWS];
    tu_fill_uniform(x, ROWS * D, -1.0f, 1.0f, 11);
    for (size_t r = 0; r < ROWS; r++) {
        for (size_t c = 0; c < C; c++) {
            double acc = 0.1 * (double)c;
            for (size_t j = 0; j < D; j++)
                acc += sin((double)(c + 1) * (double)(j + 1)) * x[r * D + j];
            z[r * C + c] = (float)acc;
        }
        size_t best = 0;
        for (size_t c = 1; c < C; c++)
            if (z[r * C + c] > z[r * C + best])
                best = c;
        y[r] = (int32_t)best;
    }
    ck_assert_int_eq(mimic_dataset_create(&shared_train, x, MIMIC_DTYPE_F32, z, y, ROWS, D, C),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_slice(&shared_val, shared_train, 0, 48), MIMIC_OK);
}

typedef struct job {
    int id;
    int rc;
    uint64_t progress_calls;
    mimic_student *student;
} job;

static int on_progress(const mimic_progress *p, void *user)
{
    job *j = user;
    j->progress_calls++;
    return !(p->train_loss == p->train_loss); /* stop on NaN */
}

/* Four different runs: losses, optimizers, schedules, standardization, early stopping. */
static void job_options(int id, mimic_train_options *o, mimic_student_options *so)
{
    mimic_student_options_init(so, sizeof *so);
    so->n_inputs = D;
    so->n_hidden = 24 + (size_t)id * 4;
    so->n_bottleneck = id % 2 ? 6 : 0;
    so->n_classes = C;
    so->activation = id == 3 ? MIMIC_ACT_TANH : MIMIC_ACT_RELU;
    so->seed = 100 + (uint64_t)id;
    mimic_train_options_init(o, sizeof *o);
    o->epochs = 6;
    o->batch_size = 32;
    o->seed = 7 + (uint64_t)id;
    o->threads = 0; /* BLAS threads are fixed to 1 for the whole process in main */
    switch (id % 4) {
    case 0:
        o->loss = MIMIC_LOSS_L2;
        o->optimizer = MIMIC_OPTIMIZER_SGD;
        o->learning_rate = 0.01;
        o->target_norm = MIMIC_TARGET_CENTER;
        break;
    case 1:
        o->loss = MIMIC_LOSS_KD;
        o->hard_weight = 0.3;
        o->optimizer = MIMIC_OPTIMIZER_ADAM;
        o->learning_rate = 0.003;
        break;
    case 2:
        o->loss = MIMIC_LOSS_LABELS;
        o->optimizer = MIMIC_OPTIMIZER_ADAMW;
        o->weight_decay = 0.01;
        o->learning_rate = 0.003;
        o->schedule = MIMIC_SCHEDULE_STEP;
        o->step_epochs = 2;
        break;
    default:
        o->loss = MIMIC_LOSS_L2;
        o->learning_rate = 0.01;
        o->standardize = 1;
        o->optimizer = MIMIC_OPTIMIZER_SGD;
        o->nesterov = 1;
        o->clip_norm = 5.0;
        break;
    }
    o->validation = shared_val;
    o->patience = 2;
}

static void *run_job(void *arg)
{
    job *j = arg;
    mimic_train_options o;
    mimic_student_options so;
    job_options(j->id, &o, &so);
    o.progress = on_progress;
    o.progress_user_data = j;
    j->rc = mimic_student_create(&j->student, &so);
    if (j->rc == MIMIC_OK)
        j->rc = mimic_train(j->student, shared_train, &o, NULL);
    if (j->rc == MIMIC_OK) {
        /* Each thread also evaluates its result on the shared dataset. */
        mimic_metrics m;
        mimic_metrics_init(&m, sizeof m);
        j->rc = mimic_evaluate(j->student, shared_train, 2.0, &m);
        if (j->rc == MIMIC_OK && !(m.logit_rmse >= 0))
            j->rc = MIMIC_ERR_NUMERIC;
    }
    return NULL;
}

static void assert_same_student(const mimic_student *a, const mimic_student *b, int id)
{
    ck_assert_uint_eq(a->L.n_params, b->L.n_params);
    ck_assert_msg(memcmp(a->params, b->params, a->L.n_params * sizeof(float)) == 0,
                  "job %d: parameters differ from the single-threaded run", id);
    ck_assert((a->in_mean == NULL) == (b->in_mean == NULL));
    if (a->in_mean) {
        ck_assert(memcmp(a->in_mean, b->in_mean, a->L.D * sizeof(float)) == 0);
        ck_assert(memcmp(a->in_scale, b->in_scale, a->L.D * sizeof(float)) == 0);
    }
}

START_TEST(test_parallel_trainers_match_serial)
{
    make_data();
    job serial[N_JOBS], par[N_JOBS];
    memset(serial, 0, sizeof serial);
    memset(par, 0, sizeof par);
    for (int i = 0; i < N_JOBS; i++) {
        serial[i].id = i;
        run_job(&serial[i]);
        ck_assert_msg(serial[i].rc == MIMIC_OK, "serial job %d: %s", i, mimic_last_error());
        ck_assert(serial[i].progress_calls > 0);
    }
    /* Two rounds: 2 threads, then 4 threads. */
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 2 : N_JOBS;
        pthread_t th[N_JOBS];
        for (int i = 0; i < n; i++) {
            memset(&par[i], 0, sizeof par[i]);
            par[i].id = round == 0 ? i + 2 : i;
            ck_assert_int_eq(pthread_create(&th[i], NULL, run_job, &par[i]), 0);
        }
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        for (int i = 0; i < n; i++) {
            int id = par[i].id;
            ck_assert_msg(par[i].rc == MIMIC_OK, "thread job %d failed (%d)", id, par[i].rc);
            ck_assert_uint_eq(par[i].progress_calls, serial[id].progress_calls);
            assert_same_student(par[i].student, serial[id].student, id);
            mimic_student_free(par[i].student);
        }
    }
    for (int i = 0; i < N_JOBS; i++)
        mimic_student_free(serial[i].student);
    mimic_dataset_free(shared_val);
    mimic_dataset_free(shared_train);
}
END_TEST

/* Step-wise trainers interleaved in threads, each with its own student, on the same data. */
static void *run_steps(void *arg)
{
    job *j = arg;
    mimic_train_options o;
    mimic_student_options so;
    job_options(j->id, &o, &so);
    o.validation = NULL;
    o.patience = 0;
    mimic_trainer *t = NULL;
    j->rc = mimic_student_create(&j->student, &so);
    if (j->rc == MIMIC_OK)
        j->rc = mimic_trainer_create(&t, j->student, shared_train, &o);
    for (int i = 0; j->rc == MIMIC_OK && i < 15; i++) {
        double loss;
        j->rc = mimic_trainer_step(t, &loss);
    }
    if (j->rc == MIMIC_OK)
        j->rc = mimic_trainer_epoch(t, NULL);
    mimic_trainer_free(t);
    return NULL;
}

START_TEST(test_parallel_stepwise_trainers)
{
    make_data();
    job serial[N_JOBS], par[N_JOBS];
    memset(serial, 0, sizeof serial);
    memset(par, 0, sizeof par);
    pthread_t th[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        serial[i].id = par[i].id = i;
        run_steps(&serial[i]);
        ck_assert_msg(serial[i].rc == MIMIC_OK, "serial job %d: %s", i, mimic_last_error());
    }
    for (int i = 0; i < N_JOBS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, run_steps, &par[i]), 0);
    for (int i = 0; i < N_JOBS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N_JOBS; i++) {
        ck_assert_msg(par[i].rc == MIMIC_OK, "thread job %d failed (%d)", i, par[i].rc);
        assert_same_student(par[i].student, serial[i].student, i);
        mimic_student_free(par[i].student);
        mimic_student_free(serial[i].student);
    }
    mimic_dataset_free(shared_val);
    mimic_dataset_free(shared_train);
}
END_TEST

int main(void)
{
    /* Bitwise comparisons need one BLAS thread per call; set it once, before any thread
     * starts (openblas_set_num_threads is not meant to be called concurrently). */
#ifdef MIMIC_HAVE_OPENBLAS
    openblas_set_num_threads(1);
#endif
    Suite *s = suite_create("concurrency_train");
    TCase *tc = tcase_create("parallel trainers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_parallel_trainers_match_serial);
    tcase_add_test(tc, test_parallel_stepwise_trainers);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
