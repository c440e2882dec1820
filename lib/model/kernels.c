/*
 * The student's kernels: forward and backward passes over the flat parameter array, the
 * batch-1 matrix-vector kernel, fused bias/activation/dropout passes, input normalization,
 * and the public forward/predict.
 *
 * The matrix work is cblas_sgemm on row-major data with transposed operands where needed
 * (never a transpose copy), or the small-batch kernels of matvec.c for a few rows; bias +
 * activation is one pass. Elementwise kernels carry MIMIC__HOT (one clone per instruction
 * set).
 */
#include <math.h>
#include <stdio.h>

#include "common/blas.h"
#include "model/model.h"

/* Rows per chunk of the public forward pass: bounds its workspace. */
#define FORWARD_CHUNK 512
/* Workspaces up to STACK_FLOATS live on the stack; for calls of up to MATVEC_MAX_ROWS rows
 * (latency-bound) up to STACK_FLOATS_SMALL (32 KiB): batch 1 without a malloc for students up
 * to D + k + H = 8192 floats (784-256b-4096 needs 5136 with input normalization). */
#define STACK_FLOATS 2048
#define STACK_FLOATS_SMALL 8192
/* Up to this many rows, the forward pass uses the internal matrix-vector kernel (one row at
 * a time) instead of BLAS: at batch 1 the work streams the weights once, and the speed of
 * BLAS's sgemv depends on its CPU detection (OpenBLAS 0.3.21 runs SSE3 kernels on CPUs it
 * does not know). */
#define MATVEC_MAX_ROWS 4
/* Output layers with at most this many classes use the internal kernels below instead of
 * sgemm: OpenBLAS runs products with one dimension of 10 at 5-40 GFLOP/s (threading and
 * packing overhead), where a plain vectorized loop over the (L2-resident) C x H weights is
 * several times faster. The summation order differs from sgemm's (float reassociation). */
#define SMALL_C 16

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

size_t mimic__student_ws_floats(const mimic__layout *L, size_t rows)
{
    size_t per_row = L->k + L->H + L->C, n; /* cannot overflow: checked by layout_init */
    if (!mimic__mul_ok(rows, per_row, &n))
        return SIZE_MAX;
    return n;
}

/* ---- forward / backward ----------------------------------------------------------------- */

/* c (m x n) = a (m x kk) . b^T, b stored n x kk (nn.Linear's out x in). */
static void gemm_nt(size_t m, size_t n, size_t kk, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc)
{
    if (m == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)kk, 1.0f, b, (int)ldb, a, 1, 0.0f,
                    c, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)kk, 1.0f, a,
                    (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

/* c (m x n) = a (m x kk) . b (kk x n). */
static void gemm_nn(size_t m, size_t n, size_t kk, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc)
{
    if (m == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)kk, (int)n, 1.0f, b, (int)ldb, a, 1, 0.0f, c,
                    1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)kk, 1.0f, a,
                    (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

/* c (m x n) = a^T . b with a stored kk x m and b stored kk x n (weight gradients). */
static void gemm_tn(size_t m, size_t n, size_t kk, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kk, 1.0f, a,
                (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

MIMIC__HOT static void bias_act(float *restrict h, size_t rows, size_t n,
                                const float *restrict b, int32_t act)
{
    switch (act) {
    case MIMIC_ACT_RELU:
        for (size_t r = 0; r < rows; r++, h += n)
            for (size_t j = 0; j < n; j++) {
                float v = h[j] + b[j];
                h[j] = v > 0.0f ? v : 0.0f;
            }
        break;
    case MIMIC_ACT_SIGMOID:
        for (size_t r = 0; r < rows; r++, h += n)
            for (size_t j = 0; j < n; j++)
                h[j] = 1.0f / (1.0f + expf(-(h[j] + b[j])));
        break;
    default: /* MIMIC_ACT_TANH */
        for (size_t r = 0; r < rows; r++, h += n)
            for (size_t j = 0; j < n; j++)
                h[j] = tanhf(h[j] + b[j]);
        break;
    }
}

MIMIC__HOT static void bias_add(float *restrict y, size_t rows, size_t n,
                                const float *restrict b)
{
    for (size_t r = 0; r < rows; r++, y += n)
        for (size_t j = 0; j < n; j++)
            y[j] += b[j];
}

/* h = dh * f'(pre), with f' taken from the post-activation h. */
MIMIC__HOT static void act_grad(float *restrict h, const float *restrict dh, size_t n,
                                int32_t act)
{
    switch (act) {
    case MIMIC_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            h[i] = h[i] > 0.0f ? dh[i] : 0.0f;
        break;
    case MIMIC_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            h[i] = dh[i] * h[i] * (1.0f - h[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            h[i] = dh[i] * (1.0f - h[i] * h[i]);
        break;
    }
}

/* Dropout of one run of activations whose first element has batch index `base`: kept ones
 * scaled, dropped ones zeroed. */
MIMIC__HOT static void dropout_apply(float *restrict h, size_t n, uint32_t base,
                                     mimic__dropout dr)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = mimic__dropout_bits(dr.offset + base + (uint32_t)i, dr.k0, dr.k1);
        h[i] = bits >= dr.threshold ? h[i] * dr.scale : 0.0f;
    }
}

/* act_grad behind dropout: h holds the dropped, rescaled activations y * scale (or 0), dh
 * the gradient with respect to them. dpre = dh * scale * f'(y) for kept units, 0 for dropped
 * ones; f' is evaluated at y = h * keep (ReLU needs only the sign: h > 0 exactly when the
 * unit was kept and active, so it skips the mask). */
MIMIC__HOT static void act_grad_dropout(float *restrict h, const float *restrict dh, size_t n,
                                        int32_t act, uint32_t base, mimic__dropout dr)
{
    if (act == MIMIC_ACT_RELU) {
        for (size_t i = 0; i < n; i++)
            h[i] = h[i] > 0.0f ? dh[i] * dr.scale : 0.0f;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = mimic__dropout_bits(dr.offset + base + (uint32_t)i, dr.k0, dr.k1);
        float y = h[i] * dr.keep;
        float d = act == MIMIC_ACT_SIGMOID ? y * (1.0f - y) : 1.0f - y * y;
        h[i] = bits >= dr.threshold ? dh[i] * dr.scale * d : 0.0f;
    }
}

void mimic__dropout_init(mimic__dropout *d, double p, uint64_t key)
{
    double t = p * 4294967296.0;
    d->k0 = (uint32_t)key;
    d->k1 = (uint32_t)(key >> 32);
    d->offset = 0;
    d->threshold = t >= 4294967295.0 ? UINT32_MAX : (uint32_t)(t + 0.5);
    d->keep = (float)(1.0 - p);
    d->scale = (float)(1.0 / (1.0 - p));
}

/* out[j] = sum over the rows of a[r][j], for the columns j0 <= j < j1 (rows of n floats):
 * each column summed over every row, in row order, whatever the range. */
MIMIC__HOT static void column_sums(const float *restrict a, size_t rows, size_t n, size_t j0,
                                   size_t j1, float *restrict out)
{
    memcpy(out + j0, a + j0, (j1 - j0) * sizeof(float));
    for (size_t r = 1; r < rows; r++) {
        const float *row = a + r * n;
        for (size_t j = j0; j < j1; j++)
            out[j] += row[j];
    }
}

/* y (n) = W (n x kk, rows ldw apart) . x (kk): the float32 small-batch kernel (matvec.c) for
 * one row. */
static void matvec(const float *W, size_t n, size_t kk, size_t ldw, const float *x, float *y)
{
    const mimic__mv a = {W, NULL, ldw, kk, x, kk, 1, y, n};
    mimic__mv_kernels_best()->f32(&a, 0, n);
}

/* small_tn and small_nn work on SMALL_TILE columns of H at a time, so the C x SMALL_TILE
 * block of c or W they reuse for every row stays in L1 (C <= SMALL_C: at most 16 KB) instead
 * of streaming the whole C x H matrix from L2 once per row, and they add four terms per load
 * and store of the accumulator. Each element's sum still runs over the rows (small_tn) or
 * the classes (small_nn) one term at a time, in order ((((c + t0) + t1) + t2) + t3, no
 * contraction): neither change alters a result bit. */
#define SMALL_TILE 256

/* c (C x H) = d^T h, its columns jb <= j < je: d rows x C (dL/dlogits), h rows x H. Each c
 * element sums over the rows in order, whatever the range. */
MIMIC__HOT static void small_tn(size_t C, size_t H, size_t rows, const float *restrict d,
                                const float *restrict h, float *restrict c, size_t jb, size_t je)
{
    for (size_t k = 0; k < C; k++)
        memset(c + k * H + jb, 0, (je - jb) * sizeof(float));
    for (size_t j0 = jb; j0 < je; j0 += SMALL_TILE) {
        const size_t nj = je - j0 < SMALL_TILE ? je - j0 : SMALL_TILE;
        size_t r = 0;
        for (; r + 4 <= rows; r += 4) {
            const float *h0 = h + r * H + j0, *h1 = h0 + H, *h2 = h1 + H, *h3 = h2 + H;
            for (size_t k = 0; k < C; k++) {
                const float a0 = d[r * C + k], a1 = d[(r + 1) * C + k];
                const float a2 = d[(r + 2) * C + k], a3 = d[(r + 3) * C + k];
                float *ck = c + k * H + j0;
                for (size_t j = 0; j < nj; j++)
                    ck[j] = (((ck[j] + a0 * h0[j]) + a1 * h1[j]) + a2 * h2[j]) + a3 * h3[j];
            }
        }
        for (; r < rows; r++) {
            const float *hr = h + r * H + j0;
            for (size_t k = 0; k < C; k++) {
                const float a = d[r * C + k];
                float *ck = c + k * H + j0;
                for (size_t j = 0; j < nj; j++)
                    ck[j] += a * hr[j];
            }
        }
    }
}

/* h (m x H) = act_grad(h, d (m x C) . W (C x H)): the gradient at the pre-activations, with
 * f' taken from the post-activation h, as act_grad; the product sums over the C classes in
 * order, into a one-tile buffer (so dh never goes through memory). The m rows are rows
 * row0... of the batch (for the dropout mask). */
MIMIC__HOT static void small_nn_act(size_t m, size_t H, size_t C, const float *restrict d,
                                    const float *restrict W, float *restrict h, int32_t act,
                                    const mimic__dropout *dr, size_t row0)
{
    float o[SMALL_TILE];
    for (size_t j0 = 0; j0 < H; j0 += SMALL_TILE) {
        const size_t nj = H - j0 < SMALL_TILE ? H - j0 : SMALL_TILE;
        for (size_t r = 0; r < m; r++) {
            const float a0 = d[r * C];
            for (size_t j = 0; j < nj; j++)
                o[j] = a0 * W[j0 + j];
            size_t k = 1;
            for (; k + 4 <= C; k += 4) {
                const float a1 = d[r * C + k], a2 = d[r * C + k + 1];
                const float a3 = d[r * C + k + 2], a4 = d[r * C + k + 3];
                const float *w1 = W + k * H + j0, *w2 = w1 + H, *w3 = w2 + H, *w4 = w3 + H;
                for (size_t j = 0; j < nj; j++)
                    o[j] = (((o[j] + a1 * w1[j]) + a2 * w2[j]) + a3 * w3[j]) + a4 * w4[j];
            }
            for (; k < C; k++) {
                const float a = d[r * C + k];
                const float *w = W + k * H + j0;
                for (size_t j = 0; j < nj; j++)
                    o[j] += a * w[j];
            }
            if (dr)
                act_grad_dropout(h + r * H + j0, o, nj, act, (uint32_t)((row0 + r) * H + j0), *dr);
            else
                act_grad(h + r * H + j0, o, nj, act);
        }
    }
}

/* ---- the training step's elementwise passes on a pool ------------------------------------
 * Between the sgemm calls of a step each pass is one job of the trainer's pool, split by
 * batch rows (bias + activation + dropout, the activation gradient) or by columns (the column
 * sums and dW_out, each chunk summing its columns over every row in row order): no sum is
 * cut or reordered, so every thread count gives the bits of the calling thread alone. */

/* A chunk walks at least this many bytes of its pass's array (fewer chunks for less). */
#define STEP_CHUNK_BYTES (32u << 10)

typedef struct step_job {
    float *h;           /* rows x n: activations, or the gradient at them */
    const float *src;   /* act_grad: dh (rows x n); column sums and dW_out: the rows summed */
    const float *d, *W; /* dlogits (rows x C) and W_out (C x n) */
    float *out;         /* column sums and dW_out */
    const float *bias;
    size_t rows, n, C, row0; /* row0: the first row's place in the batch (dropout masks) */
    int32_t act;
    const mimic__dropout *dr;
} step_job;

static void run_step_job(mimic__pool *pool, size_t units, size_t unit_bytes, mimic__pool_fn fn,
                         step_job *job)
{
    mimic__pool_for(pool, mimic__pool_chunks(pool, units, unit_bytes, STEP_CHUNK_BYTES), fn, job);
}

/* Forward: h = f(h + bias), then dropout, over a range of rows. */
static void bias_act_part(void *ctx, size_t i, size_t n)
{
    const step_job *job = ctx;
    size_t r0, r1;
    mimic__split(job->rows, i, n, &r0, &r1);
    float *h = job->h + r0 * job->n;
    bias_act(h, r1 - r0, job->n, job->bias, job->act);
    if (job->dr)
        dropout_apply(h, (r1 - r0) * job->n, (uint32_t)(r0 * job->n), *job->dr);
}

/* Backward: h = dh * f'(h) (behind dropout) over a range of rows. */
static void act_grad_part(void *ctx, size_t i, size_t n)
{
    const step_job *job = ctx;
    size_t r0, r1;
    mimic__split(job->rows, i, n, &r0, &r1);
    float *h = job->h + r0 * job->n;
    const float *dh = job->src + r0 * job->n;
    if (job->dr)
        act_grad_dropout(h, dh, (r1 - r0) * job->n, job->act, (uint32_t)((job->row0 + r0) * job->n),
                         *job->dr);
    else
        act_grad(h, dh, (r1 - r0) * job->n, job->act);
}

/* Backward, small C: h = (d W) * f'(h) over a range of rows. */
static void small_nn_act_part(void *ctx, size_t i, size_t n)
{
    const step_job *job = ctx;
    size_t r0, r1;
    mimic__split(job->rows, i, n, &r0, &r1);
    small_nn_act(r1 - r0, job->n, job->C, job->d + r0 * job->C, job->W, job->h + r0 * job->n,
                 job->act, job->dr, r0);
}

/* Backward, small C: dW_out = d^T h over a range of its columns. */
static void small_tn_part(void *ctx, size_t i, size_t n)
{
    const step_job *job = ctx;
    size_t j0, j1;
    mimic__split_aligned(job->n, i, n, 16, &j0, &j1); /* whole cache lines */
    small_tn(job->C, job->n, job->rows, job->d, job->src, job->out, j0, j1);
}

/* Column sums over a range of columns. */
static void column_sums_part(void *ctx, size_t i, size_t n)
{
    const step_job *job = ctx;
    size_t j0, j1;
    mimic__split_aligned(job->n, i, n, 16, &j0, &j1); /* whole cache lines */
    column_sums(job->src, job->rows, job->n, j0, j1, job->out);
}

/* One linear layer of the small-batch path over a range of its output units: the product,
 * then bias and activation (and dropout), or bias alone (act 0), on the range's outputs while
 * they are in cache. Split between threads by units: each thread streams its share of W once,
 * and no sum changes. */
typedef struct layer_job {
    mimic__mv mv;
    mimic__mv_fn fn;
    size_t n;          /* output units (rows of W) */
    const float *bias; /* n, or NULL */
    int32_t act;       /* MIMIC_ACT_*, or 0 for none */
    const mimic__dropout *dr;
} layer_job;

static void layer_part(void *ctx, size_t i, size_t n)
{
    const layer_job *job = ctx;
    size_t j0, j1;
    mimic__split(job->n, i, n, &j0, &j1);
    if (j0 == j1)
        return;
    job->fn(&job->mv, j0, j1);
    for (size_t r = 0; job->bias && r < job->mv.R; r++) {
        float *y = job->mv.y + r * job->mv.ldy + j0;
        if (!job->act) {
            bias_add(y, 1, j1 - j0, job->bias + j0);
            continue;
        }
        bias_act(y, 1, j1 - j0, job->bias + j0, job->act);
        if (job->dr)
            dropout_apply(y, j1 - j0, (uint32_t)(r * job->mv.ldy + j0), *job->dr);
    }
}

/* A layer with threads is cut into chunks of about this many bytes of weights, which the
 * threads claim one by one (a layer smaller than two chunks runs on the calling thread). */
#define CHUNK_BYTES (64u << 10)

static void run_layer(layer_job *job, size_t weight_bytes, mimic__pool *pool)
{
    size_t chunks = pool ? weight_bytes / CHUNK_BYTES : 1;
    chunks = chunks > job->n                   ? job->n
             : chunks > MIMIC__POOL_MAX_CHUNKS ? MIMIC__POOL_MAX_CHUNKS
                                               : chunks;
    mimic__pool_for(pool, chunks ? chunks : 1, layer_part, job);
}

/* One layer of the small-batch path: weight matrix m (the compact copy when there is one,
 * else the float32 parameters at `offset`, rows of `cols`), n output units, R input rows x
 * (ldx apart) into y (ldy apart), then bias and activation. */
static void small_layer(const float *P, const mimic__compact *q, size_t m, size_t offset, size_t n,
                        size_t cols, const float *x, size_t ldx, size_t R, float *y, size_t ldy,
                        const float *bias, int32_t act, const mimic__dropout *dr, mimic__pool *pool)
{
    const mimic__mv_kernels *k = mimic__mv_kernels_best();
    const int32_t dt = q ? q->dtype : MIMIC_DTYPE_F32;
    layer_job job = {{P + offset, NULL, cols, cols, x, ldx, R, y, ldy},
                     dt == MIMIC_DTYPE_F16  ? k->f16
                     : dt == MIMIC_DTYPE_I8 ? k->i8
                                            : k->f32,
                     n,
                     bias,
                     act,
                     dr};
    if (q) {
        job.mv.w = q->w[m];
        job.mv.scale = q->scale[m];
    }
    run_layer(&job, n * cols * mimic__weight_size(dt), pool);
}

/* The forward pass for a few rows: each layer one call of the small-batch kernel over all
 * the rows (its weights streamed once: float32, or the compact ones `q`), bias and activation
 * on its cache-resident output. */
static void forward_small(const mimic__layout *L, int32_t act, const float *P,
                          const mimic__compact *q, const float *x, size_t rows,
                          const mimic__dropout *dr, float *z, float *h, float *logits,
                          mimic__pool *pool)
{
    const float *in = x;
    size_t ld = L->D;
    if (L->k) {
        small_layer(P, q, MIMIC__M_BOTTLENECK, L->off_bottleneck, L->k, L->D, x, L->D, rows, z,
                    L->k, NULL, 0, NULL, pool);
        in = z;
        ld = L->k;
    }
    small_layer(P, q, MIMIC__M_HIDDEN, L->off_hidden_w, L->H, L->kin, in, ld, rows, h, L->H,
                P + L->off_hidden_b, act, dr, pool);
    small_layer(P, q, MIMIC__M_OUTPUT, L->off_output_w, L->C, L->H, h, L->H, rows, logits, L->C,
                P + L->off_output_b, 0, NULL, pool);
}

/* The output layer of a larger batch when C <= SMALL_C, over a range of the rows: bias and
 * activation of a row of h, then its logits from the (cache-resident) row. */
typedef struct output_job {
    const mimic__layout *L;
    int32_t act;
    const float *P;
    const mimic__dropout *dr;
    float *h, *logits;
    size_t rows;
} output_job;

static void output_part(void *ctx, size_t i, size_t n)
{
    const output_job *job = ctx;
    const mimic__layout *L = job->L;
    size_t r0, r1;
    mimic__split(job->rows, i, n, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        float *hr = job->h + r * L->H, *lr = job->logits + r * L->C;
        bias_act(hr, 1, L->H, job->P + L->off_hidden_b, job->act);
        if (job->dr)
            dropout_apply(hr, L->H, (uint32_t)(r * L->H), *job->dr);
        matvec(job->P + L->off_output_w, L->C, L->H, L->H, hr, lr);
        bias_add(lr, 1, L->C, job->P + L->off_output_b);
    }
}

/* Rows of the output layer a thread claims at a time. */
#define OUTPUT_CHUNK_ROWS 8

/* The forward pass: up to MATVEC_MAX_ROWS rows through the small-batch kernels (on the
 * compact weights `q` when not NULL), more through BLAS on the float32 parameters P. */
static void forward_core(const mimic__layout *L, int32_t act, const float *P,
                         const mimic__compact *q, const float *x, size_t rows,
                         const mimic__dropout *dr, float *z, float *h, float *logits,
                         mimic__pool *pool)
{
    if (rows <= MATVEC_MAX_ROWS) {
        forward_small(L, act, P, q, x, rows, dr, z, h, logits, pool);
        return;
    }
    const float *in = x;
    if (L->k) {
        gemm_nt(rows, L->k, L->D, x, L->D, P + L->off_bottleneck, L->D, z, L->k);
        in = z;
    }
    gemm_nt(rows, L->H, L->kin, in, L->kin, P + L->off_hidden_w, L->kin, h, L->H);
    if (L->C <= SMALL_C) {
        /* row by row, so matvec reads the activations from cache right after bias_act; rows
         * split between threads */
        output_job job = {L, act, P, dr, h, logits, rows};
        size_t chunks = pool ? (rows + OUTPUT_CHUNK_ROWS - 1) / OUTPUT_CHUNK_ROWS : 1;
        mimic__pool_for(pool, chunks, output_part, &job);
        return;
    }
    step_job job = {
        .h = h, .bias = P + L->off_hidden_b, .rows = rows, .n = L->H, .act = act, .dr = dr};
    run_step_job(pool, rows, L->H * sizeof(float), bias_act_part, &job);
    gemm_nt(rows, L->C, L->H, h, L->H, P + L->off_output_w, L->H, logits, L->C);
    bias_add(logits, rows, L->C, P + L->off_output_b);
}

void mimic__student_forward_ws(const mimic__layout *L, int32_t activation, const float *params,
                               const float *x, size_t rows, const mimic__dropout *dropout,
                               float *ws, float **z_out, float **h_out, float **logits_out,
                               mimic__pool *pool)
{
    float *z = L->k ? ws : NULL;
    float *h = ws + rows * L->k;
    float *logits = h + rows * L->H;
    if (rows > 0)
        forward_core(L, activation, params, NULL, x, rows, dropout, z, h, logits, pool);
    if (z_out)
        *z_out = z;
    *h_out = h;
    *logits_out = logits;
}

/* ---- inference on more rows: the GEMM of gemm.c on transposed activations ------------- */

/* h = f(h) in place, for an activation whose bias is already added (ReLU is done inside the
 * GEMM): the formulas of bias_act. */
MIMIC__HOT static void act_rows(float *restrict h, size_t n, int32_t act)
{
    if (act == MIMIC_ACT_SIGMOID)
        for (size_t i = 0; i < n; i++)
            h[i] = 1.0f / (1.0f + expf(-h[i]));
    else if (act == MIMIC_ACT_TANH)
        for (size_t i = 0; i < n; i++)
            h[i] = tanhf(h[i]);
}

/* Rows of W a thread claims at a time are a multiple of this: whole tiles of the kernels (8
 * rows with AVX-512, 6 with AVX2). */
#define GEMM_ROWS 24
#define PANEL MIMIC__GEMM_PANEL

/* One layer through the GEMM, split between threads by W's rows, or, for a layer of few rows
 * (the output layer), by panels; then the activation on the rows a chunk made. */
typedef struct gemm_job {
    mimic__gemm g;
    mimic__gemm_fn fn;
    size_t n;    /* rows of W */
    int32_t act; /* an activation left to act_rows, or 0 */
    bool by_panels;
} gemm_job;

static void gemm_part(void *ctx, size_t i, size_t n)
{
    const gemm_job *job = ctx;
    const size_t panels = (job->g.m + PANEL - 1) / PANEL;
    const size_t len = job->by_panels ? panels : job->n, unit = job->by_panels ? 1 : GEMM_ROWS;
    size_t per = (len + n - 1) / n;
    per = (per + unit - 1) / unit * unit;
    const size_t b = i * per < len ? i * per : len, e = b + per < len ? b + per : len;
    if (b == e)
        return;
    mimic__gemm g = job->g;
    size_t j0 = b, j1 = e, p0 = 0, p1 = panels;
    if (job->by_panels) {
        g.xt += b * g.kk * PANEL;
        g.yt += b * g.ny * PANEL;
        g.m = (e * PANEL < g.m ? e * PANEL : g.m) - b * PANEL;
        j0 = 0, j1 = job->n, p0 = b, p1 = e;
    }
    job->fn(&g, j0, j1);
    for (size_t p = p0; job->act && p < p1; p++) {
        const size_t cols = job->g.m - p * PANEL < PANEL ? job->g.m - p * PANEL : PANEL;
        for (size_t j = j0; j < j1; j++)
            act_rows(job->g.yt + (p * job->g.ny + j) * PANEL, cols, job->act);
    }
}

/* Y^T (n x m) = act(W (n x kk) . X^T (kk x m) + bias), in panels. */
static void gemm_layer(const float *w, size_t n, size_t kk, const float *xt, size_t m, float *yt,
                       const float *bias, int32_t act, mimic__pool *pool)
{
    const bool relu = act == MIMIC_ACT_RELU;
    gemm_job job = {
        {w, kk, kk, xt, m, yt, n, bias, relu}, mimic__gemm_best(), n, relu ? 0 : act, false};
    size_t chunks = 1;
    if (pool) {
        job.by_panels = n < 4 * GEMM_ROWS;
        chunks = job.by_panels ? (m + PANEL - 1) / PANEL : (n + GEMM_ROWS - 1) / GEMM_ROWS;
        chunks = chunks > 64 ? 64 : chunks;
    }
    mimic__pool_for(pool, chunks ? chunks : 1, gemm_part, &job);
}

/* xt (D x m, in panels) = the rows of x (m x D), normalized when mean is set: the values of
 * mimic__normalize_rows, transposed; the last panel's columns past m are 0. */
MIMIC__HOT static void transpose_in(const float *restrict x, size_t m, size_t D, const float *mean,
                                    const float *scale, float *restrict xt)
{
    for (size_t p = 0; p * PANEL < m; p++) {
        float *dst = xt + p * D * PANEL;
        const size_t cols = m - p * PANEL < PANEL ? m - p * PANEL : PANEL;
        if (cols < PANEL)
            memset(dst, 0, D * PANEL * sizeof(float));
        for (size_t c = 0; c < cols; c++) {
            const float *row = x + (p * PANEL + c) * D;
            for (size_t d = 0; d < D; d++)
                dst[d * PANEL + c] = mean ? (row[d] - mean[d]) * scale[d] : row[d];
        }
    }
}

/* Columns of the panels for m rows. */
static size_t gemm_cols(size_t m)
{
    return (m + PANEL - 1) / PANEL * PANEL;
}

size_t mimic__infer_ws_floats(const mimic__layout *L, size_t rows)
{
    size_t a, b, n;
    if (!mimic__mul_ok(gemm_cols(rows), L->D + L->k + L->H + L->C, &a) ||
        !mimic__mul_ok(rows, L->C, &b) || !mimic__add_ok(a, b, &n))
        return SIZE_MAX;
    return n;
}

/* Logits (m x C) of the raw or normalized rows x (m x D; normalized here when mean is set)
 * through the GEMM: X^T, Z^T, H^T, logits^T in panels in ws (mimic__infer_ws_floats(m)). */
static void forward_gemm(const mimic_student *s, const float *x, size_t m, const float *mean,
                         const float *scale, float *ws, float *logits, mimic__pool *pool)
{
    const mimic__layout *L = &s->L;
    const float *P = s->params;
    const size_t cols = gemm_cols(m);
    float *xt = ws, *zt = xt + L->D * cols, *ht = zt + L->k * cols, *lt = ht + L->H * cols;
    transpose_in(x, m, L->D, mean, scale, xt);
    const float *in = xt;
    if (L->k) {
        gemm_layer(P + L->off_bottleneck, L->k, L->D, xt, m, zt, NULL, 0, pool);
        in = zt;
    }
    gemm_layer(P + L->off_hidden_w, L->H, L->kin, in, m, ht, P + L->off_hidden_b,
               s->opts.activation, pool);
    gemm_layer(P + L->off_output_w, L->C, L->H, ht, m, lt, P + L->off_output_b, 0, pool);
    for (size_t r = 0; r < m; r++)
        for (size_t c = 0; c < L->C; c++)
            logits[r * L->C + c] = lt[((r / PANEL) * L->C + c) * PANEL + r % PANEL];
}

float *mimic__student_infer(const mimic_student *s, const float *x, size_t rows, float *ws,
                            float *gemm_ws, mimic__pool *pool)
{
    const mimic__layout *L = &s->L;
    if (gemm_ws && rows > MATVEC_MAX_ROWS) {
        float *logits = gemm_ws + mimic__infer_ws_floats(L, rows) - rows * L->C;
        forward_gemm(s, x, rows, NULL, NULL, gemm_ws, logits, pool);
        return logits;
    }
    float *h = ws + rows * L->k, *logits = h + rows * L->H;
    forward_core(L, s->opts.activation, s->params, s->compact, x, rows, NULL, L->k ? ws : NULL, h,
                 logits, pool);
    return logits;
}

void mimic__student_backward_ws(const mimic__layout *L, int32_t activation, const float *params,
                                const float *x, size_t rows, const mimic__dropout *dropout,
                                const float *z, float *h, const float *dlogits, float *dz,
                                float *grads, mimic__pool *pool)
{
    const size_t H = L->H, C = L->C, kin = L->kin;
    if (rows == 0) {
        memset(grads, 0, L->n_params * sizeof(float));
        return;
    }
    const size_t row_bytes = H * sizeof(float), col_bytes = rows * sizeof(float);
    step_job job = {.h = h,
                    .src = h,
                    .d = dlogits,
                    .W = params + L->off_output_w,
                    .rows = rows,
                    .n = H,
                    .C = C,
                    .act = activation,
                    .dr = dropout};
    /* Output layer: dW_out = dlogits^T h, db_out = column sums of dlogits. */
    if (C <= SMALL_C) {
        job.out = grads + L->off_output_w;
        run_step_job(pool, H, col_bytes, small_tn_part, &job);
    } else {
        gemm_tn(C, H, rows, dlogits, C, h, H, grads + L->off_output_w, H);
    }
    column_sums(dlogits, rows, C, 0, C, grads + L->off_output_b);
    /* dpre = (dlogits W_out) * f'(pre), into h: one fused pass for small C; otherwise the
     * gradient slots of V and W_hid (at least H * kin floats, written only below) serve as
     * scratch for dh, a chunk of rows at a time. */
    const size_t chunk = L->off_hidden_b / H; /* >= kin >= 1 */
    if (C <= SMALL_C)
        run_step_job(pool, rows, row_bytes, small_nn_act_part, &job);
    else
        for (size_t r0 = 0; r0 < rows; r0 += chunk) {
            size_t m = rows - r0 < chunk ? rows - r0 : chunk;
            gemm_nn(m, H, C, dlogits + r0 * C, C, params + L->off_output_w, H, grads, H);
            step_job part = job;
            part.h = h + r0 * H;
            part.src = grads;
            part.rows = m;
            part.row0 = r0;
            run_step_job(pool, m, row_bytes, act_grad_part, &part);
        }
    /* Hidden layer: dW_hid = dpre^T in, db_hid = column sums of dpre. */
    const float *in = L->k ? z : x;
    gemm_tn(H, kin, rows, h, H, in, kin, grads + L->off_hidden_w, kin);
    job.src = h;
    job.out = grads + L->off_hidden_b;
    run_step_job(pool, H, col_bytes, column_sums_part, &job);
    if (L->k) {
        /* dz = dpre W_hid; dV = dz^T x. */
        gemm_nn(rows, L->k, H, h, H, params + L->off_hidden_w, L->k, dz, L->k);
        gemm_tn(L->k, L->D, rows, dz, L->k, x, L->D, grads + L->off_bottleneck, L->D);
    }
}

/* The body of mimic__normalize_rows, cloned per instruction set (static: clang's clones
 * need every declaration of a cloned function to carry the attribute). */
MIMIC__HOT static void normalize_kernel(const float *restrict mean, const float *restrict scale,
                                        size_t D, const void *src, int32_t src_dtype,
                                        size_t rows, float *restrict dst)
{
    if (src_dtype == MIMIC_DTYPE_U8) {
        const uint8_t *u = src;
        if (mean) {
            for (size_t r = 0; r < rows; r++, u += D, dst += D)
                for (size_t j = 0; j < D; j++)
                    dst[j] = ((float)u[j] - mean[j]) * scale[j];
        } else {
            for (size_t i = 0; i < rows * D; i++)
                dst[i] = (float)u[i];
        }
        return;
    }
    const float *f = src;
    if (mean) {
        for (size_t r = 0; r < rows; r++, f += D, dst += D)
            for (size_t j = 0; j < D; j++)
                dst[j] = (f[j] - mean[j]) * scale[j];
    } else if (dst != f) {
        memcpy(dst, f, rows * D * sizeof(float));
    }
}

void mimic__normalize_rows(const float *mean, const float *scale, size_t D, const void *src,
                           int32_t src_dtype, size_t rows, float *dst)
{
    normalize_kernel(mean, scale, D, src, src_dtype, rows, dst);
}

/* ---- public forward / predict ----------------------------------------------------------- */

static int check_forward_args(const mimic_student *s, const void *inputs, size_t rows,
                              const void *out, const char *fn)
{
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (!inputs)
        return mimic__error(MIMIC_ERR_INVALID, "%s: inputs is NULL", fn);
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: output buffer is NULL", fn);
    if (rows == 0)
        return mimic__error(MIMIC_ERR_INVALID, "%s: rows is 0", fn);
    size_t n;
    if (!mimic__mul_ok(rows, s->L.D, &n) || !mimic__mul_ok(rows, s->L.C, &n))
        return mimic__error(MIMIC_ERR_INVALID, "%s: %zu rows overflow the buffer size", fn, rows);
    return MIMIC_OK;
}

/* Runs the forward pass chunk by chunk with one workspace: logits go to logits_out, or, when
 * classes_out is set, into the workspace and then through argmax. */
static int forward_rows(const mimic_student *s, const float *inputs, size_t rows,
                        float *logits_out, int32_t *classes_out, const char *fn)
{
    const mimic__layout *L = &s->L;
    const size_t chunk = rows < FORWARD_CHUNK ? rows : FORWARD_CHUNK;
    const bool norm = s->in_mean != NULL, small = rows <= MATVEC_MAX_ROWS;
    /* Up to 4 rows, per row: normalized x (if normalizing), z (if k), h, logits (if
     * predicting). More rows: the GEMM's workspace, whose last chunk x C floats hold
     * predict's logits. */
    size_t per_row = (norm ? L->D : 0) + L->k + L->H + (classes_out ? L->C : 0);
    size_t total;
    if (!mimic__mul_ok(per_row, chunk, &total) ||
        (!small && (total = mimic__infer_ws_floats(L, chunk)) == SIZE_MAX) ||
        total > SIZE_MAX / sizeof(float))
        return mimic__error(MIMIC_ERR_NOMEM, "%s: workspace size overflows", fn);
    _Alignas(64) float stack_ws[STACK_FLOATS_SMALL];
    float *ws = stack_ws;
    if (total > STACK_FLOATS && (!small || total > STACK_FLOATS_SMALL)) {
        ws = mimic__aligned_alloc(total * sizeof(float));
        if (!ws)
            return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for a %zu-float workspace",
                                fn, total);
    }
    float *xn = ws;
    float *z = xn + (norm ? chunk * L->D : 0);
    float *h = z + chunk * L->k;
    float *lg = small ? h + chunk * L->H : ws + total - chunk * L->C; /* predict's logits */
    for (size_t r0 = 0; r0 < rows; r0 += chunk) {
        const size_t m = rows - r0 < chunk ? rows - r0 : chunk;
        const float *x = inputs + r0 * L->D;
        float *out = classes_out ? lg : logits_out + r0 * L->C;
        if (!small) {
            forward_gemm(s, x, m, s->in_mean, s->in_scale, ws, out, s->pool);
        } else {
            if (norm) {
                mimic__normalize_rows(s->in_mean, s->in_scale, L->D, x, MIMIC_DTYPE_F32, m, xn);
                x = xn;
            }
            forward_core(L, s->opts.activation, s->params, s->compact, x, m, NULL, L->k ? z : NULL,
                         h, out, s->pool);
        }
        if (classes_out)
            for (size_t r = 0; r < m; r++)
                classes_out[r0 + r] = (int32_t)mimic__argmax(out + r * L->C, L->C);
    }
    if (ws != stack_ws)
        mimic__free(ws);
    return MIMIC_OK;
}

int mimic_student_forward(const mimic_student *s, const float *inputs, size_t rows,
                          float *logits_out)
{
    static const char fn[] = "mimic_student_forward";
    int rc = check_forward_args(s, inputs, rows, logits_out, fn);
    if (rc != MIMIC_OK)
        return rc;
    return forward_rows(s, inputs, rows, logits_out, NULL, fn);
}

int mimic_student_predict(const mimic_student *s, const float *inputs, size_t rows,
                          int32_t *classes_out)
{
    static const char fn[] = "mimic_student_predict";
    int rc = check_forward_args(s, inputs, rows, classes_out, fn);
    if (rc != MIMIC_OK)
        return rc;
    return forward_rows(s, inputs, rows, NULL, classes_out, fn);
}
