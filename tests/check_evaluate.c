/* mimic_evaluate: metrics against a direct computation, chunking, u8 inputs, NaN for
 * metrics a dataset cannot give, argument errors, allocation failures. */
#include <stdio.h>

#include "train_testutil.h"

/* Reference metrics from mimic_student_forward, in double. */
static mimic_metrics reference(const mimic_student *s, const tt_problem *p, double T)
{
    size_t R = p->rows, C = p->C;
    float *z = malloc(R * C * sizeof(float));
    ck_assert_int_eq(mimic_student_forward(s, p->x, R, z), MIMIC_OK);
    double sq = 0, kl = 0, ce = 0;
    size_t acc = 0, agree = 0;
    for (size_t r = 0; r < R; r++) {
        const float *a = z + r * C, *t = p->t + r * C;
        size_t as = 0, at = 0;
        double zs = 0, zt = 0, z1 = 0;
        for (size_t c = 0; c < C; c++) {
            sq += ((double)a[c] - t[c]) * ((double)a[c] - t[c]);
            if (a[c] > a[as])
                as = c;
            if (t[c] > t[at])
                at = c;
            zs += exp(a[c] / T);
            zt += exp(t[c] / T);
            z1 += exp((double)a[c]);
        }
        for (size_t c = 0; c < C; c++) {
            double pt = exp(t[c] / T) / zt, ps = exp(a[c] / T) / zs;
            kl += pt * log(pt / ps);
        }
        ce += log(z1) - a[p->y[r]];
        acc += as == (size_t)p->y[r];
        agree += as == at;
    }
    free(z);
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    m.rows = R;
    m.logit_l2 = sq / (2.0 * (double)R);
    m.logit_rmse = sqrt(sq / (double)(R * C));
    m.kl = kl / (double)R;
    m.hard_ce = ce / (double)R;
    m.accuracy = (double)acc / (double)R;
    m.agreement = (double)agree / (double)R;
    return m;
}

static void assert_close(double a, double b, const char *what)
{
    ck_assert_msg(fabs(a - b) <= 1e-5 * (1 + fabs(b)), "%s: %.9g vs %.9g", what, a, b);
}

START_TEST(test_metrics_match_reference)
{
    tt_problem p;
    tt_problem_make(&p, 700, 9, 5, 1, 2.0f, 0.5f); /* 700 rows: several chunks, a partial one */
    mimic_student *s = tt_student(9, 20, 3, 5, 2);
    for (double T = 1; T <= 4; T += 3) {
        mimic_metrics want = reference(s, &p, T), got = tt_eval(s, p.d, T);
        ck_assert_uint_eq(got.rows, 700);
        ck_assert_uint_eq(got.struct_size, sizeof got);
        assert_close(got.logit_l2, want.logit_l2, "logit_l2");
        assert_close(got.logit_rmse, want.logit_rmse, "logit_rmse");
        assert_close(got.kl, want.kl, "kl");
        assert_close(got.hard_ce, want.hard_ce, "hard_ce");
        ck_assert_double_eq(got.accuracy, want.accuracy);
        ck_assert_double_eq(got.agreement, want.agreement);
    }
    /* the teacher evaluated against itself */
    mimic_student *t = tt_student(9, 24, 0, 5, 1 + 1000);
    tt_problem q;
    tt_problem_make(&q, 300, 9, 5, 1, 1.0f, 0.0f);
    mimic_metrics m = tt_eval(t, q.d, 2);
    ck_assert_double_eq_tol(m.logit_l2, 0, 1e-9);
    ck_assert_double_eq_tol(m.kl, 0, 1e-9);
    ck_assert_double_eq(m.agreement, 1);
    ck_assert_double_eq(m.accuracy, 1);
    mimic_student_free(t);
    tt_problem_free(&q);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

/* u8 inputs go through the stored normalization exactly like their f32 equivalent. */
START_TEST(test_u8_inputs)
{
    tt_problem p;
    tt_problem_make(&p, 300, 6, 3, 3, 1.0f, 0.0f);
    mimic_student *s = tt_student(6, 16, 0, 3, 2);
    float mean[6], scale[6];
    for (int j = 0; j < 6; j++) {
        mean[j] = 100.0f + (float)j;
        scale[j] = 1.0f / (50.0f + (float)j);
    }
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    float *x = malloc(300 * 6 * sizeof(float));
    for (size_t i = 0; i < 300 * 6; i++)
        x[i] = (float)p.x8[i];
    mimic_dataset *d8 = NULL, *d32 = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d8, p.x8, MIMIC_DTYPE_U8, p.t, p.y, 300, 6, 3), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_create(&d32, x, MIMIC_DTYPE_F32, p.t, p.y, 300, 6, 3), MIMIC_OK);
    mimic_metrics a = tt_eval(s, d8, 4), b = tt_eval(s, d32, 4);
    ck_assert_double_eq(a.logit_l2, b.logit_l2);
    ck_assert_double_eq(a.kl, b.kl);
    ck_assert_double_eq(a.accuracy, b.accuracy);
    mimic_dataset_free(d8);
    mimic_dataset_free(d32);
    free(x);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_nan_when_absent)
{
    tt_problem p;
    tt_problem_make(&p, 50, 4, 3, 4, 1.0f, 0.0f);
    mimic_student *s = tt_student(4, 8, 0, 3, 2);
    mimic_dataset *nolabels = NULL, *nologits = NULL;
    ck_assert_int_eq(mimic_dataset_create(&nolabels, p.x, MIMIC_DTYPE_F32, p.t, NULL, 50, 4, 3),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_create(&nologits, p.x, MIMIC_DTYPE_F32, NULL, p.y, 50, 4, 3),
                     MIMIC_OK);
    mimic_metrics a = tt_eval(s, nolabels, 4), b = tt_eval(s, nologits, 4);
    ck_assert(isfinite(a.logit_l2) && isfinite(a.kl) && isfinite(a.agreement));
    ck_assert(isnan(a.hard_ce) && isnan(a.accuracy));
    ck_assert(isnan(b.logit_l2) && isnan(b.logit_rmse) && isnan(b.kl) && isnan(b.agreement));
    ck_assert(isfinite(b.hard_ce) && isfinite(b.accuracy));
    mimic_dataset_free(nolabels);
    mimic_dataset_free(nologits);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_errors)
{
    tt_problem p;
    tt_problem_make(&p, 50, 4, 3, 5, 1.0f, 0.0f);
    mimic_student *s = tt_student(4, 8, 0, 3, 2), *wrong = tt_student(5, 8, 0, 3, 2);
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    ck_assert_int_eq(mimic_evaluate(NULL, p.d, 4, &m), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_evaluate(s, NULL, 4, &m), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_evaluate(s, p.d, 4, NULL), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_evaluate(s, p.d, 0, &m), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "temperature"));
    ck_assert_int_eq(mimic_evaluate(s, p.d, NAN, &m), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_evaluate(wrong, p.d, 4, &m), MIMIC_ERR_SHAPE);
    m.struct_size = 0;
    ck_assert_int_eq(mimic_evaluate(s, p.d, 4, &m), MIMIC_ERR_INVALID);
    /* an older, smaller struct: only its bytes are written */
    unsigned char buf[sizeof(mimic_metrics)];
    memset(buf, 0xee, sizeof buf);
    size_t small = offsetof(mimic_metrics, kl);
    memcpy(buf, &small, sizeof small);
    ck_assert_int_eq(mimic_evaluate(s, p.d, 4, (mimic_metrics *)(void *)buf), MIMIC_OK);
    for (size_t i = small; i < sizeof buf; i++)
        ck_assert_uint_eq(buf[i], 0xee);
    size_t rows;
    memcpy(&rows, buf + offsetof(mimic_metrics, rows), sizeof rows);
    ck_assert_uint_eq(rows, 50);
    mimic_student_free(s);
    mimic_student_free(wrong);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_alloc_failures)
{
    tt_problem p;
    tt_problem_make(&p, 300, 4, 3, 6, 1.0f, 0.0f);
    mimic_student *s = tt_student(4, 8, 2, 3, 2);
    mimic_metrics want = tt_eval(s, p.d, 4);
    int ok = 0;
    for (uint64_t n = 1; n < 20 && !ok; n++) {
        mimic_metrics m;
        mimic_metrics_init(&m, sizeof m);
        mimic__alloc_fail_at(n);
        int rc = mimic_evaluate(s, p.d, 4, &m);
        mimic__alloc_fail_at(0);
        ck_assert(rc == MIMIC_OK || rc == MIMIC_ERR_NOMEM);
        if (rc == MIMIC_OK) {
            ok = 1;
            ck_assert_double_eq(m.logit_l2, want.logit_l2);
        }
    }
    ck_assert(ok);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("evaluate");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_metrics_match_reference);
    tcase_add_test(tc, test_u8_inputs);
    tcase_add_test(tc, test_nan_when_absent);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
