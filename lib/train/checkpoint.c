/*
 * Trainer checkpoints: weights, optimizer state, RNG and position as .safetensors.
 *
 * A checkpoint sees a run only through mimic__ckpt_view (train.h): what identifies it (the
 * options table's SHAPES_RUN rows, the architecture, the data) and the buffers it saves.
 * Reading checks everything (identity, shapes, finiteness, the consistency of the state)
 * and hands the trainer a mimic__ckpt to commit; nothing of the run changes here.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/train.h"

#define CKPT_FORMAT "mimic-trainer-checkpoint"
#define CKPT_VERSION "1"
#define MAX_META 96
#define KEY_LEN 32
#define VAL_LEN 40

/* Metadata being assembled: keys and values live in the buffer (~7 KiB on the stack, no
 * allocation). */
typedef struct meta_buf {
    mimic__st_meta m[MAX_META];
    char key[MAX_META][KEY_LEN];
    char val[MAX_META][VAL_LEN];
    size_t n;
    char *shards; /* the one long value ("data.shards"), allocated; NULL when none */
    int nomem;    /* it could not be allocated */
} meta_buf;

static void meta_init(meta_buf *b)
{
    b->n = 0;
    b->shards = NULL;
    b->nomem = 0;
}

static void meta_free(meta_buf *b)
{
    mimic__free(b->shards);
    b->shards = NULL;
}

static void put(meta_buf *b, const char *key, const char *fmt, ...) MIMIC__PRINTF(3, 4);

static void put(meta_buf *b, const char *key, const char *fmt, ...)
{
    if (b->n >= MAX_META)
        return; /* cannot happen: the key list is fixed and shorter */
    snprintf(b->key[b->n], KEY_LEN, "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->val[b->n], VAL_LEN, fmt, ap);
    va_end(ap);
    b->m[b->n].key = b->key[b->n];
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
    return mimic__dataset_fingerprint(d, 0, d->rows, 64);
}

#define SHARD_SAMPLES 16
#define SHARD_ENTRY 48 /* "rows:fingerprint," at most */

/* A sharded training set (a manifest) also gets one entry per shard, "rows:fingerprint"
 * (16 rows of each), so that a changed shard is named: "data.shards" = "65536:0123...,...". */
static void put_shards(meta_buf *b, const mimic_dataset *d)
{
    const size_t n = mimic__view_shards(d);
    if (n < 2)
        return;
    size_t cap;
    if (!mimic__mul_ok(n, SHARD_ENTRY, &cap) || !(b->shards = mimic__malloc(cap))) {
        b->nomem = 1;
        return;
    }
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t first, rows;
        mimic__view_shard(d, k, &first, &rows, NULL);
        int w = snprintf(b->shards + len, cap - len, "%s%" PRIu64 ":%016" PRIx64, k ? "," : "",
                         rows, mimic__dataset_fingerprint(d, first, rows, SHARD_SAMPLES));
        len += (size_t)w;
    }
    if (b->n < MAX_META) {
        snprintf(b->key[b->n], KEY_LEN, "%s", "data.shards");
        b->m[b->n].key = b->key[b->n];
        b->m[b->n].value = b->shards;
        b->n++;
    }
}

/* What must match between the checkpoint and the run that resumes it: the options that shape
 * the trajectory (the table's SHAPES_RUN rows), the student's architecture, the data. `all`:
 * every key (to compare), else the keys a checkpoint records (a sparse row's only when its
 * value is not `absent`). */
static void put_identity(meta_buf *b, const mimic__ckpt_view *v, int all)
{
    const mimic__optable *t = mimic__train_optable();
    const mimic__opt *o;
    for (size_t i = 0; (o = mimic__opt_at(t, i, NULL)) != NULL; i++) {
        if (!(o->flags & MIMIC__OPT_SHAPES_RUN))
            continue;
        char key[KEY_LEN], val[VAL_LEN];
        if (o->ident_key)
            snprintf(key, sizeof key, "%s", o->ident_key);
        else
            snprintf(key, sizeof key, "opt.%s", o->name);
        mimic__opt_ident(o, v->o, val, sizeof val);
        if (!all && (o->flags & MIMIC__OPT_IDENT_SPARSE) && o->absent &&
            strcmp(val, o->absent) == 0)
            continue;
        put(b, key, "%s", val);
    }
    const mimic_dataset *d = v->train;
    put_u64(b, "student.inputs", v->L->D);
    put_u64(b, "student.hidden", v->L->H);
    put_u64(b, "student.bottleneck", v->L->k);
    put_u64(b, "student.classes", v->L->C);
    put_u64(b, "student.activation", (uint64_t)v->activation);
    put_shards(b, d); /* before the whole set's keys: a changed shard is named */
    put_u64(b, "data.rows", d->rows);
    put_u64(b, "data.input_dtype", (uint64_t)d->input_dtype);
    put_u64(b, "data.has_logits", d->logits_dtype != 0);
    put_u64(b, "data.has_labels", d->labels_dtype != 0);
    put(b, "data.fingerprint", "%016" PRIx64, data_fingerprint(d));
}

/* The scalar state: one table for writing and reading. */
typedef struct state_u64 {
    const char *key;
    size_t offset;
    bool is_int; /* an int field, else uint64_t */
} state_u64;

#define SU(key, field) {key, offsetof(mimic__train_state, field), false}
#define SI(key, field) {key, offsetof(mimic__train_state, field), true}
static const state_u64 state_u64s[] = {
    SU("epoch", epochs_done),       SU("step", steps_done),
    SU("epoch_position", pos),      SI("epoch_started", started),
    SI("epoch_end_pending", end_pending), SI("finished", finished),
    SU("epoch_rows", epoch_rows),   SU("best_epoch", best_epoch),
    SU("bad_epochs", bad_epochs),   SI("stopped_early", stopped_early),
    SU("holds_epoch", holds_epoch),
};
static const struct {
    const char *key;
    size_t offset;
} state_dbls[] = {
    {"epoch_loss_sum", offsetof(mimic__train_state, epoch_loss_sum)},
    {"last_epoch_loss", offsetof(mimic__train_state, last_epoch_loss)},
    {"last_lr", offsetof(mimic__train_state, last_lr)},
    {"best_loss", offsetof(mimic__train_state, best_loss)},
};

static uint64_t state_get_u64(const mimic__train_state *st, const state_u64 *k)
{
    if (k->is_int) {
        int v;
        memcpy(&v, (const char *)st + k->offset, sizeof v);
        return (uint64_t)v;
    }
    uint64_t v;
    memcpy(&v, (const char *)st + k->offset, sizeof v);
    return v;
}

static void state_set_u64(mimic__train_state *st, const state_u64 *k, uint64_t v)
{
    if (k->is_int) {
        int x = (int)v;
        memcpy((char *)st + k->offset, &x, sizeof x);
    } else {
        memcpy((char *)st + k->offset, &v, sizeof v);
    }
}

static const char *RNG_KEYS[4] = {"rng.0", "rng.1", "rng.2", "rng.3"};
static const char *RNG_EPOCH_KEYS[4] = {"rng_epoch.0", "rng_epoch.1", "rng_epoch.2",
                                        "rng_epoch.3"};

static void put_state(meta_buf *b, const mimic__train_state *st)
{
    put(b, "format", "%s", CKPT_FORMAT);
    put(b, "format_version", "%s", CKPT_VERSION);
    put(b, "library_version", "%s", MIMIC_VERSION_STRING);
    for (int i = 0; i < 4; i++) {
        put_u64(b, RNG_KEYS[i], st->rng.s[i]);
        put_u64(b, RNG_EPOCH_KEYS[i], st->rng_epoch.s[i]);
    }
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(state_u64s); i++)
        put_u64(b, state_u64s[i].key, state_get_u64(st, &state_u64s[i]));
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(state_dbls); i++) {
        double v;
        memcpy(&v, (const char *)st + state_dbls[i].offset, sizeof v);
        put_dbl(b, state_dbls[i].key, v);
    }
}

int mimic__run_identity(const mimic__ckpt_view *v,
                        void (*fn)(const char *key, const char *value, void *ctx), void *ctx)
{
    meta_buf b;
    meta_init(&b);
    put_identity(&b, v, 1);
    if (b.nomem)
        return mimic__error(MIMIC_ERR_NOMEM, "out of memory for the shards' fingerprints");
    for (size_t i = 0; i < b.n; i++)
        fn(b.m[i].key, b.m[i].value, ctx);
    meta_free(&b);
    return MIMIC_OK;
}

int mimic__checkpoint_write(const char *path, const mimic__ckpt_view *v)
{
    meta_buf b;
    meta_init(&b);
    put_state(&b, v->st);
    put_identity(&b, v, 0);
    if (b.nomem)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for the shards' fingerprints",
                            path);

    const mimic__layout *L = v->L;
    mimic__st_tensor ts[4 + MIMIC__MAX_OPT_STATE + 2];
    size_t nt = 0;
    ts[nt++] = (mimic__st_tensor){"params", L->n_params, 0, v->params};
    for (size_t i = 0; i < v->opt->n_state; i++)
        ts[nt++] = (mimic__st_tensor){v->opt->state_keys[i], L->n_params, 0, v->opt_state[i]};
    if (v->st->has_best)
        ts[nt++] = (mimic__st_tensor){"best.params", L->n_params, 0, v->best};
    if (v->in_mean) {
        ts[nt++] = (mimic__st_tensor){"input.mean", L->D, 0, v->in_mean};
        ts[nt++] = (mimic__st_tensor){"input.scale", L->D, 0, v->in_scale};
    }
    if (v->tstd) {
        ts[nt++] = (mimic__st_tensor){"target.mean", L->C, 0, v->tmean};
        ts[nt++] = (mimic__st_tensor){"target.std", L->C, 0, v->tstd};
    }
    int rc = mimic__safetensors_write(path, ts, nt, b.m, b.n);
    meta_free(&b);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int get_u64(const mimic__st_file *f, const char *path, const char *key, uint64_t *out)
{
    const char *v = mimic__st_meta_get(f, key);
    if (!v)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path, key);
    if (!mimic__parse_u64(v, out))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: checkpoint metadata \"%s\" = \"%s\" is not an unsigned integer",
                            path, key, v);
    return MIMIC_OK;
}

static int get_dbl(const mimic__st_file *f, const char *path, const char *key, double *out)
{
    const char *v = mimic__st_meta_get(f, key);
    if (!v)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path, key);
    if (!mimic__parse_double(v, out))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: checkpoint metadata \"%s\" = \"%s\" is not a number", path, key,
                            v);
    return MIMIC_OK;
}

/* The row of identity key `key` ("opt.<field>", or a row's own ident_key), or NULL. */
static const mimic__opt *identity_row(const char *key)
{
    const mimic__optable *t = mimic__train_optable();
    const mimic__opt *o;
    for (size_t i = 0; (o = mimic__opt_at(t, i, NULL)) != NULL; i++)
        if ((o->ident_key && strcmp(key, o->ident_key) == 0) ||
            (!o->ident_key && strncmp(key, "opt.", 4) == 0 && strcmp(key + 4, o->name) == 0))
            return o;
    return NULL;
}

/* What a key that an older checkpoint (or, for a sparse row, one written with the option
 * off) lacks stands for: the options table's `absent` column. NULL when the key is
 * required. */
static const char *absent_means(const char *key)
{
    const mimic__opt *o = identity_row(key);
    return o ? o->absent : NULL;
}

/* "the checkpoint does not match this run: options.loss is kd in the checkpoint but l2 here"
 * (options by their field and choice names; architecture and data by their keys). */
static int mismatch(const char *path, const char *key, const char *theirs, const char *ours)
{
    const mimic__opt *o = identity_row(key);
    if (!o)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "%s: the checkpoint does not match this run: %s is %s in the "
                            "checkpoint but %s here",
                            path, key, theirs, ours);
    uint64_t a, b;
    if (o->type == MIMIC_OPTION_ENUM && mimic__parse_u64(theirs, &a) && mimic__parse_u64(ours, &b)) {
        theirs = mimic__opt_choice_name(o, (int32_t)a);
        ours = mimic__opt_choice_name(o, (int32_t)b);
    }
    /* a row with its own key names what the key counts: "opt.validation_rows" -> "(rows)" */
    const char *what = o->ident_key ? strrchr(o->ident_key, '_') : NULL;
    return mimic__error(MIMIC_ERR_INVALID,
                        "%s: the checkpoint does not match this run: options.%s%s%s%s is %s in "
                        "the checkpoint but %s here",
                        path, o->name, what ? " (" : "", what ? what + 1 : "", what ? ")" : "",
                        theirs, ours);
}

/* "data.shards" differs: name the first shard that does. */
static int shards_mismatch(const char *path, const mimic_dataset *d, const char *theirs,
                           const char *ours)
{
    const size_t n = mimic__view_shards(d);
    if (!theirs)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "%s: the checkpoint does not match this run: it was written for a "
                            "training set of one file, this one has %zu shards",
                            path, n);
    size_t k = 0, commas = 0;
    for (const char *p = theirs; *p; p++)
        commas += *p == ',';
    if (commas + 1 != n)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "%s: the checkpoint does not match this run: its training set has "
                            "%zu shards, this one %zu",
                            path, commas + 1, n);
    const char *a = theirs, *b = ours;
    for (; k < n; k++) {
        size_t la = strcspn(a, ","), lb = strcspn(b, ",");
        if (la != lb || memcmp(a, b, la) != 0)
            break;
        a += la + (a[la] == ',');
        b += lb + (b[lb] == ',');
    }
    uint64_t first, rows;
    const char *name = NULL;
    mimic__view_shard(d, k < n ? k : 0, &first, &rows, &name);
    return mimic__error(MIMIC_ERR_SHAPE,
                        "%s: the checkpoint does not match this run: shard %zu (%s) differs "
                        "from the one it was written with (changed or replaced since)",
                        path, k, name ? name : "in memory");
}

/* Every identity key must be present (or be one an older checkpoint may lack) and equal to
 * this run's value. */
static int check_identity(const mimic__st_file *f, const mimic__ckpt_view *run, const char *path)
{
    meta_buf b;
    meta_init(&b);
    put_identity(&b, run, 1);
    int rc = b.nomem ? mimic__error(MIMIC_ERR_NOMEM,
                                    "%s: out of memory for the shards' fingerprints", path)
                     : MIMIC_OK;
    /* a sharded checkpoint resumed on one file */
    if (!rc && !b.shards && mimic__st_meta_get(f, "data.shards"))
        rc = mimic__error(MIMIC_ERR_SHAPE,
                          "%s: the checkpoint does not match this run: it was written for a "
                          "sharded training set (a manifest), this one is a single file",
                          path);
    for (size_t i = 0; i < b.n && !rc; i++) {
        const char *v = mimic__st_meta_get(f, b.m[i].key);
        if (b.m[i].value == b.shards) {
            if (!v || strcmp(v, b.shards) != 0)
                rc = shards_mismatch(path, run->train, v, b.shards);
            continue;
        }
        if (!v)
            v = absent_means(b.m[i].key);
        if (!v)
            rc = mimic__error(MIMIC_ERR_FORMAT, "%s: checkpoint metadata lacks \"%s\"", path,
                              b.m[i].key);
        else if (strcmp(v, b.m[i].value) != 0)
            rc = mismatch(path, b.m[i].key, v, b.m[i].value);
    }
    meta_free(&b);
    return rc;
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
            *rc = mimic__error(MIMIC_ERR_NUMERIC,
                               "%s: tensor \"%s\" holds a non-finite value at %zu", path, name, i);
            return NULL;
        }
    return x->data;
}

static int read_state(const mimic__st_file *f, const mimic__ckpt_view *v, const char *path,
                      mimic__train_state *c)
{
    int rc = MIMIC_OK;
    memset(c, 0, sizeof *c);
    for (int i = 0; i < 4 && rc == MIMIC_OK; i++) {
        rc = get_u64(f, path, RNG_KEYS[i], &c->rng.s[i]);
        if (rc == MIMIC_OK)
            rc = get_u64(f, path, RNG_EPOCH_KEYS[i], &c->rng_epoch.s[i]);
    }
    uint64_t flags[MIMIC__ARRAY_LEN(state_u64s)];
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(state_u64s) && rc == MIMIC_OK; i++) {
        rc = get_u64(f, path, state_u64s[i].key, &flags[i]);
        /* 0/1 flags, checked below through their int copies */
        if (rc == MIMIC_OK)
            state_set_u64(c, &state_u64s[i], state_u64s[i].is_int && flags[i] > 1 ? 2 : flags[i]);
    }
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(state_dbls) && rc == MIMIC_OK; i++) {
        double d;
        rc = get_dbl(f, path, state_dbls[i].key, &d);
        memcpy((char *)c + state_dbls[i].offset, &d, sizeof d);
    }
    if (rc != MIMIC_OK)
        return rc;
    /* consistency: position within the planned run, counters that agree */
    size_t rows = v->train->rows;
    int zero_rng = (c->rng.s[0] | c->rng.s[1] | c->rng.s[2] | c->rng.s[3]) == 0;
    if (zero_rng || c->started > 1 || c->end_pending > 1 || c->finished > 1 ||
        c->stopped_early > 1 || c->pos >= v->spe || (!c->started && c->pos != 0) ||
        c->steps_done != c->epochs_done * v->spe + c->pos || (c->started && c->end_pending) ||
        c->epoch_rows > rows)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: checkpoint state is inconsistent (epoch %" PRIu64
                            ", step %" PRIu64 ", position %" PRIu64 " of %" PRIu64 ")",
                            path, c->epochs_done, c->steps_done, c->pos, v->spe);
    if (c->epochs_done > v->o->epochs)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: the checkpoint has %" PRIu64 " epochs done, more than "
                            "options.epochs = %" PRIu64,
                            path, c->epochs_done, v->o->epochs);
    if (c->started && !mimic__order_consistent(rows, &c->rng_epoch, &c->rng))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: the RNG state does not match the epoch's shuffle (corrupt "
                            "checkpoint)",
                            path);
    return MIMIC_OK;
}

static int read_file(const mimic__ckpt_view *v, const char *path, mimic__ckpt *c)
{
    const mimic__st_file *f = &c->file;
    const char *fmt = mimic__st_meta_get(f, "format");
    const char *ver = mimic__st_meta_get(f, "format_version");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: not a libmimic trainer checkpoint", path);
    if (!ver || strcmp(ver, CKPT_VERSION) != 0)
        return mimic__error(MIMIC_ERR_VERSION,
                            "%s: checkpoint format version %s, this library reads %s", path,
                            ver ? ver : "(none)", CKPT_VERSION);
    int rc = check_identity(f, v, path);
    if (rc == MIMIC_OK)
        rc = read_state(f, v, path, &c->st);
    if (rc != MIMIC_OK)
        return rc;
    const mimic__layout *L = v->L;
    size_t n = L->n_params;
    c->params = get_vec(f, path, "params", n, 1, &rc);
    for (size_t i = 0; i < v->opt->n_state && rc == MIMIC_OK; i++)
        c->opt_state[i] = get_vec(f, path, v->opt->state_keys[i], n, 1, &rc);
    if (rc != MIMIC_OK)
        return rc;
    c->best = v->best ? get_vec(f, path, "best.params", n, 0, &rc) : NULL;
    c->in_mean = get_vec(f, path, "input.mean", L->D, 0, &rc);
    c->in_scale = get_vec(f, path, "input.scale", L->D, 0, &rc);
    if (rc == MIMIC_OK && v->tstd) {
        const float *tm = get_vec(f, path, "target.mean", L->C, 1, &rc);
        const float *tsd = tm ? get_vec(f, path, "target.std", L->C, 1, &rc) : NULL;
        if (rc == MIMIC_OK && (memcmp(tm, v->tmean, L->C * sizeof(float)) != 0 ||
                               memcmp(tsd, v->tstd, L->C * sizeof(float)) != 0))
            rc = mimic__error(MIMIC_ERR_SHAPE,
                              "%s: the checkpoint's target statistics differ from this training "
                              "set's",
                              path);
    }
    if (rc == MIMIC_OK && (!c->in_mean) != (!c->in_scale))
        rc = mimic__error(MIMIC_ERR_FORMAT,
                          "%s: checkpoint has only one of input.mean and input.scale", path);
    if (rc == MIMIC_OK && v->o->standardize && !c->in_mean)
        rc = mimic__error(MIMIC_ERR_FORMAT,
                          "%s: checkpoint lacks the input normalization that options.standardize "
                          "fits",
                          path);
    return rc;
}

int mimic__checkpoint_read(const char *path, const mimic__ckpt_view *v, mimic__ckpt *out)
{
    memset(out, 0, sizeof *out);
    int rc = mimic__read_safetensors_as(path, MIMIC_FILE_CHECKPOINT, &out->file);
    if (rc != MIMIC_OK)
        return rc;
    rc = read_file(v, path, out);
    if (rc != MIMIC_OK)
        mimic__checkpoint_close(out);
    return rc;
}

void mimic__checkpoint_close(mimic__ckpt *c)
{
    mimic__st_close(&c->file);
    memset(c, 0, sizeof *c);
}
