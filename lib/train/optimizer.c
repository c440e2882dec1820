/* The optimizers as single fused loops over the flat parameter array. */
#include <math.h>
#include <string.h>

#include "train/train.h"

#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
/* The update loops run with MXCSR's flush-to-zero and denormals-are-zero bits set on the
 * calling thread, restored afterwards. Momentum and Adam's moments of parameters whose
 * gradient is (nearly) zero, e.g. the weights of a dead ReLU unit, decay geometrically into
 * float's subnormal range, and every arithmetic operation on a subnormal costs a microcode
 * assist. Flushing changes values below FLT_MIN (1.2e-38) only. The loops are separate,
 * non-inlined functions, so no arithmetic moves across the MXCSR writes. */
static unsigned flush_denormals_begin(void)
{
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static void flush_denormals_end(unsigned old)
{
    _mm_setcsr(old);
}
#else
static unsigned flush_denormals_begin(void)
{
    return 0;
}
static void flush_denormals_end(unsigned old)
{
    (void)old;
}
#endif

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* A chunk of the update or the norm on a pool covers at least this many bytes of one of its
 * arrays (16384 parameters). */
#define UPDATE_CHUNK_BYTES (64u << 10)
/* Parameters updated, then copied, at a time when the update also copies its result: the
 * block of every array it touches (up to 5 x 64 KiB) stays in L2. */
#define UPDATE_COPY_BLOCK 16384

/* The gradient norm sums NORM_PARTS ranges of the parameters, each in double with four
 * partial sums (shorter dependency chains), and adds the ranges' sums in order: a fixed
 * order, whatever the threads that computed them. */
#define NORM_PARTS 64

typedef struct norm_job {
    const float *g;
    size_t n;
    double part[NORM_PARTS];
} norm_job;

static double sum_squares(const float *g, size_t n)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += (double)g[i] * g[i];
        a1 += (double)g[i + 1] * g[i + 1];
        a2 += (double)g[i + 2] * g[i + 2];
        a3 += (double)g[i + 3] * g[i + 3];
    }
    for (; i < n; i++)
        a0 += (double)g[i] * g[i];
    return (a0 + a1) + (a2 + a3);
}

static void norm_part(void *ctx, size_t i, size_t n)
{
    norm_job *job = ctx;
    size_t p0, p1;
    mimic__split(NORM_PARTS, i, n, &p0, &p1);
    for (size_t p = p0; p < p1; p++) {
        size_t b, e;
        mimic__split_aligned(job->n, p, NORM_PARTS, 16, &b, &e);
        job->part[p] = sum_squares(job->g + b, e - b);
    }
}

double mimic__grad_norm(const float *g, size_t n, mimic__pool *pool)
{
    norm_job job = {g, n, {0}};
    mimic__pool_for(
        pool,
        mimic__pool_chunks(pool, NORM_PARTS, n / NORM_PARTS * sizeof(float), UPDATE_CHUNK_BYTES),
        norm_part, &job);
    double sum = 0;
    for (size_t p = 0; p < NORM_PARTS; p++)
        sum += job.part[p];
    return sqrt(sum);
}

/* Non-finite test on the bit pattern (all-ones exponent), an integer OR reduction the
 * compiler vectorizes. */
static inline uint32_t nonfinite_bit(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

/* PyTorch SGD: g' = g + wd p; v = mu v + g'; p -= lr v (Nesterov: p -= lr (g' + mu v)). */
MIMIC__HOT_NOINLINE static uint32_t sgd(const float *restrict p_in, float *restrict p_out,
                                        const float *restrict g, float *restrict m, size_t n,
                                        float lr, float gscale, float wd, float mu, int nesterov)
{
    uint32_t bad = 0;
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * gscale + wd * p_in[i];
            float vi = mu * m[i] + gi;
            m[i] = vi;
            float pi = p_in[i] - lr * (gi + mu * vi);
            p_out[i] = pi;
            bad |= nonfinite_bit(pi);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * gscale + wd * p_in[i];
            float vi = mu * m[i] + gi;
            m[i] = vi;
            float pi = p_in[i] - lr * vi;
            p_out[i] = pi;
            bad |= nonfinite_bit(pi);
        }
    }
    return bad;
}

/* Adam (wd added to the gradient) and AdamW (decoupled: p *= 1 - lr wd first), with bias
 * correction folded into the step size as in PyTorch:
 *   p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps). */
MIMIC__HOT_NOINLINE static uint32_t adam(const float *restrict p_in, float *restrict p_out,
                                         const float *restrict g, float *restrict m,
                                         float *restrict v, size_t n, float gscale, float wd_grad,
                                         float decay, float b1, float b2, float step,
                                         float inv_sqrt_bc2, float eps)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float pi = p_in[i];
        float gi = g[i] * gscale + wd_grad * pi;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        pi = pi * decay - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        p_out[i] = pi;
        bad |= nonfinite_bit(pi);
    }
    return bad;
}

static bool sgd_update(const mimic_train_options *o, double lr, uint64_t t1, const float *p_in,
                       float *p_out, const float *g, float gscale, float *const *state, size_t n)
{
    (void)t1;
    unsigned csr = flush_denormals_begin();
    uint32_t bad = sgd(p_in, p_out, g, state[0], n, (float)lr, gscale, (float)o->weight_decay,
                       (float)o->momentum, o->nesterov);
    flush_denormals_end(csr);
    return bad == 0;
}

static bool adam_any(const mimic_train_options *o, double lr, uint64_t t1, const float *p_in,
                     float *p_out, const float *g, float gscale, float *const *state, size_t n,
                     int decoupled)
{
    unsigned csr = flush_denormals_begin();
    double bc1 = 1.0 - pow(o->adam_beta1, (double)t1);
    double bc2 = 1.0 - pow(o->adam_beta2, (double)t1);
    uint32_t bad = adam(
        p_in, p_out, g, state[0], state[1], n, gscale, decoupled ? 0.0f : (float)o->weight_decay,
        decoupled ? (float)(1.0 - lr * o->weight_decay) : 1.0f, (float)o->adam_beta1,
        (float)o->adam_beta2, (float)(lr / bc1), (float)(1.0 / sqrt(bc2)), (float)o->adam_eps);
    flush_denormals_end(csr);
    return bad == 0;
}

static bool adam_update(const mimic_train_options *o, double lr, uint64_t t1, const float *p_in,
                        float *p_out, const float *g, float gscale, float *const *state, size_t n)
{
    return adam_any(o, lr, t1, p_in, p_out, g, gscale, state, n, 0);
}

static bool adamw_update(const mimic_train_options *o, double lr, uint64_t t1, const float *p_in,
                         float *p_out, const float *g, float gscale, float *const *state, size_t n)
{
    return adam_any(o, lr, t1, p_in, p_out, g, gscale, state, n, 1);
}

typedef struct update_job {
    const mimic__optimizer *opt;
    const mimic_train_options *o;
    double lr;
    uint64_t t1;
    const float *p_in, *g;
    float *p_out;
    float gscale;
    float *const *state;
    size_t n;
    float *copy;
    atomic_int bad;
} update_job;

static void update_part(void *ctx, size_t i, size_t n)
{
    update_job *job = ctx;
    size_t b, e;
    mimic__split_aligned(job->n, i, n, 16, &b, &e); /* whole cache lines */
    /* with a copy, a block at a time: its new values are still in cache for the copy */
    const size_t block = job->copy ? UPDATE_COPY_BLOCK : e - b;
    for (size_t s = b; s < e; s += block) {
        const size_t m = e - s < block ? e - s : block;
        float *state[MIMIC__MAX_OPT_STATE];
        for (size_t k = 0; k < job->opt->n_state; k++)
            state[k] = job->state[k] + s;
        if (!job->opt->update(job->o, job->lr, job->t1, job->p_in + s, job->p_out + s, job->g + s,
                              job->gscale, state, m))
            atomic_store_explicit(&job->bad, 1, memory_order_relaxed);
        if (job->copy)
            memcpy(job->copy + s, job->p_out + s, m * sizeof(float));
    }
}

bool mimic__optimizer_run(const mimic__optimizer *opt, const mimic_train_options *o, double lr,
                          uint64_t t1, const float *p_in, float *p_out, const float *g,
                          float gscale, float *const *state, size_t n, float *copy,
                          mimic__pool *pool)
{
    update_job job = {opt, o, lr, t1, p_in, g, p_out, gscale, state, n, copy, 0};
    mimic__pool_for(pool, mimic__pool_chunks(pool, n, sizeof(float), UPDATE_CHUNK_BYTES),
                    update_part, &job);
    return atomic_load_explicit(&job.bad, memory_order_relaxed) == 0;
}

/* Adding an optimizer: a row here (its update kernel above), its MIMIC_OPTIMIZER_* value in
 * train.h, a test. lr 0: the step scales with the gradient, so the default rate depends on
 * the loss (mimic__loss.sgd_lr); Adam's step is scale-free. */
static const mimic__optimizer optimizers[] = {
    {MIMIC_OPTIMIZER_SGD, "sgd", 0, 1, {"optimizer.m", NULL}, "momentum nesterov", sgd_update},
    {MIMIC_OPTIMIZER_ADAM,
     "adam",
     0.001,
     2,
     {"optimizer.m", "optimizer.v"},
     "adam_beta1 adam_beta2 adam_eps",
     adam_update},
    {MIMIC_OPTIMIZER_ADAMW,
     "adamw",
     0.001,
     2,
     {"optimizer.m", "optimizer.v"},
     "adam_beta1 adam_beta2 adam_eps",
     adamw_update},
};

const mimic__optimizer *mimic__optimizer_get(int32_t id)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(optimizers); i++)
        if (optimizers[i].id == id)
            return &optimizers[i];
    return NULL;
}

const char *mimic__optimizer_choice(size_t k, int32_t *value)
{
    if (k >= MIMIC__ARRAY_LEN(optimizers))
        return NULL;
    *value = optimizers[k].id;
    return optimizers[k].name;
}

/* ---- the optimizer's options: rows of the mimic_train_options table ---------------------- */

static bool optimizer_reads(int32_t value, const char *field)
{
    const mimic__optimizer *o = mimic__optimizer_get(value);
    return o && mimic__name_in(o->options, field);
}

/* A field that only some optimizers read (momentum, adam_beta1, ...). */
static const char *unused_by_optimizer(const void *p, const char *field, char *buf, size_t cap)
{
    const mimic_train_options *o = p;
    const mimic__optimizer *opt = mimic__optimizer_get(o->optimizer);
    if (!opt || optimizer_reads(o->optimizer, field))
        return NULL;
    return mimic__opt_applies_to(buf, cap, field, "optimizer", opt->name, mimic__optimizer_choice,
                                 optimizer_reads);
}

MIMIC__UNUSED_BY(unused_by_optimizer, momentum)
MIMIC__UNUSED_BY(unused_by_optimizer, nesterov)
MIMIC__UNUSED_BY(unused_by_optimizer, adam_beta1)
MIMIC__UNUSED_BY(unused_by_optimizer, adam_beta2)
MIMIC__UNUSED_BY(unused_by_optimizer, adam_eps)

static const mimic__opt optimizer_rows[] = {
    {MIMIC__TRAIN_ROW(optimizer, ENUM), MIMIC__SHAPES_RUN, MIMIC__ANY,
     .def = MIMIC_OPTIMIZER_ADAM, .flag = "--optimizer", .help = "optimizer",
     .choice = mimic__optimizer_choice, .enum_prefix = "MIMIC_OPTIMIZER_"},
    {MIMIC__TRAIN_ROW(momentum, DOUBLE), MIMIC__SHAPES_RUN, .def = 0.9, MIMIC__IN_HALF(0, 1),
     .flag = "--momentum", .metavar = "M", .help = "SGD momentum", .unused = unused_momentum},
    {MIMIC__TRAIN_ROW(nesterov, BOOL), MIMIC__SHAPES_RUN, MIMIC__IN(0, 1), .flag = "--nesterov",
     .help = "Nesterov momentum (sgd)", .unused = unused_nesterov},
    {MIMIC__TRAIN_ROW(adam_beta1, DOUBLE), MIMIC__SHAPES_RUN, .def = 0.9, MIMIC__IN_HALF(0, 1),
     .flag = "--adam-beta1", .metavar = "B1", .help = "Adam beta1", .unused = unused_adam_beta1},
    {MIMIC__TRAIN_ROW(adam_beta2, DOUBLE), MIMIC__SHAPES_RUN, .def = 0.999, MIMIC__IN_HALF(0, 1),
     .flag = "--adam-beta2", .metavar = "B2", .help = "Adam beta2", .unused = unused_adam_beta2},
    {MIMIC__TRAIN_ROW(adam_eps, DOUBLE), MIMIC__SHAPES_RUN, .def = 1e-8, MIMIC__GT(0),
     .flag = "--adam-eps", .metavar = "EPS", .help = "Adam epsilon", .unused = unused_adam_eps},
    {MIMIC__TRAIN_ROW(weight_decay, DOUBLE), MIMIC__SHAPES_RUN, MIMIC__GE(0),
     .flag = "--weight-decay", .metavar = "W",
     .help = "weight decay of every parameter (decoupled with adamw)"},
};

const mimic__opt_group mimic__optimizer_options = {"optimizer", optimizer_rows,
                                                   MIMIC__ARRAY_LEN(optimizer_rows)};
