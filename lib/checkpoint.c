/* Trainer checkpoints: weights, optimizer state, RNG and position as .safetensors. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

#define CKPT_FORMAT "mimic-trainer-checkpoint"
#define CKPT_VERSION "1"
#define MAX_META 96
#define VAL_LEN 40

typedef struct meta_buf {
    mimic__st_meta m[MAX_META];
    char val[MAX_META][VAL_LEN];
    size_t n;
} meta_buf;

static void put(meta_buf *b, const char *key, const char *fmt, ...) MIMIC__PRINTF(3, 4);

static void put(meta_buf *b, const char *key, const char *fmt, ...)
{
    if (b->n >= MAX_META)
        return; /* cannot happen: the key list is fixed and shorter */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->val[b->n], VAL_LEN, fmt, ap);
    va_end(ap);
    b->m[b->n].key = key;
    b->m[b->n].value = b->val[b->n];
    b->n++;
}

static void put_u64(meta_buf *b, const char *key, uint64_t v)
{
    put(b, key, "%" PRIu64, v);
}

static void put_dbl(meta_buf *b, const char *key, double v)
{
    put(b, key, "%.17g", v); /* round-trips exactly through strtod */
}

/* A cheap fingerprint of the training set: FNV-1a over up to 64 evenly spread rows of
 * inputs, logits and labels. Catches "resumed on other data" without reading it all. */
static uint64_t data_fingerprint(const mimic_dataset *d)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t in_row = d->n_inputs * (d->input_dtype == MIMIC_DTYPE_U8 ? 1 : sizeof(float));
    size_t samples = d->rows < 64 ? d->rows : 64;
    for (size_t i = 0; i < samples; i++) {
        size_t r = samples > 1 ? i * (d->rows - 1) / (samples - 1) : 0;
        const unsigned char *parts[3] = {(const unsigned char *)d->inputs + r * in_row,
                                         d->logits ? (const unsigned char *)(d->logits + r * d->n_classes) : NULL,
                                         d->labels ? (const unsigned char *)(d->labels + r) : NULL};
        size_t lens[3] = {in_row, d->n_classes * sizeof(float), sizeof(int32_t)};
        for (int p = 0; p < 3; p++)
            for (size_t j = 0; parts[p] && j < lens[p]; j++)
                h = (h ^ parts[p][j]) * 0x100000001b3ull;
    }
    return h;
}

/* What must match between the checkpoint and the run that resumes it: options that shape
 * the trajectory, the student's architecture and the training data. */
static void put_identity(meta_buf *b, const mimic_trainer *t)
{
    const mimic_train_options *o = &t->o;
    const mimic_dataset *d = t->train;
    put_u64(b, "opt.loss", (uint64_t)o->loss);
    put_u64(b, "opt.optimizer", (uint64_t)o->optimizer);
    put_u64(b, "opt.schedule", (uint64_t)o->schedule);
    put_u64(b, "opt.nesterov", (uint64_t)o->nesterov);
    put_u64(b, "opt.standardize", (uint64_t)o->standardize);
    put_u64(b, "opt.target_norm", (uint64_t)o->target_norm);
    /* the cosine schedule depends on the total length; the others can be extended */
    put_u64(b, "opt.epochs", o->schedule == MIMIC_SCHEDULE_COSINE ? o->epochs : 0);
    put_u64(b, "opt.batch_size", o->batch_size);
    put_dbl(b, "opt.learning_rate", o->learning_rate);
    put_dbl(b, "opt.momentum", o->momentum);
    put_dbl(b, "opt.weight_decay", o->weight_decay);
    put_dbl(b, "opt.temperature", o->temperature);
    put_dbl(b, "opt.hard_weight", o->hard_weight);
    put_dbl(b, "opt.clip_norm", o->clip_norm);
    put_dbl(b, "opt.warmup_epochs", o->warmup_epochs);
    put_dbl(b, "opt.step_gamma", o->step_gamma);
    put_u64(b, "opt.step_epochs", o->step_epochs);
    put_dbl(b, "opt.adam_beta1", o->adam_beta1);
    put_dbl(b, "opt.adam_beta2", o->adam_beta2);
    put_dbl(b, "opt.adam_eps", o->adam_eps);
    put_dbl(b, "opt.std_floor", o->std_floor);
    put_dbl(b, "opt.dropout", o->dropout);
    put_u64(b, "opt.image_height", o->image_height);
    put_u64(b, "opt.image_width", o->image_width);
    put_dbl(b, "opt.flip", o->flip);
    put_u64(b, "opt.shift", o->shift);
    put_u64(b, "opt.seed", o->seed);
    put_u64(b, "opt.patience", o->patience);
    put_u64(b, "opt.validation_rows", o->validation ? o->validation->rows : 0);
    put_u64(b, "student.inputs", t->L.D);
    put_u64(b, "student.hidden", t->L.H);
    put_u64(b, "student.bottleneck", t->L.k);
    put_u64(b, "student.classes", t->L.C);
    put_u64(b, "student.activation", (uint64_t)t->act);
    put_u64(b, "data.rows", d->rows);
    put_u64(b, "data.input_dtype", (uint64_t)d->input_dtype);
    put_u64(b, "data.has_logits", d->logits != NULL);
    put_u64(b, "data.has_labels", d->labels != NULL);
    put(b, "data.fingerprint", "%016" PRIx64, data_fingerprint(d));
}

static const char *RNG_KEYS[4] = {"rng.0", "rng.1", "rng.2", "rng.3"};
static const char *RNG_EPOCH_KEYS[4] = {"rng_epoch.0", "rng_epoch.1", "rng_epoch.2", "rng_epoch.3"};

static void put_state(meta_buf *b, const mimic_trainer *t)
{
    put(b, "format", "%s", CKPT_FORMAT);
    put(b, "format_version", "%s", CKPT_VERSION);
    put(b, "library_version", "%s", MIMIC_VERSION_STRING);
    for (int i = 0; i < 4; i++) {
        put_u64(b, RNG_KEYS[i], t->rng.s[i]);
        put_u64(b, RNG_EPOCH_KEYS[i], t->rng_epoch.s[i]);
    }
    put_u64(b, "epoch", t->epochs_done);
    put_u64(b, "step", t->steps_done);
    put_u64(b, "epoch_position", t->pos);
    put_u64(b, "epoch_started", (uint64_t)t->started);
    put_u64(b, "epoch_end_pending", (uint64_t)t->end_pending);
    put_u64(b, "finished", (uint64_t)t->finished);
    put_dbl(b, "epoch_loss_sum", t->epoch_loss_sum);
    put_u64(b, "epoch_rows", t->epoch_rows);
    put_dbl(b, "last_epoch_loss", t->last_epoch_loss);
    put_dbl(b, "last_lr", t->last_lr);
    put_dbl(b, "best_loss", t->best_loss);
    put_u64(b, "best_epoch", t->best_epoch);
    put_u64(b, "bad_epochs", t->bad_epochs);
    put_u64(b, "stopped_early", (uint64_t)t->stopped_early);
    put_u64(b, "holds_epoch", t->holds_epoch);
}

int mimic_trainer_save_checkpoint(const mimic_trainer *t, const char *path)
{
    if (!t || t->magic != MIMIC__MAGIC_TRAINER)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_save_checkpoint: %s trainer handle",
                            t ? "invalid or freed" : "NULL");
    if (t->failed)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_save_checkpoint: the trainer "
                                              "diverged; its optimizer state is not usable");
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "checkpoint path is NULL or empty");
    meta_buf b; /* ~5 KiB on the stack: no allocation */
    b.n = 0;
    put_state(&b, t);
    put_identity(&b, t);

    const mimic__layout *L = &t->L;
    mimic__st_tensor ts[8];
    size_t nt = 0;
    ts[nt++] = (mimic__st_tensor){"params", L->n_params, 0, t->p[t->cur]};
    ts[nt++] = (mimic__st_tensor){"optimizer.m", L->n_params, 0, t->m};
    if (t->v)
        ts[nt++] = (mimic__st_tensor){"optimizer.v", L->n_params, 0, t->v};
    if (t->has_best)
        ts[nt++] = (mimic__st_tensor){"best.params", L->n_params, 0, t->best};
    if (t->s->in_mean) {
        ts[nt++] = (mimic__st_tensor){"input.mean", L->D, 0, t->s->in_mean};
        ts[nt++] = (mimic__st_tensor){"input.scale", L->D, 0, t->s->in_scale};
    }
    if (t->tstd) {
        ts[nt++] = (mimic__st_tensor){"target.mean", L->C, 0, t->tmean};
        ts[nt++] = (mimic__st_tensor){"target.std", L->C, 0, t->tstd};
    }
    return mimic__safetensors_write(path, ts, nt, b.m, b.n);
}

/* ---- loading ------------------------------------------------------------------------------ */

static int get_u64(const mimic__st_file *f, const char *path, const char *key, uint64_t *out)
{
    const char *v = mimic__st_meta_get(f, key);
    if (!v)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path, key);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata \"%s\" = \"%s\" is not an "
                                              "unsigned integer", path, key, v);
    *out = (uint64_t)x;
    return MIMIC_OK;
}

static int get_dbl(const mimic__st_file *f, const char *path, const char *key, double *out)
{
    const char *v = mimic__st_meta_get(f, key);
    if (!v)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path, key);
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata \"%s\" = \"%s\" is not a "
                                              "number", path, key, v);
    *out = x;
    return MIMIC_OK;
}

/* Identity keys that checkpoints of older 1.x versions lack, and the value their absence
 * stands for (the option did not exist, i.e. it was off). */
static const char *absent_means(const char *key)
{
    static const struct {
        const char *key, *value;
    } added[] = {
        {"opt.dropout", "0"},      /* 1.1 */
        {"opt.image_height", "0"}, /* 1.2 */
        {"opt.image_width", "0"},
        {"opt.flip", "0"},
        {"opt.shift", "0"},
    };
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++)
        if (strcmp(key, added[i].key) == 0)
            return added[i].value;
    return NULL;
}

/* Every identity key must be present (or be one an older checkpoint may lack) and equal to
 * this run's value. */
static int check_identity(const mimic__st_file *f, const mimic_trainer *t, const char *path)
{
    meta_buf b;
    b.n = 0;
    put_identity(&b, t);
    for (size_t i = 0; i < b.n; i++) {
        const char *v = mimic__st_meta_get(f, b.m[i].key);
        if (!v)
            v = absent_means(b.m[i].key);
        if (!v)
            return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path,
                                b.m[i].key);
        if (strcmp(v, b.m[i].value) != 0) {
            int shape = strncmp(b.m[i].key, "opt.", 4) != 0;
            return mimic__error(shape ? MIMIC_ERR_SHAPE : MIMIC_ERR_INVALID,
                                "%s: the checkpoint does not match this run: %s is %s in the "
                                "checkpoint but %s here",
                                path, b.m[i].key, v, b.m[i].value);
        }
    }
    return MIMIC_OK;
}

/* A tensor of exactly n finite floats (1-D, or one row/column), or NULL with an error. */
static const float *get_vec(const mimic__st_file *f, const char *path, const char *name, size_t n,
                            int required, int *rc)
{
    const mimic__st_tensor *x = mimic__st_find(f, name);
    if (!x) {
        if (required)
            *rc = mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint lacks tensor \"%s\"", path, name);
        return NULL;
    }
    size_t count = x->rows * (x->cols ? x->cols : 1);
    if (count != n) {
        *rc = mimic__error(MIMIC_ERR_SHAPE, "%s: tensor \"%s\" has %zu values, expected %zu", path,
                           name, count, n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x->data[i])) {
            *rc = mimic__error(MIMIC_ERR_NUMERIC, "%s: tensor \"%s\" holds a non-finite value at "
                                                  "%zu", path, name, i);
            return NULL;
        }
    return x->data;
}

/* Parsed scalar state, committed only when everything checks out. */
typedef struct ckpt_state {
    mimic__rng rng, rng_epoch;
    uint64_t epoch, step, pos, started, end_pending, finished, epoch_rows;
    uint64_t best_epoch, bad_epochs, stopped_early, holds_epoch;
    double epoch_loss_sum, last_epoch_loss, last_lr, best_loss;
} ckpt_state;

static int read_state(const mimic__st_file *f, const mimic_trainer *t, const char *path,
                      ckpt_state *c)
{
    int rc = MIMIC_OK;
    for (int i = 0; i < 4 && rc == MIMIC_OK; i++) {
        rc = get_u64(f, path, RNG_KEYS[i], &c->rng.s[i]);
        if (rc == MIMIC_OK)
            rc = get_u64(f, path, RNG_EPOCH_KEYS[i], &c->rng_epoch.s[i]);
    }
    struct {
        const char *key;
        uint64_t *dst;
    } u[] = {{"epoch", &c->epoch},          {"step", &c->step},
             {"epoch_position", &c->pos},   {"epoch_started", &c->started},
             {"epoch_end_pending", &c->end_pending}, {"finished", &c->finished},
             {"epoch_rows", &c->epoch_rows}, {"best_epoch", &c->best_epoch},
             {"bad_epochs", &c->bad_epochs}, {"stopped_early", &c->stopped_early},
             {"holds_epoch", &c->holds_epoch}};
    for (size_t i = 0; i < sizeof u / sizeof u[0] && rc == MIMIC_OK; i++)
        rc = get_u64(f, path, u[i].key, u[i].dst);
    struct {
        const char *key;
        double *dst;
    } d[] = {{"epoch_loss_sum", &c->epoch_loss_sum}, {"last_epoch_loss", &c->last_epoch_loss},
             {"last_lr", &c->last_lr}, {"best_loss", &c->best_loss}};
    for (size_t i = 0; i < sizeof d / sizeof d[0] && rc == MIMIC_OK; i++)
        rc = get_dbl(f, path, d[i].key, d[i].dst);
    if (rc != MIMIC_OK)
        return rc;
    /* consistency: position within the planned run, counters that agree */
    int zero_rng = (c->rng.s[0] | c->rng.s[1] | c->rng.s[2] | c->rng.s[3]) == 0;
    if (zero_rng || c->started > 1 || c->end_pending > 1 || c->finished > 1 ||
        c->stopped_early > 1 || c->pos >= t->spe || (!c->started && c->pos != 0) ||
        c->step != c->epoch * t->spe + c->pos ||
        (c->started && c->end_pending) || c->epoch_rows > t->rows)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint state is inconsistent (epoch %" PRIu64
                                              ", step %" PRIu64 ", position %" PRIu64 " of %" PRIu64 ")",
                            path, c->epoch, c->step, c->pos, t->spe);
    if (c->epoch > t->o.epochs)
        return mimic__error(MIMIC_ERR_INVALID, "%s: the checkpoint has %" PRIu64 " epochs done, "
                                               "more than options.epochs = %" PRIu64,
                            path, c->epoch, t->o.epochs);
    return MIMIC_OK;
}

/* Replays the draws of the epoch's shuffle from rng_epoch: they must end at rng. */
static bool same_shuffle(const mimic_trainer *t, const ckpt_state *c)
{
    mimic__rng r = c->rng_epoch;
    for (size_t i = t->rows - 1; i > 0; i--)
        (void)mimic__rng_below(&r, (uint64_t)i + 1);
    return memcmp(&r, &c->rng, sizeof r) == 0;
}

static int load_file(mimic_trainer *t, const mimic__st_file *f, const char *path)
{
    const char *fmt = mimic__st_meta_get(f, "format");
    const char *ver = mimic__st_meta_get(f, "format_version");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: not a libmimic trainer checkpoint", path);
    if (!ver || strcmp(ver, CKPT_VERSION) != 0)
        return mimic__error(MIMIC_ERR_VERSION, "%s: checkpoint format version %s, this library "
                                               "reads %s", path, ver ? ver : "(none)", CKPT_VERSION);
    int rc = check_identity(f, t, path);
    ckpt_state c;
    if (rc == MIMIC_OK)
        rc = read_state(f, t, path, &c);
    if (rc != MIMIC_OK)
        return rc;
    const mimic__layout *L = &t->L;
    size_t n = L->n_params;
    const float *params = get_vec(f, path, "params", n, 1, &rc);
    const float *m = params ? get_vec(f, path, "optimizer.m", n, 1, &rc) : NULL;
    const float *v = m && t->v ? get_vec(f, path, "optimizer.v", n, 1, &rc) : NULL;
    if (rc != MIMIC_OK)
        return rc;
    const float *best = t->best ? get_vec(f, path, "best.params", n, 0, &rc) : NULL;
    const float *in_mean = get_vec(f, path, "input.mean", L->D, 0, &rc);
    const float *in_scale = get_vec(f, path, "input.scale", L->D, 0, &rc);
    if (rc == MIMIC_OK && t->tstd) {
        const float *tm = get_vec(f, path, "target.mean", L->C, 1, &rc);
        const float *tsd = tm ? get_vec(f, path, "target.std", L->C, 1, &rc) : NULL;
        if (rc == MIMIC_OK && (memcmp(tm, t->tmean, L->C * sizeof(float)) != 0 ||
                               memcmp(tsd, t->tstd, L->C * sizeof(float)) != 0))
            rc = mimic__error(MIMIC_ERR_SHAPE, "%s: the checkpoint's target statistics differ from "
                                               "this training set's", path);
    }
    if (rc == MIMIC_OK && (!in_mean) != (!in_scale))
        rc = mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint has only one of input.mean and "
                                            "input.scale", path);
    if (rc == MIMIC_OK && t->o.standardize && !in_mean)
        rc = mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint lacks the input normalization that "
                                            "options.standardize fits", path);
    if (rc == MIMIC_OK && c.started && !same_shuffle(t, &c))
        rc = mimic__error(MIMIC_ERR_FORMAT, "%s: the RNG state does not match the epoch's "
                                            "shuffle (corrupt checkpoint)", path);
    if (rc != MIMIC_OK)
        return rc;

    /* commit: the one fallible part first */
    rc = mimic_student_set_input_norm(t->s, in_mean, in_scale);
    if (rc != MIMIC_OK)
        return rc;
    memcpy(t->p[t->cur], params, n * sizeof(float));
    t->prev_valid = 0; /* the other buffer is not this state's predecessor */
    memcpy(t->m, m, n * sizeof(float));
    if (t->v)
        memcpy(t->v, v, n * sizeof(float));
    t->has_best = best != NULL;
    if (best)
        memcpy(t->best, best, n * sizeof(float));
    t->epochs_done = c.epoch;
    t->steps_done = c.step;
    t->end_pending = (int)c.end_pending;
    t->finished = (int)c.finished;
    t->epoch_loss_sum = c.epoch_loss_sum;
    t->epoch_rows = c.epoch_rows;
    t->last_epoch_loss = c.last_epoch_loss;
    t->last_lr = c.last_lr;
    t->best_loss = c.best_loss;
    t->best_epoch = c.best_epoch;
    t->bad_epochs = c.bad_epochs;
    t->stopped_early = (int)c.stopped_early;
    t->holds_epoch = c.holds_epoch;
    if (c.started) {
        /* redraw the epoch's order from the RNG state at its start */
        t->rng = c.rng_epoch;
        mimic__trainer_shuffle(t);
    } else {
        t->rng = c.rng;
        t->rng_epoch = c.rng_epoch;
        t->started = 0;
    }
    t->pos = c.pos;
    t->epoch_t_start = mimic__now();
    /* a finished run can be extended when the schedule allows more epochs */
    t->finished = t->stopped_early || (t->epochs_done >= t->o.epochs && !t->end_pending);
    if (t->finished && t->has_best)
        t->holds_epoch = t->best_epoch;
    mimic__trainer_sync(t, t->finished && t->has_best ? t->best : t->p[t->cur]);
    return MIMIC_OK;
}

int mimic_trainer_load_checkpoint(mimic_trainer *t, const char *path)
{
    if (!t || t->magic != MIMIC__MAGIC_TRAINER)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_load_checkpoint: %s trainer handle",
                            t ? "invalid or freed" : "NULL");
    if (t->failed)
        return mimic__error(MIMIC_ERR_MISUSE, "mimic_trainer_load_checkpoint: the trainer "
                                              "diverged; create a new one");
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "checkpoint path is NULL or empty");
    mimic__st_file f;
    int rc = mimic__safetensors_read(path, &f);
    if (rc != MIMIC_OK)
        return rc;
    rc = load_file(t, &f, path);
    mimic__st_close(&f);
    return rc;
}
