/* The training step on the trainer's pool (options.threads): the gather, bias + activation
 * (+ dropout), the backward pass's activation gradient, column sums, dW_out, the gradient
 * norm and the optimizer update run split by rows, columns or parameter ranges, and every
 * thread count gives the bits of the calling thread alone: the kernels one by one (so that a
 * split that reorders a sum fails here even where it would not change a trained student),
 * then whole runs over the features that reach those passes. Run under TSan by the tsan step
 * of scripts/test.sh. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_testutil.h"

enum { D = 256, SIDE = 16, ROWS = 320 };

static mimic__pool *make_pool(size_t threads)
{
    mimic__pool *p = NULL;
    ck_assert_int_eq(mimic__pool_create(&p, threads, 1e-4, threads == 3), MIMIC_OK);
    return p;
}

/* ---- the kernels ----------------------------------------------------------------------- */

typedef struct pass_out {
    float *ws, *dz, *grads, *logits, *h;
} pass_out;

/* Forward and backward of `rows` rows through a student of shape (k, H, C, act), with
 * dropout, on `pool`; the activations, logits and gradients are kept in *o. */
static void run_pass(mimic_student *s, const float *x, size_t rows, const float *dlogits,
                     mimic__pool *pool, pass_out *o)
{
    const mimic__layout *L = &s->L;
    o->ws = mimic__falloc(mimic__student_ws_floats(L, rows), 1);
    o->dz = mimic__falloc(rows * (L->k ? L->k : 1), 1);
    o->grads = mimic__falloc(L->n_params, 1);
    mimic__dropout dr;
    mimic__dropout_init(&dr, 0.25, 99);
    dr.offset = 1000; /* a rank's part of a batch: the masks go on from there */
    float *z, *h, *logits;
    mimic__student_forward_ws(L, s->opts.activation, s->params, x, rows, &dr, o->ws, &z, &h,
                              &logits, pool);
    o->logits = logits;
    o->h = h;
    mimic__student_backward_ws(L, s->opts.activation, s->params, x, rows, &dr, z, h, dlogits, o->dz,
                               o->grads, pool);
}

static void free_pass(pass_out *o)
{
    mimic__free(o->ws);
    mimic__free(o->dz);
    mimic__free(o->grads);
}

static const struct {
    size_t k, H, C, rows;
    int32_t act;
} SHAPES[] = {
    {0, 512, 10, 64, MIMIC_ACT_RELU},     /* the small-C output layer: our loops */
    {32, 384, 10, 61, MIMIC_ACT_SIGMOID}, /* with a bottleneck, rows not a multiple of 4 */
    {0, 520, 24, 48, MIMIC_ACT_TANH},     /* C > 16: sgemm, and the passes between */
    {16, 256, 20, 5, MIMIC_ACT_SIGMOID},  /* few rows */
};

/* Forward and backward on pools of 2 to 4 threads give the calling thread's bits. */
START_TEST(test_passes_bitwise)
{
    const size_t k = SHAPES[_i].k, H = SHAPES[_i].H, C = SHAPES[_i].C, rows = SHAPES[_i].rows;
    mimic_student *s = tt_student_act(D, H, k, C, 5, SHAPES[_i].act);
    float *x = malloc(rows * D * sizeof(float)), *dl = malloc(rows * C * sizeof(float));
    tu_fill_uniform(x, rows * D, -1.0f, 1.0f, 3);
    tu_fill_uniform(dl, rows * C, -0.1f, 0.1f, 4);
    pass_out want;
    run_pass(s, x, rows, dl, NULL, &want);
    for (size_t threads = 2; threads <= 4; threads++) {
        mimic__pool *p = make_pool(threads);
        pass_out got;
        run_pass(s, x, rows, dl, p, &got);
        ck_assert_mem_eq(got.logits, want.logits, rows * C * sizeof(float));
        ck_assert_mem_eq(got.h, want.h, rows * H * sizeof(float)); /* dL/dpre by now */
        for (size_t i = 0; i < s->L.n_params; i++)
            ck_assert_msg(memcmp(&got.grads[i], &want.grads[i], sizeof(float)) == 0,
                          "gradient %zu of %zu, %zu threads: %a, alone %a", i, s->L.n_params,
                          threads, (double)got.grads[i], (double)want.grads[i]);
        free_pass(&got);
        mimic__pool_free(p);
    }
    free_pass(&want);
    free(x);
    free(dl);
    mimic_student_free(s);
}
END_TEST

/* sum of g[i]^2 in double, compensated (Neumaier): within a few ulps whatever n and whatever
 * the platform's long double is (valgrind computes long double as double). Each g^2 is
 * exact in double. */
static double sum_squares_ref(const float *g, size_t n)
{
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = (double)g[i] * g[i], t = sum + x;
        c += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
    }
    return sum + c;
}

/* The gradient norm: the same double for every pool, and still sqrt(sum g^2). */
START_TEST(test_grad_norm_bitwise)
{
    const size_t sizes[] = {0, 5, 1000, 65537, 300001};
    float *g = malloc(sizes[4] * sizeof(float));
    tu_fill_uniform(g, sizes[4], -1.0f, 1.0f, 8);
    for (size_t i = 0; i < sizes[4]; i += 7)
        g[i] *= 1e6f; /* wide range: any reordered sum shows in the bits */
    for (size_t s = 0; s < MIMIC__ARRAY_LEN(sizes); s++) {
        const size_t n = sizes[s];
        const double want = mimic__grad_norm(g, n, NULL);
        const double norm = sqrt(sum_squares_ref(g, n));
        ck_assert_double_eq_tol(want, norm, 1e-12 * norm + 1e-300);
        for (size_t threads = 2; threads <= 4; threads++) {
            mimic__pool *p = make_pool(threads);
            const double got = mimic__grad_norm(g, n, p);
            ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                          "%zu values, %zu threads: %a, alone %a", n, threads, got, want);
            mimic__pool_free(p);
        }
    }
    free(g);
}
END_TEST

/* The update on a pool: the same parameters and state for every pool, with the flush-to-zero
 * bits on every thread that runs a range (state values below FLT_MIN come out 0, as on the
 * calling thread), and a non-finite new weight is reported whichever thread made it. */
START_TEST(test_update_bitwise)
{
    const size_t n = 150001;
    const int32_t ids[] = {MIMIC_OPTIMIZER_SGD, MIMIC_OPTIMIZER_ADAM, MIMIC_OPTIMIZER_ADAMW};
    float *p_in = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *m0 = malloc(n * sizeof(float)), *v0 = malloc(n * sizeof(float));
    tu_fill_uniform(p_in, n, -1.0f, 1.0f, 1);
    tu_fill_uniform(g, n, -1.0f, 1.0f, 2);
    tu_fill_uniform(m0, n, -0.1f, 0.1f, 3);
    tu_fill_uniform(v0, n, 0.0f, 0.01f, 4);
    for (size_t i = 0; i < n; i += 3) { /* subnormal state, nothing else: subnormal results */
        m0[i] = 1e-39f;
        v0[i] = 1e-40f;
        g[i] = 0.0f;
        p_in[i] = 0.0f;
    }
    const int flushes = tt_cpu_flushes_subnormals();
    if (!flushes) /* the pools must still agree with the calling thread, bit for bit */
        printf("SKIP test_update_bitwise's flush-to-zero check: this CPU (or emulator) does "
               "not flush subnormals with MXCSR's FTZ/DAZ bits\n");
    mimic_train_options o = tt_options();
    o.weight_decay = 1e-3;
    o.nesterov = 1;
    for (size_t a = 0; a < MIMIC__ARRAY_LEN(ids); a++) {
        const mimic__optimizer *opt = mimic__optimizer_get(ids[a]);
        float *want[3], *got[3];
        for (size_t threads = 1; threads <= 4; threads++) {
            mimic__pool *p = make_pool(threads);
            float **out = threads == 1 ? want : got;
            for (int j = 0; j < 3; j++)
                out[j] = malloc(n * sizeof(float));
            memcpy(out[1], m0, n * sizeof(float));
            memcpy(out[2], v0, n * sizeof(float));
            float *state[MIMIC__MAX_OPT_STATE] = {out[1], out[2]};
            float *copy = malloc(n * sizeof(float));
            ck_assert(mimic__optimizer_run(opt, &o, 0.01, 3, p_in, out[0], g, 0.5f, state, n,
                                           threads == 2 ? copy : NULL, p));
            if (threads == 2) /* the copy is the result */
                ck_assert_mem_eq(copy, out[0], n * sizeof(float));
            free(copy);
            if (threads > 1) {
                for (int j = 0; j < 1 + (int)opt->n_state; j++)
                    ck_assert_mem_eq(got[j], want[j], n * sizeof(float));
                for (int j = 0; j < 3; j++)
                    free(got[j]);
            } else if (flushes) {
                for (size_t i = 0; i < n; i += 3) /* flushed on the calling thread */
                    ck_assert(want[1][i] == 0.0f);
            }
            mimic__pool_free(p);
        }
        /* an infinite gradient in the last range */
        float keep = g[n - 2];
        g[n - 2] = INFINITY;
        for (size_t threads = 1; threads <= 3; threads++) {
            mimic__pool *p = make_pool(threads);
            float *state[MIMIC__MAX_OPT_STATE] = {want[1], want[2]};
            ck_assert(
                !mimic__optimizer_run(opt, &o, 0.01, 3, p_in, want[0], g, 1.0f, state, n, NULL, p));
            mimic__pool_free(p);
        }
        g[n - 2] = keep;
        for (int j = 0; j < 3; j++)
            free(want[j]);
    }
    free(p_in);
    free(g);
    free(m0);
    free(v0);
}
END_TEST

/* ---- whole runs -------------------------------------------------------------------------- */

typedef struct run_cfg {
    const char *what;
    int32_t optimizer, loss, act, target_norm;
    double dropout, flip, clip;
    uint64_t shift, batch;
    int standardize, u8;
    size_t k, H, C;
} run_cfg;

static const run_cfg RUNS[] = {
    {"adam, l2, bottleneck, clipping, standardized f32", MIMIC_OPTIMIZER_ADAM, MIMIC_LOSS_L2,
     MIMIC_ACT_RELU, MIMIC_TARGET_NONE, 0, 0, 0.5, 0, 64, 1, 0, 32, 512, 10},
    {"sgd momentum, dropout, raw f32", MIMIC_OPTIMIZER_SGD, MIMIC_LOSS_L2, MIMIC_ACT_RELU,
     MIMIC_TARGET_NONE, 0.2, 0, 0, 0, 64, 0, 0, 0, 512, 10},
    {"kd, u8, flips and shifts, clipping", MIMIC_OPTIMIZER_ADAM, MIMIC_LOSS_KD, MIMIC_ACT_RELU,
     MIMIC_TARGET_AUTO, 0, 0.5, 0.3, 2, 64, 1, 1, 0, 512, 10},
    {"labels, sigmoid, dropout, 24 classes", MIMIC_OPTIMIZER_SGD, MIMIC_LOSS_LABELS,
     MIMIC_ACT_SIGMOID, MIMIC_TARGET_NONE, 0.25, 0, 0, 0, 48, 1, 0, 0, 520, 24},
    {"adamw, tanh, standardized targets, bottleneck, u8, shifts, odd batch", MIMIC_OPTIMIZER_ADAMW,
     MIMIC_LOSS_L2, MIMIC_ACT_TANH, MIMIC_TARGET_STANDARDIZE, 0.1, 0.5, 0, 1, 37, 1, 1, 32, 384,
     10},
};

/* The run of `c` at `threads` through mimic_train, or with `stepwise` through
 * mimic_trainer_step alone (its update copies the weights into the student every step); the
 * last epoch's loss in *loss. */
static mimic_student *train(const run_cfg *c, const mimic_dataset *d, int32_t threads, int stepwise,
                            double *loss)
{
    mimic_student *s = tt_student_act(D, c->H, c->k, c->C, 3, c->act);
    mimic_train_options o = tt_options();
    o.epochs = 2;
    o.threads = threads;
    o.batch_size = c->batch;
    o.optimizer = c->optimizer;
    o.loss = c->loss;
    o.target_norm = c->target_norm;
    o.hard_weight = c->loss == MIMIC_LOSS_KD ? 0.3 : 0.0;
    o.learning_rate = c->optimizer == MIMIC_OPTIMIZER_SGD ? 0.01 : 0.002;
    o.nesterov = c->optimizer == MIMIC_OPTIMIZER_SGD && c->dropout > 0.2;
    o.weight_decay = c->optimizer == MIMIC_OPTIMIZER_ADAMW ? 0.01 : 0.0;
    o.dropout = c->dropout;
    o.clip_norm = c->clip;
    o.standardize = c->standardize;
    if (c->flip > 0 || c->shift > 0) {
        o.image_height = o.image_width = SIDE;
        o.flip = c->flip;
        o.shift = c->shift;
    }
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    if (!stepwise) {
        ck_assert_msg(mimic_train(s, d, &o, &r) == MIMIC_OK, "%s, %d threads: %s", c->what,
                      (int)threads, mimic_last_error());
    } else {
        mimic_trainer *t = NULL;
        ck_assert_int_eq(mimic_trainer_create(&t, s, d, &o), MIMIC_OK);
        const uint64_t steps = o.epochs * ((ROWS + c->batch - 1) / c->batch);
        for (uint64_t i = 0; i < steps; i++)
            ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
        ck_assert_int_eq(mimic_trainer_get_report(t, &r), MIMIC_OK);
        mimic_trainer_free(t);
    }
    *loss = r.final_train_loss;
    return s;
}

/* A run gives the same student and loss with 1, 2 and 3 threads of its own, through
 * mimic_train and step by step. */
START_TEST(test_runs_bitwise)
{
    const run_cfg *c = &RUNS[_i];
    tt_problem pb;
    tt_problem_make(&pb, ROWS, D, c->C, 21, 2.0f, 0.1f);
    mimic_dataset *d8 = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d8, pb.x8, MIMIC_DTYPE_U8, pb.t, pb.y, ROWS, D, c->C),
                     MIMIC_OK);
    const mimic_dataset *d = c->u8 ? d8 : pb.d;
    double want_loss, loss;
    mimic_student *want = train(c, d, 1, 0, &want_loss);
    ck_assert(isfinite(want_loss));
    for (int32_t threads = 1; threads <= 3; threads++) {
        const int stepwise = threads != 2; /* and mimic_train at 2 threads */
        mimic_student *s = train(c, d, threads, stepwise, &loss);
        ck_assert_msg(tt_same_student(s, want), "%s: %d threads%s change the student", c->what,
                      (int)threads, stepwise ? " step by step" : "");
        ck_assert_msg(memcmp(&loss, &want_loss, sizeof loss) == 0, "%s: loss %a, alone %a", c->what,
                      loss, want_loss);
        mimic_student_free(s);
    }
    mimic_student_free(want);
    mimic_dataset_free(d8);
    tt_problem_free(&pb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads_train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_passes_bitwise, 0, (int)MIMIC__ARRAY_LEN(SHAPES));
    tcase_add_test(tc, test_grad_norm_bitwise);
    tcase_add_test(tc, test_update_bitwise);
    tcase_add_loop_test(tc, test_runs_bitwise, 0, (int)MIMIC__ARRAY_LEN(RUNS));
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
