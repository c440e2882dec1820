/* Data-parallel training through options.collective (include/mimic/collective.h), with N
 * ranks as N threads of this process sharing an all-reduce made of barriers: it sums in rank
 * order, so it is deterministic and gives every rank the same bits, as MPI's does. N ranks
 * must train the student one process trains (1 rank: bitwise; 2 and 3: up to the order of
 * the sums), every rank must return the same status, whichever rank fails and however, and
 * no rank may wait forever. Run under ThreadSanitizer by the tsan step (the name matches
 * 'concurrency'). The MPI end-to-end tests are tests/mpi/run.sh. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/blas.h"
#include "train/train.h"
#include "train_testutil.h"

enum { MAX_RANKS = 3, ROWS = 201, D = 16, C = 4, H = 24, K = 6 };

/* ---- the threads' collective ------------------------------------------------------------ */

typedef struct world {
    int size;
    pthread_barrier_t bar;
    const void *in[MAX_RANKS];
    size_t n[MAX_RANKS], elem[MAX_RANKS];
    unsigned char *sum;
    size_t cap;
    unsigned long calls[MAX_RANKS];
    unsigned long fail_call; /* the call at which every rank's all-reduce fails; 0 = never */
    int mismatch;            /* ranks called with different sizes: a library bug */
} world;

typedef struct rank_ctx {
    world *w;
    int rank;
    mimic_collective c;
} rank_ctx;

#define SUM_IN_RANK_ORDER(T)                                                                       \
    do {                                                                                           \
        T *out = (T *)w->sum;                                                                      \
        for (size_t i = 0; i < n; i++) {                                                           \
            T acc = ((const T *)w->in[0])[i];                                                      \
            for (int k = 1; k < w->size; k++)                                                      \
                acc += ((const T *)w->in[k])[i];                                                   \
            out[i] = acc;                                                                          \
        }                                                                                          \
    } while (0)

static int reduce(rank_ctx *r, void *buf, size_t n, size_t elem)
{
    world *w = r->w;
    unsigned long call = ++w->calls[r->rank];
    w->in[r->rank] = buf;
    w->n[r->rank] = n;
    w->elem[r->rank] = elem;
    pthread_barrier_wait(&w->bar);
    if (r->rank == 0) {
        for (int k = 1; k < w->size; k++)
            if (w->n[k] != n || w->elem[k] != elem)
                w->mismatch = 1;
        if (!w->mismatch) {
            if (n * elem > w->cap) {
                free(w->sum);
                w->cap = n * elem;
                w->sum = malloc(w->cap);
                ck_assert_ptr_nonnull(w->sum);
            }
            if (elem == sizeof(float))
                SUM_IN_RANK_ORDER(float);
            else
                SUM_IN_RANK_ORDER(double);
        }
    }
    pthread_barrier_wait(&w->bar);
    int bad = w->mismatch;
    if (!bad && n > 0)
        memcpy(buf, w->sum, n * elem);
    pthread_barrier_wait(&w->bar);
    return bad || (w->fail_call && call == w->fail_call) ? 5 : 0;
}

static int reduce_f32(float *buf, size_t n, void *user)
{
    return reduce(user, buf, n, sizeof(float));
}

static int reduce_f64(double *buf, size_t n, void *user)
{
    return reduce(user, buf, n, sizeof(double));
}

static void world_init(world *w, int size)
{
    memset(w, 0, sizeof *w);
    w->size = size;
    ck_assert_int_eq(pthread_barrier_init(&w->bar, NULL, (unsigned)size), 0);
}

static void world_free(world *w)
{
    ck_assert_msg(!w->mismatch, "the ranks' collective calls did not match");
    pthread_barrier_destroy(&w->bar);
    free(w->sum);
}

static void rank_init(rank_ctx *r, world *w, int rank)
{
    r->w = w;
    r->rank = rank;
    mimic_collective_init(&r->c, sizeof r->c);
    r->c.rank = rank;
    r->c.size = w->size;
    r->c.allreduce_f32 = reduce_f32;
    r->c.allreduce_f64 = reduce_f64;
    r->c.user_data = r;
}

/* ---- a training job per rank -------------------------------------------------------------- */

typedef struct job {
    rank_ctx ctx;
    int distributed; /* use ctx.c as options.collective */
    const mimic_dataset *train;
    mimic_train_options o;
    uint64_t student_seed;
    int32_t activation;    /* 0: ReLU */
    int v_ones;            /* the bottleneck's weights all 1 (rank 0's student) */
    uint64_t fail_alloc;   /* mimic__alloc_fail_at on this thread (0 = never) */
    uint64_t cancel_epoch; /* the progress callback stops at this epoch's end */
    uint64_t cancel_step;  /* ... or at this mid-epoch report (global step) */
    int stepwise;          /* drive mimic_trainer_step instead of mimic_train */
    uint64_t steps;        /* stepwise: steps to run */
    /* results */
    int rc;
    char msg[512];
    mimic_student *s;
    mimic_train_report rep;
    double last_loss;
    mimic_metrics last_valid;
    uint64_t epochs_seen;
} job;

static int on_progress(const mimic_progress *p, void *user)
{
    job *j = user;
    if (p->epoch_end) {
        j->epochs_seen = p->epoch;
        j->last_valid = p->validation;
        j->last_loss = p->train_loss;
    }
    if (p->epoch_end && j->cancel_epoch && p->epoch == j->cancel_epoch)
        return 1;
    if (!p->epoch_end && j->cancel_step && p->step == j->cancel_step)
        return 1;
    return 0;
}

static void *run_job(void *arg)
{
    job *j = arg;
    j->s =
        tt_student_act(D, H, K, C, j->student_seed, j->activation ? j->activation : MIMIC_ACT_RELU);
    for (size_t i = 0; j->v_ones && i < (size_t)K * D; i++)
        mimic__tensor_data(j->s, MIMIC__T_BOTTLENECK_W)[i] = 1.0f;
    mimic_train_options o = j->o;
    if (j->distributed)
        o.collective = &j->ctx.c;
    o.progress = on_progress;
    o.progress_user_data = j;
    mimic_train_report_init(&j->rep, sizeof j->rep);
    if (j->fail_alloc)
        mimic__alloc_fail_at(j->fail_alloc);
    if (!j->stepwise) {
        j->rc = mimic_train(j->s, j->train, &o, &j->rep);
    } else {
        mimic_trainer *t = NULL;
        j->rc = mimic_trainer_create(&t, j->s, j->train, &o);
        for (uint64_t i = 0; j->rc == MIMIC_OK && i < j->steps; i++)
            j->rc = mimic_trainer_step(t, &j->last_loss);
        if (t)
            mimic_trainer_get_report(t, &j->rep);
        mimic_trainer_free(t);
    }
    mimic__alloc_fail_at(0);
    snprintf(j->msg, sizeof j->msg, "%s", j->rc ? mimic_last_error() : "");
    return NULL;
}

/* Run jobs[0..size) as the ranks of one world (distributed), in threads. */
static void run_world(job *jobs, int size, world *w)
{
    world_init(w, size);
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < size; r++) {
        rank_init(&jobs[r].ctx, w, r);
        jobs[r].distributed = 1;
        ck_assert_int_eq(pthread_create(&th[r], NULL, run_job, &jobs[r]), 0);
    }
    for (int r = 0; r < size; r++)
        ck_assert_int_eq(pthread_join(th[r], NULL), 0);
    world_free(w);
}

static void free_jobs(job *jobs, int n)
{
    for (int r = 0; r < n; r++) {
        mimic_student_free(jobs[r].s);
        jobs[r].s = NULL;
    }
}

/* Every rank returned the same status and message and holds the same student, bit for bit. */
static void assert_ranks_agree(const job *jobs, int size)
{
    for (int r = 1; r < size; r++) {
        ck_assert_msg(jobs[r].rc == jobs[0].rc, "rank %d returned %d, rank 0 %d (%s | %s)", r,
                      jobs[r].rc, jobs[0].rc, jobs[r].msg, jobs[0].msg);
        ck_assert_str_eq(jobs[r].msg, jobs[0].msg);
        ck_assert_msg(tt_same_student(jobs[r].s, jobs[0].s), "rank %d's student differs", r);
        ck_assert_uint_eq(jobs[r].rep.steps, jobs[0].rep.steps);
        ck_assert_uint_eq(jobs[r].rep.epochs_run, jobs[0].rep.epochs_run);
    }
}

/* Run jobs[0..size) (set up by the caller) as a world: every rank must return `status`, the
 * same message, containing `want`, and the same student. */
static void expect_agreed(job *jobs, int size, int status, const char *want)
{
    world w;
    run_world(jobs, size, &w);
    assert_ranks_agree(jobs, size);
    ck_assert_msg(jobs[0].rc == status, "%d ranks returned %d, not %d: %s", size, jobs[0].rc,
                  status, jobs[0].msg);
    ck_assert_msg(strstr(jobs[0].msg, want) != NULL, "'%s' lacks '%s'", jobs[0].msg, want);
}

/* max |a - b| / max |a| over the parameters and the input normalization. */
static double rel_diff(const mimic_student *a, const mimic_student *b)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < a->L.n_params; i++) {
        num = fmax(num, fabs((double)a->params[i] - (double)b->params[i]));
        den = fmax(den, fabs((double)a->params[i]));
    }
    for (size_t i = 0; a->in_mean && i < a->L.D; i++) {
        num = fmax(num, fabs((double)a->in_mean[i] - (double)b->in_mean[i]) / fabs(a->in_mean[i]));
        num = fmax(num, fabs((double)a->in_scale[i] - (double)b->in_scale[i]) / a->in_scale[i]);
    }
    return num / (den > 0 ? den : 1);
}

/* ---- data ----------------------------------------------------------------------------------- */

static tt_problem prob;
static mimic_dataset *train_u8, *valid_f32;

static void setup(void)
{
    tt_problem_make(&prob, ROWS, D, C, 5, 2.0f, 0.5f);
    ck_assert_int_eq(
        mimic_dataset_create(&train_u8, prob.x8, MIMIC_DTYPE_U8, prob.t, prob.y, ROWS, D, C),
        MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_slice(&valid_f32, prob.d, 0, 57), MIMIC_OK);
}

static void teardown(void)
{
    mimic_dataset_free(valid_f32);
    mimic_dataset_free(train_u8);
    tt_problem_free(&prob);
}

/* Adam, standardized inputs and targets, dropout, flips and shifts of 4 x 4 images, a batch
 * (20) that 3 ranks split unevenly and whose last one (201 = 10 x 20 + 1) leaves ranks with
 * no rows, validation and training-set metrics. */
static mimic_train_options run_options(uint64_t epochs)
{
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.loss = MIMIC_LOSS_L2;
    o.epochs = epochs;
    o.batch_size = 20;
    o.standardize = 1;
    o.std_floor = 25.5;
    o.dropout = 0.2;
    o.image_height = 4;
    o.image_width = 4;
    o.flip = 0.5;
    o.shift = 1;
    o.seed = 3;
    o.validation = valid_f32;
    o.eval_train = 1;
    return o;
}

/* run_options writing a checkpoint to a fresh file `name`. */
static mimic_train_options checkpointed(uint64_t epochs, const char *name)
{
    mimic_train_options o = run_options(epochs);
    o.checkpoint_path = tu_path(name);
    unlink(o.checkpoint_path);
    return o;
}

static void init_jobs(job *jobs, int n, const mimic_dataset *train, mimic_train_options o)
{
    memset(jobs, 0, (size_t)n * sizeof *jobs);
    for (int r = 0; r < n; r++) {
        jobs[r].train = train;
        jobs[r].o = o;
        jobs[r].student_seed = 11;
    }
}

/* ---- equivalence ----------------------------------------------------------------------------- */

static void check_equivalence(const mimic_dataset *train, mimic_train_options o, const char *what)
{
    job single;
    init_jobs(&single, 1, train, o);
    run_job(&single);
    ck_assert_msg(single.rc == MIMIC_OK, "%s", single.msg);
    for (int size = 1; size <= MAX_RANKS; size++) {
        job jobs[MAX_RANKS];
        world w;
        init_jobs(jobs, size, train, o);
        /* every rank starts from rank 0's weights, whatever its own student held */
        for (int r = 1; r < size; r++)
            jobs[r].student_seed = 100 + (uint64_t)r;
        run_world(jobs, size, &w);
        ck_assert_msg(jobs[0].rc == MIMIC_OK, "%s, %d ranks: %s", what, size, jobs[0].msg);
        assert_ranks_agree(jobs, size);
        ck_assert_uint_eq(jobs[0].rep.steps, single.rep.steps);
        double d = rel_diff(single.s, jobs[0].s);
        double dl = fabs(jobs[0].rep.final_train_loss - single.rep.final_train_loss) /
                    single.rep.final_train_loss;
        double dv = fabs(jobs[0].last_valid.logit_l2 - single.last_valid.logit_l2) /
                    single.last_valid.logit_l2;
        fprintf(stderr,
                "%s, %d ranks: weights %.3g relative to 1 process, loss %.3g, validation %.3g\n",
                what, size, d, dl, dv);
        if (size == 1) { /* one rank is one process, bit for bit */
            ck_assert(tt_same_student(single.s, jobs[0].s));
            ck_assert(single.rep.final_train_loss == jobs[0].rep.final_train_loss);
            ck_assert(single.last_valid.logit_l2 == jobs[0].last_valid.logit_l2);
        }
        ck_assert_msg(d < 1e-5, "%s, %d ranks: weights differ by %g", what, size, d);
        ck_assert_msg(dl < 1e-5 && dv < 1e-5, "%s, %d ranks: loss %g, validation %g", what, size,
                      dl, dv);
        ck_assert(jobs[0].last_valid.rows == single.last_valid.rows);
        ck_assert(jobs[0].last_valid.accuracy == single.last_valid.accuracy);
        free_jobs(jobs, size);
    }
    free_jobs(&single, 1);
}

START_TEST(test_equivalence_f32)
{
    check_equivalence(prob.d, run_options(2), "float32 inputs");
}
END_TEST

START_TEST(test_equivalence_u8_kd)
{
    mimic_train_options o = run_options(2);
    o.loss = MIMIC_LOSS_KD;
    o.hard_weight = 0.3;
    o.target_norm = MIMIC_TARGET_AUTO;
    check_equivalence(train_u8, o, "uint8 inputs, kd");
}
END_TEST

START_TEST(test_equivalence_sgd_center_clip)
{
    mimic_train_options o = run_options(2);
    o.optimizer = MIMIC_OPTIMIZER_SGD;
    o.learning_rate = 0.01;
    o.target_norm = MIMIC_TARGET_CENTER;
    o.clip_norm = 1.0;
    o.dropout = 0;
    check_equivalence(prob.d, o, "sgd, centered targets, clipping");
}
END_TEST

/* The step-wise trainer: each step returns the whole batch's loss on every rank. */
START_TEST(test_stepwise_loss)
{
    mimic_train_options o = run_options(2);
    job single, jobs[2];
    world w;
    init_jobs(&single, 1, prob.d, o);
    single.stepwise = 1;
    single.steps = 13;
    run_job(&single);
    ck_assert_int_eq(single.rc, MIMIC_OK);
    init_jobs(jobs, 2, prob.d, o);
    jobs[0].stepwise = jobs[1].stepwise = 1;
    jobs[0].steps = jobs[1].steps = 13;
    run_world(jobs, 2, &w);
    assert_ranks_agree(jobs, 2);
    ck_assert(jobs[0].last_loss == jobs[1].last_loss);
    ck_assert(fabs(jobs[0].last_loss - single.last_loss) < 1e-5 * single.last_loss);
    ck_assert_uint_eq(jobs[0].rep.steps, 13);
    free_jobs(jobs, 2);
    free_jobs(&single, 1);
}
END_TEST

/* ---- stops, agreed ------------------------------------------------------------------------- */

/* A bad value in a row that only rank 1's copy of the data has (not one the identity check
 * samples), read by rank 1 when a batch gives it that row: every rank stops with rank 1's
 * divergence, naming the cause, and keeps the last good weights. A NaN input (which a ReLU
 * would only pass on as a NaN gradient) is caught as it is read. A row of huge values
 * overflows: through a bottleneck of ones and sigmoid units the loss is not finite; through
 * ReLUs, which turn NaN into 0, only that rank's gradient is. */
static void bad_value_on_one_rank(float value, int32_t activation, int v_ones, const char *want)
{
    float *x = malloc(sizeof(float) * ROWS * D);
    ck_assert_ptr_nonnull(x);
    memcpy(x, prob.x, sizeof(float) * ROWS * D);
    for (int j = 0; j < D; j++)
        x[1 * D + j] = j == 3 || !isnan(value) ? value : x[1 * D + j];
    mimic_dataset *bad = NULL;
    ck_assert_int_eq(mimic_dataset_create(&bad, x, MIMIC_DTYPE_F32, prob.t, prob.y, ROWS, D, C),
                     MIMIC_OK);
    mimic_train_options o = run_options(20);
    o.validation = NULL;
    o.eval_train = 0;
    o.dropout = 0;
    o.standardize = 0; /* the huge values reach the bottleneck as they are */
    job jobs[2];
    init_jobs(jobs, 2, prob.d, o);
    jobs[1].train = bad;
    jobs[0].activation = jobs[1].activation = activation;
    jobs[0].v_ones = v_ones;
    expect_agreed(jobs, 2, MIMIC_ERR_NUMERIC, want);
    ck_assert_msg(strstr(jobs[0].msg, "rank 1 of 2: training diverged") == jobs[0].msg, "%s",
                  jobs[0].msg);
    ck_assert(tt_all_finite(jobs[0].s));
    free_jobs(jobs, 2);
    mimic_dataset_free(bad);
    free(x);
}

START_TEST(test_nan_on_one_rank)
{
    bad_value_on_one_rank(NAN, 0, 0, "training row 1 is not finite as read");
    bad_value_on_one_rank(3e38f, MIMIC_ACT_SIGMOID, 1, "the loss is inf");
    bad_value_on_one_rank(1e30f, 0, 0, "the gradient of this rank's rows is ");
}
END_TEST

/* One rank's callback stops at an epoch's end, another's in the middle of an epoch: every
 * rank returns MIMIC_ERR_CANCELLED with its message, at the same step. */
START_TEST(test_cancel_on_one_rank)
{
    mimic_train_options o = run_options(5);
    job jobs[3];
    init_jobs(jobs, 3, prob.d, o);
    jobs[1].cancel_epoch = 2;
    expect_agreed(jobs, 3, MIMIC_ERR_CANCELLED, "rank 1 of 3: training cancelled");
    ck_assert_uint_eq(jobs[0].rep.epochs_run, 2);
    free_jobs(jobs, 3);

    /* mid-epoch: rank 2 stops at its report after global step 14; every rank stops before
     * the next step's update, holding the weights after step 14 */
    o.progress_every_steps = 7;
    init_jobs(jobs, 3, prob.d, o);
    jobs[2].cancel_step = 14;
    expect_agreed(jobs, 3, MIMIC_ERR_CANCELLED, "rank 2 of 3: training cancelled");
    ck_assert_uint_eq(jobs[0].rep.steps, 14);
    free_jobs(jobs, 3);
}
END_TEST

/* Every allocation of one rank fails in turn (creation, statistics, the epochs): every rank
 * returns the same status, the failing rank's, and none waits forever. */
START_TEST(test_nomem_on_one_rank)
{
    mimic_train_options o = run_options(1);
    int failures = 0;
    for (uint64_t k = 1; k < 400; k++) {
        job jobs[2];
        world w;
        init_jobs(jobs, 2, prob.d, o);
        jobs[1].fail_alloc = k;
        run_world(jobs, 2, &w);
        assert_ranks_agree(jobs, 2);
        int done = jobs[0].rc == MIMIC_OK;
        free_jobs(jobs, 2);
        if (done)
            break;
        failures++;
        init_jobs(jobs, 2, prob.d, o);
        jobs[1].fail_alloc = k;
        expect_agreed(jobs, 2, MIMIC_ERR_NOMEM, "rank 1 of 2: ");
        free_jobs(jobs, 2);
    }
    ck_assert_int_gt(failures, 5);
}
END_TEST

/* The transport fails (on every rank, as MPI's fatal errors do) at each call in turn: every
 * rank returns MIMIC_ERR_IO naming the all-reduce, and nothing leaks. */
START_TEST(test_transport_failure)
{
    mimic_train_options o = run_options(1);
    unsigned long call = 1;
    for (;; call++) {
        job jobs[2];
        world w;
        init_jobs(jobs, 2, prob.d, o);
        world_init(&w, 2);
        w.fail_call = call;
        pthread_t th[2];
        for (int r = 0; r < 2; r++) {
            rank_init(&jobs[r].ctx, &w, r);
            jobs[r].distributed = 1;
            ck_assert_int_eq(pthread_create(&th[r], NULL, run_job, &jobs[r]), 0);
        }
        for (int r = 0; r < 2; r++)
            ck_assert_int_eq(pthread_join(th[r], NULL), 0);
        world_free(&w);
        int done = jobs[0].rc == MIMIC_OK && jobs[1].rc == MIMIC_OK; /* past the last call */
        for (int r = 0; r < 2 && !done; r++) {
            ck_assert_int_eq(jobs[r].rc, MIMIC_ERR_IO);
            ck_assert_msg(strstr(jobs[r].msg, "options.collective: allreduce_f") != NULL, "%s",
                          jobs[r].msg);
        }
        free_jobs(jobs, 2);
        if (done)
            break;
    }
    ck_assert_uint_gt(call, 20);
}
END_TEST

/* Rank 0 alone writes the checkpoint; when it cannot, every rank stops with its error. */
START_TEST(test_checkpoint_rank0)
{
    const char *path0 = tu_path("coll_rank0.ckpt"), *path1 = tu_path("coll_rank1.ckpt");
    unlink(path0);
    unlink(path1);
    mimic_train_options o = run_options(2);
    job jobs[2];
    world w;
    init_jobs(jobs, 2, prob.d, o);
    jobs[0].o.checkpoint_path = path0;
    jobs[1].o.checkpoint_path = path1;
    run_world(jobs, 2, &w);
    ck_assert_int_eq(jobs[0].rc, MIMIC_OK);
    assert_ranks_agree(jobs, 2);
    ck_assert_int_eq(access(path0, F_OK), 0);
    ck_assert_int_ne(access(path1, F_OK), 0);
    free_jobs(jobs, 2);

    init_jobs(jobs, 2, prob.d, o);
    jobs[0].o.checkpoint_path = jobs[1].o.checkpoint_path = tu_path("no_such_dir/c.ckpt");
    expect_agreed(jobs, 2, MIMIC_ERR_IO, "rank 0 of 2: ");
    ck_assert_uint_eq(jobs[0].rep.epochs_run, 1);
    free_jobs(jobs, 2);
}
END_TEST

/* Stopped after epoch 2 of 4 and resumed (every rank reads the checkpoint): the student of
 * the uninterrupted run, bit for bit. A resume with another number of ranks is refused,
 * naming both counts. */
START_TEST(test_resume)
{
    mimic_train_options o = checkpointed(4, "coll_resume.ckpt");
    o.resume = 1;
    job full[2], part[2], again[2];
    init_jobs(full, 2, prob.d, o);
    expect_agreed(full, 2, MIMIC_OK, "");

    unlink(o.checkpoint_path);
    init_jobs(part, 2, prob.d, o);
    part[1].cancel_epoch = 2;
    expect_agreed(part, 2, MIMIC_ERR_CANCELLED, "rank 1 of 2: ");
    init_jobs(again, 2, prob.d, o);
    expect_agreed(again, 2, MIMIC_OK, "");
    ck_assert(tt_same_student(again[0].s, full[0].s));
    ck_assert_uint_eq(again[0].rep.epochs_run, 4);

    /* 2 ranks wrote it: 3 ranks and one process refuse it */
    job three[3], one;
    init_jobs(three, 3, prob.d, o);
    expect_agreed(three, 3, MIMIC_ERR_INVALID,
                  "options.collective (ranks) is 2 in the checkpoint but 3 here");
    init_jobs(&one, 1, prob.d, o);
    run_job(&one);
    ck_assert_int_eq(one.rc, MIMIC_ERR_INVALID);
    ck_assert_msg(strstr(one.msg, "options.collective (ranks) is 2 in the checkpoint but 1 here") !=
                      NULL,
                  "%s", one.msg);
    free_jobs(three, 3);
    free_jobs(&one, 1);
    free_jobs(full, 2);
    free_jobs(part, 2);
    free_jobs(again, 2);
}
END_TEST

/* One process's checkpoints do not record the number of ranks (they are the bytes they were
 * before collectives existed); a distributed run's do. */
START_TEST(test_checkpoint_records_ranks)
{
    mimic_train_options o = checkpointed(1, "coll_keys.ckpt");
    const char *path = o.checkpoint_path;
    job one, two[2];
    init_jobs(&one, 1, prob.d, o);
    run_job(&one);
    ck_assert_int_eq(one.rc, MIMIC_OK);
    size_t n;
    char *text = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_null(memmem(text, n, "opt.collective_ranks", 20));
    free(text);
    init_jobs(two, 2, prob.d, o);
    expect_agreed(two, 2, MIMIC_OK, "");
    text = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(memmem(text, n, "\"opt.collective_ranks\":\"2\"", 26));
    free(text);
    free_jobs(&one, 1);
    free_jobs(two, 2);
}
END_TEST

/* Ranks that would train different runs are refused, naming what differs. */
START_TEST(test_ranks_differ)
{
    mimic_train_options o = run_options(2);
    o.schedule = MIMIC_SCHEDULE_CONSTANT; /* epochs is then no part of the checkpoint identity */
    job jobs[2];
    init_jobs(jobs, 2, prob.d, o);
    jobs[1].o.epochs = 3;
    expect_agreed(jobs, 2, MIMIC_ERR_INVALID,
                  "rank 1 of 2: the run differs from rank 0's: options.epochs is 3 here");
    free_jobs(jobs, 2);

    mimic_dataset *fewer = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&fewer, prob.d, 0, ROWS - 1), MIMIC_OK);
    init_jobs(jobs, 2, prob.d, o);
    jobs[1].train = fewer;
    expect_agreed(jobs, 2, MIMIC_ERR_INVALID, "data.rows is 200 here");
    free_jobs(jobs, 2);
    mimic_dataset_free(fewer);

    /* invalid options on one rank: every rank gets its message */
    init_jobs(jobs, 2, prob.d, o);
    jobs[1].o.learning_rate = -1;
    expect_agreed(jobs, 2, MIMIC_ERR_INVALID, "rank 1 of 2: options.learning_rate");
    free_jobs(jobs, 2);
}
END_TEST

/* ---- the collective itself, and its options row ------------------------------------------- */

static int status_of[MAX_RANKS];
static const char *message_of[MAX_RANKS];
static int agreed[MAX_RANKS];
static char agreed_msg[MAX_RANKS][300];

static void *agree_job(void *arg)
{
    rank_ctx *r = arg;
    agreed[r->rank] = mimic_collective_agree(&r->c, status_of[r->rank], message_of[r->rank]);
    snprintf(agreed_msg[r->rank], sizeof agreed_msg[r->rank], "%s",
             agreed[r->rank] ? mimic_last_error() : "");
    return NULL;
}

static void agree_world(int size)
{
    world w;
    rank_ctx ctx[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    world_init(&w, size);
    for (int r = 0; r < size; r++) {
        rank_init(&ctx[r], &w, r);
        ck_assert_int_eq(pthread_create(&th[r], NULL, agree_job, &ctx[r]), 0);
    }
    for (int r = 0; r < size; r++)
        ck_assert_int_eq(pthread_join(th[r], NULL), 0);
    world_free(&w);
}

START_TEST(test_agree)
{
    for (int r = 0; r < 3; r++) {
        status_of[r] = 0;
        message_of[r] = "fine";
    }
    agree_world(3);
    for (int r = 0; r < 3; r++)
        ck_assert_int_eq(agreed[r], 0);
    status_of[2] = 7;
    message_of[2] = "x.npy: no such file";
    status_of[1] = 2;
    message_of[1] = "--epochs: bad value";
    agree_world(3);
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(agreed[r], 2);
        ck_assert_str_eq(agreed_msg[r], "rank 1 of 3: --epochs: bad value");
    }
    /* an agreed message is not prefixed twice */
    status_of[1] = 0;
    message_of[0] = message_of[2] = "rank 2 of 3: x.npy: no such file";
    status_of[0] = 7;
    agree_world(3);
    for (int r = 0; r < 3; r++)
        ck_assert_str_eq(agreed_msg[r], "rank 2 of 3: x.npy: no such file");
    /* one rank: its message as it is */
    status_of[0] = 3;
    message_of[0] = "x.npy: no such file";
    agree_world(1);
    ck_assert_int_eq(agreed[0], 3);
    ck_assert_str_eq(agreed_msg[0], "x.npy: no such file");
}
END_TEST

START_TEST(test_bad_collective)
{
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    ck_assert_int_eq(c.size, 1);
    ck_assert_int_eq(c.rank, 0);
    ck_assert(c.allreduce_f32 == NULL);
    ck_assert_int_eq(mimic_collective_agree(&c, 0, NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "allreduce_f32 and allreduce_f64"));
    world w;
    rank_ctx ctx;
    world_init(&w, 1);
    rank_init(&ctx, &w, 0);
    ctx.c.rank = 2;
    ctx.c.size = 2;
    mimic_train_options o = run_options(1);
    o.collective = &ctx.c;
    mimic_student *s = tt_student(D, H, K, C, 1);
    ck_assert_int_eq(mimic_train(s, prob.d, &o, NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "options.collective: rank 2 of size 2"));
    ctx.c.rank = 0;
    ctx.c.size = 1;
    o.grad_reduce = (mimic_grad_reduce_fn)reduce_f32;
    ck_assert_int_eq(mimic_train(s, prob.d, &o, NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(
        strstr(mimic_last_error(), "set options.collective or options.grad_reduce, not both"));
    /* the row: a pointer, no flag, part of a checkpoint's identity from 1.3 */
    size_t idx;
    ck_assert_int_eq(mimic_train_option_find("collective", &idx), MIMIC_OK);
    mimic_option_info info;
    info.struct_size = sizeof info;
    ck_assert_int_eq(mimic_train_option_info(idx, &info), MIMIC_OK);
    ck_assert_int_eq(info.type, MIMIC_OPTION_POINTER);
    ck_assert_int_eq(info.since, 10300);
    ck_assert_int_eq(info.shapes_run, 1);
    ck_assert_ptr_null(info.cli_flag);
    mimic_student_free(s);
    world_free(&w);
}
END_TEST

/* ---- the pieces a rank's step is made of -------------------------------------------------- */

/* Rows [first, first + count) of n for every rank: a partition, in rank order. */
START_TEST(test_share)
{
    for (int32_t size = 1; size <= 7; size++)
        for (uint64_t n = 0; n < 40; n++) {
            uint64_t next = 0;
            for (int32_t r = 0; r < size; r++) {
                mimic_collective c;
                mimic_collective_init(&c, sizeof c);
                c.size = size;
                c.rank = r;
                uint64_t first, count;
                mimic__coll_share(&c, n, &first, &count);
                ck_assert_uint_eq(first, next);
                ck_assert_uint_le(count, (n + (uint64_t)size - 1) / (uint64_t)size);
                next = first + count;
            }
            ck_assert_uint_eq(next, n);
        }
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    c.size = 1000;
    c.rank = 999;
    uint64_t first, count;
    mimic__coll_share(&c, UINT64_MAX, &first, &count); /* no overflow */
    ck_assert_uint_eq(first + count, UINT64_MAX);
}
END_TEST

/* A loss carried in a step's slot arrives exactly; the losses add up in rank order. */
START_TEST(test_slots)
{
    const double values[] = {0.0, 1.0, M_PI, 1e-300, 5e-324, 1.7976931348623157e308, 2.0 / 3.0};
    mimic_collective c;
    mimic_collective_init(&c, sizeof c);
    c.size = 2;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        float slots[2 * MIMIC__COLL_SLOT];
        mimic__coll_slot_put(slots, MIMIC_OK, 0, values[i]);
        mimic__coll_slot_put(slots + MIMIC__COLL_SLOT, MIMIC_OK, 0, 0.0);
        int status = 99, bad = 99;
        double loss = -1;
        ck_assert_int_eq(mimic__coll_slots_read(&c, slots, &status, &bad, &loss), -1);
        ck_assert_msg(loss == values[i], "%.17g arrived as %.17g", values[i], loss);
    }
    float slots[2 * MIMIC__COLL_SLOT];
    mimic__coll_slot_put(slots, MIMIC_OK, 0, 1.5);
    mimic__coll_slot_put(slots + MIMIC__COLL_SLOT, MIMIC_ERR_NUMERIC, 1, NAN);
    int status = 0, bad = 0;
    double loss = 0;
    ck_assert_int_eq(mimic__coll_slots_read(&c, slots, &status, &bad, &loss), 1);
    ck_assert_int_eq(status, MIMIC_ERR_NUMERIC);
    ck_assert_int_eq(bad, 1);
}
END_TEST

int main(void)
{
    /* Bitwise comparisons need one BLAS thread per call; set it once, before any rank
     * starts (the library never sets it; openblas_set_num_threads is process-wide). */
#ifdef MIMIC_HAVE_OPENBLAS
    openblas_set_num_threads(1);
#endif
    Suite *s = suite_create("concurrency_collective");
    TCase *tc = tcase_create("ranks as threads");
    tcase_add_checked_fixture(tc, setup, teardown);
    /* a rank that waited forever would hang its test: the timeout says so */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_equivalence_f32);
    tcase_add_test(tc, test_equivalence_u8_kd);
    tcase_add_test(tc, test_equivalence_sgd_center_clip);
    tcase_add_test(tc, test_stepwise_loss);
    tcase_add_test(tc, test_nan_on_one_rank);
    tcase_add_test(tc, test_cancel_on_one_rank);
    tcase_add_test(tc, test_nomem_on_one_rank);
    tcase_add_test(tc, test_transport_failure);
    tcase_add_test(tc, test_checkpoint_rank0);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_checkpoint_records_ranks);
    tcase_add_test(tc, test_ranks_differ);
    tcase_add_test(tc, test_agree);
    tcase_add_test(tc, test_bad_collective);
    tcase_add_test(tc, test_share);
    tcase_add_test(tc, test_slots);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
