/* One const student shared by 4 threads calling mimic_student_forward / _predict at once:
 * every thread must get bitwise the single-threaded result (also run under TSan). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "testutil.h"

enum { THREADS = 4, ITERS = 25, D = 24, H = 40, K = 6, C = 5 };
/* 1 row (stack workspace, gemv), 7 rows, 700 rows (heap workspace, two chunks) */
static const size_t ROW_COUNTS[3] = {1, 7, 700};

typedef struct job {
    const mimic_student *s;
    const float *x;
    const float *want[3];
    const int32_t *want_cls;
    int mismatches;
    int errors;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    float *y = malloc(700 * C * sizeof(float));
    int32_t *cls = malloc(700 * sizeof(int32_t));
    for (int it = 0; it < ITERS; it++) {
        for (int r = 0; r < 3; r++) {
            size_t rows = ROW_COUNTS[(r + it) % 3];
            int which = (r + it) % 3;
            if (mimic_student_forward(j->s, j->x, rows, y) != MIMIC_OK)
                j->errors++;
            else if (memcmp(y, j->want[which], rows * C * sizeof(float)) != 0)
                j->mismatches++;
        }
        if (mimic_student_predict(j->s, j->x, 700, cls) != MIMIC_OK)
            j->errors++;
        else if (memcmp(cls, j->want_cls, 700 * sizeof(int32_t)) != 0)
            j->mismatches++;
    }
    free(cls);
    free(y);
    return NULL;
}

START_TEST(test_concurrent_forward_bitwise)
{
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    o.n_inputs = D;
    o.n_hidden = H;
    o.n_bottleneck = (size_t)_i * K;
    o.n_classes = C;
    o.activation = _i ? MIMIC_ACT_TANH : MIMIC_ACT_RELU;
    o.seed = 5;
    mimic_student *s = NULL;
    ck_assert_int_eq(mimic_student_create(&s, &o), MIMIC_OK);
    float mean[D], scale[D];
    tu_fill_uniform(mean, D, -1, 1, 1);
    tu_fill_uniform(scale, D, 0.5f, 2, 2);
    ck_assert_int_eq(mimic_student_set_input_norm(s, mean, scale), MIMIC_OK);
    float *x = malloc(700 * D * sizeof(float));
    tu_fill_uniform(x, 700 * D, -3, 3, 3);
    float *want[3];
    int32_t *want_cls = malloc(700 * sizeof(int32_t));
    for (int r = 0; r < 3; r++) {
        want[r] = malloc(ROW_COUNTS[r] * C * sizeof(float));
        ck_assert_int_eq(mimic_student_forward(s, x, ROW_COUNTS[r], want[r]), MIMIC_OK);
    }
    ck_assert_int_eq(mimic_student_predict(s, x, 700, want_cls), MIMIC_OK);
    job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){s, x, {want[0], want[1], want[2]}, want_cls, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(jobs[i].errors, 0);
        ck_assert_msg(jobs[i].mismatches == 0, "thread %d: %d results differ", i,
                      jobs[i].mismatches);
    }
    for (int r = 0; r < 3; r++)
        free(want[r]);
    free(want_cls);
    free(x);
    mimic_student_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_concurrent_forward_bitwise, 0, 2);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
