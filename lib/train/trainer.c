/*
 * The trainer: minibatch loop, divergence guard, epoch-end processing (validation, early
 * stopping, checkpoint, callback), mimic_train. The loss, the optimizer and the schedule
 * come from their descriptors (model/loss.c, optimizer.c, schedule.c); the options from
 * their table (options.c); checkpoints see the run through a mimic__ckpt_view.
 *
 * With options.collective (include/mimic/collective.h; helpers in distributed.c) the
 * trainer is one rank of several: it reads its part of each global batch, sums gradients,
 * statistics and metrics with the others, and agrees with them on every outcome. Every
 * collective call below is made by every rank in the same order: it never depends on what
 * only one rank knows (a local failure enters the next agreement as a status instead).
 */
#include <math.h>
#include <stdio.h>

#include "train/train.h"

/* The trainer's idle workers wait 50 us for the next pass of the step, calling sched_yield,
 * then sleep: an sgemm runs between most of the passes, and OpenBLAS's workers, which poll
 * with sched_yield between its calls, share the cores with ours (at 2 threads on 2 cores
 * one of theirs and ours share a core), so a waiting worker of ours hands the core over at
 * once. Measured at 2 threads on 2 cores (784-256b-4096-10, batch 64, AVX-512 kernels, a
 * quiet machine): 3.3-3.4 ms a step waiting 50 us (yielding or pausing) or 200 us
 * (yielding), 4.2 ms sleeping at once (a wake-up per pass), 4.3 ms without threads of our
 * own. Overridable at build time for measurements. */
#ifndef TRAINER_SPIN_S
#define TRAINER_SPIN_S 5e-5
#endif
#ifndef TRAINER_YIELD
#define TRAINER_YIELD true
#endif
/* The gather's jobs: chunks of at least GATHER_CHUNK_BYTES of inputs, at most
 * GATHER_MAX_CHUNKS of them (each has an augmentation row of its own). */
#define GATHER_CHUNK_BYTES (16u << 10)
#define GATHER_MAX_CHUNKS 32
/* Copies of the weights into the student: chunks of at least this many bytes. */
#define COPY_CHUNK_BYTES (64u << 10)

struct mimic_trainer {
    uint32_t magic;
    mimic_student *s;
    const mimic_dataset *train;
    mimic_train_options o; /* validated and resolved */
    const mimic__loss *loss;
    const mimic__optimizer *opt;
    mimic__layout L;
    int32_t act;
    size_t rows, batch; /* batch = min(batch_size, rows) */
    uint64_t spe;       /* steps per epoch */

    /* parameters in training space (target_norm STANDARDIZE: normalized output layer),
     * double-buffered: the optimizer writes p[cur ^ 1] from p[cur], and the buffers are
     * swapped only when the result is finite, so p[cur] always holds the last good weights */
    float *p[2];
    int cur;
    int prev_valid; /* p[cur ^ 1] holds the weights of the previous step (their loss was finite) */
    float *grads;
    float *opt_state[MIMIC__MAX_OPT_STATE]; /* the optimizer's state vectors */
    float *best; /* best weights (early stopping), training space, or NULL */
    float *x, *ws, *dlogits, *scratch, *dz, *tbuf;
    float *eval_t;   /* evaluation: a chunk's teacher rows (validation, eval_train) */
    int32_t *eval_y; /* and labels */
    void *aug_row;   /* raw input rows (augmentation: one per chunk of the gather), or NULL */
    mimic__pool *pool; /* options.threads > 1: threads of our own (the step's passes between
                          the BLAS calls, validation), else NULL */
    int32_t *ybuf;
    mimic__order order;  /* of the epoch's rows */
    uint64_t *ids;       /* a batch's rows (keyed order) */
    float *tmean, *tstd; /* target_norm STANDARDIZE: per-class stats, else NULL */

    mimic__train_state st; /* where the run stands (what a checkpoint restores) */
    int failed;            /* diverged: the trainer refuses further work */

    /* data-parallel training: options.collective, checked (rank 0 of 1 without) */
    mimic_collective coll;
    int dist;           /* options.collective is set */
    size_t cap;         /* rows of the batch buffers: the largest part of a
                                          batch this rank reads (the batch with one rank) */
    int cancel_pending; /* a mid-epoch callback stopped: the next step tells
                                          every rank, which all stop before its update */
    char cancel_msg[MIMIC__COLL_MSG];

    /* timing of this session (not checkpointed) */
    double t_start, epoch_t_start;
    uint64_t examples_run;
};

/* ---- creation ------------------------------------------------------------------------ */

static void trainer_release(mimic_trainer *t)
{
    float *bufs[] = {t->p[0], t->p[1], t->grads, t->opt_state[0], t->opt_state[1],
                     t->best, t->x,    t->ws,    t->dlogits,      t->scratch,
                     t->dz,   t->tbuf, t->tmean, t->tstd,         t->eval_t};
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(bufs); i++)
        mimic__free(bufs[i]);
    mimic__free(t->ybuf);
    mimic__free(t->eval_y);
    mimic__order_free(&t->order);
    mimic__free(t->ids);
    mimic__free(t->aug_row);
    mimic__pool_free(t->pool);
    t->magic = MIMIC__MAGIC_DEAD;
    mimic__free(t);
}

static int alloc_buffers(mimic_trainer *t)
{
    const mimic__layout *L = &t->L;
    const mimic_train_options *o = &t->o;
    size_t n = L->n_params, B = t->cap;
    /* with a collective, each step's all-reduce carries every rank's slot after the gradient */
    size_t slots = t->dist ? MIMIC__COLL_SLOT * (size_t)t->coll.size : 0;
    bool ok = (t->p[0] = mimic__falloc(n, 1)) && (t->p[1] = mimic__falloc(n, 1)) &&
              (t->grads = mimic__falloc(n + slots, 1)) && (t->x = mimic__falloc(B, L->D)) &&
              (t->ws = mimic__falloc(mimic__student_ws_floats(L, B), 1)) &&
              (t->dlogits = mimic__falloc(B, L->C)) && (t->scratch = mimic__falloc(B, L->C));
    for (size_t i = 0; ok && i < t->opt->n_state; i++)
        ok = (t->opt_state[i] = mimic__falloc(n, 1)) != NULL;
    if (ok && o->patience > 0)
        ok = (t->best = mimic__falloc(n, 1)) != NULL;
    if (ok && L->k > 0)
        ok = (t->dz = mimic__falloc(B, L->k)) != NULL;
    if (ok && (t->loss->needs & MIMIC__NEEDS_LOGITS))
        ok = (t->tbuf = mimic__falloc(B, L->C)) != NULL;
    if (ok && mimic__loss_needs_labels(t->loss, o->hard_weight))
        ok = (t->ybuf = mimic__calloc(B, sizeof(int32_t))) != NULL;
    if (ok)
        ok = (t->ids = mimic__calloc(B, sizeof(uint64_t))) != NULL;
    if (ok && mimic__order_init(&t->order, t->rows) != MIMIC_OK)
        return MIMIC_ERR_NOMEM;
    if (ok && (o->flip > 0 || o->shift > 0))
        ok = (t->aug_row = mimic__falloc(L->D, o->threads > 1 ? GATHER_MAX_CHUNKS : 1)) !=
             NULL; /* f32 or u8, a row per chunk of the gather */
    if (ok && (o->validation || o->eval_train))
        ok =
            (t->eval_t = mimic__falloc(B, L->C)) && (t->eval_y = mimic__calloc(B, sizeof(int32_t)));
    if (ok && o->target_norm == MIMIC_TARGET_STANDARDIZE)
        ok = (t->tmean = mimic__falloc(L->C, 1)) && (t->tstd = mimic__falloc(L->C, 1));
    if (!ok)
        return mimic__error(MIMIC_ERR_NOMEM,
                            "trainer: out of memory for the workspaces (%zu parameters, batch %zu)",
                            n, B);
    for (size_t i = 0; i < t->opt->n_state; i++)
        memset(t->opt_state[i], 0, n * sizeof(float));
    return MIMIC_OK;
}

/* A copy of n floats split over a pool by ranges. */
typedef struct copy_job {
    float *dst;
    const float *src;
    size_t n;
} copy_job;

static void copy_part(void *ctx, size_t i, size_t n)
{
    const copy_job *job = ctx;
    size_t b, e;
    mimic__split_aligned(job->n, i, n, 16, &b, &e); /* whole cache lines */
    memcpy(job->dst + b, job->src + b, (e - b) * sizeof(float));
}

/* Fold the target normalization into the output layer of the student, which holds the
 * training-space weights. */
static void fold_targets(mimic_trainer *t)
{
    const mimic__layout *L = &t->L;
    float *p = t->s->params;
    if (!t->tstd)
        return;
    /* logits = std * (W h + b) + mean  =>  W' = diag(std) W, b' = std b + mean */
    for (size_t c = 0; c < L->C; c++) {
        float *w = p + L->off_output_w + c * L->H;
        for (size_t j = 0; j < L->H; j++)
            w[j] *= t->tstd[c];
        p[L->off_output_b + c] = p[L->off_output_b + c] * t->tstd[c] + t->tmean[c];
    }
}

/* Copy the training-space weights `src` into the student, folding the target
 * normalization into the output layer. */
static void sync_student(mimic_trainer *t, const float *src)
{
    const size_t n = t->L.n_params;
    copy_job job = {t->s->params, src, n};
    mimic__pool_for(t->pool, mimic__pool_chunks(t->pool, n, sizeof(float), COPY_CHUNK_BYTES),
                    copy_part, &job);
    fold_targets(t);
}

/* Fit the input normalization on the training set and store it in the student. */
static int fit_input_norm(mimic_trainer *t)
{
    float *mean = mimic__falloc(t->L.D, 1), *scale = mimic__falloc(t->L.D, 1);
    int rc = (!mean || !scale) ? mimic__error(MIMIC_ERR_NOMEM,
                                              "standardize: out of memory for %zu features", t->L.D)
                               : mimic__input_stats(t->train, t->o.std_floor, mean, scale);
    if (rc == MIMIC_OK)
        rc = mimic_student_set_input_norm(t->s, mean, scale);
    mimic__free(mean);
    mimic__free(scale);
    return rc;
}

/* The statistics of the training set over every rank's rows (size > 1): the target
 * statistics into t->tmean/t->tstd, the input normalization into the student. Each rank sums
 * its part of the rows, the sums are added up, and every rank finishes the same numbers; the
 * student changes only once every rank has its copy of them. */
static int fit_stats_ranks(mimic_trainer *t)
{
    const mimic_dataset *d = t->train;
    const size_t C = t->L.C, D = t->L.D;
    const size_t off = t->tstd ? 2 * C : 0, n = off + (t->o.standardize ? 2 * D : 0);
    if (n == 0)
        return MIMIC_OK;
    uint64_t first, count;
    mimic__coll_share(&t->coll, d->rows, &first, &count);
    double *sums = mimic__calloc(n, sizeof(double));
    float *mean = t->o.standardize ? mimic__falloc(D, 2) : NULL, *m = NULL, *c = NULL;
    int rc = sums && (mean || !t->o.standardize)
                 ? MIMIC_OK
                 : mimic__error(MIMIC_ERR_NOMEM, "statistics: out of memory for %zu sums", n);
    if (rc == MIMIC_OK && t->tstd)
        rc = mimic__target_sums(d, first, first + count, sums);
    if (rc == MIMIC_OK && t->o.standardize)
        mimic__input_sums(d, first, first + count, sums + off);
    rc = mimic__coll_agree(&t->coll, rc, NULL);
    if (rc == MIMIC_OK)
        rc = mimic__coll_sum_f64(&t->coll, sums, n);
    if (rc == MIMIC_OK && t->tstd)
        mimic__target_finish(d, sums, t->tmean, t->tstd);
    if (rc == MIMIC_OK && t->o.standardize) {
        mimic__input_finish(d, t->o.std_floor, sums + off, mean, mean + D);
        rc = mimic__input_norm_copy(t->s, mean, mean + D, &m, &c, "standardize");
        rc = mimic__coll_agree(&t->coll, rc, NULL);
        if (rc == MIMIC_OK)
            mimic__input_norm_take(t->s, m, c);
    }
    if (rc != MIMIC_OK) {
        mimic__free(m);
        mimic__free(c);
    }
    mimic__free(sums);
    mimic__free(mean);
    return rc;
}

static mimic__ckpt_view ckpt_view(const mimic_trainer *t);

/* What a trainer needs that no rank may lack: every rank trains the same run, from rank 0's
 * weights (a broadcast into the training-space copy; the student gets them at the end). */
static int join_ranks(mimic_trainer *t)
{
    mimic__ckpt_view v = ckpt_view(t);
    int rc = mimic__coll_agree(&t->coll, mimic__coll_same_run(&t->coll, &v), NULL);
    if (rc == MIMIC_OK)
        rc = mimic__coll_bcast_f32(&t->coll, t->p[t->cur], t->L.n_params);
    return mimic__coll_agree(&t->coll, rc, NULL);
}

/* options->collective, checked, when `o` is a struct that has the field: the ranks can then
 * agree on everything mimic_trainer_create finds wrong. */
static int collective_of(const mimic_train_options *o, mimic_collective *c)
{
    const size_t end = offsetof(mimic_train_options, collective) + sizeof o->collective;
    return o && o->struct_size >= end && o->collective &&
           mimic__coll_copy(c, o->collective, "options.collective") == MIMIC_OK;
}

int mimic_trainer_create(mimic_trainer **out, mimic_student *s, const mimic_dataset *train,
                         const mimic_train_options *o)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_trainer_create: out is NULL");
    *out = NULL;
    mimic_collective coll;
    const int dist = collective_of(o, &coll);
    int rc = mimic__student_check(s, "student");
    if (rc == MIMIC_OK)
        rc = mimic__student_check_float(s, "mimic_trainer_create");
    if (rc == MIMIC_OK)
        rc = mimic__dataset_check(train, "train");
    mimic_train_options opts;
    mimic_train_options_init(&opts, sizeof opts);
    if (rc == MIMIC_OK)
        rc = mimic__struct_copy_in(&opts, sizeof opts, o, "train options");
    if (rc == MIMIC_OK)
        rc = mimic__train_options_validate(&opts, s, train);
    if (dist)
        rc = mimic__coll_agree(&coll, rc, NULL);
    if (rc != MIMIC_OK)
        return rc;
    mimic__train_options_resolve(&opts);

    mimic_trainer *t = mimic__calloc(1, sizeof *t);
    if (!t && !dist)
        return mimic__error(MIMIC_ERR_NOMEM, "trainer: out of memory");
    if (!t)
        return mimic__coll_agree(&coll, mimic__error(MIMIC_ERR_NOMEM, "trainer: out of memory"),
                                 NULL);
    t->s = s;
    t->train = train;
    t->o = opts;
    t->loss = mimic__loss_get(opts.loss);
    t->opt = mimic__optimizer_get(opts.optimizer);
    t->L = s->L;
    t->act = s->opts.activation;
    t->rows = train->rows;
    t->batch = opts.batch_size < t->rows ? (size_t)opts.batch_size : t->rows;
    t->spe = (t->rows + t->batch - 1) / t->batch;
    t->st.best_loss = NAN;
    t->st.last_epoch_loss = NAN;
    t->st.last_lr = NAN;
    mimic__rng_seed(&t->st.rng, opts.seed);
    t->st.rng_epoch = t->st.rng;
    t->dist = dist;
    if (dist)
        t->coll = coll;
    else
        mimic_collective_init(&t->coll, sizeof t->coll);
    /* rank r reads rows [r B / N, (r + 1) B / N) of a batch of B: at most ceil(B / N) */
    t->cap = (t->batch + (size_t)t->coll.size - 1) / (size_t)t->coll.size;

    rc = alloc_buffers(t);
    if (rc == MIMIC_OK)
        rc = mimic__pool_create(&t->pool, (size_t)opts.threads, TRAINER_SPIN_S, TRAINER_YIELD);
    if (dist)
        rc = mimic__coll_agree(&coll, rc, NULL);
    if (rc == MIMIC_OK)
        memcpy(t->p[t->cur], s->params, t->L.n_params * sizeof(float));
    if (rc == MIMIC_OK && dist)
        rc = join_ranks(t);
    if (rc == MIMIC_OK && dist && coll.size > 1) {
        rc = fit_stats_ranks(t); /* the last fallible step: the student changes only on success */
    } else {
        if (rc == MIMIC_OK && t->tstd)
            rc = mimic__target_stats(train, t->tmean, t->tstd);
        if (rc == MIMIC_OK && opts.standardize)
            rc =
                fit_input_norm(t); /* the last fallible step: the student changes only on success */
    }
    if (rc != MIMIC_OK) {
        trainer_release(t);
        return rc;
    }
    /* With target_norm STANDARDIZE the student's output layer is taken as it is, as a layer
     * that predicts standardized targets: a fresh student then starts at the class means (bias
     * 0 maps to `mean`) with a well-scaled output layer. Mapping it back through the inverse
     * fold would start a fresh student's normalized bias at -mean/std, far from every target,
     * which plain SGD/Adam steps need many epochs to undo. (To continue training an already
     * trained student, resume from a checkpoint, which stores the training-space weights, or
     * use target_norm NONE.) With a collective, p[cur] holds rank 0's student. */
    if (dist)
        memcpy(s->params, t->p[t->cur], t->L.n_params * sizeof(float));
    t->t_start = t->epoch_t_start = mimic__now();
    t->magic = MIMIC__MAGIC_TRAINER;
    *out = t;
    return MIMIC_OK;
}

void mimic_trainer_free(mimic_trainer *t)
{
    if (!t || t->magic != MIMIC__MAGIC_TRAINER)
        return;
    trainer_release(t);
}

static int trainer_valid(const mimic_trainer *t, const char *what)
{
    return mimic__handle_check(t, t ? t->magic : 0, MIMIC__MAGIC_TRAINER, what, "trainer");
}

static int trainer_check(const mimic_trainer *t, const char *what)
{
    int rc = trainer_valid(t, what);
    if (rc == MIMIC_OK && t->failed)
        return mimic__error(MIMIC_ERR_MISUSE,
                            "%s: the trainer diverged earlier; create a new one (the student "
                            "holds the last finite weights)",
                            what);
    return rc;
}

/* ---- one step ---------------------------------------------------------------------------- */

/* An epoch's order depends only on the RNG state at its start (a checkpoint restores it from
 * that state). */
static void shuffle_epoch(mimic_trainer *t)
{
    t->st.rng_epoch = t->st.rng;
    mimic__order_draw(&t->order, &t->st.rng);
    t->st.started = 1;
}

static void start_epoch(mimic_trainer *t)
{
    shuffle_epoch(t);
    t->st.pos = 0;
    t->st.epoch_loss_sum = 0;
    t->st.epoch_rows = 0;
    t->st.end_pending = 0;
    t->epoch_t_start = mimic__now();
}

/* Gather a batch, or this rank's part of it from batch row row0 on: inputs converted and
 * normalized in one pass straight into the aligned buffer (an augmented row is first
 * mirrored/shifted into a row of t->aug_row, raw, as batch row row0 + i draws); teacher rows
 * with the target normalization; labels. Split over the pool by rows (chunk c of a job uses
 * augmentation row c). */
typedef struct gather_job {
    mimic_trainer *t;
    const uint64_t *ids;
    size_t n, row0;
    mimic__augment aug;
    int augment;
} gather_job;

static void gather_inputs(const gather_job *job, size_t c, size_t r0, size_t r1)
{
    mimic_trainer *t = job->t;
    const mimic_dataset *d = t->train;
    const mimic_student *s = t->s;
    const size_t D = t->L.D;
    void *aug_row = job->augment ? (float *)t->aug_row + c * D : NULL;
    for (size_t i = r0; i < r1; i++) {
        const void *row = mimic__input_row(d, job->ids[i]);
        int flip = 0, dy = 0, dx = 0;
        if (job->augment)
            mimic__augment_draw(&job->aug, job->row0 + i, &flip, &dy, &dx);
        if (flip || dy || dx) {
            mimic__augment_image(row, aug_row, d->input_dtype, job->aug.C, job->aug.H, job->aug.W,
                                 flip, dy, dx);
            row = aug_row;
        }
        mimic__normalize_rows(s->in_mean, s->in_scale, D, row, d->input_dtype, 1, t->x + i * D);
    }
}

static void gather_targets(const gather_job *job, size_t r0, size_t r1)
{
    mimic_trainer *t = job->t;
    const mimic_dataset *d = t->train;
    const size_t C = t->L.C;
    for (size_t i = r0; i < r1; i++) {
        float *dst = t->tbuf + i * C;
        const float *src = mimic__logits_f32(d, job->ids[i]);
        if (!src) { /* float16: widen in place first */
            mimic__logits_row(d, job->ids[i], dst);
            src = dst;
        }
        if (t->o.target_norm == MIMIC_TARGET_CENTER) {
            double mean = 0;
            for (size_t j = 0; j < C; j++)
                mean += src[j];
            float m = (float)(mean / (double)C);
            for (size_t j = 0; j < C; j++)
                dst[j] = src[j] - m;
        } else if (t->tstd) {
            for (size_t j = 0; j < C; j++)
                dst[j] = (src[j] - t->tmean[j]) / t->tstd[j];
        } else if (src != dst) {
            memcpy(dst, src, C * sizeof(float));
        }
    }
}

static void gather_part(void *ctx, size_t c, size_t n)
{
    const gather_job *job = ctx;
    size_t r0, r1;
    mimic__split(job->n, c, n, &r0, &r1);
    gather_inputs(job, c, r0, r1);
    if (job->t->tbuf)
        gather_targets(job, r0, r1);
    if (job->t->ybuf)
        for (size_t i = r0; i < r1; i++)
            job->t->ybuf[i] = mimic__label_at(job->t->train, job->ids[i]);
}

static void gather(mimic_trainer *t, const uint64_t *ids, size_t n, size_t row0)
{
    gather_job job = {t, ids, n, row0, {0}, 0};
    job.augment = mimic__augment_init(&job.aug, &t->o, t->L.D, t->st.steps_done);
    size_t chunks = mimic__pool_chunks(t->pool, n, t->L.D * sizeof(float), GATHER_CHUNK_BYTES);
    mimic__pool_for(t->pool, chunks < GATHER_MAX_CHUNKS ? chunks : GATHER_MAX_CHUNKS, gather_part,
                    &job);
}

/* Divergence. A non-finite loss condemns the weights that produced it (p[cur]), so the student
 * gets the previous step's weights, whose loss was finite (p[cur ^ 1], kept by the optimizer's
 * double buffer at no cost); when the loss was fine but the gradient norm or an updated weight
 * is not, p[cur] itself is the last good state. The message, then the state (with a
 * collective the failing rank says it and every rank changes its state). */
static int diverge_error(const mimic_trainer *t, const char *what, double value, int loss_bad)
{
    int back = loss_bad && t->prev_valid;
    unsigned long long e = (unsigned long long)t->st.epochs_done + 1;
    unsigned long long k = (unsigned long long)t->st.pos + 1;
    unsigned long long g = (unsigned long long)t->st.steps_done + 1;
    unsigned long long good = g - 1 - (unsigned long long)back;
    return mimic__error(MIMIC_ERR_NUMERIC,
                        "training diverged at epoch %llu, step %llu (global step %llu; %s is %g); "
                        "the student holds the weights after global step %llu, the last with a "
                        "finite loss; lower options.learning_rate or set options.clip_norm",
                        e, k, g, what, value, good);
}

static void diverge_state(mimic_trainer *t, int loss_bad)
{
    t->failed = 1;
    sync_student(t, t->p[loss_bad && t->prev_valid ? t->cur ^ 1 : t->cur]);
}

static int diverge(mimic_trainer *t, const char *what, double value, int loss_bad)
{
    int rc = diverge_error(t, what, value, loss_bad);
    diverge_state(t, loss_bad);
    return rc;
}

/* Forward, loss and backward on the m rows of the batch (of n rows, from position `first` of
 * the epoch's order) that this trainer reads, from batch row r0 on: all of them without a
 * collective. The loss is this part's sum over the whole batch's rows; *loss_bad = 1 (with
 * MIMIC_ERR_NUMERIC) when it is not finite. */
static int local_pass(mimic_trainer *t, size_t first, size_t n, size_t r0, size_t m, double *loss,
                      int *loss_bad)
{
    const mimic__layout *L = &t->L;
    const uint64_t *ids = mimic__order_batch(&t->order, first + r0, m, t->ids);
    gather(t, ids, m, r0);
    *loss = 0;
    *loss_bad = 0;
    /* With a collective, a non-finite input would reach every rank only as a NaN gradient
     * (a ReLU passes no NaN to the loss): the rank that read it says which row it was. */
    for (size_t i = 0; t->dist && i < m * L->D; i++)
        if (!isfinite(t->x[i]))
            return mimic__error(MIMIC_ERR_NUMERIC,
                                "training diverged at epoch %llu, global step %llu: training row "
                                "%llu is not finite as read (input %zu is %g after augmentation "
                                "and normalization); the student holds the weights after global "
                                "step %llu",
                                (unsigned long long)t->st.epochs_done + 1,
                                (unsigned long long)t->st.steps_done + 1,
                                (unsigned long long)ids[i / L->D], i % L->D, (double)t->x[i],
                                (unsigned long long)t->st.steps_done);
    float *z, *h, *logits;
    mimic__dropout drop, *dr = NULL;
    if (t->o.dropout > 0) {
        /* a fresh mask per step, from (seed, global step): resumable without extra state;
         * per unit of a batch row, whichever rank reads it */
        mimic__dropout_init(&drop, t->o.dropout, mimic__hash64(t->o.seed, t->st.steps_done));
        drop.offset = (uint32_t)(r0 * L->H);
        dr = &drop;
    }
    mimic__student_forward_ws(L, t->act, t->p[t->cur], t->x, m, dr, t->ws, &z, &h, &logits,
                              t->pool);
    int rc = MIMIC_OK;
    if (m > 0) { /* a rank can have no rows of a short last batch: its gradient is zero */
        const mimic__loss_args args = {.logits = logits,
                                       .targets = t->tbuf,
                                       .labels = t->ybuf,
                                       .rows = m,
                                       .classes = L->C,
                                       .o = &t->o,
                                       .scratch = t->scratch,
                                       .norm_rows = n};
        rc = t->loss->batch(&args, loss, t->dlogits);
    }
    if (rc == MIMIC_ERR_NUMERIC || (rc == MIMIC_OK && !isfinite(*loss))) {
        *loss = rc == MIMIC_OK ? *loss : INFINITY;
        *loss_bad = 1;
        return MIMIC_ERR_NUMERIC;
    }
    if (rc == MIMIC_OK)
        mimic__student_backward_ws(L, t->act, t->p[t->cur], t->x, m, dr, z, h, t->dlogits, t->dz,
                                   t->grads, t->pool);
    return rc;
}

/* A step of one rank: its part of the batch, then one all-reduce of the gradient with every
 * rank's slot (status, loss) after it. A failure on any rank (divergence, an error, a
 * cancel pending from a mid-epoch callback) stops every rank here, before the update, with
 * the lowest failing rank's status and message. *loss: the whole batch's loss. */
static int reduce_step(mimic_trainer *t, size_t first, size_t n, double *loss)
{
    const mimic_collective *c = &t->coll;
    const size_t np = t->L.n_params;
    uint64_t r0, m;
    mimic__coll_share(c, n, &r0, &m);
    char msg[MIMIC__COLL_MSG];
    int loss_bad = 0, rc;
    double mine = 0;
    if (t->cancel_pending) {
        rc = MIMIC_ERR_CANCELLED;
        snprintf(msg, sizeof msg, "%s", t->cancel_msg);
    } else {
        rc = local_pass(t, first, n, (size_t)r0, (size_t)m, &mine, &loss_bad);
        if (loss_bad)
            diverge_error(t, "the loss", mine, 1);
        snprintf(msg, sizeof msg, "%s", rc != MIMIC_OK ? mimic_last_error() : "");
    }
    if (rc != MIMIC_OK)
        memset(t->grads, 0, np * sizeof(float));
    float *slots = t->grads + np;
    memset(slots, 0, MIMIC__COLL_SLOT * (size_t)c->size * sizeof(float));
    mimic__coll_slot_put(slots + MIMIC__COLL_SLOT * (size_t)c->rank, rc, loss_bad, mine);
    int status = mimic__coll_sum_f32(c, t->grads, np + MIMIC__COLL_SLOT * (size_t)c->size);
    int root = -1;
    if (status == MIMIC_OK)
        root = mimic__coll_slots_read(c, slots, &status, &loss_bad, loss);
    if (status == MIMIC_OK)
        return MIMIC_OK;
    t->cancel_pending = 0;
    if (status == MIMIC_ERR_NUMERIC)
        diverge_state(t, loss_bad);
    else
        sync_student(t, t->p[t->cur]);
    return root < 0 ? status : mimic__coll_fail(c, root, status, msg);
}

/* Every rank found the summed gradient, or the weights it gave, not finite (`rc`, the same
 * divergence on every rank). Whose rows made it so? Each rank recomputes its part of the
 * step (the same bits: the same weights, rows and draws) and the ranks agree on the first
 * whose gradient is not finite, so the message names it; when none is (the sum overflowed),
 * `rc` stands. Costs nothing until a run diverges. */
static int blame_rank(mimic_trainer *t, size_t first, size_t n, int rc)
{
    char msg[MIMIC__COLL_MSG];
    snprintf(msg, sizeof msg, "%s", mimic_last_error());
    uint64_t r0, m;
    mimic__coll_share(&t->coll, n, &r0, &m);
    double loss;
    int loss_bad, mine = local_pass(t, first, n, (size_t)r0, (size_t)m, &loss, &loss_bad);
    for (size_t i = 0; mine == MIMIC_OK && i < t->L.n_params; i++)
        if (!isfinite(t->grads[i]))
            mine = diverge_error(t, "the gradient of this rank's rows", t->grads[i], 0);
    int agreed = mimic__coll_agree(&t->coll, mine, NULL);
    return agreed != MIMIC_OK ? agreed : mimic__error(rc, "%s", msg);
}

/* One optimizer step. With `copy` (the student's weights) the update also writes the new
 * weights there, while they are in cache (the caller folds the target normalization; an
 * update that fails leaves the student as the divergence sets it); otherwise the student is
 * not touched (callers sync when they hand it out). */
static int train_step(mimic_trainer *t, double *loss_out, float *copy)
{
    mimic__train_state *st = &t->st;
    if (!st->started)
        start_epoch(t);
    const mimic__layout *L = &t->L;
    size_t first = (size_t)st->pos * t->batch;
    size_t n = t->rows - first < t->batch ? t->rows - first : t->batch;
    double loss;
    int loss_bad, rc;
    if (t->dist) {
        if ((rc = reduce_step(t, first, n, &loss)) != MIMIC_OK)
            return rc;
    } else {
        rc = local_pass(t, first, n, 0, n, &loss, &loss_bad);
        if (loss_bad)
            return diverge(t, "the loss", loss, 1);
        if (rc != MIMIC_OK)
            return rc;
    }
    if (t->o.grad_reduce) {
        int r = t->o.grad_reduce(t->grads, L->n_params, t->o.grad_reduce_user_data);
        if (r != 0) {
            sync_student(t, t->p[t->cur]);
            return mimic__error(MIMIC_ERR_CANCELLED,
                                "options.grad_reduce returned %d at global step %llu; the "
                                "student holds the weights from before that step",
                                r, (unsigned long long)st->steps_done + 1);
        }
    }
    float gscale = 1.0f;
    if (t->o.clip_norm > 0) {
        double norm = mimic__grad_norm(t->grads, L->n_params, t->pool);
        if (!isfinite(norm)) {
            rc = diverge(t, "the gradient norm", norm, 0);
            return t->dist ? blame_rank(t, first, n, rc) : rc;
        }
        if (norm > t->o.clip_norm)
            gscale = (float)(t->o.clip_norm / (norm + 1e-6)); /* PyTorch's clip_grad_norm_ */
    }
    double lr = mimic__lr_at(&t->o, st->steps_done, t->spe);
    if (!mimic__optimizer_run(t->opt, &t->o, lr, st->steps_done + 1, t->p[t->cur], t->p[t->cur ^ 1],
                              t->grads, gscale, t->opt_state, L->n_params, copy, t->pool)) {
        rc = diverge(t, "a weight after the update", INFINITY, 0);
        return t->dist ? blame_rank(t, first, n, rc) : rc;
    }
    t->cur ^= 1;
    t->prev_valid = 1;
    st->steps_done++;
    st->pos++;
    st->epoch_loss_sum += loss * (double)n;
    st->epoch_rows += n;
    t->examples_run += n;
    st->last_lr = lr;
    if (st->pos == t->spe) {
        st->epochs_done++;
        st->started = 0;
        st->pos = 0;
        st->end_pending = 1;
        st->last_epoch_loss = st->epoch_loss_sum / (double)st->epoch_rows;
    }
    if (loss_out)
        *loss_out = loss;
    return MIMIC_OK;
}

static int check_done(const mimic_trainer *t, const char *what)
{
    if (t->st.finished || t->st.epochs_done >= t->o.epochs)
        return mimic__error(MIMIC_ERR_MISUSE, "%s: training is finished (%llu epochs done%s)", what,
                            (unsigned long long)t->st.epochs_done,
                            t->st.stopped_early ? ", stopped early" : "");
    return MIMIC_OK;
}

int mimic_trainer_step(mimic_trainer *t, double *loss_out)
{
    int rc = trainer_check(t, "mimic_trainer_step");
    if (rc == MIMIC_OK)
        rc = check_done(t, "mimic_trainer_step");
    if (rc != MIMIC_OK)
        return rc;
    rc = train_step(t, loss_out, t->s->params); /* the update copies the weights */
    if (rc == MIMIC_OK)
        fold_targets(t);
    return rc;
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static mimic__ckpt_view ckpt_view(const mimic_trainer *t)
{
    mimic__ckpt_view v = {&t->o,          &t->L,        t->act,       t->train, t->spe,
                          t->opt,         t->p[t->cur], t->opt_state, t->best,  t->s->in_mean,
                          t->s->in_scale, t->tmean,     t->tstd,      &t->st};
    return v;
}

int mimic_trainer_save_checkpoint(const mimic_trainer *t, const char *path)
{
    int rc = trainer_valid(t, "mimic_trainer_save_checkpoint");
    if (rc != MIMIC_OK)
        return rc;
    if (t->failed)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_save_checkpoint: the trainer "
                                              "diverged; its optimizer state is not usable");
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "checkpoint path is NULL or empty");
    mimic__ckpt_view v = ckpt_view(t);
    return mimic__checkpoint_write(path, &v);
}

int mimic_trainer_load_checkpoint(mimic_trainer *t, const char *path)
{
    int rc = trainer_valid(t, "mimic_trainer_load_checkpoint");
    if (rc != MIMIC_OK)
        return rc;
    if (t->failed)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_load_checkpoint: the trainer "
                                              "diverged; create a new one");
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "checkpoint path is NULL or empty");
    mimic__ckpt_view v = ckpt_view(t);
    mimic__ckpt c;
    rc = mimic__checkpoint_read(path, &v, &c);
    const int opened = rc == MIMIC_OK;
    float *m = NULL, *sc = NULL;
    if (rc == MIMIC_OK) /* the one fallible part of the commit: a copy of the normalization */
        rc = mimic__input_norm_copy(t->s, c.in_mean, c.in_scale, &m, &sc,
                                    "mimic_student_set_input_norm");
    if (t->dist) /* every rank reads the file: all resume, or none */
        rc = mimic__coll_agree(&t->coll, rc, NULL);
    if (rc != MIMIC_OK) {
        mimic__free(m);
        mimic__free(sc);
        if (opened)
            mimic__checkpoint_close(&c);
        return rc;
    }
    /* commit */
    mimic__input_norm_take(t->s, m, sc);
    size_t n = t->L.n_params;
    memcpy(t->p[t->cur], c.params, n * sizeof(float));
    t->prev_valid = 0; /* the other buffer is not this state's predecessor */
    for (size_t i = 0; i < t->opt->n_state; i++)
        memcpy(t->opt_state[i], c.opt_state[i], n * sizeof(float));
    if (c.best)
        memcpy(t->best, c.best, n * sizeof(float));
    t->st = c.st;
    t->st.has_best = c.best != NULL;
    mimic__checkpoint_close(&c);
    if (t->st.started) {
        /* redraw the epoch's order from the RNG state at its start */
        t->st.rng = t->st.rng_epoch;
        shuffle_epoch(t);
    }
    t->epoch_t_start = mimic__now();
    /* a finished run can be extended when the schedule allows more epochs */
    mimic__train_state *st = &t->st;
    st->finished = st->stopped_early || (st->epochs_done >= t->o.epochs && !st->end_pending);
    if (st->finished && st->has_best)
        st->holds_epoch = st->best_epoch;
    sync_student(t, st->finished && st->has_best ? t->best : t->p[t->cur]);
    return MIMIC_OK;
}

/* ---- epoch end --------------------------------------------------------------------------- */

static void fill_progress(const mimic_trainer *t, mimic_progress *p, int epoch_end)
{
    const mimic__train_state *st = &t->st;
    double now = mimic__now();
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->epoch = epoch_end ? st->epochs_done : st->epochs_done + 1;
    p->step = st->steps_done;
    p->steps_per_epoch = t->spe;
    p->epoch_end = epoch_end;
    p->train_loss = epoch_end
                        ? st->last_epoch_loss
                        : (st->epoch_rows ? st->epoch_loss_sum / (double)st->epoch_rows : NAN);
    p->learning_rate = st->last_lr;
    p->elapsed_s = now - t->t_start;
    p->examples_per_s =
        now > t->epoch_t_start ? (double)st->epoch_rows / (now - t->epoch_t_start) : NAN;
    mimic_metrics_init(&p->validation, sizeof p->validation);
    mimic_metrics_init(&p->train, sizeof p->train);
    p->validation_loss = NAN;
    p->best_validation_loss = st->best_loss;
}

static int call_progress(mimic_trainer *t, const mimic_progress *p)
{
    if (!t->o.progress)
        return MIMIC_OK;
    int r = t->o.progress(p, t->o.progress_user_data);
    if (r == 0)
        return MIMIC_OK;
    return mimic__error(MIMIC_ERR_CANCELLED,
                        "training cancelled by the progress callback (returned %d) at epoch %llu, "
                        "global step %llu; the student holds the weights after that step",
                        r, (unsigned long long)p->epoch, (unsigned long long)p->step);
}

/* The validation and training-set metrics over every rank's part of the rows: one
 * all-reduce of both sets' sums. */
static int evaluate_ranks(mimic_trainer *t, int center, const mimic__eval_ws *ew, mimic_progress *p)
{
    const mimic_dataset *sets[2] = {t->o.validation, t->o.eval_train ? t->train : NULL};
    mimic_metrics *outs[2] = {&p->validation, &p->train};
    mimic__eval_sums sums[2];
    memset(sums, 0, sizeof sums);
    for (int k = 0; k < 2; k++) {
        uint64_t first, count;
        if (!sets[k])
            continue;
        mimic__coll_share(&t->coll, sets[k]->rows, &first, &count);
        mimic__evaluate_sums(t->s, sets[k], t->o.temperature, center, first, first + count, t->cap,
                             ew, t->pool, &sums[k]);
    }
    double buf[2 * (sizeof sums[0] / sizeof(double))]; /* the structs hold doubles only */
    memcpy(buf, sums, sizeof buf);
    int rc = mimic__coll_sum_f64(&t->coll, buf, sizeof buf / sizeof buf[0]);
    memcpy(sums, buf, sizeof buf);
    for (int k = 0; k < 2 && rc == MIMIC_OK; k++)
        if (sets[k])
            mimic__evaluate_finish(&sums[k], sets[k], outs[k]);
    return rc;
}

/* Validation, early stopping, checkpoint and callback after an epoch. With a collective the
 * metrics are every rank's, rank 0 alone writes the checkpoint, and the ranks agree after
 * the checkpoint and after the callback: all go on, or all stop with the same status. */
static int end_epoch(mimic_trainer *t, mimic_progress *out)
{
    mimic__train_state *st = &t->st;
    st->end_pending = 0;
    sync_student(t, t->p[t->cur]);
    st->holds_epoch = st->epochs_done;
    mimic_progress p;
    fill_progress(t, &p, 1);
    int center = t->o.target_norm == MIMIC_TARGET_CENTER;
    const mimic__eval_ws ew = {t->x, t->ws, t->eval_t, t->eval_y, NULL}; /* through BLAS */
    int rc = MIMIC_OK;
    if (t->dist && (t->o.validation || t->o.eval_train) &&
        (rc = evaluate_ranks(t, center, &ew, &p)) != MIMIC_OK)
        return rc;
    if (t->o.validation) {
        if (!t->dist)
            mimic__evaluate_ws(t->s, t->o.validation, t->o.temperature, center, t->batch, &ew,
                               t->pool, &p.validation);
        p.has_validation = 1;
        double c = t->loss->criterion_of(&p.validation);
        p.validation_loss = c;
        if (isfinite(c) && (isnan(st->best_loss) || c < st->best_loss)) {
            st->best_loss = c;
            st->best_epoch = st->epochs_done;
            st->bad_epochs = 0;
            if (t->best) {
                memcpy(t->best, t->p[t->cur], t->L.n_params * sizeof(float));
                st->has_best = 1;
            }
        } else {
            st->bad_epochs++;
        }
        if (t->o.patience > 0 && st->bad_epochs >= t->o.patience)
            st->stopped_early = 1;
        p.best_validation_loss = st->best_loss;
    }
    if (t->o.eval_train && !t->dist)
        mimic__evaluate_ws(t->s, t->train, t->o.temperature, center, t->batch, &ew, t->pool,
                           &p.train);
    if (st->epochs_done >= t->o.epochs || st->stopped_early)
        st->finished = 1;
    if (t->dist)
        rc = mimic__coll_same_weights(&t->coll, t->p[t->cur], t->L.n_params, st->epochs_done);
    if (rc == MIMIC_OK && t->o.checkpoint_path && t->coll.rank == 0 &&
        (st->epochs_done % t->o.checkpoint_every == 0 || st->finished))
        rc = mimic_trainer_save_checkpoint(t, t->o.checkpoint_path);
    if (t->dist)
        rc = mimic__coll_agree(&t->coll, rc, NULL);
    if (rc == MIMIC_OK) {
        rc = call_progress(t, &p);
        if (t->dist)
            rc = mimic__coll_agree(&t->coll, rc, NULL);
    }
    if (rc == MIMIC_OK && st->finished && st->has_best) {
        sync_student(t, t->best);
        st->holds_epoch = st->best_epoch;
    }
    if (out && out->struct_size >= sizeof(size_t))
        mimic__struct_copy_out(out, out->struct_size, &p, sizeof p);
    return rc;
}

int mimic_trainer_epoch(mimic_trainer *t, mimic_progress *progress_or_NULL)
{
    int rc = trainer_check(t, "mimic_trainer_epoch");
    if (rc != MIMIC_OK)
        return rc;
    if (!t->st.end_pending) {
        if ((rc = check_done(t, "mimic_trainer_epoch")) != MIMIC_OK)
            return rc;
        uint64_t every = t->o.progress_every_steps;
        do {
            if ((rc = train_step(t, NULL, NULL)) != MIMIC_OK)
                return rc;
            if (every > 0 && t->o.progress && !t->st.end_pending && t->st.steps_done % every == 0) {
                mimic_progress p;
                sync_student(t, t->p[t->cur]);
                fill_progress(t, &p, 0);
                if ((rc = call_progress(t, &p)) != MIMIC_OK && !t->dist)
                    return rc;
                if (rc != MIMIC_OK) { /* told to every rank by the next step, which stops */
                    t->cancel_pending = 1;
                    snprintf(t->cancel_msg, sizeof t->cancel_msg, "%s", mimic_last_error());
                }
            }
        } while (!t->st.end_pending);
    }
    return end_epoch(t, progress_or_NULL);
}

int mimic_trainer_get_report(const mimic_trainer *t, mimic_train_report *out)
{
    static const char fn[] = "mimic_trainer_get_report";
    int rc = trainer_valid(t, fn);
    if (rc == MIMIC_OK)
        rc = mimic__struct_check_out(out, fn, "mimic_train_report_init");
    if (rc != MIMIC_OK)
        return rc;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    double el = mimic__now() - t->t_start;
    r.epochs_run = t->st.epochs_done;
    r.steps = t->st.steps_done;
    r.best_epoch = t->st.holds_epoch;
    r.stopped_early = t->st.stopped_early;
    r.final_train_loss = t->st.last_epoch_loss;
    r.best_validation_loss = t->st.best_loss;
    r.elapsed_s = el;
    r.examples_per_s = el > 0 ? (double)t->examples_run / el : NAN;
    mimic__struct_copy_out(out, out->struct_size, &r, sizeof r);
    return MIMIC_OK;
}

/* ---- the run's options: rows of the mimic_train_options table ---------------------------- */

/* The cosine schedule depends on the run's total length; the others can be extended. */
static void ident_epochs(const void *p, char *buf, size_t cap)
{
    const mimic_train_options *o = p;
    const mimic__schedule *s = mimic__schedule_get(o->schedule);
    snprintf(buf, cap, "%llu", (unsigned long long)(s && s->needs_total ? o->epochs : 0));
}

static void ident_validation(const void *p, char *buf, size_t cap)
{
    const mimic_dataset *v = ((const mimic_train_options *)p)->validation;
    snprintf(buf, cap, "%llu", (unsigned long long)(v ? v->rows : 0));
}

static const char *unused_checkpoint_every(const void *p, char *buf, size_t cap)
{
    if (((const mimic_train_options *)p)->checkpoint_path)
        return NULL;
    snprintf(buf, cap, "it applies when options.checkpoint_path is set");
    return buf;
}

static const mimic__opt run_rows[] = {
    {MIMIC__TRAIN_ROW(epochs, UINT64), MIMIC__SHAPES_RUN, .def = 10, MIMIC__GE(1),
     .flag = "--epochs", .metavar = "E", .help = "training epochs", .ident = ident_epochs},
    {MIMIC__TRAIN_ROW(batch_size, UINT64), MIMIC__SHAPES_RUN, .def = 128, MIMIC__GE(1),
     .flag = "--batch", .metavar = "B", .help = "minibatch size"},
    {MIMIC__TRAIN_ROW(clip_norm, DOUBLE), MIMIC__SHAPES_RUN, MIMIC__GE(0), .flag = "--clip-norm",
     .metavar = "C", .help = "global gradient-norm clip", .note = "0 = off",
     .default_text = "0 (off)"},
    {MIMIC__TRAIN_ROW(dropout, DOUBLE), MIMIC__SHAPES_RUN, .since = 10100, .absent = "0",
     MIMIC__IN_HALF(0, 1), .flag = "--dropout", .metavar = "P",
     .help = "dropout rate on the hidden units while training", .default_text = "0 (off)"},
    {MIMIC__TRAIN_ROW(seed, UINT64), MIMIC__SHAPES_RUN, MIMIC__GE(0), .flag = "--seed",
     .metavar = "S",
     .help = "seed for shuffling, dropout and augmentation (the CLI: also the "
             "weights)"},
    {MIMIC__TRAIN_ROW(threads, INT32), MIMIC__IN(0, 1024), .flag = "--threads", .metavar = "N",
     .help = "threads of libmimic's own for the run (BLAS threads are the caller's)",
     .default_text = "0 (the calling thread)"},
    {MIMIC__TRAIN_ROW(progress, POINTER), MIMIC__ANY, .help = "progress callback"},
    {MIMIC__TRAIN_ROW(progress_user_data, POINTER), MIMIC__ANY,
     .help = "passed to the progress callback"},
    {MIMIC__TRAIN_ROW(progress_every_steps, UINT64), MIMIC__GE(0), .flag = "--progress-every",
     .metavar = "N", .help = "steps between progress reports within an epoch",
     .default_text = "0 (per epoch only)"},
    {MIMIC__TRAIN_ROW(grad_reduce, POINTER), MIMIC__ANY,
     .help = "gradient reduction hook (data-parallel training)"},
    {MIMIC__TRAIN_ROW(grad_reduce_user_data, POINTER), MIMIC__ANY, .help = "passed to grad_reduce"},
};

const mimic__opt_group mimic__run_options = {"training run", run_rows, MIMIC__ARRAY_LEN(run_rows)};

static const mimic__opt checkpoint_rows[] = {
    {MIMIC__TRAIN_ROW(validation, POINTER), MIMIC__SHAPES_RUN, MIMIC__ANY,
     .ident_key = "opt.validation_rows", .ident = ident_validation,
     .help = "validation dataset (borrowed), evaluated after each epoch"},
    {MIMIC__TRAIN_ROW(patience, UINT64), MIMIC__SHAPES_RUN, MIMIC__GE(0), .flag = "--patience",
     .metavar = "P",
     .help = "stop after P epochs without validation improvement and keep the best weights",
     .default_text = "0 (off)"},
    {MIMIC__TRAIN_ROW(eval_train, BOOL), MIMIC__IN(0, 1), .flag = "--eval-train",
     .help = "also compute training-set metrics after each epoch"},
    {MIMIC__TRAIN_ROW(checkpoint_path, STRING), MIMIC__ANY, .flag = "--checkpoint",
     .metavar = "FILE", .help = "checkpoint file, written atomically", .default_text = "none"},
    {MIMIC__TRAIN_ROW(checkpoint_every, UINT64), .def = 1, MIMIC__GE(0),
     .flag = "--checkpoint-every", .metavar = "N", .help = "epochs between checkpoints",
     .unused = unused_checkpoint_every},
    {MIMIC__TRAIN_ROW(resume, BOOL), MIMIC__IN(0, 1), .flag = "--resume",
     .help = "resume from the checkpoint when it exists"},
};

const mimic__opt_group mimic__checkpoint_options = {"validation and checkpoints", checkpoint_rows,
                                                    MIMIC__ARRAY_LEN(checkpoint_rows)};

/* ---- the one-call path ------------------------------------------------------------------- */

int mimic_train(mimic_student *s, const mimic_dataset *train, const mimic_train_options *o,
                mimic_train_report *report_or_NULL)
{
    if (report_or_NULL) {
        if (report_or_NULL->struct_size < sizeof(size_t))
            return mimic__error(MIMIC_ERR_INVALID, "report: struct_size is not set (call "
                                                   "mimic_train_report_init first)");
        mimic_train_report_init(report_or_NULL, report_or_NULL->struct_size);
    }
    mimic_train_options opts;
    mimic_train_options_init(&opts, sizeof opts);
    int rc = mimic__struct_copy_in(&opts, sizeof opts, o, "train options");
    if (rc != MIMIC_OK)
        return rc;
    mimic_trainer *t = NULL;
    rc = mimic_trainer_create(&t, s, train, o);
    /* with a collective, rank 0 says whether there is a checkpoint; every rank then reads it */
    double resume = rc == MIMIC_OK && opts.resume && mimic__file_exists(opts.checkpoint_path);
    if (rc == MIMIC_OK && t->dist)
        rc = mimic__coll_bcast_f64(&t->coll, &resume, 1);
    if (rc == MIMIC_OK && resume != 0)
        rc = mimic_trainer_load_checkpoint(t, opts.checkpoint_path);
    while (rc == MIMIC_OK && !t->st.finished)
        rc = mimic_trainer_epoch(t, NULL);
    if (t) {
        if (report_or_NULL)
            (void)mimic_trainer_get_report(t, report_or_NULL); /* cannot fail: checked above */
        mimic_trainer_free(t);
    }
    return rc;
}
