/*
 * Data-parallel training through the caller's collectives (include/mimic/collective.h):
 * mimic_collective_init and _agree, the checks of a collective, and what the trainer does
 * with one: each rank's part of a batch, agreements, broadcasts, the per-rank slots a step
 * appends to its gradient all-reduce, the check that every rank trains the same run; and
 * the options row `collective`.
 *
 * Everything goes through the sum all-reduce. A value only one rank contributes, with every
 * other rank adding zeros, arrives exactly (x + 0 = x), so a "slot" per rank turns the sum
 * into an all-gather and rank 0's buffer with the others' zeros into a broadcast. Results
 * that every rank derives from the same gathered values in the same order are the same bits
 * on every rank, whatever order the transport sums in.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "train/train.h"

/* Ranks whose statuses one agreement all-reduce carries (a stack buffer; more ranks take
 * more rounds). */
#define AGREE_BLOCK 512

void mimic_collective_init(mimic_collective *c, size_t struct_size)
{
    mimic_collective d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.size = 1;
    mimic__struct_copy_out(c, struct_size, &d, sizeof d);
}

int mimic__coll_copy(mimic_collective *dst, const mimic_collective *src, const char *what)
{
    mimic_collective_init(dst, sizeof *dst);
    if (!src)
        return mimic__error(MIMIC_ERR_INVALID, "%s is NULL", what);
    int rc = mimic__struct_copy_in(dst, sizeof *dst, src, what);
    if (rc != MIMIC_OK)
        return rc;
    if (dst->size < 1 || dst->rank < 0 || dst->rank >= dst->size)
        return mimic__error(MIMIC_ERR_INVALID, "%s: rank %d of size %d (need 0 <= rank < size)",
                            what, (int)dst->rank, (int)dst->size);
    if (!dst->allreduce_f32 || !dst->allreduce_f64)
        return mimic__error(MIMIC_ERR_INVALID, "%s: allreduce_f32 and allreduce_f64 are required",
                            what);
    return MIMIC_OK;
}

void mimic__coll_share(const mimic_collective *c, uint64_t n, uint64_t *first, uint64_t *count)
{
    /* floor(n r / N) without overflow: (n / N) r + (n % N) r / N */
    uint64_t N = (uint64_t)c->size, r = (uint64_t)c->rank;
    uint64_t a = (n / N) * r + (n % N) * r / N;
    uint64_t b = (n / N) * (r + 1) + (n % N) * (r + 1) / N;
    *first = a;
    *count = b - a;
}

/* An all-reduce's return value as a status. */
static int reduced(const mimic_collective *c, int r, const char *which, size_t n)
{
    if (r == 0)
        return MIMIC_OK;
    return mimic__error(MIMIC_ERR_IO,
                        "options.collective: %s of %zu values failed on rank %d of %d (returned "
                        "%d)",
                        which, n, (int)c->rank, (int)c->size, r);
}

int mimic__coll_sum_f32(const mimic_collective *c, float *buf, size_t n)
{
    return reduced(c, c->allreduce_f32(buf, n, c->user_data), "allreduce_f32", n);
}

int mimic__coll_sum_f64(const mimic_collective *c, double *buf, size_t n)
{
    return reduced(c, c->allreduce_f64(buf, n, c->user_data), "allreduce_f64", n);
}

int mimic__coll_bcast_f64(const mimic_collective *c, double *buf, size_t n)
{
    if (c->rank != 0)
        memset(buf, 0, n * sizeof *buf);
    return mimic__coll_sum_f64(c, buf, n);
}

int mimic__coll_bcast_f32(const mimic_collective *c, float *buf, size_t n)
{
    if (c->rank != 0)
        memset(buf, 0, n * sizeof *buf);
    return mimic__coll_sum_f32(c, buf, n);
}

/* ---- agreement ------------------------------------------------------------------------------ */

/* Is `msg` already an agreed message ("rank R of N: ...", N = this size)? Then a second
 * agreement on it keeps it as it is instead of prefixing it again. */
static int agreed_text(const char *msg, int size)
{
    int r, n, len = 0;
    return sscanf(msg, "rank %d of %d: %n", &r, &n, &len) == 2 && len > 0 && n == size;
}

int mimic__coll_fail(const mimic_collective *c, int root, int status, const char *message)
{
    float buf[MIMIC__COLL_MSG];
    memset(buf, 0, sizeof buf);
    if (c->rank == root)
        for (size_t i = 0; i + 1 < MIMIC__COLL_MSG && message[i]; i++)
            buf[i] = (float)(unsigned char)message[i];
    int rc = mimic__coll_sum_f32(c, buf, MIMIC__COLL_MSG);
    if (rc != MIMIC_OK)
        return rc;
    char text[MIMIC__COLL_MSG];
    size_t i = 0;
    for (; i + 1 < MIMIC__COLL_MSG && buf[i] > 0 && buf[i] < 256; i++)
        text[i] = (char)(unsigned char)buf[i];
    text[i] = 0;
    if (c->size == 1 || agreed_text(text, c->size)) /* one rank: nothing to name */
        return mimic__error(status, "%s", text);
    return mimic__error(status, "rank %d of %d: %s", root, (int)c->size, text);
}

int mimic__coll_agree(const mimic_collective *c, int status, const char *message)
{
    char mine[MIMIC__COLL_MSG];
    snprintf(mine, sizeof mine, "%s", message ? message : mimic_last_error());
    int root = -1, agreed = 0;
    for (int32_t base = 0; base < c->size; base += AGREE_BLOCK) {
        double buf[AGREE_BLOCK];
        size_t n = (size_t)(c->size - base < AGREE_BLOCK ? c->size - base : AGREE_BLOCK);
        memset(buf, 0, n * sizeof *buf);
        if (c->rank >= base && c->rank < base + (int32_t)n)
            buf[c->rank - base] = (double)status;
        int rc = mimic__coll_sum_f64(c, buf, n);
        if (rc != MIMIC_OK)
            return rc;
        for (size_t i = 0; i < n && root < 0; i++)
            if (buf[i] != 0) {
                root = base + (int)i;
                agreed = (int)buf[i];
            }
    }
    if (root < 0)
        return MIMIC_OK;
    return mimic__coll_fail(c, root, agreed, mine);
}

int mimic_collective_agree(const mimic_collective *c, int status, const char *message)
{
    mimic_collective copy;
    int rc = mimic__coll_copy(&copy, c, "mimic_collective_agree: collective");
    if (rc != MIMIC_OK)
        return rc;
    return mimic__coll_agree(&copy, status, message);
}

/* ---- a step's slots ------------------------------------------------------------------------- */

/* A finite double as four floats that carry it exactly: the mantissa of frexp in three
 * pieces of at most 24 significant bits each (53 in all), and the exponent. */
void mimic__coll_slot_put(float *slot, int status, int loss_bad, double loss)
{
    memset(slot, 0, MIMIC__COLL_SLOT * sizeof *slot);
    slot[0] = (float)status;
    slot[1] = (float)loss_bad;
    if (status != MIMIC_OK)
        return;
    int e;
    double m = frexp(loss, &e);
    float a = (float)m;
    double r = m - (double)a;
    float b = (float)r;
    slot[2] = a;
    slot[3] = b;
    slot[4] = (float)(r - (double)b);
    slot[5] = (float)e;
}

int mimic__coll_slots_read(const mimic_collective *c, const float *slots, int *status,
                           int *loss_bad, double *loss)
{
    double total = 0;
    for (int32_t r = 0; r < c->size; r++) {
        const float *s = slots + (size_t)r * MIMIC__COLL_SLOT;
        if (s[0] != 0) {
            *status = (int)s[0];
            *loss_bad = s[1] != 0;
            return (int)r;
        }
        /* each partial sum is exact: the pieces are disjoint runs of the mantissa's bits */
        total += ldexp(((double)s[4] + (double)s[3]) + (double)s[2], (int)s[5]);
    }
    *loss = total;
    return -1;
}

/* ---- the same run on every rank ------------------------------------------------------------ */

/* FNV-1a, 32 bits: exact in a double. */
static uint32_t fnv32(uint32_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The identity entries of a run, hashed, and (on request) the text of entry `want`. */
typedef struct ident_hashes {
    double h[MIMIC__COLL_IDENT];
    size_t n;
    size_t want;
    char key[48], value[48];
} ident_hashes;

static void add_entry(const char *key, const char *value, void *ctx)
{
    ident_hashes *x = ctx;
    size_t i = x->n < MIMIC__COLL_IDENT - 1 ? x->n : MIMIC__COLL_IDENT - 2; /* fold a tail */
    uint32_t h = fnv32(fnv32(fnv32(2166136261u, key), "="), value);
    x->h[1 + i] = (double)((uint32_t)x->h[1 + i] ^ h);
    if (x->n == x->want) {
        snprintf(x->key, sizeof x->key, "%s", key);
        snprintf(x->value, sizeof x->value, "%s", value);
    }
    x->n++;
}

/* The options that are no part of a checkpoint's identity but must still be the same on
 * every rank: how long the run is, and what its epochs and resume do collectively. */
static void add_extras(const mimic_train_options *o, ident_hashes *x)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRIu64, o->epochs);
    add_entry("opt.epochs", v, x);
    snprintf(v, sizeof v, "%d", (int)o->eval_train);
    add_entry("opt.eval_train", v, x);
    snprintf(v, sizeof v, "%d", (int)o->resume);
    add_entry("opt.resume", v, x);
}

static int hash_run(const mimic__ckpt_view *v, ident_hashes *x, size_t want)
{
    memset(x, 0, sizeof *x);
    x->want = want;
    int rc = mimic__run_identity(v, add_entry, x);
    add_extras(v->o, x);
    x->h[0] = (double)x->n;
    return rc;
}

int mimic__coll_same_run(const mimic_collective *c, const mimic__ckpt_view *v)
{
    ident_hashes mine, theirs;
    int rc = hash_run(v, &mine, SIZE_MAX);
    if (rc != MIMIC_OK)
        return rc;
    memcpy(&theirs.h, &mine.h, sizeof mine.h);
    rc = mimic__coll_bcast_f64(c, theirs.h, MIMIC__COLL_IDENT);
    if (rc != MIMIC_OK)
        return rc;
    if (theirs.h[0] != mine.h[0])
        return mimic__error(MIMIC_ERR_INVALID,
                            "the run differs from rank 0's: %g identity entries here, %g there "
                            "(every rank needs the same options, student and training data)",
                            mine.h[0], theirs.h[0]);
    for (size_t i = 1; i < MIMIC__COLL_IDENT; i++) {
        if (mine.h[i] == theirs.h[i])
            continue;
        ident_hashes at;
        if ((rc = hash_run(v, &at, i - 1)) != MIMIC_OK)
            return rc;
        int opt = strncmp(at.key, "opt.", 4) == 0;
        return mimic__error(MIMIC_ERR_INVALID,
                            "the run differs from rank 0's: %s%s is %s here (every rank needs the "
                            "same options, student and training data)",
                            opt ? "options." : "", opt ? at.key + 4 : at.key, at.value);
    }
    return MIMIC_OK;
}

/* 64 bits of the weights, as two doubles (exact). */
static void hash_floats(const float *p, size_t n, double out[2])
{
    uint64_t h = 0x6d696d69636f6c6cull;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &p[i], sizeof w);
        h = (h ^ w) * 0x100000001b3ull;
    }
    out[0] = (double)(uint32_t)h;
    out[1] = (double)(uint32_t)(h >> 32);
}

int mimic__coll_same_weights(const mimic_collective *c, const float *p, size_t n, uint64_t epoch)
{
    double mine[2], theirs[2];
    hash_floats(p, n, mine);
    memcpy(theirs, mine, sizeof mine);
    int rc = mimic__coll_bcast_f64(c, theirs, 2);
    if (rc == MIMIC_OK && (mine[0] != theirs[0] || mine[1] != theirs[1]))
        rc = mimic__error(MIMIC_ERR_INVALID,
                          "the weights after epoch %" PRIu64 " differ from rank 0's: "
                          "options.collective's all-reduce must give every rank the same bits",
                          epoch);
    return rc;
}

/* ---- options: rows of the mimic_train_options table ---------------------------------------- */

/* The number of ranks a checkpoint was written with (1 without a collective). */
static void ident_collective(const void *p, char *buf, size_t cap)
{
    const mimic_collective *c = ((const mimic_train_options *)p)->collective;
    snprintf(buf, cap, "%d", c ? (int)c->size : 1);
}

static const mimic__opt collective_rows[] = {
    {MIMIC__TRAIN_ROW(collective, POINTER), MIMIC__SHAPES_RUN_SPARSE, .since = 10300, .absent = "1",
     MIMIC__ANY, .ident_key = "opt.collective_ranks", .ident = ident_collective,
     .help = "the ranks' collectives, for data-parallel training over processes (borrowed; "
             "include/mimic/collective.h)"},
};

const mimic__opt_group mimic__collective_options = {"distributed training", collective_rows,
                                                    MIMIC__ARRAY_LEN(collective_rows)};
