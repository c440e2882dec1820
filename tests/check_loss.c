/* Loss routines: values and gradients against double references (finite differences), the
 * softmax-versus-logits facts the library is built on, stability, and errors. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

enum { R = 5, C = 7 };

/* ---- double references ---------------------------------------------------------------------- */

static double ref_l2(const double *s, const float *t, size_t rows, size_t c)
{
    double a = 0;
    for (size_t i = 0; i < rows * c; i++)
        a += (s[i] - t[i]) * (s[i] - t[i]);
    return a / (2.0 * (double)rows);
}

static void ref_log_softmax(const double *x, size_t c, double T, double *out)
{
    double m = x[0], z = 0;
    for (size_t j = 1; j < c; j++)
        m = fmax(m, x[j]);
    for (size_t j = 0; j < c; j++)
        z += exp((x[j] - m) / T);
    for (size_t j = 0; j < c; j++)
        out[j] = (x[j] - m) / T - log(z);
}

static double ref_soft(const double *s, const float *t, size_t rows, size_t c, double T)
{
    double total = 0, ls[1024], lt[1024], td[1024];
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < c; j++)
            td[j] = t[r * c + j];
        ref_log_softmax(s + r * c, c, T, ls);
        ref_log_softmax(td, c, T, lt);
        for (size_t j = 0; j < c; j++)
            total += exp(lt[j]) * (lt[j] - ls[j]);
    }
    return T * T * total / (double)rows;
}

static double ref_hard(const double *s, const int32_t *y, size_t rows, size_t c)
{
    double total = 0, ls[64];
    for (size_t r = 0; r < rows; r++) {
        ref_log_softmax(s + r * c, c, 1.0, ls);
        total -= ls[y[r]];
    }
    return total / (double)rows;
}

enum { K_L2, K_SOFT, K_HARD };

static double ref_loss(int kind, const double *s, const float *t, const int32_t *y, double T)
{
    return kind == K_L2 ? ref_l2(s, t, R, C) : kind == K_SOFT ? ref_soft(s, t, R, C, T)
                                                              : ref_hard(s, y, R, C);
}

static int lib_loss(int kind, const float *s, const float *t, const int32_t *y, double T,
                    double *loss, float *g)
{
    return kind == K_L2     ? mimic_loss_logit_l2(s, t, R, C, loss, g)
           : kind == K_SOFT ? mimic_loss_softmax_ce(s, t, R, C, T, loss, g)
                            : mimic_loss_hard_ce(s, y, R, C, loss, g);
}

/* Value against the reference and gradient against central differences, for each loss at
 * a few temperatures. */
START_TEST(test_value_and_gradient)
{
    const int kind = _i;
    const double temps[] = {1.0, 0.5, 4.0};
    for (int ti = 0; ti < 3; ti++) {
        const double T = temps[ti];
        float s[R * C], t[R * C], g[R * C];
        int32_t y[R] = {0, 6, 3, 2, 6};
        tu_fill_uniform(s, R * C, -4, 4, 10 + (uint64_t)ti);
        tu_fill_uniform(t, R * C, -4, 4, 20 + (uint64_t)ti);
        double loss, sd[R * C];
        ck_assert_int_eq(lib_loss(kind, s, t, y, T, &loss, g), MIMIC_OK);
        double loss_nograd;
        ck_assert_int_eq(lib_loss(kind, s, t, y, T, &loss_nograd, NULL), MIMIC_OK);
        ck_assert(loss == loss_nograd);
        for (int i = 0; i < R * C; i++)
            sd[i] = s[i];
        double want = ref_loss(kind, sd, t, y, T);
        ck_assert_msg(fabs(loss - want) <= 1e-12 * fmax(1, fabs(want)) + 1e-13,
                      "kind %d T %g: loss %.17g, reference %.17g", kind, T, loss, want);
        double norm = 0;
        for (int i = 0; i < R * C; i++) {
            const double eps = 1e-6, x0 = sd[i];
            sd[i] = x0 + eps;
            double lp = ref_loss(kind, sd, t, y, T);
            sd[i] = x0 - eps;
            double lm = ref_loss(kind, sd, t, y, T);
            sd[i] = x0;
            double num = (lp - lm) / (2 * eps);
            ck_assert_msg(fabs(num - g[i]) <= 1e-6 + 1e-5 * fabs(num),
                          "kind %d T %g element %d: gradient %.9g, finite difference %.9g", kind,
                          T, i, (double)g[i], num);
            norm += num * num;
        }
        ck_assert(norm > 1e-4);
        if (kind == K_L2)
            break; /* no temperature */
    }
}
END_TEST

START_TEST(test_perfect_mimic_scores_zero)
{
    float s[R * C], g[R * C];
    int32_t y[R] = {0};
    tu_fill_uniform(s, R * C, -30, 30, 3);
    double loss = -1;
    ck_assert_int_eq(mimic_loss_softmax_ce(s, s, R, C, 3.0, &loss, g), MIMIC_OK);
    ck_assert(loss == 0.0);
    for (int i = 0; i < R * C; i++)
        ck_assert(g[i] == 0.0f);
    ck_assert_int_eq(mimic_loss_logit_l2(s, s, R, C, &loss, g), MIMIC_OK);
    ck_assert(loss == 0.0);
    ck_assert_int_eq(mimic_loss_hard_ce(s, y, R, C, &loss, g), MIMIC_OK);
    ck_assert(loss > 0);
    for (int r = 0; r < R; r++) {
        double sum = 0;
        for (int j = 0; j < C; j++)
            sum += g[r * C + j];
        ck_assert(fabs(sum) < 1e-7); /* softmax - onehot sums to zero */
    }
}
END_TEST

/* ---- why logits --------------------------------------------------------------------------- */

START_TEST(test_softmax_shift_invariance)
{
    const float a[3] = {-10, 0, 10}, b[3] = {10, 20, 30};
    float pa[3], pb[3];
    ck_assert_int_eq(mimic_softmax(a, 1, 3, 1.0, pa), MIMIC_OK);
    ck_assert_int_eq(mimic_softmax(b, 1, 3, 1.0, pb), MIMIC_OK);
    ck_assert_mem_eq(pa, pb, sizeof pa);
    double z = exp(-20.0) + exp(-10.0) + 1.0;
    ck_assert(fabs(pa[2] - 1.0 / z) < 1e-7);
    ck_assert(fabs(pa[0] - exp(-20.0) / z) < 1e-15);
    /* the soft loss cannot tell them apart, the logit L2 can */
    double soft, l2;
    ck_assert_int_eq(mimic_loss_softmax_ce(a, b, 1, 3, 1.0, &soft, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_loss_logit_l2(a, b, 1, 3, &l2, NULL), MIMIC_OK);
    ck_assert(soft == 0.0);
    ck_assert(fabs(l2 - 600.0) < 1e-9); /* 3 * 20^2 / 2 */
    /* in place */
    float c[6] = {-10, 0, 10, 1, 2, 3};
    ck_assert_int_eq(mimic_softmax(c, 2, 3, 1.0, c), MIMIC_OK);
    ck_assert_mem_eq(c, pa, sizeof pa);
    ck_assert(fabs(c[3] + c[4] + c[5] - 1.0) < 1e-6);
    /* temperature flattens */
    float warm[3];
    ck_assert_int_eq(mimic_softmax(a, 1, 3, 10.0, warm), MIMIC_OK);
    ck_assert(fabs(warm[2] - 1.0 / (exp(-2.0) + exp(-1.0) + 1.0)) < 1e-6);
}
END_TEST

/* Squared-norm share of the gradient that falls on class `top`. */
static double top_share(const float *g, size_t c, size_t top)
{
    double all = 0;
    for (size_t j = 0; j < c; j++)
        all += (double)g[j] * g[j];
    return (double)g[top] * g[top] / all;
}

START_TEST(test_peaked_target_dominated_by_top_class)
{
    /* A confident teacher; the student is off by the same amount (1) on every class. */
    enum { NC = 10 };
    float t[NC] = {10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, s[NC], gce[NC], gl2[NC];
    for (int j = 0; j < NC; j++)
        s[j] = t[j] + (j == 0 ? -1.0f : 1.0f);
    double loss;
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 1, NC, 1.0, &loss, gce), MIMIC_OK);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 1, NC, &loss, gl2), MIMIC_OK);
    double ce_share = top_share(gce, NC, 0), l2_share = top_share(gl2, NC, 0);
    ck_assert_msg(ce_share > 0.85, "CE: top class share %g", ce_share);
    ck_assert_msg(fabs(l2_share - 0.1) < 1e-9, "L2: top class share %g", l2_share);
    /* and the small classes barely move under CE: 1e-3 of the top class's gradient */
    for (int j = 1; j < NC; j++) {
        ck_assert(fabs(gce[j]) < 1e-3 * 0.5);
        ck_assert(fabs(gl2[j]) == fabs(gl2[0]));
    }
}
END_TEST

/* Hinton: for zero-mean logits, the T^2-scaled soft-CE gradient T (p_s - p_t) tends to
 * (s - t) / classes as T grows, i.e. classes x gradient -> the logit-L2 gradient. */
static double high_t_gap(double T)
{
    enum { NR = 3, NC = 6 };
    float s[NR * NC], t[NR * NC], gs[NR * NC], gl[NR * NC];
    tu_fill_uniform(s, NR * NC, -3, 3, 7);
    tu_fill_uniform(t, NR * NC, -3, 3, 8);
    for (int r = 0; r < NR; r++) { /* zero-mean rows */
        double ms = 0, mt = 0;
        for (int j = 0; j < NC; j++) {
            ms += s[r * NC + j];
            mt += t[r * NC + j];
        }
        for (int j = 0; j < NC; j++) {
            s[r * NC + j] -= (float)(ms / NC);
            t[r * NC + j] -= (float)(mt / NC);
        }
    }
    double loss;
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, NR, NC, T, &loss, gs), MIMIC_OK);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, NR, NC, &loss, gl), MIMIC_OK);
    double num = 0, den = 0;
    for (int i = 0; i < NR * NC; i++) {
        double d = NC * (double)gs[i] - gl[i];
        num += d * d;
        den += (double)gl[i] * gl[i];
    }
    return sqrt(num / den);
}

START_TEST(test_high_temperature_tends_to_l2)
{
    double g1 = high_t_gap(1.0), g10 = high_t_gap(10.0), g100 = high_t_gap(100.0);
    ck_assert_msg(g100 < 1e-2, "T=100: relative gap %g", g100);
    ck_assert_msg(g10 > g100 && g1 > g10, "gaps %g %g %g should shrink with T", g1, g10, g100);
    ck_assert(g1 > 0.1); /* at T = 1 they really differ */
}
END_TEST

/* ---- numerics ------------------------------------------------------------------------------ */

START_TEST(test_stable_at_1e4)
{
    const float s[6] = {1e4f, -1e4f, 0, -1e4f, 1e4f, 1e4f};
    const float t[6] = {-1e4f, 1e4f, 5, 0, 0, 1e4f};
    const int32_t y[2] = {1, 0};
    float g[6], p[6];
    double loss;
    ck_assert_int_eq(mimic_loss_hard_ce(s, y, 2, 3, &loss, g), MIMIC_OK);
    /* row 0: lse = 1e4, -log p[1] = 2e4; row 1: lse = 1e4 + log 2, -log p[0] = 2e4 + log 2 */
    ck_assert(fabs(loss - (2e4 + 2e4 + log(2.0)) / 2) < 1e-9);
    ck_assert(fabs(g[0] - 0.5f) < 1e-7 && fabs(g[1] + 0.5f) < 1e-7 && g[2] == 0.0f);
    ck_assert(fabs(g[3] + 0.5f) < 1e-7 && fabs(g[4] - 0.25f) < 1e-7 && fabs(g[5] - 0.25f) < 1e-7);
    ck_assert_int_eq(mimic_softmax(s, 2, 3, 1.0, p), MIMIC_OK);
    ck_assert(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f);
    ck_assert(p[3] == 0.0f && p[4] == 0.5f && p[5] == 0.5f);
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, 1.0, &loss, g), MIMIC_OK);
    /* row 0: p_t = e_1, log p_s[1] = -2e4 -> KL 2e4; row 1: p_t = e_2, p_s[2] = 1/2 ->
     * KL = log 2 */
    ck_assert_msg(fabs(loss - (2e4 + log(2.0)) / 2) < 1e-8, "loss %.17g", loss);
    for (int i = 0; i < 6; i++)
        ck_assert(isfinite(g[i]));
    ck_assert(fabs(g[0] - 0.5f) < 1e-7 && fabs(g[1] + 0.5f) < 1e-7);
    ck_assert(fabs(g[4] - 0.25f) < 1e-7 && fabs(g[5] + 0.25f) < 1e-7);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 3, &loss, g), MIMIC_OK);
    ck_assert(fabs(loss - (4e8 + 4e8 + 25 + 1e8 + 1e8) / 4) < 1e-6);
    ck_assert(g[0] == 1e4f && g[1] == -1e4f);
    /* extreme but finite floats: still finite */
    const float big[2] = {FLT_MAX, -FLT_MAX}, zero[2] = {0, 0};
    ck_assert_int_eq(mimic_loss_softmax_ce(big, zero, 1, 2, 1e-3, &loss, g), MIMIC_OK);
    ck_assert(isfinite(loss) && isfinite(g[0]) && isfinite(g[1]));
    ck_assert_int_eq(mimic_loss_logit_l2(big, zero, 2, 1, &loss, g), MIMIC_OK);
    ck_assert(isfinite(loss));
    ck_assert_int_eq(mimic_loss_logit_l2(big, big + 1, 1, 1, &loss, g), MIMIC_ERR_NUMERIC);
}
END_TEST

START_TEST(test_wide_rows)
{
    /* more classes than the stack scratch: the recomputing path gives the same numbers */
    enum { NC = 1000 };
    float *s = malloc(2 * NC * sizeof(float)), *t = malloc(2 * NC * sizeof(float));
    float *g = malloc(2 * NC * sizeof(float)), *p = malloc(2 * NC * sizeof(float));
    int32_t y[2] = {3, 999};
    tu_fill_uniform(s, 2 * NC, -5, 5, 1);
    tu_fill_uniform(t, 2 * NC, -5, 5, 2);
    double sd[2 * NC], loss, total = 0, want;
    for (int i = 0; i < 2 * NC; i++)
        sd[i] = s[i];
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, NC, 2.0, &loss, g), MIMIC_OK);
    want = ref_soft(sd, t, 1, NC, 2.0) + ref_soft(sd + NC, t + NC, 1, NC, 2.0);
    ck_assert(fabs(loss - want / 2) < 1e-10);
    ck_assert_int_eq(mimic_softmax(s, 2, NC, 2.0, p), MIMIC_OK);
    ck_assert_int_eq(mimic_softmax(t, 2, NC, 2.0, s), MIMIC_OK); /* s now holds p_t */
    for (int i = 0; i < 2 * NC; i++) {
        ck_assert(fabs(g[i] - (p[i] - s[i])) < 1e-6); /* T/N = 1 */
        total += p[i];
    }
    ck_assert(fabs(total - 2) < 1e-4);
    ck_assert_int_eq(mimic_loss_hard_ce(t, y, 2, NC, &loss, g), MIMIC_OK);
    ck_assert(g[3] < 0 && g[NC + 999] < 0); /* (p - 1) / N at the labels */
    double sum = 0;
    for (int j = 0; j < NC; j++)
        sum += g[j];
    ck_assert(fabs(sum) < 1e-6);
    free(p);
    free(g);
    free(t);
    free(s);
}
END_TEST

/* A confident student: the wrong classes' probabilities (e^-100 ~ 4e-44) are below float's
 * normal range; they are stored as 0, never as subnormals (which slow the backward sgemms). */
START_TEST(test_no_subnormal_outputs)
{
    const size_t nc = 6;
    float s[6] = {0, -100, -101, -102.5f, -88, -90}, t[6] = {0, -100, -101, -102, -88, -95};
    float g[6], p[6];
    int32_t y = 0;
    double loss;
    for (int which = 0; which < 4; which++) {
        int rc = which == 0   ? mimic_loss_hard_ce(s, &y, 1, nc, &loss, g)
                 : which == 1 ? mimic_loss_softmax_ce(s, t, 1, nc, 1.0, &loss, g)
                 : which == 2 ? mimic_softmax(s, 1, nc, 1.0, g)
                              : mimic_loss_logit_l2(s, s, 1, nc, &loss, g);
        ck_assert_int_eq(rc, MIMIC_OK);
        for (size_t j = 0; j < nc; j++)
            ck_assert_msg(fpclassify(g[j]) != FP_SUBNORMAL, "case %d: element %zu is subnormal (%g)",
                          which, j, (double)g[j]);
    }
    /* normal-range values are untouched: e^-88 ~ 6e-39 is subnormal, e^-80 is not */
    float s2[2] = {0, -80};
    ck_assert_int_eq(mimic_softmax(s2, 1, 2, 1.0, p), MIMIC_OK);
    ck_assert(p[1] > 0 && fabs(p[1] / exp(-80.0) - 1) < 1e-5);

    /* gradients: entries below 2^-100 (~8e-31) are 0 even in float's normal range (their
     * products with the weights would be subnormal in the backward sgemms); larger stay */
    float s3[3] = {0, -75, -60}, g3[3];
    ck_assert_int_eq(mimic_loss_hard_ce(s3, &y, 1, 3, &loss, g3), MIMIC_OK);
    ck_assert(g3[1] == 0.0f);                                   /* e^-75 ~ 2.7e-33 */
    ck_assert(g3[2] > 0 && fabs(g3[2] / exp(-60.0) - 1) < 1e-5); /* e^-60 ~ 8.8e-27 */
    float t3[3] = {0, -76, -60}; /* g[1] = p_s - p_t ~ 1.7e-33 */
    ck_assert_int_eq(mimic_loss_softmax_ce(s3, t3, 1, 3, 1.0, &loss, g3), MIMIC_OK);
    ck_assert(g3[1] == 0.0f);
    ck_assert_int_eq(mimic_softmax(s3, 1, 3, 1.0, p), MIMIC_OK); /* probabilities: kept */
    ck_assert(p[1] > 0 && fabs(p[1] / exp(-75.0) - 1) < 1e-5);
}
END_TEST

START_TEST(test_errors)
{
    float s[6] = {1, 2, 3, 4, 5, 6}, t[6] = {0}, g[6], p[6];
    int32_t y[2] = {0, 2};
    double loss;
    /* bad arguments */
    ck_assert_int_eq(mimic_loss_logit_l2(NULL, t, 2, 3, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_logit_l2(s, NULL, 2, 3, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 3, NULL, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 0, 3, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 0, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, SIZE_MAX, 3, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, 0.0, &loss, g), MIMIC_ERR_INVALID);
    ck_assert(strstr(mimic_last_error(), "temperature") != NULL);
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, -1.0, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, NAN, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, INFINITY, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_softmax_ce(NULL, t, 2, 3, 1.0, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_hard_ce(s, NULL, 2, 3, &loss, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_loss_hard_ce(s, y, 2, 3, NULL, g), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_softmax(NULL, 2, 3, 1.0, p), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_softmax(s, 2, 3, 1.0, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_softmax(s, 2, 3, 0.0, p), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_softmax(s, 0, 3, 1.0, p), MIMIC_ERR_INVALID);
    /* labels */
    y[1] = 3;
    ck_assert_int_eq(mimic_loss_hard_ce(s, y, 2, 3, &loss, g), MIMIC_ERR_RANGE);
    ck_assert(strstr(mimic_last_error(), "row 1") != NULL);
    y[1] = -1;
    ck_assert_int_eq(mimic_loss_hard_ce(s, y, 2, 3, &loss, g), MIMIC_ERR_RANGE);
    y[1] = 2;
    /* non-finite values name row and column, and leave the gradient untouched */
    for (int g_i = 0; g_i < 6; g_i++)
        g[g_i] = 42.0f;
    const float bad_vals[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        s[5] = bad_vals[b];
        ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 3, &loss, g), MIMIC_ERR_NUMERIC);
        ck_assert_msg(strstr(mimic_last_error(), "row 1, column 2") != NULL, "%s",
                      mimic_last_error());
        ck_assert(strstr(mimic_last_error(), "student_logits") != NULL);
        ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, 1.0, &loss, g), MIMIC_ERR_NUMERIC);
        ck_assert_int_eq(mimic_loss_hard_ce(s, y, 2, 3, &loss, g), MIMIC_ERR_NUMERIC);
        ck_assert(strstr(mimic_last_error(), "row 1, column 2") != NULL);
        ck_assert_int_eq(mimic_softmax(s, 2, 3, 1.0, p), MIMIC_ERR_NUMERIC);
        s[5] = 6;
        t[1] = bad_vals[b];
        ck_assert_int_eq(mimic_loss_softmax_ce(s, t, 2, 3, 1.0, &loss, g), MIMIC_ERR_NUMERIC);
        ck_assert(strstr(mimic_last_error(), "teacher_logits") != NULL);
        ck_assert(strstr(mimic_last_error(), "row 0, column 1") != NULL);
        ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 3, &loss, g), MIMIC_ERR_NUMERIC);
        t[1] = 0;
    }
    for (int g_i = 0; g_i < 6; g_i++)
        ck_assert(g[g_i] == 42.0f);
    /* and a good call still works */
    ck_assert_int_eq(mimic_loss_logit_l2(s, t, 2, 3, &loss, g), MIMIC_OK);
    ck_assert(fabs(loss - (1 + 4 + 9 + 16 + 25 + 36) / 4.0) < 1e-12);
}
END_TEST

/* The options a loss reads are its descriptor's string: each word is a training option, and
 * an option of the loss group is used exactly by the losses that name it ("has no effect",
 * naming the losses that read it, otherwise). */
START_TEST(test_loss_options)
{
    static const char *const fields[] = {"target_norm", "temperature", "hard_weight"};
    static const struct {
        int32_t loss;
        const char *reads;
    } want[] = {{MIMIC_LOSS_L2, "target_norm"},
                {MIMIC_LOSS_KD, "temperature hard_weight"},
                {MIMIC_LOSS_LABELS, ""}};
    size_t n, index;
    const mimic__loss *all = mimic__loss_all(&n);
    for (size_t k = 0; k < n; k++) {
        const char *p = all[k].options;
        ck_assert_ptr_nonnull(p);
        while (*p) {
            char word[64];
            size_t w = strcspn(p, " ");
            ck_assert_uint_lt(w, sizeof word);
            memcpy(word, p, w);
            word[w] = '\0';
            ck_assert_msg(w > 0 && mimic_train_option_find(word, &index) == MIMIC_OK,
                          "loss %s reads \"%s\", which is not a training option", all[k].name,
                          word);
            p += w + (p[w] == ' ');
        }
    }
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    for (size_t k = 0; k < MIMIC__ARRAY_LEN(want); k++) {
        o.loss = want[k].loss;
        for (size_t f = 0; f < MIMIC__ARRAY_LEN(fields); f++) {
            int rc = mimic_train_option_check_used(&o, fields[f]);
            ck_assert_msg((rc == MIMIC_OK) == mimic__name_in(want[k].reads, fields[f]),
                          "loss %d, %s: %d", (int)want[k].loss, fields[f], rc);
        }
    }
    o.loss = MIMIC_LOSS_LABELS;
    ck_assert_int_eq(mimic_train_option_check_used(&o, "hard_weight"), MIMIC_ERR_INVALID);
    ck_assert_str_eq(mimic_last_error(), "options.hard_weight has no effect: it applies to "
                                         "options.loss kd, and options.loss is labels");
    o.loss = MIMIC_LOSS_KD;
    ck_assert_int_eq(mimic_train_option_check_used(&o, "target_norm"), MIMIC_ERR_INVALID);
    ck_assert_str_eq(mimic_last_error(), "options.target_norm has no effect: it applies to "
                                         "options.loss l2, and options.loss is kd");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_value_and_gradient, K_L2, K_HARD + 1);
    tcase_add_test(tc, test_perfect_mimic_scores_zero);
    tcase_add_test(tc, test_softmax_shift_invariance);
    tcase_add_test(tc, test_peaked_target_dominated_by_top_class);
    tcase_add_test(tc, test_high_temperature_tends_to_l2);
    tcase_add_test(tc, test_stable_at_1e4);
    tcase_add_test(tc, test_no_subnormal_outputs);
    tcase_add_test(tc, test_wide_rows);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_loss_options);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
