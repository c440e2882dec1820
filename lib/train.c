/* The trainer: minibatch loop, losses, divergence guard, epoch-end processing, mimic_train. */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "blas.h"
#include "train_internal.h"

double mimic__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- creation ------------------------------------------------------------------------ */

static void trainer_release(mimic_trainer *t)
{
    float *bufs[] = {t->p[0], t->p[1], t->grads, t->m, t->v, t->best, t->x, t->ws,
                     t->dlogits, t->dl2, t->dz, t->tbuf, t->tmean, t->tstd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        mimic__free(bufs[i]);
    mimic__free(t->ybuf);
    mimic__free(t->perm);
    mimic__free(t->aug_row);
    t->magic = MIMIC__MAGIC_DEAD;
    mimic__free(t);
}

/* An aligned float buffer of a * b elements (b = 1 for a vector); NULL on overflow/NOMEM. */
static float *falloc(size_t a, size_t b)
{
    size_t n, bytes;
    if (!mimic__mul_ok(a, b, &n) || !mimic__mul_ok(n, sizeof(float), &bytes))
        return NULL;
    return mimic__aligned_alloc(bytes);
}

static int alloc_buffers(mimic_trainer *t)
{
    const mimic__layout *L = &t->L;
    const mimic_train_options *o = &t->o;
    size_t n = L->n_params, B = t->batch;
    bool ok = (t->p[0] = falloc(n, 1)) && (t->p[1] = falloc(n, 1)) &&
              (t->grads = falloc(n, 1)) && (t->m = falloc(n, 1)) &&
              (t->x = falloc(B, L->D)) && (t->ws = falloc(mimic__student_ws_floats(L, B), 1)) &&
              (t->dlogits = falloc(B, L->C));
    if (ok && o->optimizer != MIMIC_OPTIMIZER_SGD)
        ok = (t->v = falloc(n, 1)) != NULL;
    if (ok && o->patience > 0)
        ok = (t->best = falloc(n, 1)) != NULL;
    if (ok && o->loss == MIMIC_LOSS_KD && o->hard_weight > 0)
        ok = (t->dl2 = falloc(B, L->C)) != NULL;
    if (ok && L->k > 0)
        ok = (t->dz = falloc(B, L->k)) != NULL;
    if (ok && o->loss != MIMIC_LOSS_LABELS)
        ok = (t->tbuf = falloc(B, L->C)) != NULL;
    if (ok && t->train->labels && (o->loss == MIMIC_LOSS_LABELS || t->dl2))
        ok = (t->ybuf = mimic__calloc(B, sizeof(int32_t))) != NULL;
    if (ok)
        ok = (t->perm = mimic__calloc(t->rows, sizeof(uint64_t))) != NULL;
    if (ok && (o->flip > 0 || o->shift > 0))
        ok = (t->aug_row = falloc(L->D, 1)) != NULL; /* f32 or u8 */
    if (ok && o->target_norm == MIMIC_TARGET_STANDARDIZE)
        ok = (t->tmean = falloc(L->C, 1)) && (t->tstd = falloc(L->C, 1));
    if (!ok)
        return mimic__error(MIMIC_ERR_NOMEM,
                            "trainer: out of memory for the workspaces (%zu parameters, batch %zu)",
                            n, B);
    memset(t->m, 0, n * sizeof(float));
    if (t->v)
        memset(t->v, 0, n * sizeof(float));
    return MIMIC_OK;
}

/* Training-space weights from the student's. With target_norm STANDARDIZE the student's
 * output layer is taken as it is, as a layer that predicts standardized targets: a fresh
 * student then starts at the class means (bias 0 maps to `mean`) with a well-scaled output
 * layer. Mapping it back through the inverse fold would start a fresh student's normalized
 * bias at -mean/std, far from every target, which plain SGD/Adam steps need many epochs to
 * undo. (To continue training an already trained student, resume from a checkpoint, which
 * stores the training-space weights, or use target_norm NONE.) */
static void init_from_student(mimic_trainer *t)
{
    memcpy(t->p[t->cur], t->s->params, t->L.n_params * sizeof(float));
}

void mimic__trainer_sync(mimic_trainer *t, const float *src)
{
    const mimic__layout *L = &t->L;
    float *p = t->s->params;
    memcpy(p, src, L->n_params * sizeof(float));
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

/* Fit the input normalization on the training set and store it in the student. */
static int fit_input_norm(mimic_trainer *t)
{
    float *mean = falloc(t->L.D, 1), *scale = falloc(t->L.D, 1);
    int rc = (!mean || !scale)
                 ? mimic__error(MIMIC_ERR_NOMEM, "standardize: out of memory for %zu features",
                                t->L.D)
                 : mimic__input_stats(t->train, t->o.std_floor, mean, scale);
    if (rc == MIMIC_OK)
        rc = mimic_student_set_input_norm(t->s, mean, scale);
    mimic__free(mean);
    mimic__free(scale);
    return rc;
}

int mimic_trainer_create(mimic_trainer **out, mimic_student *s, const mimic_dataset *train,
                         const mimic_train_options *o)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_trainer_create: out is NULL");
    *out = NULL;
    int rc = mimic__student_check(s, "student");
    if (rc == MIMIC_OK)
        rc = mimic__dataset_check(train, "train");
    if (rc != MIMIC_OK)
        return rc;
    mimic_train_options opts;
    mimic_train_options_init(&opts, sizeof opts);
    rc = mimic__options_copy(&opts, sizeof opts, o, "train options");
    if (rc == MIMIC_OK)
        rc = mimic__train_options_validate(&opts, s, train);
    if (rc != MIMIC_OK)
        return rc;
    mimic__train_options_resolve(&opts);

    mimic_trainer *t = mimic__calloc(1, sizeof *t);
    if (!t)
        return mimic__error(MIMIC_ERR_NOMEM, "trainer: out of memory");
    t->s = s;
    t->train = train;
    t->o = opts;
    t->L = s->L;
    t->act = s->opts.activation;
    t->rows = train->rows;
    t->batch = opts.batch_size < t->rows ? (size_t)opts.batch_size : t->rows;
    t->spe = (t->rows + t->batch - 1) / t->batch;
    t->best_loss = NAN;
    t->last_epoch_loss = NAN;
    t->last_lr = NAN;
    mimic__rng_seed(&t->rng, opts.seed);
    t->rng_epoch = t->rng;

    rc = alloc_buffers(t);
    if (rc == MIMIC_OK && t->tstd)
        rc = mimic__target_stats(train, t->tmean, t->tstd);
    if (rc == MIMIC_OK && opts.standardize)
        rc = fit_input_norm(t); /* the last fallible step: the student changes only on success */
    if (rc != MIMIC_OK) {
        trainer_release(t);
        return rc;
    }
    init_from_student(t);
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

static int trainer_check(const mimic_trainer *t, const char *what)
{
    if (!t || t->magic != MIMIC__MAGIC_TRAINER)
        return mimic__error(MIMIC_ERR_MISUSE, "%s: %s trainer handle", what,
                            t ? "invalid or freed" : "NULL");
    if (t->failed)
        return mimic__error(MIMIC_ERR_MISUSE,
                            "%s: the trainer diverged earlier; create a new one (the student "
                            "holds the last finite weights)",
                            what);
    return MIMIC_OK;
}

/* ---- one step ---------------------------------------------------------------------------- */

/* Fisher-Yates over the identity, so an epoch's order depends only on the RNG state at its
 * start (a checkpoint restores it from that state). */
void mimic__trainer_shuffle(mimic_trainer *t)
{
    t->rng_epoch = t->rng;
    for (size_t i = 0; i < t->rows; i++)
        t->perm[i] = i;
    for (size_t i = t->rows - 1; i > 0; i--) {
        size_t j = (size_t)mimic__rng_below(&t->rng, (uint64_t)i + 1);
        uint64_t tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
    t->started = 1;
}

static void start_epoch(mimic_trainer *t)
{
    mimic__trainer_shuffle(t);
    t->pos = 0;
    t->epoch_loss_sum = 0;
    t->epoch_rows = 0;
    t->end_pending = 0;
    t->epoch_t_start = mimic__now();
}

/* Gather a batch: inputs converted and normalized in one pass straight into the aligned
 * buffer (an augmented row is first mirrored/shifted into t->aug_row, raw); teacher rows
 * with the target normalization; labels. */
static void gather(mimic_trainer *t, const uint64_t *ids, size_t n)
{
    const mimic_dataset *d = t->train;
    const mimic_student *s = t->s;
    size_t D = t->L.D, C = t->L.C;
    size_t row_bytes = D * (d->input_dtype == MIMIC_DTYPE_U8 ? 1 : sizeof(float));
    const char *in = d->inputs;
    mimic__augment aug;
    int augment = mimic__augment_init(&aug, &t->o, D, t->steps_done);
    for (size_t i = 0; i < n; i++) {
        const void *row = in + ids[i] * row_bytes;
        int flip = 0, dy = 0, dx = 0;
        if (augment)
            mimic__augment_draw(&aug, i, &flip, &dy, &dx);
        if (flip || dy || dx) {
            mimic__augment_image(row, t->aug_row, d->input_dtype, aug.C, aug.H, aug.W, flip, dy,
                                 dx);
            row = t->aug_row;
        }
        mimic__normalize_rows(s->in_mean, s->in_scale, D, row, d->input_dtype, 1, t->x + i * D);
    }
    if (t->tbuf) {
        for (size_t i = 0; i < n; i++) {
            const float *src = d->logits + ids[i] * C;
            float *dst = t->tbuf + i * C;
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
            } else {
                memcpy(dst, src, C * sizeof(float));
            }
        }
    }
    if (t->ybuf)
        for (size_t i = 0; i < n; i++)
            t->ybuf[i] = d->labels[ids[i]];
}

/* Loss of the batch and dL/dlogits into t->dlogits. */
static int batch_loss(mimic_trainer *t, const float *logits, size_t n, double *loss)
{
    size_t C = t->L.C;
    const mimic_train_options *o = &t->o;
    if (o->loss == MIMIC_LOSS_L2)
        return mimic_loss_logit_l2(logits, t->tbuf, n, C, loss, t->dlogits);
    if (o->loss == MIMIC_LOSS_LABELS)
        return mimic_loss_hard_ce(logits, t->ybuf, n, C, loss, t->dlogits);
    int rc = mimic_loss_softmax_ce(logits, t->tbuf, n, C, o->temperature, loss, t->dlogits);
    if (rc != MIMIC_OK || !t->dl2)
        return rc;
    double hard;
    rc = mimic_loss_hard_ce(logits, t->ybuf, n, C, &hard, t->dl2);
    if (rc != MIMIC_OK)
        return rc;
    float a = (float)o->hard_weight, b = 1.0f - a;
    for (size_t i = 0; i < n * C; i++)
        t->dlogits[i] = b * t->dlogits[i] + a * t->dl2[i];
    *loss = (1.0 - o->hard_weight) * *loss + o->hard_weight * hard;
    return MIMIC_OK;
}

/* Divergence. A non-finite loss condemns the weights that produced it (p[cur]), so the student
 * gets the previous step's weights, whose loss was finite (p[cur ^ 1], kept by the optimizer's
 * double buffer at no cost); when the loss was fine but the gradient norm or an updated weight
 * is not, p[cur] itself is the last good state. */
static int diverge(mimic_trainer *t, const char *what, double value, int loss_bad)
{
    t->failed = 1;
    int back = loss_bad && t->prev_valid;
    mimic__trainer_sync(t, t->p[back ? t->cur ^ 1 : t->cur]);
    unsigned long long e = (unsigned long long)t->epochs_done + 1;
    unsigned long long k = (unsigned long long)t->pos + 1;
    unsigned long long g = (unsigned long long)t->steps_done + 1;
    unsigned long long good = g - 1 - (unsigned long long)back;
    return mimic__error(MIMIC_ERR_NUMERIC,
                        "training diverged at epoch %llu, step %llu (global step %llu; %s is %g); "
                        "the student holds the weights after global step %llu, the last with a "
                        "finite loss; lower options.learning_rate or set options.clip_norm",
                        e, k, g, what, value, good);
}

/* One optimizer step; the student is not touched (callers sync when they hand it out). */
static int train_step(mimic_trainer *t, double *loss_out)
{
    if (!t->started)
        start_epoch(t);
    const mimic__layout *L = &t->L;
    size_t first = (size_t)t->pos * t->batch;
    size_t n = t->rows - first < t->batch ? t->rows - first : t->batch;
    gather(t, t->perm + first, n);

    float *z, *h, *logits;
    mimic__dropout drop, *dr = NULL;
    if (t->o.dropout > 0) {
        /* a fresh mask per step, from (seed, global step): resumable without extra state */
        mimic__dropout_init(&drop, t->o.dropout, mimic__hash64(t->o.seed, t->steps_done));
        dr = &drop;
    }
    mimic__student_forward_ws(L, t->act, t->p[t->cur], t->x, n, dr, t->ws, &z, &h, &logits);
    double loss = NAN;
    int rc = batch_loss(t, logits, n, &loss);
    if (rc == MIMIC_ERR_NUMERIC || (rc == MIMIC_OK && !isfinite(loss)))
        return diverge(t, "the loss", rc == MIMIC_OK ? loss : INFINITY, 1);
    if (rc != MIMIC_OK)
        return rc;
    mimic__student_backward_ws(L, t->act, t->p[t->cur], t->x, n, dr, z, h, t->dlogits, t->dz,
                               t->grads);
    if (t->o.grad_reduce) {
        int r = t->o.grad_reduce(t->grads, L->n_params, t->o.grad_reduce_user_data);
        if (r != 0) {
            mimic__trainer_sync(t, t->p[t->cur]);
            return mimic__error(MIMIC_ERR_CANCELLED,
                                "options.grad_reduce returned %d at global step %llu; the "
                                "student holds the weights from before that step",
                                r, (unsigned long long)t->steps_done + 1);
        }
    }
    float gscale = 1.0f;
    if (t->o.clip_norm > 0) {
        double norm = mimic__grad_norm(t->grads, L->n_params);
        if (!isfinite(norm))
            return diverge(t, "the gradient norm", norm, 0);
        if (norm > t->o.clip_norm)
            gscale = (float)(t->o.clip_norm / (norm + 1e-6)); /* PyTorch's clip_grad_norm_ */
    }
    double lr = mimic__lr_at(&t->o, t->steps_done, t->spe);
    if (!mimic__optimizer_update(&t->o, lr, t->steps_done + 1, t->p[t->cur], t->p[t->cur ^ 1],
                                 t->grads, gscale, t->m, t->v, L->n_params))
        return diverge(t, "a weight after the update", INFINITY, 0);
    t->cur ^= 1;
    t->prev_valid = 1;
    t->steps_done++;
    t->pos++;
    t->epoch_loss_sum += loss * (double)n;
    t->epoch_rows += n;
    t->examples_run += n;
    t->last_lr = lr;
    if (t->pos == t->spe) {
        t->epochs_done++;
        t->started = 0;
        t->pos = 0;
        t->end_pending = 1;
        t->last_epoch_loss = t->epoch_loss_sum / (double)t->epoch_rows;
    }
    if (loss_out)
        *loss_out = loss;
    return MIMIC_OK;
}

static int check_done(const mimic_trainer *t, const char *what)
{
    if (t->finished || t->epochs_done >= t->o.epochs)
        return mimic__error(MIMIC_ERR_MISUSE, "%s: training is finished (%llu epochs done%s)", what,
                            (unsigned long long)t->epochs_done,
                            t->stopped_early ? ", stopped early" : "");
    return MIMIC_OK;
}

int mimic_trainer_step(mimic_trainer *t, double *loss_out)
{
    int rc = trainer_check(t, "mimic_trainer_step");
    if (rc == MIMIC_OK)
        rc = check_done(t, "mimic_trainer_step");
    if (rc != MIMIC_OK)
        return rc;
    rc = train_step(t, loss_out);
    if (rc == MIMIC_OK)
        mimic__trainer_sync(t, t->p[t->cur]);
    return rc;
}

/* ---- epoch end --------------------------------------------------------------------------- */

static double criterion(const mimic_trainer *t, const mimic_metrics *m)
{
    switch (t->o.loss) {
    case MIMIC_LOSS_KD:
        return m->kl;
    case MIMIC_LOSS_LABELS:
        return m->hard_ce;
    default:
        return m->logit_l2;
    }
}

static void fill_progress(const mimic_trainer *t, mimic_progress *p, int epoch_end)
{
    double now = mimic__now();
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->epoch = epoch_end ? t->epochs_done : t->epochs_done + 1;
    p->step = t->steps_done;
    p->steps_per_epoch = t->spe;
    p->epoch_end = epoch_end;
    p->train_loss = epoch_end ? t->last_epoch_loss
                              : (t->epoch_rows ? t->epoch_loss_sum / (double)t->epoch_rows : NAN);
    p->learning_rate = t->last_lr;
    p->elapsed_s = now - t->t_start;
    p->examples_per_s = now > t->epoch_t_start ? (double)t->epoch_rows / (now - t->epoch_t_start)
                                                : NAN;
    mimic_metrics_init(&p->validation, sizeof p->validation);
    mimic_metrics_init(&p->train, sizeof p->train);
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

static void copy_progress(mimic_progress *dst, const mimic_progress *src)
{
    if (!dst || dst->struct_size < sizeof(size_t))
        return;
    size_t theirs = dst->struct_size;
    memcpy(dst, src, theirs < sizeof *src ? theirs : sizeof *src);
    dst->struct_size = theirs;
}

/* Validation, early stopping, checkpoint and callback after an epoch. */
static int end_epoch(mimic_trainer *t, mimic_progress *out)
{
    t->end_pending = 0;
    mimic__trainer_sync(t, t->p[t->cur]);
    t->holds_epoch = t->epochs_done;
    mimic_progress p;
    fill_progress(t, &p, 1);
    int center = t->o.target_norm == MIMIC_TARGET_CENTER;
    if (t->o.validation) {
        mimic__evaluate_ws(t->s, t->o.validation, t->o.temperature, center, t->batch, t->x, t->ws,
                           &p.validation);
        p.has_validation = 1;
        double c = criterion(t, &p.validation);
        if (isfinite(c) && (isnan(t->best_loss) || c < t->best_loss)) {
            t->best_loss = c;
            t->best_epoch = t->epochs_done;
            t->bad_epochs = 0;
            if (t->best) {
                memcpy(t->best, t->p[t->cur], t->L.n_params * sizeof(float));
                t->has_best = 1;
            }
        } else {
            t->bad_epochs++;
        }
        if (t->o.patience > 0 && t->bad_epochs >= t->o.patience)
            t->stopped_early = 1;
    }
    if (t->o.eval_train)
        mimic__evaluate_ws(t->s, t->train, t->o.temperature, center, t->batch, t->x, t->ws,
                           &p.train);
    if (t->epochs_done >= t->o.epochs || t->stopped_early)
        t->finished = 1;
    int rc = MIMIC_OK;
    if (t->o.checkpoint_path && (t->epochs_done % t->o.checkpoint_every == 0 || t->finished))
        rc = mimic_trainer_save_checkpoint(t, t->o.checkpoint_path);
    if (rc == MIMIC_OK)
        rc = call_progress(t, &p);
    if (rc == MIMIC_OK && t->finished && t->has_best) {
        mimic__trainer_sync(t, t->best);
        t->holds_epoch = t->best_epoch;
    }
    copy_progress(out, &p);
    return rc;
}

int mimic_trainer_epoch(mimic_trainer *t, mimic_progress *progress_or_NULL)
{
    int rc = trainer_check(t, "mimic_trainer_epoch");
    if (rc != MIMIC_OK)
        return rc;
    if (!t->end_pending) {
        if ((rc = check_done(t, "mimic_trainer_epoch")) != MIMIC_OK)
            return rc;
        uint64_t every = t->o.progress_every_steps;
        do {
            if ((rc = train_step(t, NULL)) != MIMIC_OK)
                return rc;
            if (every > 0 && t->o.progress && !t->end_pending && t->steps_done % every == 0) {
                mimic_progress p;
                mimic__trainer_sync(t, t->p[t->cur]);
                fill_progress(t, &p, 0);
                if ((rc = call_progress(t, &p)) != MIMIC_OK)
                    return rc;
            }
        } while (!t->end_pending);
    }
    return end_epoch(t, progress_or_NULL);
}

int mimic_trainer_get_report(const mimic_trainer *t, mimic_train_report *out)
{
    if (!t || t->magic != MIMIC__MAGIC_TRAINER)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_get_report: %s trainer handle",
                            t ? "invalid or freed" : "NULL");
    if (!out || out->struct_size < sizeof(size_t))
        return mimic__error(MIMIC_ERR_INVALID, "mimic_trainer_get_report: out is NULL or its "
                                               "struct_size is not set");
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    double el = mimic__now() - t->t_start;
    r.epochs_run = t->epochs_done;
    r.steps = t->steps_done;
    r.best_epoch = t->holds_epoch;
    r.stopped_early = t->stopped_early;
    r.final_train_loss = t->last_epoch_loss;
    r.best_validation_loss = t->best_loss;
    r.elapsed_s = el;
    r.examples_per_s = el > 0 ? (double)t->examples_run / el : NAN;
    size_t theirs = out->struct_size;
    memcpy(out, &r, theirs < sizeof r ? theirs : sizeof r);
    out->struct_size = theirs;
    return MIMIC_OK;
}

/* ---- the one-call path ------------------------------------------------------------------- */

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

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
    int rc = mimic__options_copy(&opts, sizeof opts, o, "train options");
    if (rc != MIMIC_OK)
        return rc;
    int prev = mimic__blas_threads_begin(opts.threads);
    mimic_trainer *t = NULL;
    rc = mimic_trainer_create(&t, s, train, o);
    if (rc == MIMIC_OK && opts.resume && file_exists(opts.checkpoint_path))
        rc = mimic_trainer_load_checkpoint(t, opts.checkpoint_path);
    while (rc == MIMIC_OK && !t->finished)
        rc = mimic_trainer_epoch(t, NULL);
    if (t) {
        if (report_or_NULL)
            (void)mimic_trainer_get_report(t, report_or_NULL); /* cannot fail: checked above */
        mimic_trainer_free(t);
    }
    mimic__blas_threads_end(prev);
    return rc;
}
