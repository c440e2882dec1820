/* Training: learning on a synthetic teacher, losses, optimizers, schedules, clipping,
 * standardization, target normalization, early stopping, cancellation, divergence,
 * determinism, the step-wise API, option validation and allocation failures. */
#include <inttypes.h>
#include <stdio.h>
#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "train/train.h"
#include "train_testutil.h"

START_TEST(test_defaults)
{
    mimic_train_options o;
    memset(&o, 0xab, sizeof o);
    mimic_train_options_init(&o, sizeof o);
    ck_assert_uint_eq(o.struct_size, sizeof o);
    ck_assert_int_eq(o.loss, MIMIC_LOSS_L2);
    ck_assert_int_eq(o.optimizer, MIMIC_OPTIMIZER_ADAM);
    ck_assert_int_eq(o.schedule, MIMIC_SCHEDULE_COSINE);
    ck_assert_double_eq(o.learning_rate, 0); /* = mimic_train_default_learning_rate */
    ck_assert_int_eq(o.target_norm, MIMIC_TARGET_AUTO);
    ck_assert_double_eq(o.momentum, 0.9);
    ck_assert_uint_eq(o.epochs, 10);
    ck_assert_uint_eq(o.batch_size, 128);
    ck_assert_double_eq(o.temperature, 4);
    ck_assert_double_eq(o.std_floor, 0.1);
    ck_assert_uint_eq(o.checkpoint_every, 1);
    ck_assert_double_eq(o.adam_beta1, 0.9);
    ck_assert_double_eq(o.adam_beta2, 0.999);
    ck_assert_double_eq(o.adam_eps, 1e-8);
    ck_assert_double_eq(o.step_gamma, 0.1);
    ck_assert_uint_eq(o.step_epochs, 10);
    ck_assert_int_eq(o.nesterov, 0);
    ck_assert_ptr_null(o.validation);
    ck_assert_ptr_null(o.checkpoint_path);

    /* only struct_size bytes are written */
    unsigned char buf[sizeof(mimic_train_options) + 8];
    memset(buf, 0xcd, sizeof buf);
    size_t small = offsetof(mimic_train_options, batch_size);
    mimic_train_options_init((mimic_train_options *)(void *)buf, small);
    for (size_t i = small; i < sizeof buf; i++)
        ck_assert_uint_eq(buf[i], 0xcd);
    size_t got;
    memcpy(&got, buf, sizeof got);
    ck_assert_uint_eq(got, small);

    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    ck_assert(isnan(m.logit_l2) && isnan(m.accuracy) && m.rows == 0);
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert(isnan(r.best_validation_loss) && r.epochs_run == 0);
}
END_TEST


/* The update loops flush subnormal results to 0 (momentum of a parameter whose gradient is
 * 0 decays geometrically into the subnormal range, where every operation is slow) and leave
 * the caller's floating-point control word as it was. */
START_TEST(test_update_flushes_subnormals)
{
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    float p_in[4] = {1, 2, 3, 4}, p_out[4], g[4] = {0, 0, 0, 1e-3f}, m[4], v[4];
    for (int32_t opt = MIMIC_OPTIMIZER_SGD; opt <= MIMIC_OPTIMIZER_ADAM; opt++) {
        o.optimizer = opt;
        o.momentum = 0.5;
        o.adam_beta1 = 0.5;
        for (int i = 0; i < 4; i++) {
            m[i] = 1.5e-38f; /* normal; half of it is subnormal */
            v[i] = 0;
        }
#if defined(__x86_64__) || defined(__SSE__)
        unsigned csr = _mm_getcsr();
#endif
        float *state[2] = {m, v};
        ck_assert(mimic__optimizer_get(opt)->update(&o, 0.01, 1, p_in, p_out, g, 1.0f, state, 4));
#if defined(__x86_64__) || defined(__SSE__)
        ck_assert_uint_eq(_mm_getcsr(), csr);
        for (int i = 0; i < 3 && tt_cpu_flushes_subnormals(); i++)
            ck_assert_msg(m[i] == 0.0f, "optimizer %d: m[%d] = %g, not flushed", (int)opt, i,
                          (double)m[i]);
#endif
        ck_assert(m[3] > 0 && isnormal(m[3]));
        for (int i = 0; i < 3; i++)
            ck_assert(p_out[i] == p_in[i]);
        ck_assert(p_out[3] < p_in[3]);
    }
}
END_TEST

START_TEST(test_default_learning_rate)
{
    ck_assert_double_eq(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_SGD, MIMIC_LOSS_L2), 0.001);
    ck_assert_double_eq(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_SGD, MIMIC_LOSS_KD), 0.05);
    ck_assert_double_eq(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_SGD, MIMIC_LOSS_LABELS), 0.05);
    for (int32_t loss = MIMIC_LOSS_L2; loss <= MIMIC_LOSS_LABELS; loss++) {
        ck_assert_double_eq(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_ADAM, loss), 0.001);
        ck_assert_double_eq(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_ADAMW, loss), 0.001);
    }
    ck_assert(isnan(mimic_train_default_learning_rate(0, MIMIC_LOSS_L2)));
    ck_assert(isnan(mimic_train_default_learning_rate(99, MIMIC_LOSS_L2)));
    ck_assert(isnan(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_SGD, 0)));
    ck_assert(isnan(mimic_train_default_learning_rate(MIMIC_OPTIMIZER_ADAM, 99)));
}
END_TEST

static int first_lr(const mimic_progress *pr, void *ud)
{
    double *lr = ud;
    if (isnan(*lr))
        *lr = pr->learning_rate;
    return 0;
}

/* learning_rate 0 and target_norm AUTO train exactly as the values they stand for. */
START_TEST(test_auto_options_resolve)
{
    tt_problem p;
    tt_problem_make(&p, 96, 6, 3, 21, 3.0f, 1.0f);
    const int32_t losses[3] = {MIMIC_LOSS_L2, MIMIC_LOSS_KD, MIMIC_LOSS_LABELS};
    for (int i = 0; i < 3; i++) {
        for (int32_t opt = MIMIC_OPTIMIZER_SGD; opt <= MIMIC_OPTIMIZER_ADAM; opt++) {
            mimic_student *a = tt_student(6, 12, 3, 3, 4), *b = tt_student(6, 12, 3, 3, 4);
            mimic_train_options o = tt_options();
            o.loss = losses[i];
            o.optimizer = opt;
            o.epochs = 2;
            o.schedule = MIMIC_SCHEDULE_CONSTANT;
            o.learning_rate = 0;
            o.target_norm = MIMIC_TARGET_AUTO;
            double lr = NAN;
            o.progress = first_lr;
            o.progress_user_data = &lr;
            ck_assert_int_eq(mimic_train(a, p.d, &o, NULL), MIMIC_OK);
            double want = mimic_train_default_learning_rate(opt, losses[i]);
            ck_assert_double_eq(lr, want);
            o.learning_rate = want;
            o.target_norm = losses[i] == MIMIC_LOSS_L2 ? MIMIC_TARGET_STANDARDIZE : MIMIC_TARGET_NONE;
            o.progress = NULL;
            ck_assert_int_eq(mimic_train(b, p.d, &o, NULL), MIMIC_OK);
            ck_assert_msg(tt_same_student(a, b), "loss %d optimizer %d", (int)losses[i], (int)opt);
            mimic_student_free(a);
            mimic_student_free(b);
        }
    }
    tt_problem_free(&p);
}
END_TEST

/* A first-time user's run: every option at its default but the epoch count, on teacher
 * logits spanning about +-40 (Fashion-MNIST's span is -4..14): it converges without tuning.
 * (On Fashion-MNIST the earlier defaults, SGD at 0.05 on raw logits, diverged.) */
START_TEST(test_defaults_converge_l2)
{
    tt_problem p;
    tt_problem_make(&p, 2048, 10, 4, 31, 20.0f, 2.0f);
    mimic_student *s = tt_student(10, 64, 0, 4, 5);
    mimic_metrics before = tt_eval(s, p.d, 1.0);
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.epochs = 30;
    int rc = mimic_train(s, p.d, &o, NULL);
    ck_assert_msg(rc == MIMIC_OK, "%s", mimic_last_error());
    mimic_metrics after = tt_eval(s, p.d, 1.0);
    ck_assert_msg(after.logit_l2 < 0.1 * before.logit_l2, "logit L2 %g -> %g", before.logit_l2,
                  after.logit_l2);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

/* The paper's setting: L2 regression on logits makes the student match the teacher. */
START_TEST(test_l2_learns)
{
    tt_problem p;
    tt_problem_make(&p, 1024, 16, 6, 1, 2.0f, 0.0f);
    for (size_t k = 0; k <= 8; k += 8) {
        mimic_student *s = tt_student(16, 96, k, 6, 3);
        mimic_metrics before = tt_eval(s, p.d, 4);
        mimic_train_options o = tt_options();
        o.epochs = 40;
        o.learning_rate = 0.02;
        mimic_train_report r;
        mimic_train_report_init(&r, sizeof r);
        ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_OK);
        mimic_metrics after = tt_eval(s, p.d, 4);
        ck_assert_msg(after.logit_l2 < before.logit_l2 / 20, "k=%zu l2 %g -> %g", k,
                      before.logit_l2, after.logit_l2);
        ck_assert_msg(after.agreement > 0.9, "k=%zu agreement %g", k, after.agreement);
        ck_assert_uint_eq(r.epochs_run, 40);
        ck_assert_uint_eq(r.steps, 40 * 32);
        ck_assert_uint_eq(r.best_epoch, 40);
        ck_assert(isfinite(r.final_train_loss) && r.final_train_loss < before.logit_l2 / 20);
        ck_assert(isnan(r.best_validation_loss));
        ck_assert(r.examples_per_s > 0);
        mimic_student_free(s);
    }
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_kd_and_labels_learn)
{
    tt_problem p;
    tt_problem_make(&p, 1024, 16, 4, 2, 3.0f, 0.0f);
    int32_t kinds[3] = {MIMIC_LOSS_KD, MIMIC_LOSS_KD, MIMIC_LOSS_LABELS};
    double hard[3] = {0, 0.5, 0};
    for (int i = 0; i < 3; i++) {
        mimic_student *s = tt_student(16, 64, 0, 4, 5);
        mimic_metrics before = tt_eval(s, p.d, 4);
        mimic_train_options o = tt_options();
        o.loss = kinds[i];
        o.hard_weight = hard[i];
        o.epochs = 30;
        o.learning_rate = 0.05;
        ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_OK);
        mimic_metrics after = tt_eval(s, p.d, 4);
        ck_assert_msg(after.accuracy > 0.85 && after.accuracy > before.accuracy + 0.2,
                      "loss %d: accuracy %g -> %g", kinds[i], before.accuracy, after.accuracy);
        if (kinds[i] == MIMIC_LOSS_KD)
            ck_assert_msg(after.kl < before.kl / 3, "kl %g -> %g", before.kl, after.kl);
        else
            ck_assert(after.hard_ce < before.hard_ce / 3);
        mimic_student_free(s);
    }
    tt_problem_free(&p);
}
END_TEST

typedef struct lr_log {
    double lr[4096];
    double loss[4096];
    size_t n;
    size_t epoch_reports;
    mimic_progress last;
} lr_log;

static int log_progress(const mimic_progress *pr, void *ud)
{
    lr_log *l = ud;
    ck_assert_uint_eq(pr->struct_size, sizeof *pr);
    ck_assert(pr->step >= 1 && pr->step <= 4096);
    l->lr[pr->step - 1] = pr->learning_rate; /* every report carries its last step's rate */
    if (pr->epoch_end) {
        l->epoch_reports++;
        l->last = *pr;
        return 0;
    }
    ck_assert(isnan(pr->validation.logit_l2) && !pr->has_validation);
    l->n++;
    return 0;
}

/* Runs 4 epochs of 10 steps (rows 100, batch 10) and logs each step's learning rate. The
 * step at index 39 is the last one (it ends an epoch, so only epoch reports see it). */
static void run_schedule(mimic_train_options *o, lr_log *l, tt_problem *p)
{
    mimic_student *s = tt_student(p->D, 8, 0, p->C, 1);
    memset(l, 0, sizeof *l);
    o->epochs = 4;
    o->batch_size = 10;
    o->learning_rate = 0.1;
    o->progress = log_progress;
    o->progress_user_data = l;
    o->progress_every_steps = 1;
    ck_assert_int_eq(mimic_train(s, p->d, o, NULL), MIMIC_OK);
    ck_assert_uint_eq(l->n, 36); /* 40 steps, 4 of them epoch ends */
    ck_assert_uint_eq(l->epoch_reports, 4);
    ck_assert_uint_eq(l->last.steps_per_epoch, 10);
    mimic_student_free(s);
}

/* lr of global step index t (0-based) */
static double lr_of(const lr_log *l, size_t t)
{
    return l->lr[t];
}

START_TEST(test_schedules)
{
    tt_problem p;
    tt_problem_make(&p, 100, 6, 3, 3, 1.0f, 0.0f);
    lr_log *l = calloc(1, sizeof *l);
    mimic_train_options o = tt_options();
    o.schedule = MIMIC_SCHEDULE_CONSTANT;
    run_schedule(&o, l, &p);
    for (size_t t = 0; t < 40; t++)
        ck_assert_double_eq_tol(lr_of(l, t), 0.1, 1e-15);

    o = tt_options();
    o.schedule = MIMIC_SCHEDULE_COSINE;
    run_schedule(&o, l, &p);
    ck_assert_double_eq_tol(lr_of(l, 0), 0.1, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 20), 0.05, 1e-12);     /* half-way */
    ck_assert_double_eq_tol(lr_of(l, 10), 0.1 * (1 + cos(M_PI / 4)) / 2, 1e-12);
    ck_assert_double_eq_tol(lr_of(l, 39), 0.1 * (1 + cos(M_PI * 39 / 40)) / 2, 1e-12);
    for (size_t t = 1; t < 40; t++)
        ck_assert(lr_of(l, t) < lr_of(l, t - 1));
    ck_assert(l->last.learning_rate < 0.001);

    o = tt_options();
    o.schedule = MIMIC_SCHEDULE_STEP;
    o.step_epochs = 2;
    o.step_gamma = 0.5;
    run_schedule(&o, l, &p);
    ck_assert_double_eq_tol(lr_of(l, 0), 0.1, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 18), 0.1, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 20), 0.05, 1e-15);
    ck_assert_double_eq_tol(l->last.learning_rate, 0.05, 1e-15);

    /* warm-up: 1.5 epochs = 15 steps, linear, on top of the constant schedule */
    o = tt_options();
    o.schedule = MIMIC_SCHEDULE_CONSTANT;
    o.warmup_epochs = 1.5;
    run_schedule(&o, l, &p);
    ck_assert_double_eq_tol(lr_of(l, 0), 0.1 / 15, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 7), 0.1 * 8 / 15, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 13), 0.1 * 14 / 15, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 14), 0.1, 1e-15);
    ck_assert_double_eq_tol(lr_of(l, 30), 0.1, 1e-15);
    free(l);
    tt_problem_free(&p);
}
END_TEST

static double param_dist(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* With momentum 0 the first step moves the weights by exactly lr * |g|, clipped to lr * c. */
START_TEST(test_clipping)
{
    tt_problem p;
    tt_problem_make(&p, 64, 8, 3, 4, 30.0f, 0.0f);
    double moved[2];
    for (int clip = 0; clip < 2; clip++) {
        mimic_student *s = tt_student(8, 16, 0, 3, 2);
        size_t n = s->L.n_params;
        float *before = malloc(n * sizeof(float));
        memcpy(before, s->params, n * sizeof(float));
        mimic_train_options o = tt_options();
        o.standardize = 0;
        o.momentum = 0;
        o.schedule = MIMIC_SCHEDULE_CONSTANT;
        o.learning_rate = 0.01;
        o.clip_norm = clip ? 0.5 : 0;
        mimic_trainer *t = NULL;
        ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_OK);
        double loss = -1;
        ck_assert_int_eq(mimic_trainer_step(t, &loss), MIMIC_OK);
        ck_assert(loss > 0);
        moved[clip] = param_dist(before, s->params, n);
        mimic_trainer_free(t);
        mimic_student_free(s);
        free(before);
    }
    ck_assert_msg(moved[0] > 0.01 * 0.5 * 4, "unclipped step %g too small for the test", moved[0]);
    ck_assert_double_le(moved[1], 0.01 * 0.5 * (1 + 1e-4));
    ck_assert_double_ge(moved[1], 0.01 * 0.5 * (1 - 1e-3));
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_adam_adamw)
{
    tt_problem p;
    tt_problem_make(&p, 512, 12, 4, 5, 2.0f, 0.0f);
    mimic_student *res[3] = {NULL, NULL, NULL};
    int32_t opt[3] = {MIMIC_OPTIMIZER_ADAM, MIMIC_OPTIMIZER_ADAMW, MIMIC_OPTIMIZER_SGD};
    for (int i = 0; i < 3; i++) {
        mimic_student *s = tt_student(12, 64, 0, 4, 9);
        mimic_metrics before = tt_eval(s, p.d, 4);
        mimic_train_options o = tt_options();
        o.optimizer = opt[i];
        o.nesterov = opt[i] == MIMIC_OPTIMIZER_SGD;
        o.learning_rate = opt[i] == MIMIC_OPTIMIZER_SGD ? 0.02 : 0.003;
        o.weight_decay = 1e-3;
        o.epochs = 20;
        ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_OK);
        mimic_metrics after = tt_eval(s, p.d, 4);
        ck_assert_msg(after.logit_l2 < before.logit_l2 / 10, "optimizer %d: %g -> %g", opt[i],
                      before.logit_l2, after.logit_l2);
        res[i] = s;
    }
    /* decoupled weight decay is a different update */
    ck_assert(!tt_same_student(res[0], res[1]));
    for (int i = 0; i < 3; i++)
        mimic_student_free(res[i]);
    tt_problem_free(&p);
}
END_TEST

typedef struct cancel_ctx {
    mimic_student *s;
    uint64_t stop_epoch;
    float *snapshot;
    uint64_t calls;
} cancel_ctx;

static int cancel_at(const mimic_progress *pr, void *ud)
{
    cancel_ctx *c = ud;
    c->calls++;
    if (pr->epoch_end && pr->epoch == c->stop_epoch) {
        memcpy(c->snapshot, c->s->params, c->s->L.n_params * sizeof(float));
        return 1;
    }
    return 0;
}

START_TEST(test_cancel)
{
    tt_problem p;
    tt_problem_make(&p, 256, 8, 3, 6, 1.0f, 0.0f);
    mimic_student *s = tt_student(8, 32, 4, 3, 1);
    cancel_ctx c = {s, 2, malloc(s->L.n_params * sizeof(float)), 0};
    mimic_train_options o = tt_options();
    o.epochs = 5;
    o.progress = cancel_at;
    o.progress_user_data = &c;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "cancelled"));
    ck_assert_uint_eq(c.calls, 2);
    ck_assert_uint_eq(r.epochs_run, 2); /* the report is filled on failure too */
    ck_assert_uint_eq(r.steps, 16);
    /* the student holds the weights the callback saw: those after the last step */
    ck_assert_int_eq(memcmp(c.snapshot, s->params, s->L.n_params * sizeof(float)), 0);
    ck_assert(tt_all_finite(s));

    /* mid-epoch cancellation */
    c.calls = 0;
    c.stop_epoch = 99;
    o.progress_every_steps = 3;
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_OK);
    ck_assert_uint_eq(c.calls, 5 + 40 / 3 - 1); /* step 24 ends epoch 3: only its epoch report */
    free(c.snapshot);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_divergence)
{
    tt_problem p;
    tt_problem_make(&p, 256, 8, 3, 7, 5.0f, 0.0f);
    int32_t opts[2] = {MIMIC_OPTIMIZER_SGD, MIMIC_OPTIMIZER_ADAM};
    for (int i = 0; i < 2; i++) {
        mimic_student *s = tt_student(8, 32, 0, 3, 1);
        mimic_train_options o = tt_options();
        o.optimizer = opts[i];
        o.learning_rate = opts[i] == MIMIC_OPTIMIZER_SGD ? 1e6 : 1e30;
        o.schedule = MIMIC_SCHEDULE_CONSTANT;
        mimic_train_report r;
        mimic_train_report_init(&r, sizeof r);
        ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_ERR_NUMERIC);
        const char *msg = mimic_last_error();
        ck_assert_msg(strstr(msg, "diverged at epoch 1, step ") && strstr(msg, "learning_rate"),
                      "%s", msg);
        ck_assert(tt_all_finite(s));
        mimic_student_free(s);
    }
    /* step by step: on divergence the student holds the last weights whose loss was finite:
     * the previous step's when the loss blew up (the current weights produced it), the current
     * ones when only the gradient or the update did */
    mimic_student *s = tt_student(8, 32, 0, 3, 1);
    size_t n = s->L.n_params;
    float *prev = malloc(n * sizeof(float)), *prev2 = malloc(n * sizeof(float));
    mimic_train_options o = tt_options();
    o.learning_rate = 1e3;
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_OK);
    int rc = MIMIC_OK, steps = 0;
    memcpy(prev, s->params, n * sizeof(float));
    for (; steps < 100 && rc == MIMIC_OK; steps++) {
        memcpy(prev2, prev, n * sizeof(float));
        memcpy(prev, s->params, n * sizeof(float));
        rc = mimic_trainer_step(t, NULL);
    }
    ck_assert_int_eq(rc, MIMIC_ERR_NUMERIC);
    ck_assert_int_gt(steps, 1);
    int loss_bad = strstr(mimic_last_error(), "the loss is") != NULL;
    char want[64];
    snprintf(want, sizeof want, "after global step %d, the last", steps - 1 - loss_bad);
    ck_assert_msg(strstr(mimic_last_error(), want), "%s", mimic_last_error());
    ck_assert_int_eq(memcmp(loss_bad ? prev2 : prev, s->params, n * sizeof(float)), 0);
    mimic_metrics m = tt_eval(s, p.d, 1);
    ck_assert_msg(isfinite(m.logit_l2), "restored weights give logit_l2 %g", m.logit_l2);
    free(prev);
    free(prev2);
    /* ...and a diverged trainer refuses further work */
    ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_ERR_MISUSE);
    ck_assert(tt_all_finite(s));
    mimic_trainer_free(t);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

typedef struct val_log {
    double loss[256];
    size_t n;
    const mimic_student *s; /* when set, snapshot the weights of the best epoch so far */
    float *best;
} val_log;

static int log_validation(const mimic_progress *pr, void *ud)
{
    val_log *v = ud;
    ck_assert(pr->epoch_end && pr->has_validation);
    ck_assert_uint_eq(pr->epoch, v->n + 1);
    int improved = v->n == 0 || pr->validation.logit_l2 < v->loss[0];
    for (size_t i = 1; i < v->n; i++)
        improved = improved && pr->validation.logit_l2 < v->loss[i];
    if (v->s && improved)
        memcpy(v->best, v->s->params, v->s->L.n_params * sizeof(float));
    v->loss[v->n++] = pr->validation.logit_l2;
    return 0;
}

/* Random-noise targets: the validation loss improves while the student learns the mean,
 * then worsens as it memorizes the training noise. */
START_TEST(test_early_stopping)
{
    size_t rows = 48, D = 10, C = 3;
    float *x = malloc(2 * rows * D * sizeof(float)), *t = malloc(2 * rows * C * sizeof(float));
    tu_fill_uniform(x, 2 * rows * D, 0, 1, 11);
    tu_fill_uniform(t, 2 * rows * C, -3, 3, 12);
    for (size_t i = 0; i < 2 * rows * C; i++)
        t[i] += 5.0f;
    mimic_dataset *tr = NULL, *va = NULL;
    ck_assert_int_eq(mimic_dataset_create(&tr, x, MIMIC_DTYPE_F32, t, NULL, rows, D, C), MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_create(&va, x + rows * D, MIMIC_DTYPE_F32, t + rows * C, NULL,
                                          rows, D, C),
                     MIMIC_OK);
    mimic_student *s = tt_student(D, 256, 0, C, 4);
    val_log v = {{0}, 0, s, malloc(s->L.n_params * sizeof(float))};
    mimic_train_options o = tt_options();
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    o.learning_rate = 0.01;
    o.schedule = MIMIC_SCHEDULE_CONSTANT;
    o.batch_size = 16;
    o.epochs = 200;
    o.validation = va;
    o.patience = 5;
    o.progress = log_validation;
    o.progress_user_data = &v;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_train(s, tr, &o, &r), MIMIC_OK);
    ck_assert_int_eq(r.stopped_early, 1);
    ck_assert_uint_lt(r.epochs_run, 200);
    ck_assert_uint_eq(v.n, r.epochs_run);
    size_t best = 0;
    for (size_t i = 1; i < v.n; i++)
        if (v.loss[i] < v.loss[best])
            best = i;
    ck_assert_uint_eq(r.best_epoch, best + 1);
    ck_assert_uint_eq(r.epochs_run, best + 1 + 5);
    ck_assert_double_eq(r.best_validation_loss, v.loss[best]);
    ck_assert(v.loss[v.n - 1] > v.loss[best]); /* restoring the best weights matters */
    /* the returned student is the best epoch's, bit for bit (the callback saw the student at
     * each epoch end); mimic_evaluate reproduces the reported loss up to float summation
     * order (it may chunk rows differently from the trainer's validation pass) */
    ck_assert_int_eq(memcmp(s->params, v.best, s->L.n_params * sizeof(float)), 0);
    mimic_metrics m = tt_eval(s, va, 4);
    ck_assert_double_eq_tol(m.logit_l2, v.loss[best], 1e-6 * v.loss[best]);
    free(v.best);
    mimic_student_free(s);
    mimic_dataset_free(tr);
    mimic_dataset_free(va);
    free(x);
    free(t);
}
END_TEST

/* A feature that is constant in the training data gets scale 1 / std_floor, not infinity. */
START_TEST(test_standardize_constant_feature)
{
    size_t rows = 64, D = 5, C = 2;
    uint8_t *x = malloc(rows * D);
    float *t = malloc(rows * C * sizeof(float));
    double sum = 0, sq = 0;
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < D; j++)
            x[r * D + j] = (uint8_t)(j == 0 ? 0 : j == 1 ? 7 : (r * 37 + j * 11) % 256);
        sum += x[r * D + 2];
        sq += (double)x[r * D + 2] * x[r * D + 2];
        t[r * C] = (float)x[r * D + 2] / 255.0f;
        t[r * C + 1] = -t[r * C];
    }
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, x, MIMIC_DTYPE_U8, t, NULL, rows, D, C), MIMIC_OK);
    mimic_student *s = tt_student(D, 8, 0, C, 1);
    mimic_train_options o = tt_options();
    o.epochs = 1;
    o.std_floor = 0.25;
    ck_assert_int_eq(mimic_train(s, d, &o, NULL), MIMIC_OK);
    const float *mean, *scale;
    size_t r1, c1;
    ck_assert_int_eq(mimic_student_tensor(s, "input.mean", &mean, &r1, &c1), MIMIC_OK);
    ck_assert_int_eq(mimic_student_tensor(s, "input.scale", &scale, &r1, &c1), MIMIC_OK);
    ck_assert_float_eq(mean[0], 0.0f);
    ck_assert_float_eq(scale[0], 4.0f);
    ck_assert_float_eq(mean[1], 7.0f);
    ck_assert_float_eq(scale[1], 4.0f);
    double mu = sum / (double)rows, sd = sqrt(sq / (double)rows - mu * mu);
    ck_assert_double_eq_tol(mean[2], mu, 1e-4);
    ck_assert_double_eq_tol(scale[2], 1.0 / sd, 1e-6);
    ck_assert(tt_all_finite(s));
    mimic_student_free(s);
    mimic_dataset_free(d);
    free(x);
    free(t);
}
END_TEST

/* Teacher logits on a large scale with large per-class offsets: the student trains on
 * standardized targets, and the returned student predicts the original scale. */
START_TEST(test_target_standardize)
{
    tt_problem p;
    tt_problem_make(&p, 1024, 12, 4, 8, 40.0f, 100.0f);
    double var = 0; /* logit_l2 of always predicting the per-class mean */
    for (size_t c = 0; c < 4; c++) {
        double m = 0, q = 0;
        for (size_t r = 0; r < p.rows; r++) {
            m += p.t[r * 4 + c];
            q += (double)p.t[r * 4 + c] * p.t[r * 4 + c];
        }
        m /= (double)p.rows;
        var += q / (double)p.rows - m * m;
    }
    double baseline = var / 2;
    mimic_student *s = tt_student(12, 96, 0, 4, 3);
    mimic_train_options o = tt_options();
    o.target_norm = MIMIC_TARGET_STANDARDIZE;
    o.epochs = 40;
    o.learning_rate = 0.02;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_OK);
    mimic_metrics m = tt_eval(s, p.d, 4);
    ck_assert_msg(m.logit_l2 < baseline / 20, "l2 %g, baseline %g", m.logit_l2, baseline);
    /* the training loss is on the normalized scale (unit-variance targets) */
    ck_assert_msg(r.final_train_loss < 0.2 && r.final_train_loss > m.logit_l2 / 40 / 40 / 10,
                  "train loss %g", r.final_train_loss);
    mimic_student_free(s);

    tt_problem_free(&p);

    /* CENTER: the student learns the row-centered logits; softmax, kl and agreement are
     * unaffected by the per-row offset it does not learn */
    tt_problem_make(&p, 1024, 12, 4, 8, 2.0f, 3.0f);
    s = tt_student(12, 96, 0, 4, 3);
    mimic_metrics before = tt_eval(s, p.d, 1);
    o.target_norm = MIMIC_TARGET_CENTER;
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_OK);
    m = tt_eval(s, p.d, 1);
    ck_assert_msg(m.agreement > 0.9 && m.kl < before.kl / 10, "agreement %g kl %g -> %g",
                  m.agreement, before.kl, m.kl);
    double rowmean_sum = 0; /* the student's logits sum to about 0 per row */
    float *z = malloc(p.rows * 4 * sizeof(float));
    ck_assert_int_eq(mimic_student_forward(s, p.x, p.rows, z), MIMIC_OK);
    for (size_t i = 0; i < p.rows * 4; i++)
        rowmean_sum += z[i];
    ck_assert_double_lt(fabs(rowmean_sum / (double)p.rows), 0.2);
    free(z);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_stepwise_equals_train)
{
    tt_problem p;
    tt_problem_make(&p, 300, 8, 3, 9, 1.0f, 0.0f);
    mimic_student *a = tt_student(8, 32, 4, 3, 1), *b = tt_student(8, 32, 4, 3, 1);
    mimic_train_options o = tt_options();
    o.epochs = 3;
    o.batch_size = 64; /* 300 rows: a partial last batch of 44 */
    o.warmup_epochs = 0.5;
    ck_assert_int_eq(mimic_train(a, p.d, &o, NULL), MIMIC_OK);
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, b, p.d, &o), MIMIC_OK);
    /* a mix: single steps and whole epochs */
    ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
    mimic_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.struct_size = sizeof pr;
    ck_assert_int_eq(mimic_trainer_epoch(t, &pr), MIMIC_OK);
    ck_assert_uint_eq(pr.epoch, 1);
    ck_assert_uint_eq(pr.step, 5);
    ck_assert(pr.epoch_end == 1 && isfinite(pr.train_loss));
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK); /* end processing only */
    ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_ERR_MISUSE);
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_trainer_get_report(t, &r), MIMIC_OK);
    ck_assert_uint_eq(r.epochs_run, 3);
    ck_assert_uint_eq(r.steps, 15);
    mimic_trainer_free(t);
    ck_assert(tt_same_student(a, b));
    mimic_student_free(a);
    mimic_student_free(b);
    tt_problem_free(&p);
}
END_TEST

/* Dropout: the mask rate, reproducibility, that it changes training (and only training),
 * that it still learns, and that 1.0 callers (a struct without the field) get none. */
START_TEST(test_dropout)
{
    /* the hash keeps 1 - p of the units, per step and overall */
    mimic__dropout dr;
    mimic__dropout_init(&dr, 0.3, mimic__hash64(7, 0));
    size_t kept = 0, n = 1u << 20;
    for (size_t i = 0; i < n; i++)
        kept += mimic__dropout_bits((uint32_t)i, dr.k0, dr.k1) >= dr.threshold;
    ck_assert_msg(fabs((double)kept / (double)n - 0.7) < 0.002, "kept %zu of %zu", kept, n);
    mimic__dropout d2;
    mimic__dropout_init(&d2, 0.3, mimic__hash64(7, 1));
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += (mimic__dropout_bits((uint32_t)i, dr.k0, dr.k1) >= dr.threshold) ==
                (mimic__dropout_bits((uint32_t)i, d2.k0, d2.k1) >= d2.threshold);
    /* independent masks agree on 0.7^2 + 0.3^2 = 58% of the units */
    ck_assert_msg(fabs((double)same / (double)n - 0.58) < 0.003, "steps 0 and 1 agree on %zu",
                  same);

    tt_problem p;
    tt_problem_make(&p, 512, 12, 4, 21, 2.0f, 0.0f);
    mimic_student *s[4];
    mimic_train_report r[4];
    for (int i = 0; i < 4; i++) {
        s[i] = tt_student(12, 64, i == 3 ? 0 : 6, 4, 3);
        mimic_train_options o = tt_options();
        o.optimizer = MIMIC_OPTIMIZER_ADAM;
        o.learning_rate = 0.003;
        o.epochs = 30;
        o.batch_size = 32;
        o.dropout = i == 2 ? 0 : 0.25;
        if (i == 3)
            o.loss = MIMIC_LOSS_KD;
        mimic_train_report_init(&r[i], sizeof r[i]);
        ck_assert_int_eq(mimic_train(s[i], p.d, &o, &r[i]), MIMIC_OK);
    }
    ck_assert(tt_same_student(s[0], s[1]));  /* reproducible */
    ck_assert(!tt_same_student(s[0], s[2])); /* and it does something */
    mimic_metrics m0 = tt_eval(s[0], p.d, 4), m2 = tt_eval(s[2], p.d, 4);
    ck_assert_msg(m0.agreement > 0.9 && m0.logit_l2 < 0.5, "with dropout: agreement %g, l2 %g",
                  m0.agreement, m0.logit_l2);
    /* the training loss sees the thinned network, evaluation the whole one */
    ck_assert_msg(r[0].final_train_loss > m0.logit_l2, "train %g vs eval %g",
                  r[0].final_train_loss, m0.logit_l2);
    ck_assert_msg(r[2].final_train_loss < r[0].final_train_loss, "no dropout %g vs dropout %g",
                  r[2].final_train_loss, r[0].final_train_loss);
    (void)m2;
    mimic_metrics m3 = tt_eval(s[3], p.d, 4);
    ck_assert_msg(m3.agreement > 0.9, "KD with dropout: agreement %g", m3.agreement);

    /* a 1.0 caller: struct_size ends before the field, whatever memory follows is ignored */
    mimic_student *old = tt_student(12, 64, 6, 4, 3);
    mimic_train_options o = tt_options();
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    o.learning_rate = 0.003;
    o.epochs = 30;
    o.batch_size = 32;
    o.struct_size = offsetof(mimic_train_options, dropout);
    o.dropout = 0.25;
    ck_assert_int_eq(mimic_train(old, p.d, &o, NULL), MIMIC_OK);
    ck_assert(tt_same_student(old, s[2]));

    /* the mask index is 32-bit: batch rows x hidden units must stay below 2^32 */
    mimic_student *huge = tt_student(1, 70000, 0, 2, 1);
    float *xs = calloc(70000, sizeof(float)), *zs = calloc(140000, sizeof(float));
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_wrap(&d, xs, MIMIC_DTYPE_F32, zs, NULL, 70000, 1, 2), MIMIC_OK);
    o = tt_options();
    o.batch_size = 70000;
    o.dropout = 0.1;
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, huge, d, &o), MIMIC_ERR_INVALID);
    ck_assert_msg(strstr(mimic_last_error(), "options.dropout") &&
                  strstr(mimic_last_error(), "2^32"), "%s", mimic_last_error());
    mimic_dataset_free(d);
    free(xs);
    free(zs);
    mimic_student_free(huge);
    mimic_student_free(old);
    for (int i = 0; i < 4; i++)
        mimic_student_free(s[i]);
    tt_problem_free(&p);
}
END_TEST

/* ---- image augmentation (options.flip, options.shift) ---------------------------------- */

/* The transform on a 2-channel 3 x 4 image, u8 and f32, against images written out by hand:
 * shift first (uncovered pixels 0, pushed-out pixels dropped), then mirror. */
START_TEST(test_augment_image)
{
    enum { C = 2, H = 3, W = 4, D = C * H * W };
    uint8_t src[D], got[D];
    for (int i = 0; i < D; i++)
        src[i] = (uint8_t)(i + 1); /* channel 0: 1..12, channel 1: 13..24 */
    static const struct {
        int flip, dy, dx;
        uint8_t want[D];
    } cases[] = {
        {0, 0, 0, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}},
        {1, 0, 0, {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17, 24, 23, 22, 21}},
        {0, 1, 0, {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 13, 14, 15, 16, 17, 18, 19, 20}},
        {0, -1, 2, {0, 0, 5, 6, 0, 0, 9, 10, 0, 0, 0, 0, 0, 0, 17, 18, 0, 0, 21, 22, 0, 0, 0, 0}},
        /* shift right by 1, then mirror: the content moves to the left edge */
        {1, 0, 1, {3, 2, 1, 0, 7, 6, 5, 0, 11, 10, 9, 0, 15, 14, 13, 0, 19, 18, 17, 0, 23, 22, 21, 0}},
        {1, 2, -3, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memset(got, 0xee, sizeof got);
        mimic__augment_image(src, got, MIMIC_DTYPE_U8, C, H, W, cases[k].flip, cases[k].dy,
                             cases[k].dx);
        for (int i = 0; i < D; i++)
            ck_assert_msg(got[i] == cases[k].want[i], "case %zu: element %d is %d, want %d", k, i,
                          got[i], cases[k].want[i]);
        float fsrc[D], fgot[D];
        for (int i = 0; i < D; i++)
            fsrc[i] = (float)src[i] - 0.5f;
        mimic__augment_image(fsrc, fgot, MIMIC_DTYPE_F32, C, H, W, cases[k].flip, cases[k].dy,
                             cases[k].dx);
        for (int i = 0; i < D; i++)
            ck_assert_msg(fgot[i] == (cases[k].want[i] ? (float)cases[k].want[i] - 0.5f : 0.0f),
                          "f32 case %zu: element %d is %g", k, i, (double)fgot[i]);
    }
}
END_TEST

/* The draws: the flip rate, every shift in [-s, s] about equally often, independent of the
 * flip, a function of (seed, step, row) only. */
START_TEST(test_augment_draw)
{
    mimic_train_options o = tt_options();
    o.image_height = 8;
    o.image_width = 8;
    o.flip = 0.3;
    o.shift = 2;
    mimic__augment a, b, c;
    ck_assert_int_eq(mimic__augment_init(&a, &o, 128, 5), 1);
    ck_assert_int_eq(a.C, 2);
    ck_assert_int_eq(mimic__augment_init(&b, &o, 128, 5), 1);
    ck_assert_int_eq(mimic__augment_init(&c, &o, 128, 6), 1);
    size_t n = 1u << 18, flips = 0, same = 0, counts[2][5] = {{0}}, flip_dx0 = 0;
    for (size_t i = 0; i < n; i++) {
        int f, dy, dx, f2, dy2, dx2;
        mimic__augment_draw(&a, i, &f, &dy, &dx);
        ck_assert(dy >= -2 && dy <= 2 && dx >= -2 && dx <= 2);
        flips += (size_t)f;
        counts[0][dy + 2]++;
        counts[1][dx + 2]++;
        flip_dx0 += (size_t)(f && dx == 0);
        mimic__augment_draw(&b, i, &f2, &dy2, &dx2);
        ck_assert(f == f2 && dy == dy2 && dx == dx2);
        mimic__augment_draw(&c, i, &f2, &dy2, &dx2);
        same += (size_t)(f == f2 && dy == dy2 && dx == dx2);
    }
    ck_assert_msg(fabs((double)flips / (double)n - 0.3) < 0.005, "flip rate %g",
                  (double)flips / (double)n);
    for (int axis = 0; axis < 2; axis++)
        for (int v = 0; v < 5; v++)
            ck_assert_msg(fabs((double)counts[axis][v] / (double)n - 0.2) < 0.005,
                          "axis %d: shift %d drawn %zu times of %zu", axis, v - 2,
                          counts[axis][v], n);
    ck_assert_msg(fabs((double)flip_dx0 / (double)n - 0.06) < 0.003, "flip and dx 0: %zu",
                  flip_dx0);
    /* another step draws anew: the same triple by chance 0.3^2 + 0.7^2 = 58% x 1/25 */
    ck_assert_msg(fabs((double)same / (double)n - 0.58 / 25) < 0.003, "steps 5 and 6: %zu", same);
    /* flip 1 mirrors every row; nothing augmented = nothing to do */
    o.flip = 1;
    o.shift = 0;
    mimic__augment_init(&a, &o, 64, 0);
    for (size_t i = 0; i < 1000; i++) {
        int f, dy, dx;
        mimic__augment_draw(&a, i, &f, &dy, &dx);
        ck_assert(f == 1 && dy == 0 && dx == 0);
    }
    o.flip = 0;
    ck_assert_int_eq(mimic__augment_init(&a, &o, 64, 0), 0);
}
END_TEST

/* A problem only augmentation can solve. Images 1 x 6 x 6: class 0 is a horizontal bar, class
 * 1 a vertical one. Training: bars in row/column 1 only, flipped or not; test: bars in every
 * other row/column (that shifts of up to 4 reach). A student trained with shifts must classify
 * them; one trained without has never seen those pixels lit. And with flip 1, a problem
 * whose class is "left half brighter" is learnt backwards: the targets stay with the stored,
 * unmirrored row. */
static mimic_dataset *bars(int positions_from, int positions_to, int reps, float **x, float **z,
                           int32_t **y)
{
    size_t rows = (size_t)(positions_to - positions_from + 1) * 2 * (size_t)reps, r = 0;
    *x = calloc(rows * 36, sizeof(float));
    *z = calloc(rows * 2, sizeof(float));
    *y = calloc(rows, sizeof(int32_t));
    for (int rep = 0; rep < reps; rep++)
        for (int p = positions_from; p <= positions_to; p++)
            for (int cls = 0; cls < 2; cls++, r++) {
                for (int i = 0; i < 6; i++)
                    (*x)[r * 36 + (cls == 0 ? p * 6 + i : i * 6 + p)] = 1.0f;
                (*z)[r * 2 + (size_t)cls] = 4.0f;
                (*z)[r * 2 + (size_t)(1 - cls)] = -4.0f;
                (*y)[r] = cls;
            }
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, *x, MIMIC_DTYPE_F32, *z, *y, rows, 36, 2), MIMIC_OK);
    return d;
}

/* Adam at 0.01 on images of h x w (no augmentation yet). */
static mimic_train_options image_options(uint64_t h, uint64_t w, uint64_t epochs)
{
    mimic_train_options o = tt_options();
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    o.learning_rate = 0.01;
    o.epochs = epochs;
    o.image_height = h;
    o.image_width = w;
    return o;
}

START_TEST(test_augment_train)
{
    float *x, *z, *xt, *zt;
    int32_t *y, *yt;
    mimic_dataset *train = bars(1, 1, 64, &x, &z, &y), *test = bars(0, 5, 1, &xt, &zt, &yt);
    mimic_student *s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = tt_student(36, 32, 0, 2, 3);
        mimic_train_options o = image_options(6, 6, 20);
        o.standardize = 0;
        o.loss = MIMIC_LOSS_KD;
        o.batch_size = 16;
        o.shift = i == 0 ? 0 : 4;
        o.flip = i == 3 ? 0.5 : 0;
        ck_assert_int_eq(mimic_train(s[i], train, &o, NULL), MIMIC_OK);
    }
    mimic_metrics plain = tt_eval(s[0], test, 1), shifted = tt_eval(s[1], test, 1),
                  both = tt_eval(s[3], test, 1);
    ck_assert_msg(shifted.accuracy == 1 && both.accuracy == 1 && plain.accuracy < 0.8,
                  "test accuracy: shift 4: %g, shift 4 + flip: %g, no shift: %g",
                  shifted.accuracy, both.accuracy, plain.accuracy);
    ck_assert(tt_same_student(s[1], s[2])); /* reproducible */
    ck_assert(!tt_same_student(s[1], s[3]));
    for (int i = 0; i < 4; i++)
        mimic_student_free(s[i]);

    /* flip 1: every row is seen mirrored, with the logits of the stored row */
    tt_problem p;
    tt_problem_make(&p, 256, 16, 2, 41, 1.0f, 0.0f);
    for (size_t r = 0; r < p.rows; r++) {
        float left = 0, right = 0;
        for (size_t j = 0; j < 16; j++)
            *(j % 4 < 2 ? &left : &right) += p.x[r * 16 + j];
        p.t[r * 2] = 3 * (left - right);
        p.t[r * 2 + 1] = -p.t[r * 2];
    }
    float *mx = malloc(p.rows * 16 * sizeof(float));
    for (size_t r = 0; r < p.rows; r++)
        mimic__augment_image(p.x + r * 16, mx + r * 16, MIMIC_DTYPE_F32, 1, 4, 4, 1, 0, 0);
    mimic_dataset *d = NULL, *mirrored = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, p.x, MIMIC_DTYPE_F32, p.t, NULL, p.rows, 16, 2),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_create(&mirrored, mx, MIMIC_DTYPE_F32, p.t, NULL, p.rows, 16, 2),
                     MIMIC_OK);
    mimic_student *f = tt_student(16, 32, 0, 2, 5);
    mimic_train_options o = image_options(4, 4, 30);
    o.flip = 1;
    ck_assert_int_eq(mimic_train(f, d, &o, NULL), MIMIC_OK);
    mimic_metrics on_mirrored = tt_eval(f, mirrored, 1), on_stored = tt_eval(f, d, 1);
    ck_assert_msg(on_mirrored.agreement > 0.95 && on_stored.agreement < 0.1,
                  "agreement on mirrored rows %g, on stored rows %g", on_mirrored.agreement,
                  on_stored.agreement);

    /* a 1.1 caller: struct_size ends before the fields, whatever follows is ignored */
    mimic_student *old = tt_student(16, 32, 0, 2, 5), *none = tt_student(16, 32, 0, 2, 5);
    o.struct_size = offsetof(mimic_train_options, image_height);
    ck_assert_int_eq(mimic_train(old, d, &o, NULL), MIMIC_OK);
    o = image_options(4, 4, 30); /* the shape alone augments nothing */
    ck_assert_int_eq(mimic_train(none, d, &o, NULL), MIMIC_OK);
    ck_assert(tt_same_student(old, none));
    ck_assert(!tt_same_student(old, f));

    mimic_student_free(f);
    mimic_student_free(old);
    mimic_student_free(none);
    mimic_dataset_free(d);
    mimic_dataset_free(mirrored);
    free(mx);
    tt_problem_free(&p);
    mimic_dataset_free(train);
    mimic_dataset_free(test);
    free(x), free(z), free(y), free(xt), free(zt), free(yt);
}
END_TEST

START_TEST(test_determinism)
{
    tt_problem p;
    tt_problem_make(&p, 200, 8, 3, 10, 1.0f, 0.0f);
    mimic_student *s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = tt_student(8, 32, 4, 3, 1);
        mimic_train_options o = tt_options();
        o.optimizer = MIMIC_OPTIMIZER_ADAMW;
        o.learning_rate = 0.003;
        o.weight_decay = 0.01;
        o.seed = i == 2 ? 8 : 7;
        o.threads = 1;
        ck_assert_int_eq(mimic_train(s[i], p.d, &o, NULL), MIMIC_OK);
    }
    ck_assert(tt_same_student(s[0], s[1]));
    ck_assert(!tt_same_student(s[0], s[2]));
    for (int i = 0; i < 3; i++)
        mimic_student_free(s[i]);
    tt_problem_free(&p);
}
END_TEST

typedef struct reduce_ctx {
    size_t n, calls;
    int fail;
} reduce_ctx;

static int zero_grads(float *g, size_t n, void *ud)
{
    reduce_ctx *c = ud;
    ck_assert_uint_eq(n, c->n);
    c->calls++;
    memset(g, 0, n * sizeof(float));
    return c->fail;
}

START_TEST(test_grad_reduce)
{
    tt_problem p;
    tt_problem_make(&p, 100, 8, 3, 11, 1.0f, 0.0f);
    mimic_student *s = tt_student(8, 16, 0, 3, 1), *ref = tt_student(8, 16, 0, 3, 1);
    reduce_ctx c = {s->L.n_params, 0, 0};
    mimic_train_options o = tt_options();
    o.standardize = 0;
    o.grad_reduce = zero_grads;
    o.grad_reduce_user_data = &c;
    o.epochs = 2;
    ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_OK);
    ck_assert_uint_eq(c.calls, 8);
    ck_assert(tt_same_student(s, ref)); /* zero gradients, no decay: nothing moves */
    c.fail = 3;
    ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "grad_reduce"));
    mimic_student_free(s);
    mimic_student_free(ref);
    tt_problem_free(&p);
}
END_TEST

typedef struct bad_case {
    const char *field;
    void (*set)(mimic_train_options *o);
} bad_case;

#define BAD_CASE(name, stmt)                                                                      \
    static void set_##name(mimic_train_options *o) { stmt; }
BAD_CASE(loss, o->loss = 9)
BAD_CASE(optimizer, o->optimizer = 0)
BAD_CASE(schedule, o->schedule = 99)
BAD_CASE(nesterov, o->nesterov = 2)
BAD_CASE(nesterov_adam, (o->nesterov = 1, o->optimizer = MIMIC_OPTIMIZER_ADAM))
BAD_CASE(standardize, o->standardize = -1)
BAD_CASE(target_norm, o->target_norm = 4)
BAD_CASE(target_norm_kd, (o->target_norm = MIMIC_TARGET_CENTER, o->loss = MIMIC_LOSS_KD))
BAD_CASE(threads, o->threads = -2)
BAD_CASE(eval_train, o->eval_train = 5)
BAD_CASE(epochs, o->epochs = 0)
BAD_CASE(batch_size, o->batch_size = 0)
BAD_CASE(learning_rate, o->learning_rate = -0.01)
BAD_CASE(learning_rate_nan, o->learning_rate = NAN)
BAD_CASE(momentum, o->momentum = 1)
BAD_CASE(weight_decay, o->weight_decay = -1)
BAD_CASE(temperature, o->temperature = 0)
BAD_CASE(hard_weight, o->hard_weight = 1.5)
BAD_CASE(clip_norm, o->clip_norm = INFINITY)
BAD_CASE(warmup_epochs, o->warmup_epochs = -0.5)
BAD_CASE(step_gamma, o->step_gamma = 0)
BAD_CASE(step_epochs, o->step_epochs = 0)
BAD_CASE(adam_beta1, o->adam_beta1 = 1)
BAD_CASE(adam_beta2, o->adam_beta2 = -0.1)
BAD_CASE(adam_eps, o->adam_eps = 0)
BAD_CASE(std_floor, o->std_floor = 0)
BAD_CASE(patience, o->patience = 3)
BAD_CASE(checkpoint_path, o->checkpoint_path = "")
BAD_CASE(checkpoint_every, (o->checkpoint_path = "x.ckpt", o->checkpoint_every = 0))
BAD_CASE(resume, o->resume = 1)
BAD_CASE(dropout, o->dropout = 1)
BAD_CASE(dropout_neg, o->dropout = -0.1)
BAD_CASE(dropout_nan, o->dropout = NAN)
BAD_CASE(flip, (o->image_height = 2, o->image_width = 2, o->flip = 1.5))
BAD_CASE(flip_nan, (o->image_height = 2, o->image_width = 2, o->flip = NAN))
BAD_CASE(flip_no_image, o->flip = 0.5)
BAD_CASE(shift_no_image, o->shift = 1)
BAD_CASE(image_shape, (o->image_height = 3, o->image_width = 1, o->flip = 0.5))
BAD_CASE(image_too_big, (o->image_height = 4, o->image_width = 4, o->shift = 1))
BAD_CASE(shift_too_big, (o->image_height = 2, o->image_width = 2, o->shift = 2))

START_TEST(test_bad_options)
{
    static const bad_case cases[] = {
        {"options.loss", set_loss},
        {"options.optimizer", set_optimizer},
        {"options.schedule", set_schedule},
        {"options.nesterov", set_nesterov},
        {"options.nesterov", set_nesterov_adam},
        {"options.standardize", set_standardize},
        {"options.target_norm", set_target_norm},
        {"options.target_norm", set_target_norm_kd},
        {"options.threads", set_threads},
        {"options.eval_train", set_eval_train},
        {"options.epochs", set_epochs},
        {"options.batch_size", set_batch_size},
        {"options.learning_rate", set_learning_rate},
        {"options.learning_rate", set_learning_rate_nan},
        {"options.momentum", set_momentum},
        {"options.weight_decay", set_weight_decay},
        {"options.temperature", set_temperature},
        {"options.hard_weight", set_hard_weight},
        {"options.clip_norm", set_clip_norm},
        {"options.warmup_epochs", set_warmup_epochs},
        {"options.step_gamma", set_step_gamma},
        {"options.step_epochs", set_step_epochs},
        {"options.adam_beta1", set_adam_beta1},
        {"options.adam_beta2", set_adam_beta2},
        {"options.adam_eps", set_adam_eps},
        {"options.std_floor", set_std_floor},
        {"options.patience", set_patience},
        {"options.checkpoint_path", set_checkpoint_path},
        {"options.checkpoint_every", set_checkpoint_every},
        {"options.resume", set_resume},
        {"options.dropout", set_dropout},
        {"options.dropout", set_dropout_neg},
        {"options.dropout", set_dropout_nan},
        {"options.flip", set_flip},
        {"options.flip", set_flip_nan},
        {"options.flip", set_flip_no_image},
        {"options.shift", set_shift_no_image},
        {"options.image_height", set_image_shape},
        {"options.image_height", set_image_too_big},
        {"options.shift", set_shift_too_big},
    };
    tt_problem p;
    tt_problem_make(&p, 32, 4, 3, 12, 1.0f, 0.0f);
    mimic_student *s = tt_student(4, 8, 0, 3, 1), *ref = tt_student(4, 8, 0, 3, 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mimic_train_options o = tt_options();
        cases[i].set(&o);
        mimic_trainer *t = (mimic_trainer *)&o; /* must be reset to NULL */
        ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_ERR_INVALID);
        ck_assert_ptr_null(t);
        ck_assert_msg(strstr(mimic_last_error(), cases[i].field) != NULL, "case %zu: '%s' lacks %s",
                      i, mimic_last_error(), cases[i].field);
        ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_ERR_INVALID);
    }
    ck_assert(tt_same_student(s, ref)); /* rejected runs leave the student alone */

    /* versioned struct: a larger struct with a non-zero unknown tail */
    struct {
        mimic_train_options o;
        uint64_t extra;
    } big;
    memset(&big, 0, sizeof big);
    mimic_train_options_init(&big.o, sizeof big);
    big.o.batch_size = 8;
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &big.o), MIMIC_OK);
    mimic_trainer_free(t);
    big.extra = 1;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &big.o), MIMIC_ERR_VERSION);
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, NULL), MIMIC_ERR_INVALID);
    mimic_student_free(s);
    mimic_student_free(ref);
    tt_problem_free(&p);
}
END_TEST

START_TEST(test_shapes_and_misuse)
{
    tt_problem p;
    tt_problem_make(&p, 32, 4, 3, 13, 1.0f, 0.0f);
    mimic_train_options o = tt_options();
    mimic_trainer *t = NULL;
    mimic_student *wrong_d = tt_student(5, 8, 0, 3, 1), *wrong_c = tt_student(4, 8, 0, 4, 1);
    ck_assert_int_eq(mimic_trainer_create(&t, wrong_d, p.d, &o), MIMIC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "train"));
    ck_assert_int_eq(mimic_train(wrong_c, p.d, &o, NULL), MIMIC_ERR_SHAPE);
    mimic_student *s = tt_student(4, 8, 0, 3, 1);
    /* validation set of the wrong shape */
    mimic_dataset *v2 = NULL;
    ck_assert_int_eq(mimic_dataset_create(&v2, p.x, MIMIC_DTYPE_F32, p.t, NULL, 8, 2, 6), MIMIC_OK);
    o.validation = v2;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "options.validation"));
    /* labels / logits the loss needs */
    mimic_dataset *nolabels = NULL, *nologits = NULL;
    ck_assert_int_eq(mimic_dataset_create(&nolabels, p.x, MIMIC_DTYPE_F32, p.t, NULL, 32, 4, 3),
                     MIMIC_OK);
    ck_assert_int_eq(mimic_dataset_create(&nologits, p.x, MIMIC_DTYPE_F32, NULL, p.y, 32, 4, 3),
                     MIMIC_OK);
    o = tt_options();
    ck_assert_int_eq(mimic_trainer_create(&t, s, nologits, &o), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "logits"));
    o.loss = MIMIC_LOSS_LABELS;
    ck_assert_int_eq(mimic_trainer_create(&t, s, nolabels, &o), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "labels"));
    ck_assert_int_eq(mimic_trainer_create(&t, s, nologits, &o), MIMIC_OK); /* labels suffice */
    mimic_trainer_free(t);
    o.loss = MIMIC_LOSS_KD;
    ck_assert_int_eq(mimic_trainer_create(&t, s, nolabels, &o), MIMIC_OK);
    mimic_trainer_free(t);
    o.hard_weight = 0.3;
    ck_assert_int_eq(mimic_trainer_create(&t, s, nolabels, &o), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "hard_weight"));
    o.hard_weight = 0;
    o.validation = nologits; /* KD's criterion needs validation logits */
    ck_assert_int_eq(mimic_trainer_create(&t, s, nolabels, &o), MIMIC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(mimic_last_error(), "options.validation"));

    /* handles */
    o = tt_options();
    ck_assert_int_eq(mimic_trainer_create(NULL, s, p.d, &o), MIMIC_ERR_INVALID);
    ck_assert_int_eq(mimic_trainer_create(&t, NULL, p.d, &o), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_create(&t, s, NULL, &o), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_train(s, (const mimic_dataset *)(const void *)s, &o, NULL),
                     MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_step(NULL, NULL), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_epoch(NULL, NULL), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_save_checkpoint(NULL, "x"), MIMIC_ERR_MISUSE);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(NULL, "x"), MIMIC_ERR_MISUSE);
    mimic_train_report r;
    r.struct_size = 0;
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_ERR_INVALID);
    mimic_trainer_free(NULL);
    mimic_dataset_free(v2);
    mimic_dataset_free(nolabels);
    mimic_dataset_free(nologits);
    mimic_student_free(s);
    mimic_student_free(wrong_d);
    mimic_student_free(wrong_c);
    tt_problem_free(&p);
}
END_TEST

/* Fail the n-th allocation for n = 1, 2, ... through trainer creation, a short training run
 * with validation, early stopping, eval_train and evaluation: NOMEM or success, no leak (ASan). */
START_TEST(test_alloc_failures)
{
    tt_problem p;
    tt_problem_make(&p, 64, 6, 3, 14, 1.0f, 0.0f);
    mimic_train_options o = tt_options();
    o.epochs = 2;
    o.validation = p.d;
    o.patience = 1;
    o.eval_train = 1;
    o.target_norm = MIMIC_TARGET_STANDARDIZE;
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    int succeeded = 0;
    for (uint64_t n = 1; n < 200 && !succeeded; n++) {
        mimic_student *s = tt_student(6, 8, 2, 3, 1), *ref = tt_student(6, 8, 2, 3, 1);
        mimic__alloc_fail_at(n);
        mimic_metrics m;
        mimic_metrics_init(&m, sizeof m);
        int rc = mimic_train(s, p.d, &o, NULL);
        if (rc == MIMIC_OK)
            rc = mimic_evaluate(s, p.d, 4, &m);
        uint64_t made = mimic__alloc_fail_at(0);
        ck_assert_msg(rc == MIMIC_OK || rc == MIMIC_ERR_NOMEM, "n=%" PRIu64 ": %d %s", n, rc,
                      mimic_last_error());
        if (rc == MIMIC_ERR_NOMEM && made < n)
            ck_abort_msg("NOMEM without a failed allocation");
        if (rc == MIMIC_OK) {
            succeeded = 1;
            ck_assert(isfinite(m.logit_l2));
        }
        ck_assert(tt_all_finite(s));
        mimic_student_free(s);
        mimic_student_free(ref);
    }
    ck_assert(succeeded);
    tt_problem_free(&p);
}
END_TEST

/* A part of a batch (what one rank of several reads: rows [r0, r0 + m) of n) gets the
 * dropout mask and the loss gradient that those rows get in the whole batch, bit for bit,
 * when the mask starts at the part's offset and the loss divides by the whole batch. */
START_TEST(test_part_of_batch)
{
    enum { N = 9, R0 = 4, M = 3, D = 16, H = 24, K = 6, C = 4 };
    tt_problem p;
    tt_problem_make(&p, N, D, C, 5, 2.0f, 0.5f);
    mimic_student *s = tt_student(D, H, K, C, 4);
    const mimic__layout *L = &s->L;
    float *ws = mimic__falloc(mimic__student_ws_floats(L, N), 1);
    float *ws2 = mimic__falloc(mimic__student_ws_floats(L, N), 1);
    float g[N * C], g2[M * C], scratch[N * C];
    ck_assert(ws && ws2);
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    for (int32_t loss = MIMIC_LOSS_L2; loss <= MIMIC_LOSS_LABELS; loss++) {
        o.loss = loss;
        o.hard_weight = 0.25;
        mimic__dropout dr;
        mimic__dropout_init(&dr, 0.3, 12345 + (uint64_t)loss);
        float *z, *h, *logits, *z2, *h2, *logits2;
        /* sigmoid: a unit is 0 only where the mask dropped it */
        mimic__student_forward_ws(L, MIMIC_ACT_SIGMOID, s->params, p.x, N, &dr, ws, &z, &h, &logits,
                                  NULL);
        mimic__dropout part = dr;
        part.offset = (uint32_t)(R0 * H);
        mimic__student_forward_ws(L, MIMIC_ACT_SIGMOID, s->params, p.x + R0 * D, M, &part, ws2, &z2,
                                  &h2, &logits2, NULL);
        int dropped = 0;
        for (size_t i = 0; i < M * H; i++) { /* fewer rows may take another sgemm path */
            ck_assert((h2[i] == 0) == (h[R0 * H + i] == 0));
            ck_assert_float_eq_tol(h2[i], h[R0 * H + i], 1e-5f);
            dropped += h2[i] == 0;
        }
        ck_assert_int_gt(dropped, 0);
        /* the loss on the part's logits (as the whole batch computed them) */
        mimic__loss_args all = {logits, p.t, p.y, N, C, &o, scratch, 0};
        mimic__loss_args mine = {logits + R0 * C, p.t + R0 * C, p.y + R0, M, C, &o, scratch, N};
        double l_all, l_mine;
        const mimic__loss *fn = mimic__loss_get(loss);
        ck_assert_int_eq(fn->batch(&all, &l_all, g), MIMIC_OK);
        ck_assert_int_eq(fn->batch(&mine, &l_mine, g2), MIMIC_OK);
        ck_assert(memcmp(g + R0 * C, g2, M * C * sizeof(float)) == 0);
        ck_assert(l_mine > 0 && l_mine < l_all);
        (void)z2;
        (void)logits2;
    }
    mimic__free(ws);
    mimic__free(ws2);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

/* The statistics from sums over parts of the rows (what ranks add up): uint8 sums are exact,
 * so any split gives the same bits; both agree with one process's Welford update. */
START_TEST(test_stats_from_parts)
{
    enum { ROWS = 201, D = 16, C = 4 };
    tt_problem p;
    tt_problem_make(&p, ROWS, D, C, 5, 2.0f, 0.5f);
    mimic_dataset *u8 = NULL;
    ck_assert_int_eq(mimic_dataset_create(&u8, p.x8, MIMIC_DTYPE_U8, p.t, p.y, ROWS, D, C),
                     MIMIC_OK);
    const mimic_dataset *sets[2] = {u8, p.d};
    for (int k = 0; k < 2; k++) {
        const mimic_dataset *d = sets[k];
        float mean[D], scale[D], mean1[D], scale1[D], tm[C], ts[C], tm1[C], ts1[C];
        double one[2 * D] = {0}, parts[2 * D] = {0}, t_parts[2 * C] = {0};
        mimic__input_sums(d, 0, ROWS, one);
        const uint64_t cut[] = {0, 50, 51, 140, ROWS};
        for (int q = 0; q < 4; q++) {
            double a[2 * D] = {0}, b[2 * C] = {0};
            mimic__input_sums(d, cut[q], cut[q + 1], a);
            ck_assert_int_eq(mimic__target_sums(d, cut[q], cut[q + 1], b), MIMIC_OK);
            for (int j = 0; j < 2 * D; j++)
                parts[j] += a[j];
            for (int j = 0; j < 2 * C; j++)
                t_parts[j] += b[j];
        }
        if (d->input_dtype == MIMIC_DTYPE_U8)
            ck_assert(memcmp(one, parts, sizeof one) == 0);
        mimic__input_finish(d, 0.1, parts, mean, scale);
        mimic__target_finish(d, t_parts, tm, ts);
        ck_assert_int_eq(mimic__input_stats(d, 0.1, mean1, scale1), MIMIC_OK);
        ck_assert_int_eq(mimic__target_stats(d, tm1, ts1), MIMIC_OK);
        for (int j = 0; j < D; j++) {
            ck_assert_float_eq_tol(mean[j], mean1[j], 1e-6f * fabsf(mean1[j]));
            ck_assert_float_eq_tol(scale[j], scale1[j], 1e-6f * scale1[j]);
        }
        for (int j = 0; j < C; j++) {
            ck_assert_float_eq_tol(tm[j], tm1[j], 1e-6f * fabsf(tm1[j]) + 1e-7f);
            ck_assert_float_eq_tol(ts[j], ts1[j], 1e-6f * ts1[j]);
        }
    }
    /* a target-sums allocation that fails is reported */
    double b[2 * C] = {0};
    mimic__alloc_fail_at(1);
    ck_assert_int_eq(mimic__target_sums(p.d, 0, ROWS, b), MIMIC_ERR_NOMEM);
    mimic__alloc_fail_at(0);
    mimic_dataset_free(u8);
    tt_problem_free(&p);
}
END_TEST

/* The metrics from the sums over parts of the rows equal those over all of them. */
START_TEST(test_evaluate_sums)
{
    enum { ROWS = 101, D = 8, C = 4, CHUNK = 16 };
    tt_problem p;
    tt_problem_make(&p, ROWS, D, C, 9, 2.0f, 0.5f);
    mimic_student *s = tt_student(D, 12, 0, C, 2);
    mimic__eval_ws w;
    ck_assert_int_eq(mimic__eval_ws_alloc(&w, &s->L, CHUNK), MIMIC_OK);
    mimic_metrics all, parts;
    mimic_metrics_init(&all, sizeof all);
    mimic_metrics_init(&parts, sizeof parts);
    mimic__evaluate_ws(s, p.d, 2.0, 0, CHUNK, &w, NULL, &all);
    mimic__eval_sums a = {0, 0, 0, 0, 0}, b = {0, 0, 0, 0, 0};
    mimic__evaluate_sums(s, p.d, 2.0, 0, 0, 37, CHUNK, &w, NULL, &a);
    mimic__evaluate_sums(s, p.d, 2.0, 0, 37, ROWS, CHUNK, &w, NULL, &b);
    a.sq += b.sq;
    a.kl += b.kl;
    a.ce += b.ce;
    a.correct += b.correct;
    a.agree += b.agree;
    mimic__evaluate_finish(&a, p.d, &parts);
    ck_assert_uint_eq(parts.rows, ROWS);
    ck_assert(parts.accuracy == all.accuracy && parts.agreement == all.agreement);
    ck_assert_double_eq_tol(parts.logit_l2, all.logit_l2, 1e-6 * all.logit_l2);
    ck_assert_double_eq_tol(parts.kl, all.kl, 1e-6 * all.kl);
    ck_assert_double_eq_tol(parts.hard_ce, all.hard_ce, 1e-6 * all.hard_ce);
    mimic__eval_ws_free(&w);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_default_learning_rate);
    tcase_add_test(tc, test_update_flushes_subnormals);
    tcase_add_test(tc, test_auto_options_resolve);
    tcase_add_test(tc, test_defaults_converge_l2);
    tcase_add_test(tc, test_l2_learns);
    tcase_add_test(tc, test_kd_and_labels_learn);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_clipping);
    tcase_add_test(tc, test_adam_adamw);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_divergence);
    tcase_add_test(tc, test_early_stopping);
    tcase_add_test(tc, test_standardize_constant_feature);
    tcase_add_test(tc, test_target_standardize);
    tcase_add_test(tc, test_stepwise_equals_train);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_augment_image);
    tcase_add_test(tc, test_augment_draw);
    tcase_add_test(tc, test_augment_train);
    tcase_add_test(tc, test_grad_reduce);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_shapes_and_misuse);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_part_of_batch);
    tcase_add_test(tc, test_stats_from_parts);
    tcase_add_test(tc, test_evaluate_sums);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
