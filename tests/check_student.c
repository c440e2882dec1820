/* The factorized student: options, init, forward against a triple-loop reference, backward
 * against finite differences of a double re-implementation, tensors, save/load, atomic
 * save, allocation failures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/train.h"
#include "testutil.h"

enum { D_ = 5, K_ = 3, H_ = 7, C_ = 4, ROWS_ = 6 };
enum { CMAX_ = 20 }; /* > SMALL_C: the BLAS path of the output layer */

static mimic_student *make_with(size_t D, size_t H, size_t k, size_t C, int32_t act, uint64_t seed,
                                int32_t init)
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    ck_assert_int_eq(o.init, MIMIC_INIT_UNIFORM);
    o.init = init;
    o.n_inputs = D;
    o.n_hidden = H;
    o.n_bottleneck = k;
    o.n_classes = C;
    o.activation = act;
    o.seed = seed;
    mimic_student *s = NULL;
    int rc = mimic_student_create(&s, &o);
    ck_assert_msg(rc == MIMIC_OK, "create: %s", mimic_last_error());
    return s;
}

static mimic_student *make(size_t D, size_t H, size_t k, size_t C, int32_t act, uint64_t seed)
{
    return make_with(D, H, k, C, act, seed, MIMIC_INIT_UNIFORM);
}

/* Random biases too (init makes them zero), so the checks see them. */
static void randomize_biases(mimic_student *s, uint64_t seed)
{
    const mimic__layout *L = &s->L;
    tu_fill_uniform(s->params + L->off_hidden_b, L->H, -0.5f, 0.5f, seed);
    tu_fill_uniform(s->params + L->off_output_b, L->C, -0.5f, 0.5f, seed + 1);
}

/* ---- double reference of the forward pass ----------------------------------------------- */

static double act_d(double v, int32_t act)
{
    return act == MIMIC_ACT_RELU ? (v > 0 ? v : 0)
           : act == MIMIC_ACT_SIGMOID ? 1.0 / (1.0 + exp(-v))
                                      : tanh(v);
}

/* logits (rows x C) from normalized x (rows x D) and a double copy of the flat params;
 * `dr` (NULL = none): dropout at rate p, the mask drawn with the library's hash, the scaling
 * done in double. */
static void ref_forward(const mimic__layout *L, int32_t act, const double *P, const double *x,
                        size_t rows, const mimic__dropout *dr, double p, double *logits)
{
    double z[64], h[64];
    for (size_t r = 0; r < rows; r++) {
        const double *xr = x + r * L->D;
        const double *in = xr;
        if (L->k) {
            for (size_t i = 0; i < L->k; i++) {
                double a = 0;
                for (size_t j = 0; j < L->D; j++)
                    a += P[L->off_bottleneck + i * L->D + j] * xr[j];
                z[i] = a;
            }
            in = z;
        }
        for (size_t i = 0; i < L->H; i++) {
            double a = P[L->off_hidden_b + i];
            for (size_t j = 0; j < L->kin; j++)
                a += P[L->off_hidden_w + i * L->kin + j] * in[j];
            h[i] = act_d(a, act);
            if (dr) {
                uint32_t bits = mimic__dropout_bits((uint32_t)(r * L->H + i), dr->k0, dr->k1);
                h[i] = bits >= dr->threshold ? h[i] / (1.0 - p) : 0.0;
            }
        }
        for (size_t c = 0; c < L->C; c++) {
            double a = P[L->off_output_b + c];
            for (size_t i = 0; i < L->H; i++)
                a += P[L->off_output_w + c * L->H + i] * h[i];
            logits[r * L->C + c] = a;
        }
    }
}

enum { LOSS_L2, LOSS_SOFT, LOSS_HARD };
static const double TEMP = 2.0;

static double ref_loss(int kind, const double *s, const float *t, const int32_t *y, size_t rows,
                       size_t C)
{
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        const double *sr = s + r * C;
        const float *tr = t + r * C;
        if (kind == LOSS_L2) {
            for (size_t j = 0; j < C; j++)
                total += 0.5 * (sr[j] - tr[j]) * (sr[j] - tr[j]);
        } else if (kind == LOSS_HARD) {
            double m = sr[0], z = 0;
            for (size_t j = 1; j < C; j++)
                m = fmax(m, sr[j]);
            for (size_t j = 0; j < C; j++)
                z += exp(sr[j] - m);
            total += m + log(z) - sr[y[r]];
        } else {
            double ms = sr[0], mt = tr[0], zs = 0, zt = 0, kl = 0;
            for (size_t j = 1; j < C; j++) {
                ms = fmax(ms, sr[j]);
                mt = fmax(mt, tr[j]);
            }
            for (size_t j = 0; j < C; j++) {
                zs += exp((sr[j] - ms) / TEMP);
                zt += exp((tr[j] - mt) / TEMP);
            }
            for (size_t j = 0; j < C; j++) {
                double lpt = (tr[j] - mt) / TEMP - log(zt);
                double lps = (sr[j] - ms) / TEMP - log(zs);
                kl += exp(lpt) * (lpt - lps);
            }
            total += TEMP * TEMP * kl;
        }
    }
    return total / (double)rows;
}

static void lib_loss_grad(int kind, const float *s, const float *t, const int32_t *y,
                          size_t rows, size_t C, float *g)
{
    double loss;
    int rc = kind == LOSS_L2     ? mimic_loss_logit_l2(s, t, rows, C, &loss, g)
             : kind == LOSS_SOFT ? mimic_loss_softmax_ce(s, t, rows, C, TEMP, &loss, g)
                                 : mimic_loss_hard_ce(s, y, rows, C, &loss, g);
    ck_assert_msg(rc == MIMIC_OK, "loss: %s", mimic_last_error());
}

static const char *tensor_of(const mimic__layout *L, size_t i)
{
    if (i < L->off_hidden_w)
        return "bottleneck.weight";
    if (i < L->off_hidden_b)
        return "hidden.weight";
    if (i < L->off_output_w)
        return "hidden.bias";
    if (i < L->off_output_b)
        return "output.weight";
    return "output.bias";
}

/* Backward of the library vs central differences of ref_loss(ref_forward) for every
 * parameter, with C classes (<= CMAX_) and dropout at rate p (0 = none). Returns the number
 * of parameters checked. */
static size_t grad_check(int kind, int32_t act, size_t k, size_t rows, bool normalize, size_t C,
                         double p)
{
    mimic_student *s = make(D_, H_, k, C, act, 11 + k + (uint64_t)act);
    randomize_biases(s, 5);
    const mimic__layout *L = &s->L;
    float raw[ROWS_ * D_], x[ROWS_ * D_], t[ROWS_ * CMAX_], mean[D_], scale[D_];
    int32_t y[ROWS_];
    tu_fill_uniform(raw, rows * D_, -2.0f, 2.0f, 100 + rows);
    tu_fill_uniform(t, rows * C, -3.0f, 3.0f, 200 + rows);
    tu_fill_uniform(mean, D_, -0.5f, 0.5f, 300);
    tu_fill_uniform(scale, D_, 0.5f, 2.0f, 301);
    for (size_t r = 0; r < rows; r++)
        y[r] = 0;
    mimic__normalize_rows(normalize ? mean : NULL, normalize ? scale : NULL, D_, raw,
                          MIMIC_DTYPE_F32, rows, x);

    size_t nws = mimic__student_ws_floats(L, rows);
    float *ws = malloc(nws * sizeof(float));
    float *dz = malloc((rows * (k ? k : 1)) * sizeof(float));
    float *grads = malloc(L->n_params * sizeof(float));
    float dl[ROWS_ * CMAX_];
    float *z, *h, *logits;
    mimic__dropout drop, *dr = NULL;
    if (p > 0) {
        mimic__dropout_init(&drop, p, 0x1234567890abcdefull + rows + k);
        dr = &drop;
        size_t kept = 0;
        for (size_t i = 0; i < rows * H_; i++)
            kept += mimic__dropout_bits((uint32_t)i, dr->k0, dr->k1) >= dr->threshold;
        ck_assert_msg(kept > 0 && kept < rows * H_, "dropout kept %zu of %zu units: the check "
                      "would not see both branches", kept, rows * H_);
    }
    mimic__student_forward_ws(L, act, s->params, x, rows, dr, ws, &z, &h, &logits, NULL);
    /* Labels: the student's least likely class, so the hard-label gradient is never ~0. */
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 1; j < C; j++)
            if (logits[r * C + j] < logits[r * C + (size_t)y[r]])
                y[r] = (int32_t)j;
    lib_loss_grad(kind, logits, t, y, rows, C, dl);
    mimic__student_backward_ws(L, act, s->params, x, rows, dr, z, h, dl, dz, grads, NULL);

    double *P = malloc(L->n_params * sizeof(double));
    double xd[ROWS_ * D_], sd[ROWS_ * CMAX_];
    for (size_t i = 0; i < L->n_params; i++)
        P[i] = s->params[i];
    for (size_t i = 0; i < rows * D_; i++)
        xd[i] = x[i];
    /* the float forward agrees with the reference */
    ref_forward(L, act, P, xd, rows, dr, p, sd);
    for (size_t i = 0; i < rows * C; i++)
        ck_assert_msg(fabs(sd[i] - logits[i]) <= 1e-5 * (1 + fabs(sd[i])), "logit %zu", i);

    double norm = 0;
    const double eps = 1e-5;
    for (size_t i = 0; i < L->n_params; i++) {
        double p0 = P[i];
        P[i] = p0 + eps;
        ref_forward(L, act, P, xd, rows, dr, p, sd);
        double lp = ref_loss(kind, sd, t, y, rows, C);
        P[i] = p0 - eps;
        ref_forward(L, act, P, xd, rows, dr, p, sd);
        double lm = ref_loss(kind, sd, t, y, rows, C);
        P[i] = p0;
        double num = (lp - lm) / (2 * eps);
        double tol = 2e-4 + 2e-3 * fabs(num);
        ck_assert_msg(fabs(num - grads[i]) <= tol,
                      "loss %d act %d k %zu rows %zu C %zu dropout %g: %s param %zu: backward "
                      "%.8g, finite difference %.8g",
                      kind, (int)act, k, rows, C, p, tensor_of(L, i), i, (double)grads[i], num);
        norm += num * num;
    }
    ck_assert_msg(norm > 1e-6, "loss %d act %d k %zu rows %zu: gradient unexpectedly ~0 (%g): "
                  "the check would be vacuous", kind, (int)act, k, rows, norm);
    free(P);
    free(grads);
    free(dz);
    free(ws);
    size_t n = L->n_params;
    mimic_student_free(s);
    return n;
}

static const int32_t ACTS[3] = {MIMIC_ACT_RELU, MIMIC_ACT_SIGMOID, MIMIC_ACT_TANH};

START_TEST(test_backward_finite_differences)
{
    /* _i: loss kind. Every activation, with and without bottleneck, the gemm (6 rows, two
     * dh chunks) and gemv (1 row) paths, with and without input normalization. */
    size_t checked = 0;
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k <= K_; k += K_) {
            checked += grad_check(_i, ACTS[a], k, ROWS_, a == 1, C_, 0);
            checked += grad_check(_i, ACTS[a], k, 1, a != 1, C_, 0);
        }
    ck_assert(checked > 0);
}
END_TEST

/* The output layer's internal kernels (C <= 16) against a double reference, with sizes that
 * reach every path: two column tiles (the second partial), row blocks of 4 plus 3 rows, and
 * class groups of 4 plus 2. */
START_TEST(test_backward_dropout_finite_differences)
{
    /* _i: loss kind. Training-time dropout: the mask is fixed by the key, so the masked
     * network is differentiable; both output-layer paths (C <= 16 fused, C > 16 through
     * BLAS in row chunks), both forward paths (6 rows: gemm, 1 row: matvec). */
    size_t checked = 0;
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k <= K_; k += K_) {
            checked += grad_check(_i, ACTS[a], k, ROWS_, a == 1, C_, 0.5);
            checked += grad_check(_i, ACTS[a], k, ROWS_, a != 1, CMAX_, 0.3);
            checked += grad_check(_i, ACTS[a], k, 1, a != 1, CMAX_, 0.25);
        }
    ck_assert(checked > 0);
}
END_TEST

START_TEST(test_backward_output_layer_tiles)
{
    const size_t D = 5, H = 300, C = 7, rows = 7;
    mimic_student *s = make(D, H, 0, C, MIMIC_ACT_RELU, 21);
    randomize_biases(s, 4);
    const mimic__layout *L = &s->L;
    float x[7 * 5], dl[7 * 7];
    tu_fill_uniform(x, rows * D, -2.0f, 2.0f, 5);
    tu_fill_uniform(dl, rows * C, -1.0f, 1.0f, 6);
    float *ws = malloc(mimic__student_ws_floats(L, rows) * sizeof(float));
    float *grads = malloc(L->n_params * sizeof(float));
    float *h0 = malloc(rows * H * sizeof(float));
    float *z, *h, *logits;
    mimic__student_forward_ws(L, MIMIC_ACT_RELU, s->params, x, rows, NULL, ws, &z, &h, &logits,
                              NULL);
    memcpy(h0, h, rows * H * sizeof(float));
    mimic__student_backward_ws(L, MIMIC_ACT_RELU, s->params, x, rows, NULL, z, h, dl, NULL, grads,
                               NULL);
    const float *Wout = s->params + L->off_output_w;
    size_t active = 0;
    for (size_t j = 0; j < H; j++) {
        double dbh = 0, dwh[5] = {0};
        for (size_t c = 0; c < C; c++) {
            double dw = 0;
            for (size_t r = 0; r < rows; r++)
                dw += (double)dl[r * C + c] * h0[r * H + j];
            double got = grads[L->off_output_w + c * H + j];
            ck_assert_msg(fabs(got - dw) <= 1e-5 * (1 + fabs(dw)), "dW_out[%zu][%zu] %g vs %g", c, j,
                          got, dw);
        }
        for (size_t r = 0; r < rows; r++) {
            double dpre = 0;
            for (size_t c = 0; c < C; c++)
                dpre += (double)dl[r * C + c] * Wout[c * H + j];
            dpre = h0[r * H + j] > 0 ? dpre : 0;
            active += h0[r * H + j] > 0;
            dbh += dpre;
            for (size_t i = 0; i < D; i++)
                dwh[i] += dpre * x[r * D + i];
        }
        double got = grads[L->off_hidden_b + j];
        ck_assert_msg(fabs(got - dbh) <= 1e-5 * (1 + fabs(dbh)), "db_hid[%zu] %g vs %g", j, got, dbh);
        for (size_t i = 0; i < D; i++) {
            got = grads[L->off_hidden_w + j * D + i];
            ck_assert_msg(fabs(got - dwh[i]) <= 1e-5 * (1 + fabs(dwh[i])), "dW_hid[%zu][%zu] %g vs %g",
                          j, i, got, dwh[i]);
        }
    }
    ck_assert(active > rows * H / 4 && active < rows * H); /* ReLU mask is not trivial */
    free(h0);
    free(grads);
    free(ws);
    mimic_student_free(s);
}
END_TEST

/* ---- forward against a plain triple-loop reference --------------------------------------- */

static void forward_matches_reference(int32_t act, size_t k, bool normalize, size_t rows)
{
    const size_t D = 13, H = 9, C = 5;
    mimic_student *s = make(D, H, k, C, act, 3);
    randomize_biases(s, 9);
    const mimic__layout *L = &s->L;
    float mean[13], scale[13];
    tu_fill_uniform(mean, D, -1.0f, 1.0f, 1);
    tu_fill_uniform(scale, D, 0.2f, 3.0f, 2);
    if (normalize)
        ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    float *x = malloc(rows * D * sizeof(float));
    float *out = malloc(rows * C * sizeof(float));
    double *xd = malloc(rows * D * sizeof(double));
    double *ref = malloc(rows * C * sizeof(double));
    double *P = malloc(L->n_params * sizeof(double));
    tu_fill_uniform(x, rows * D, -3.0f, 3.0f, 77 + rows);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < D; j++)
            xd[r * D + j] = normalize ? ((double)x[r * D + j] - mean[j]) * scale[j]
                                      : x[r * D + j];
    for (size_t i = 0; i < L->n_params; i++)
        P[i] = s->params[i];
    ref_forward(L, act, P, xd, rows, NULL, 0, ref);
    ck_assert_int_eq(mimic_student_forward(s, x, rows, out), MIMIC_OK);
    for (size_t i = 0; i < rows * C; i++)
        ck_assert_msg(fabs(out[i] - ref[i]) <= 1e-5 * fmax(1.0, fabs(ref[i])),
                      "act %d k %zu norm %d rows %zu: logit %zu = %.9g, reference %.9g",
                      (int)act, k, normalize, rows, i, (double)out[i], ref[i]);
    free(P);
    free(ref);
    free(xd);
    free(out);
    free(x);
    mimic_student_free(s);
}

START_TEST(test_forward_reference)
{
    const size_t row_counts[] = {1, 3, 600}; /* gemv, gemm, two chunks */
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k <= 4; k += 4)
            for (int norm = 0; norm < 2; norm++)
                for (size_t r = 0; r < 3; r++)
                    forward_matches_reference(ACTS[a], k, norm, row_counts[r]);
}
END_TEST

START_TEST(test_normalize_rows_u8_f32)
{
    const size_t D = 3, rows = 2;
    const uint8_t u[6] = {0, 128, 255, 7, 8, 9};
    float f[6], out[6], out2[6];
    const float mean[3] = {1.0f, 2.0f, 3.0f}, scale[3] = {0.5f, 2.0f, -1.0f};
    for (int i = 0; i < 6; i++)
        f[i] = (float)u[i];
    mimic__normalize_rows(mean, scale, D, u, MIMIC_DTYPE_U8, rows, out);
    mimic__normalize_rows(mean, scale, D, f, MIMIC_DTYPE_F32, rows, out2);
    for (size_t i = 0; i < 6; i++) {
        float want = ((float)u[i] - mean[i % 3]) * scale[i % 3];
        ck_assert_float_eq(out[i], want);
        ck_assert_float_eq(out2[i], want);
    }
    mimic__normalize_rows(NULL, NULL, D, u, MIMIC_DTYPE_U8, rows, out);
    for (size_t i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], (float)u[i]);
    mimic__normalize_rows(NULL, NULL, D, f, MIMIC_DTYPE_F32, rows, out2);
    ck_assert_mem_eq(out2, f, sizeof f);
}
END_TEST

/* ---- options, create, init ----------------------------------------------------------------- */

START_TEST(test_options_init_writes_struct_size_only)
{
    unsigned char buf[sizeof(mimic_student_options) + 16];
    memset(buf, 0xAB, sizeof buf);
    size_t small = offsetof(mimic_student_options, n_hidden);
    mimic_student_options_init((mimic_student_options *)(void *)buf, small);
    for (size_t i = small; i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], 0xAB);
    size_t ss;
    memcpy(&ss, buf, sizeof ss);
    ck_assert_uint_eq(ss, small);
    mimic_student_options o;
    memset(&o, 0xff, sizeof o);
    mimic_student_options_init(&o, sizeof o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.activation, MIMIC_ACT_RELU);
    ck_assert_uint_eq(o.seed, 0);
    ck_assert_uint_eq(o.n_inputs, 0);
    ck_assert_uint_eq(o.n_bottleneck, 0);
}
END_TEST

START_TEST(test_create_validation)
{
    mimic_student_options o;
    mimic_student *s = (mimic_student *)(uintptr_t)1;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = 4;
    o.n_hidden = 3;
    o.n_classes = 2;
    ck_assert_int_eq(mimic_student_create(&s, NULL), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(mimic_student_create(NULL, &o), MIMIC_ERR_INVALID);
    mimic_student_options b = o;
    b.n_inputs = 0;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "n_inputs") != NULL);
    b = o;
    b.n_hidden = 0;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    b = o;
    b.n_classes = 1;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "n_classes") != NULL);
    b = o;
    b.activation = 0;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    b.activation = 4;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    b = o;
    b.n_inputs = (size_t)1 << 31;
    b.n_hidden = (size_t)1 << 31;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_RANGE);
    b = o;
    b.n_inputs = INT32_MAX;
    b.n_hidden = INT32_MAX;
    b.n_bottleneck = INT32_MAX; /* 2^63 floats: the byte count overflows */
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_RANGE);
    ck_assert(strstr(mimic_last_error(), "overflow") != NULL);
    mimic__layout L;
    ck_assert_int_eq(mimic__layout_init(&L, (size_t)1 << 30, (size_t)1 << 30, 0, 2), MIMIC_OK);
    ck_assert_uint_eq(L.n_params, ((size_t)1 << 60) + ((size_t)1 << 30) + ((size_t)2 << 30) + 2);
    b = o;
    b.struct_size = 3;
    ck_assert_int_eq(mimic_student_create(&s, &b), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(s);
    /* a larger struct: zero tail accepted, non-zero tail rejected */
    struct {
        mimic_student_options o;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    big.o = o;
    big.o.struct_size = sizeof big;
    ck_assert_int_eq(mimic_student_create(&s, &big.o), MIMIC_OK);
    mimic_student_free(s);
    big.extra = 1;
    ck_assert_int_eq(mimic_student_create(&s, &big.o), MIMIC_ERR_VERSION);
    ck_assert_ptr_null(s);
    /* a smaller (older) struct: defaults for the tail */
    mimic_student_options old = o;
    old.struct_size = offsetof(mimic_student_options, activation);
    old.activation = 99; /* beyond the caller's struct: must be ignored */
    ck_assert_int_eq(mimic_student_create(&s, &old), MIMIC_OK);
    mimic_student_options got;
    mimic_student_options_init(&got, sizeof got);
    ck_assert_int_eq(mimic_student_get_options(s, &got), MIMIC_OK);
    ck_assert_int_eq(got.activation, MIMIC_ACT_RELU);
    ck_assert_uint_eq(got.n_inputs, 4);
    ck_assert_uint_eq(got.struct_size, sizeof got);
    mimic_student_free(s);
}
END_TEST

static double sample_std(const float *w, size_t n)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += w[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (w[i] - m) * (w[i] - m);
    return sqrt(v / (double)n);
}

/* Both schemes: deterministic from the seed; UNIFORM is PyTorch's nn.Linear default
 * (weights and biases U(+-1/sqrt(fan_in)), std bound/sqrt(3)); HE_GLOROT is He-normal for the
 * layer feeding a ReLU and Glorot-normal for the linear bottleneck/output and for
 * sigmoid/tanh, with zero biases. */
START_TEST(test_init_deterministic_and_scaled)
{
    const size_t D = 200, H = 300, k = 50, C = 10;
    const int32_t inits[2] = {MIMIC_INIT_UNIFORM, MIMIC_INIT_HE_GLOROT};
    for (int in = 0; in < 2; in++)
        for (int a = 0; a < 3; a++) {
            mimic_student *s1 = make_with(D, H, k, C, ACTS[a], 42, inits[in]);
            mimic_student *s2 = make_with(D, H, k, C, ACTS[a], 42, inits[in]);
            mimic_student *s3 = make_with(D, H, k, C, ACTS[a], 43, inits[in]);
            const mimic__layout *L = &s1->L;
            ck_assert_mem_eq(s1->params, s2->params, L->n_params * sizeof(float));
            ck_assert(memcmp(s1->params, s3->params, L->n_params * sizeof(float)) != 0);
            ck_assert_uint_eq((uintptr_t)s1->params % 64, 0);
            struct {
                size_t off, rows, cols, bias;
                int feeds_act;
            } m[3] = {{L->off_bottleneck, k, D, 0, 0},
                      {L->off_hidden_w, H, k, L->off_hidden_b, 1},
                      {L->off_output_w, C, H, L->off_output_b, 0}};
            for (int i = 0; i < 3; i++) {
                double bound = 1.0 / sqrt((double)m[i].cols), want;
                if (inits[in] == MIMIC_INIT_UNIFORM)
                    want = bound / sqrt(3.0);
                else if (m[i].feeds_act && ACTS[a] == MIMIC_ACT_RELU)
                    want = sqrt(2.0 / (double)m[i].cols);
                else
                    want = sqrt(2.0 / (double)(m[i].cols + m[i].rows));
                const float *w = s1->params + m[i].off;
                double got = sample_std(w, m[i].rows * m[i].cols);
                ck_assert_msg(fabs(got / want - 1) < 0.06, "init %d act %d matrix %d: std %g, want %g",
                              (int)inits[in], (int)ACTS[a], i, got, want);
                if (inits[in] == MIMIC_INIT_UNIFORM)
                    for (size_t j = 0; j < m[i].rows * m[i].cols; j++)
                        ck_assert(fabs(w[j]) <= bound);
                if (!m[i].bias)
                    continue;
                double bias_abs = 0;
                for (size_t j = 0; j < m[i].rows; j++) {
                    float b = s1->params[m[i].bias + j];
                    ck_assert(fabs(b) <= bound);
                    bias_abs += fabs(b);
                }
                if (inits[in] == MIMIC_INIT_UNIFORM)
                    ck_assert(bias_abs > 0.25 * bound * (double)m[i].rows); /* mean |U| = bound/2 */
                else
                    ck_assert(bias_abs == 0);
            }
            ck_assert_uint_eq(mimic_student_num_params(s1), k * D + H * k + H + C * H + C);
            mimic_student_free(s1);
            mimic_student_free(s2);
            mimic_student_free(s3);
        }
    mimic_student *s = make(6, 4, 0, 3, MIMIC_ACT_RELU, 0);
    ck_assert_uint_eq(mimic_student_num_params(s), 4 * 6 + 4 + 3 * 4 + 3);
    ck_assert_uint_eq(s->L.off_hidden_w, 0);
    mimic_student_free(s);
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = 3;
    o.n_hidden = 3;
    o.n_classes = 2;
    o.init = 7;
    ck_assert_int_eq(mimic_student_create(&s, &o), MIMIC_ERR_INVALID);
    ck_assert_ptr_null(s);
    ck_assert(strstr(mimic_last_error(), "init") != NULL);
}
END_TEST

static void same_forward(const mimic_student *a, const mimic_student *b, size_t D, size_t C);

/* ---- handles, tensors, normalization, predict --------------------------------------------- */

START_TEST(test_handles)
{
    float x[4] = {0}, out[4];
    int32_t cls[1];
    struct {
        uint32_t magic;
        char pad[256];
    } fake = {MIMIC__MAGIC_DATASET, {0}};
    const mimic_student *bad = (const mimic_student *)(void *)&fake;
    ck_assert_int_eq(mimic_student_forward(NULL, x, 1, out), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_student_forward(bad, x, 1, out), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_student_predict(bad, x, 1, cls), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_student_save(bad, tu_path("x.st")), MIMIC_ERR_MISUSE);
    ck_assert_uint_eq(mimic_student_num_params(NULL), 0);
    ck_assert_uint_eq(mimic_student_num_params(bad), 0);
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    ck_assert_int_eq(mimic_student_get_options(bad, &o), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic__student_check(NULL, "s"), MIMIC_ERR_MISUSE);
    mimic_student_free(NULL);
    mimic_student *s = make(4, 3, 0, 2, MIMIC_ACT_RELU, 1);
    ck_assert_int_eq(mimic__student_check(s, "s"), MIMIC_OK);
    ck_assert_int_eq(mimic_student_forward(s, NULL, 1, out), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_forward(s, x, 1, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_forward(s, x, 0, out), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_predict(s, x, 1, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_forward(s, x, SIZE_MAX / 2, out), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_get_options(s, NULL), MIMIC_ERR_INVALID);
    o.struct_size = 0;
    ck_assert_int_eq(mimic_student_get_options(s, &o), MIMIC_ERR_INVALID);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_tensors)
{
    mimic_student *s = make(5, 4, 3, 2, MIMIC_ACT_TANH, 1);
    const char *names[] = {"bottleneck.weight", "hidden.weight", "hidden.bias",
                           "output.weight", "output.bias"};
    const size_t shape[5][2] = {{3, 5}, {4, 3}, {1, 4}, {2, 4}, {1, 2}};
    const size_t off[5] = {s->L.off_bottleneck, s->L.off_hidden_w, s->L.off_hidden_b,
                           s->L.off_output_w, s->L.off_output_b};
    for (int i = 0; i < 5; i++) {
        const float *d;
        size_t r, c;
        ck_assert_int_eq(mimic_student_tensor(s, names[i], &d, &r, &c), MIMIC_OK);
        ck_assert_uint_eq(r, shape[i][0]);
        ck_assert_uint_eq(c, shape[i][1]);
        ck_assert_ptr_eq(d, s->params + off[i]);
        float v[15];
        tu_fill_uniform(v, r * c, -1, 1, (uint64_t)i);
        ck_assert_int_eq(mimic_student_set_tensor(s, names[i], v, r, c), MIMIC_OK);
        ck_assert_mem_eq(d, v, r * c * sizeof(float));
        ck_assert_int_eq(mimic_student_set_tensor(s, names[i], v, c, r == 1 ? 2 : r),
                         MIMIC_ERR_SHAPE);
        v[r * c - 1] = NAN;
        ck_assert_int_eq(mimic_student_set_tensor(s, names[i], v, r, c), MIMIC_ERR_NUMERIC);
        ck_assert(strstr(mimic_last_error(), names[i]) != NULL);
        ck_assert_int_eq(mimic_student_set_tensor(s, names[i], NULL, r, c), MIMIC_ERR_INVALID);
    }
    const float *d;
    size_t r, c;
    ck_assert_int_eq(mimic_student_tensor(s, "input.mean", &d, &r, &c), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "normalization") != NULL);
    ck_assert_int_eq(mimic_student_tensor(s, "nope", &d, &r, &c), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "nope") != NULL);
    ck_assert_int_eq(mimic_student_tensor(s, NULL, &d, &r, &c), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_tensor(s, "hidden.bias", NULL, &r, &c), MIMIC_ERR_INVALID);
    mimic_student *s0 = make(5, 4, 0, 2, MIMIC_ACT_TANH, 1);
    ck_assert_int_eq(mimic_student_tensor(s0, "bottleneck.weight", &d, &r, &c),
                     MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_tensor(s0, "hidden.weight", &d, &r, &c), MIMIC_OK);
    ck_assert_uint_eq(c, 5);
    mimic_student_free(s0);

    /* input normalization */
    float mean[5] = {1, 2, 3, 4, 5}, scale[5] = {1, 1, 2, 2, 0};
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_set_input_norm(s, NULL, scale), MIMIC_ERR_INVALID);
    scale[2] = INFINITY;
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_ERR_NUMERIC);
    ck_assert_ptr_null(s->in_mean);
    scale[2] = 2;
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    ck_assert_int_eq(mimic_student_tensor(s, "input.scale", &d, &r, &c), MIMIC_OK);
    ck_assert_uint_eq(r, 1);
    ck_assert_uint_eq(c, 5);
    ck_assert_mem_eq(d, scale, sizeof scale);
    ck_assert_int_eq(mimic_student_set_tensor(s, "input.mean", scale, 1, 5), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_input_norm(s, NULL, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_student_tensor(s, "input.mean", &d, &r, &c), MIMIC_ERR_INVALID);
    mimic_student_free(s);
}
END_TEST

START_TEST(test_predict_argmax_ties)
{
    mimic_student *s = make(3, 2, 0, 4, MIMIC_ACT_RELU, 1);
    float zero[8] = {0}, bias[4] = {1, 3, 3, 0}, x[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(mimic_student_set_tensor(s, "output.weight", zero, 4, 2), MIMIC_OK);
    ck_assert_int_eq(mimic_student_set_tensor(s, "output.bias", bias, 1, 4), MIMIC_OK);
    int32_t cls[2] = {-1, -1};
    ck_assert_int_eq(mimic_student_predict(s, x, 2, cls), MIMIC_OK);
    ck_assert_int_eq(cls[0], 1);
    ck_assert_int_eq(cls[1], 1);
    mimic_student_free(s);
    /* predict agrees with argmax of forward */
    s = make(6, 8, 2, 5, MIMIC_ACT_SIGMOID, 4);
    randomize_biases(s, 3);
    float in[50 * 6], lg[50 * 5];
    int32_t p[50];
    tu_fill_uniform(in, sizeof in / sizeof in[0], -2, 2, 8);
    ck_assert_int_eq(mimic_student_forward(s, in, 50, lg), MIMIC_OK);
    ck_assert_int_eq(mimic_student_predict(s, in, 50, p), MIMIC_OK);
    for (int r = 0; r < 50; r++) {
        int best = 0;
        for (int j = 1; j < 5; j++)
            if (lg[r * 5 + j] > lg[r * 5 + best])
                best = j;
        ck_assert_int_eq(p[r], best);
    }
    mimic_student_free(s);
}
END_TEST

START_TEST(test_clone)
{
    mimic_student *s = make(5, 4, 2, 3, MIMIC_ACT_TANH, 8), *c = NULL;
    float mean[5] = {1, 2, 3, 4, 5}, scale[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    ck_assert_int_eq(mimic__student_clone(s, &c), MIMIC_OK);
    ck_assert_ptr_ne(c->params, s->params);
    ck_assert_mem_eq(c->params, s->params, s->L.n_params * sizeof(float));
    ck_assert_mem_eq(c->in_scale, scale, sizeof scale);
    same_forward(s, c, 5, 3);
    mimic_student_free(c);
    ck_assert_int_eq(mimic__student_clone(NULL, &c), MIMIC_ERR_MISUSE);
    ck_assert_ptr_null(c);
    mimic_student_free(s);
}
END_TEST

/* ---- save / load ------------------------------------------------------------------------ */

static void same_forward(const mimic_student *a, const mimic_student *b, size_t D, size_t C)
{
    float x[17 * 64], ya[17 * 16], yb[17 * 16];
    tu_fill_uniform(x, 17 * D, -2, 2, 5);
    ck_assert_int_eq(mimic_student_forward(a, x, 17, ya), MIMIC_OK);
    ck_assert_int_eq(mimic_student_forward(b, x, 17, yb), MIMIC_OK);
    ck_assert_mem_eq(ya, yb, 17 * C * sizeof(float));
}

START_TEST(test_save_load_bitwise)
{
    const char *path = tu_path("roundtrip.safetensors");
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k <= 3; k += 3) {
            mimic_student *s = make(9, 6, k, 4, ACTS[a], 1000 + k), *l = NULL;
            randomize_biases(s, 2);
            if (k) {
                float mean[9], scale[9];
                tu_fill_uniform(mean, 9, -1, 1, 3);
                tu_fill_uniform(scale, 9, 0.5f, 2, 4);
                ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
            }
            ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
            ck_assert_msg(mimic_student_load(&l, path) == MIMIC_OK, "%s", mimic_last_error());
            same_forward(s, l, 9, 4);
            ck_assert_mem_eq(l->params, s->params, s->L.n_params * sizeof(float));
            mimic_student_options o1, o2;
            mimic_student_options_init(&o1, sizeof o1);
            mimic_student_options_init(&o2, sizeof o2);
            mimic_student_get_options(s, &o1);
            mimic_student_get_options(l, &o2);
            ck_assert_mem_eq(&o1, &o2, sizeof o1);
            ck_assert_int_eq(!l->in_mean, !k);
            mimic_student_free(s);
            mimic_student_free(l);
        }
}
END_TEST

/* An independent reader: json + numpy, checking every tensor and the metadata. */
static const char *PY_READER =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "path, ref = sys.argv[1], sys.argv[2]\n"
    "specs = [s.split(':') for s in sys.argv[3:]]\n"
    "blob = open(path, 'rb').read()\n"
    "n = struct.unpack('<Q', blob[:8])[0]\n"
    "assert n % 8 == 0, n\n"
    "hdr = json.loads(blob[8:8 + n].decode('utf-8'))\n"
    "meta = hdr.pop('__metadata__')\n"
    "assert meta['format'] == 'libmimic-student', meta\n"
    "assert meta['n_inputs'] == '9' and meta['n_hidden'] == '6', meta\n"
    "assert meta['n_bottleneck'] == '3' and meta['n_classes'] == '4', meta\n"
    "assert meta['activation'] == 'tanh' and meta['seed'] == '77', meta\n"
    "assert 'libmimic_version' in meta, meta\n"
    "assert sorted(hdr) == sorted(s[0] for s in specs), (sorted(hdr), specs)\n"
    "data = blob[8 + n:]\n"
    "refv = np.fromfile(ref, dtype='<f4')\n"
    "pos = 0\n"
    "for name, shape in specs:\n"
    "    shape = [int(v) for v in shape.split('x')]\n"
    "    e = hdr[name]\n"
    "    assert e['dtype'] == 'F32', e\n"
    "    assert e['shape'] == shape, (name, e['shape'], shape)\n"
    "    b, end = e['data_offsets']\n"
    "    a = np.frombuffer(data[b:end], dtype='<f4').reshape(shape)\n"
    "    cnt = int(np.prod(shape))\n"
    "    want = refv[pos:pos + cnt].reshape(shape)\n"
    "    pos += cnt\n"
    "    assert np.array_equal(a, want), name\n"
    "assert pos == refv.size\n"
    "print('python reader: %d tensors OK' % len(specs))\n";

START_TEST(test_python_reader)
{
    TU_NEEDS_PYTHON("numpy");
    mimic_student *s = make(9, 6, 3, 4, MIMIC_ACT_TANH, 77);
    randomize_biases(s, 6);
    float mean[9], scale[9];
    tu_fill_uniform(mean, 9, -1, 1, 3);
    tu_fill_uniform(scale, 9, 0.5f, 2, 4);
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    const char *path = tu_path("py.safetensors");
    char ref[1200];
    snprintf(ref, sizeof ref, "%s", tu_path("py.ref.f32"));
    ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
    const char *names[] = {"input.mean",    "input.scale", "bottleneck.weight", "hidden.weight",
                           "hidden.bias",   "output.weight", "output.bias"};
    const char *shapes[] = {"9", "9", "3x9", "6x3", "6", "4x6", "4"};
    FILE *f = fopen(ref, "wb");
    ck_assert_ptr_nonnull(f);
    char specs[7][64];
    const char *args[9] = {path, ref};
    for (int i = 0; i < 7; i++) {
        const float *d;
        size_t r, c;
        ck_assert_int_eq(mimic_student_tensor(s, names[i], &d, &r, &c), MIMIC_OK);
        ck_assert_uint_eq(fwrite(d, sizeof(float), r * c, f), r * c);
        snprintf(specs[i], sizeof specs[i], "%s:%s", names[i], shapes[i]);
        args[2 + i] = specs[i];
    }
    fclose(f);
    ck_assert_int_eq(tu_python(PY_READER, args, 9), 0);
    mimic_student_free(s);
}
END_TEST

static int write_st(const char *path, const mimic__st_tensor *t, size_t nt,
                    const mimic__st_meta *m, size_t nm)
{
    int rc = mimic__safetensors_write(path, t, nt, m, nm);
    ck_assert_msg(rc == MIMIC_OK, "%s", mimic_last_error());
    return rc;
}

START_TEST(test_load_rejects_inconsistent_files)
{
    const char *path = tu_path("bad_student.safetensors");
    float hw[6 * 4], hb[6], ow[3 * 6], ob[3], bw[2 * 4];
    tu_fill_uniform(hw, 24, -1, 1, 1);
    tu_fill_uniform(hb, 6, -1, 1, 2);
    tu_fill_uniform(ow, 18, -1, 1, 3);
    tu_fill_uniform(ob, 3, -1, 1, 4);
    tu_fill_uniform(bw, 8, -1, 1, 5);
    mimic__st_tensor good[4] = {{"hidden.weight", 6, 4, hw},
                                {"hidden.bias", 6, 0, hb},
                                {"output.weight", 3, 6, ow},
                                {"output.bias", 3, 0, ob}};
    mimic__st_meta meta[5] = {{"n_inputs", "4"},
                              {"n_hidden", "6"},
                              {"n_bottleneck", "0"},
                              {"n_classes", "3"},
                              {"activation", "sigmoid"}};
    mimic_student *s = NULL;
    /* the minimal valid file: no format/version/seed keys, 1-D biases */
    write_st(path, good, 4, meta, 5);
    ck_assert_msg(mimic_student_load(&s, path) == MIMIC_OK, "%s", mimic_last_error());
    ck_assert_int_eq(s->opts.activation, MIMIC_ACT_SIGMOID);
    ck_assert_mem_eq(s->params + s->L.off_output_w, ow, sizeof ow);
    mimic_student_free(s);

    struct {
        const char *what;
        int n_tensors;
        mimic__st_tensor t[5];
        mimic__st_meta m[6];
        int n_meta;
        int code;
        const char *needle;
    } cases[] = {
        {"missing tensor", 3, {good[0], good[1], good[2]}, {meta[0], meta[1], meta[2], meta[3],
          meta[4]}, 5, MIMIC_ERR_FORMAT, "output.bias"},
        {"shape vs metadata", 4, {{"hidden.weight", 4, 6, hw}, good[1], good[2], good[3]},
         {meta[0], meta[1], meta[2], meta[3], meta[4]}, 5, MIMIC_ERR_FORMAT, "hidden.weight"},
        {"metadata missing", 4, {good[0], good[1], good[2], good[3]},
         {meta[0], meta[1], meta[2], meta[4]}, 4, MIMIC_ERR_FORMAT, "n_classes"},
        {"bad activation", 4, {good[0], good[1], good[2], good[3]},
         {meta[0], meta[1], meta[2], meta[3], {"activation", "gelu"}}, 5, MIMIC_ERR_FORMAT,
         "gelu"},
        {"bad number", 4, {good[0], good[1], good[2], good[3]},
         {{"n_inputs", "4x"}, meta[1], meta[2], meta[3], meta[4]}, 5, MIMIC_ERR_FORMAT,
         "n_inputs"},
        {"one class", 4, {good[0], good[1], good[2], {"output.bias", 1, 0, ob}},
         {meta[0], meta[1], meta[2], {"n_classes", "1"}, meta[4]}, 5, MIMIC_ERR_FORMAT,
         "n_classes"},
        {"unexpected bottleneck", 5, {good[0], good[1], good[2], good[3], {"bottleneck.weight", 2, 4, bw}},
         {meta[0], meta[1], meta[2], meta[3], meta[4]}, 5, MIMIC_ERR_FORMAT, "bottleneck"},
        {"unknown tensor", 5, {good[0], good[1], good[2], good[3], {"extra", 2, 4, bw}},
         {meta[0], meta[1], meta[2], meta[3], meta[4]}, 5, MIMIC_ERR_FORMAT, "extra"},
        {"mean without scale", 5, {good[0], good[1], good[2], good[3], {"input.mean", 4, 0, bw}},
         {meta[0], meta[1], meta[2], meta[3], meta[4]}, 5, MIMIC_ERR_FORMAT, "input.scale"},
        {"wrong format", 4, {good[0], good[1], good[2], good[3]},
         {meta[0], meta[1], meta[2], meta[3], meta[4], {"format", "other"}}, 6,
         MIMIC_ERR_FORMAT, "format"},
        /* metadata claiming a 4 TB model over 100-byte tensors: the tensors are checked
         * before anything is allocated, so this is a format error, not an attempt to
         * allocate what an untrusted header asks for (which ASan would abort on) */
        {"huge metadata", 4, {good[0], good[1], good[2], good[3]},
         {{"n_inputs", "1000000"}, {"n_hidden", "1000000"}, meta[2], meta[3], meta[4]}, 5,
         MIMIC_ERR_FORMAT, "metadata says"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(path, cases[i].t, (size_t)cases[i].n_tensors, cases[i].m,
                 (size_t)cases[i].n_meta);
        tu_expect_load_error(path, cases[i].code, cases[i].what, cases[i].needle);
    }
    /* non-finite weights */
    hb[3] = NAN;
    write_st(path, good, 4, meta, 5);
    ck_assert_int_eq(mimic_student_load(&s, path), MIMIC_ERR_NUMERIC);
    ck_assert(strstr(mimic_last_error(), "hidden.bias") != NULL);
    hb[3] = 0;
    /* I/O errors and arguments */
    ck_assert_int_eq(mimic_student_load(&s, tu_path("does_not_exist.safetensors")), MIMIC_ERR_IO);
    ck_assert_int_eq(mimic_student_load(&s, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_load(NULL, path), MIMIC_ERR_INVALID);
    tu_write_file(path, "garbage", 7);
    ck_assert_int_eq(mimic_student_load(&s, path), MIMIC_ERR_FORMAT);
}
END_TEST

START_TEST(test_atomic_save)
{
    const char *path = tu_path("keep.safetensors");
    mimic_student *a = make(4, 3, 0, 2, MIMIC_ACT_RELU, 1), *b = make(4, 5, 2, 2, MIMIC_ACT_TANH, 2);
    ck_assert_int_eq(mimic_student_save(a, path), MIMIC_OK);
    size_t n0;
    void *orig = tu_read_file(path, &n0);
    ck_assert_ptr_nonnull(orig);
    /* a directory path and a path in a missing directory fail with MIMIC_ERR_IO */
    char dir[1200], missing[1300];
    snprintf(dir, sizeof dir, "%s", tu_path("a_directory"));
    mkdir(dir, 0755);
    ck_assert_int_eq(mimic_student_save(a, dir), MIMIC_ERR_IO);
    ck_assert(strstr(mimic_last_error(), dir) != NULL);
    snprintf(missing, sizeof missing, "%s/no/such/dir/m.safetensors", dir);
    ck_assert_int_eq(mimic_student_save(a, missing), MIMIC_ERR_IO);
    ck_assert_int_eq(mimic_student_save(a, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_student_save(a, ""), MIMIC_ERR_INVALID);
    /* every failed save of another model leaves the existing file whole */
    for (uint64_t n = 1;; n++) {
        mimic__alloc_fail_at(n);
        int rc = mimic_student_save(b, path);
        uint64_t made = mimic__alloc_fail_at(0);
        size_t n1;
        void *now = tu_read_file(path, &n1);
        ck_assert_ptr_nonnull(now);
        if (rc == MIMIC_OK) {
            ck_assert(n1 != n0 || memcmp(now, orig, n0) != 0);
            free(now);
            ck_assert_uint_lt(made, n);
            break;
        }
        ck_assert_int_eq(rc, MIMIC_ERR_NOMEM);
        ck_assert_uint_eq(n1, n0);
        ck_assert_mem_eq(now, orig, n0);
        free(now);
        ck_assert_uint_lt(n, 100);
    }
    mimic_student *l = NULL;
    ck_assert_int_eq(mimic_student_load(&l, path), MIMIC_OK);
    same_forward(b, l, 4, 2);
    mimic_student_free(l);
    free(orig);
    mimic_student_free(a);
    mimic_student_free(b);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------ */

START_TEST(test_alloc_failures)
{
    const char *path = tu_path("nomem.safetensors");
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = 40;
    o.n_hidden = 50;
    o.n_bottleneck = 5;
    o.n_classes = 3;
    mimic_student *ref = NULL;
    ck_assert_int_eq(mimic_student_create(&ref, &o), MIMIC_OK);
    float mean[40], scale[40];
    tu_fill_uniform(mean, 40, -1, 1, 1);
    tu_fill_uniform(scale, 40, 1, 2, 2);
    ck_assert_int_eq(mimic_student_set_input_norm(ref, mean, scale), MIMIC_OK);
    ck_assert_int_eq(mimic_student_save(ref, path), MIMIC_OK);
    float *x = malloc(100 * 40 * sizeof(float)), *y = malloc(100 * 3 * sizeof(float));
    tu_fill_uniform(x, 4000, -1, 1, 3);
    int32_t *cls = malloc(100 * sizeof(int32_t));
    for (int op = 0; op < 7; op++) {
        uint64_t n;
        for (n = 1; n < 1000; n++) {
            mimic_student *s = (mimic_student *)(uintptr_t)1;
            int rc;
            mimic__alloc_fail_at(n);
            switch (op) {
            case 0: rc = mimic_student_create(&s, &o); break;
            case 1: rc = mimic_student_load(&s, path); break;
            case 2: rc = mimic_student_save(ref, path); s = NULL; break;
            case 3: rc = mimic_student_forward(ref, x, 100, y); s = NULL; break;
            case 4: rc = mimic_student_predict(ref, x, 100, cls); s = NULL; break;
            case 5: rc = mimic__student_clone(ref, &s); break;
            default: rc = mimic_student_set_input_norm(ref, mean, scale); s = NULL; break;
            }
            uint64_t made = mimic__alloc_fail_at(0);
            if (rc == MIMIC_OK) {
                mimic_student_free(s);
                ck_assert_uint_lt(made, n);
                break;
            }
            ck_assert_msg(rc == MIMIC_ERR_NOMEM, "op %d, failing allocation %llu: %d (%s)", op,
                          (unsigned long long)n, rc, mimic_last_error());
            ck_assert_ptr_null(s);
        }
        ck_assert_uint_gt(n, 1); /* each operation allocates */
        ck_assert_uint_lt(n, 1000);
    }
    free(cls);
    free(y);
    free(x);
    mimic_student_free(ref);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("student");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_backward_finite_differences, LOSS_L2, LOSS_HARD + 1);
    tcase_add_loop_test(tc, test_backward_dropout_finite_differences, LOSS_L2, LOSS_HARD + 1);
    tcase_add_test(tc, test_backward_output_layer_tiles);
    tcase_add_test(tc, test_forward_reference);
    tcase_add_test(tc, test_normalize_rows_u8_f32);
    tcase_add_test(tc, test_options_init_writes_struct_size_only);
    tcase_add_test(tc, test_create_validation);
    tcase_add_test(tc, test_init_deterministic_and_scaled);
    tcase_add_test(tc, test_handles);
    tcase_add_test(tc, test_tensors);
    tcase_add_test(tc, test_predict_argmax_ties);
    tcase_add_test(tc, test_clone);
    tcase_add_test(tc, test_save_load_bitwise);
    tcase_add_test(tc, test_python_reader);
    tcase_add_test(tc, test_load_rejects_inconsistent_files);
    tcase_add_test(tc, test_atomic_save);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
