/* Trainer checkpoints: bitwise resume (epoch boundary and mid-epoch), periodic writes by
 * mimic_train, and rejection of checkpoints from other options, data or files. */
#include <stdio.h>
#include <unistd.h>

#include "train_testutil.h"

static mimic_train_options ck_options(const mimic_dataset *val)
{
    mimic_train_options o = tt_options();
    o.epochs = 4;
    o.target_norm = MIMIC_TARGET_STANDARDIZE;
    o.nesterov = 1;
    o.warmup_epochs = 0.7;
    o.clip_norm = 5;
    o.validation = val;
    o.patience = 50; /* keeps a best-weights snapshot in the checkpoint */
    return o;
}

/* 4 epochs uninterrupted == 2 epochs, checkpoint, fresh student, resume to 4: bit for bit. */
START_TEST(test_resume_bitwise)
{
    tt_problem p;
    tt_problem_make(&p, 300, 10, 4, 1, 2.0f, 1.0f);
    mimic_dataset *val = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&val, p.d, 200, 100), MIMIC_OK);
    int32_t opts[2] = {MIMIC_OPTIMIZER_SGD, MIMIC_OPTIMIZER_ADAMW};
    for (int i = 0; i < 2; i++) {
        const char *path = tu_path(i ? "resume_adamw.ckpt" : "resume_sgd.ckpt");
        unlink(path);
        mimic_train_options o = ck_options(val);
        o.optimizer = opts[i];
        o.nesterov = opts[i] == MIMIC_OPTIMIZER_SGD;
        o.learning_rate = opts[i] == MIMIC_OPTIMIZER_SGD ? 0.01 : 0.003;
        o.weight_decay = 1e-3;
        o.dropout = i ? 0.2 : 0; /* masks are drawn from (seed, step): nothing to save */
        if (i) {                 /* and so are the augmentation's draws */
            o.image_height = 2;
            o.image_width = 5;
            o.flip = 0.5;
            o.shift = 1;
        }
        mimic_student *full = tt_student(10, 32, 4, 4, 5);
        mimic_train_report rf;
        mimic_train_report_init(&rf, sizeof rf);
        ck_assert_int_eq(mimic_train(full, p.d, &o, &rf), MIMIC_OK);

        /* the interrupted run: 2 epochs through the step-wise API, then a checkpoint */
        mimic_student *half = tt_student(10, 32, 4, 4, 5);
        mimic_trainer *t = NULL;
        ck_assert_int_eq(mimic_trainer_create(&t, half, p.d, &o), MIMIC_OK);
        ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK);
        ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK);
        ck_assert_int_eq(mimic_trainer_save_checkpoint(t, path), MIMIC_OK);
        mimic_trainer_free(t);
        ck_assert(!tt_same_student(half, full));

        mimic_student *resumed = tt_student(10, 32, 4, 4, 5);
        o.checkpoint_path = path;
        o.resume = 1;
        mimic_train_report rr;
        mimic_train_report_init(&rr, sizeof rr);
        ck_assert_int_eq(mimic_train(resumed, p.d, &o, &rr), MIMIC_OK);
        ck_assert_msg(tt_same_student(full, resumed), "optimizer %d: resumed run differs", opts[i]);
        ck_assert_uint_eq(rr.epochs_run, 4);
        ck_assert_uint_eq(rr.steps, rf.steps);
        ck_assert_uint_eq(rr.best_epoch, rf.best_epoch);
        ck_assert_uint_eq(rf.best_epoch, 4); /* learning: the last epoch validates best */
        ck_assert_double_eq(rr.final_train_loss, rf.final_train_loss);
        ck_assert_double_eq(rr.best_validation_loss, rf.best_validation_loss);
        /* resuming a finished run does nothing more */
        ck_assert_int_eq(mimic_train(resumed, p.d, &o, &rr), MIMIC_OK);
        ck_assert(tt_same_student(full, resumed));
        ck_assert_uint_eq(rr.steps, rf.steps);
        mimic_student_free(full);
        mimic_student_free(half);
        mimic_student_free(resumed);
    }
    mimic_dataset_free(val);
    tt_problem_free(&p);
}
END_TEST

/* A checkpoint in the middle of an epoch restores the epoch's order and position. */
START_TEST(test_resume_mid_epoch)
{
    tt_problem p;
    tt_problem_make(&p, 250, 8, 3, 3, 1.0f, 0.0f);
    const char *path = tu_path("mid.ckpt");
    mimic_train_options o = tt_options();
    o.epochs = 3;
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    o.learning_rate = 0.003;
    o.batch_size = 40; /* 7 steps per epoch, the last one partial */
    mimic_student *a = tt_student(8, 16, 0, 3, 2), *b = tt_student(8, 16, 0, 3, 2);
    ck_assert_int_eq(mimic_train(a, p.d, &o, NULL), MIMIC_OK);
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, b, p.d, &o), MIMIC_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_save_checkpoint(t, path), MIMIC_OK);
    mimic_trainer_free(t);
    mimic_student_free(b);
    b = tt_student(8, 16, 0, 3, 2);
    ck_assert_int_eq(mimic_trainer_create(&t, b, p.d, &o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, path), MIMIC_OK);
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_trainer_get_report(t, &r), MIMIC_OK);
    ck_assert_uint_eq(r.steps, 10);
    ck_assert_uint_eq(r.epochs_run, 1);
    for (int e = 0; e < 3; e++) {
        int rc = mimic_trainer_epoch(t, NULL);
        if (e == 2)
            ck_assert_int_eq(rc, MIMIC_ERR_MISUSE); /* all 3 epochs done */
        else
            ck_assert_int_eq(rc, MIMIC_OK);
    }
    mimic_trainer_free(t);
    ck_assert(tt_same_student(a, b));
    mimic_student_free(a);
    mimic_student_free(b);
    tt_problem_free(&p);
}
END_TEST

static int count_epochs(const mimic_progress *pr, void *ud)
{
    (void)pr;
    ++*(int *)ud;
    return *(int *)ud == 3; /* cancel after epoch 3 */
}

/* mimic_train writes checkpoints every checkpoint_every epochs; a cancelled run resumes. */
START_TEST(test_periodic_and_cancel_resume)
{
    tt_problem p;
    tt_problem_make(&p, 200, 8, 3, 4, 1.0f, 0.0f);
    const char *path = tu_path("periodic.ckpt");
    unlink(path);
    mimic_train_options o = tt_options();
    o.epochs = 6;
    o.checkpoint_path = path;
    o.checkpoint_every = 2;
    mimic_student *full = tt_student(8, 16, 0, 3, 2), *s = tt_student(8, 16, 0, 3, 2);
    ck_assert_int_eq(mimic_train(full, p.d, &o, NULL), MIMIC_OK);
    ck_assert_int_eq(access(path, F_OK), 0);
    unlink(path);
    int calls = 0;
    o.progress = count_epochs;
    o.progress_user_data = &calls;
    ck_assert_int_eq(mimic_train(s, p.d, &o, NULL), MIMIC_ERR_CANCELLED);
    /* the checkpoint holds epoch 2 (epoch 3 was not a checkpoint epoch) */
    mimic__st_file f;
    ck_assert_int_eq(mimic__safetensors_read(path, &f), MIMIC_OK);
    ck_assert_str_eq(mimic__st_meta_get(&f, "epoch"), "2");
    ck_assert_ptr_nonnull(mimic__st_meta_get(&f, "rng.3"));
    ck_assert_ptr_nonnull(mimic__st_find(&f, "optimizer.m"));
    ck_assert_ptr_nonnull(mimic__st_find(&f, "input.scale"));
    mimic__st_close(&f);
    o.progress = NULL;
    o.resume = 1;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    ck_assert_int_eq(mimic_train(s, p.d, &o, &r), MIMIC_OK);
    ck_assert_uint_eq(r.epochs_run, 6);
    ck_assert(tt_same_student(full, s));
    mimic_student_free(full);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

/* Loading the checkpoint at `path` into a trainer for (s, d, o) fails with rc, naming `key`. */
static void expect_mismatch(mimic_student *s, const mimic_dataset *d, const mimic_train_options *o,
                            const char *path, int rc, const char *key)
{
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, d, o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, path), rc);
    ck_assert_msg(strstr(mimic_last_error(), key), "%s", mimic_last_error());
    mimic_trainer_free(t);
}

START_TEST(test_rejects_mismatch)
{
    tt_problem p, q;
    tt_problem_make(&p, 120, 8, 3, 5, 1.0f, 0.0f);
    tt_problem_make(&q, 120, 8, 3, 6, 1.0f, 0.0f); /* same shape, other data */
    const char *path = tu_path("mismatch.ckpt");
    mimic_train_options o = tt_options();
    o.epochs = 2;
    o.image_height = 2; /* the shape alone augments nothing */
    o.image_width = 4;
    mimic_student *s = tt_student(8, 16, 0, 3, 2);
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_save_checkpoint(t, path), MIMIC_OK);
    float *saved = malloc(s->L.n_params * sizeof(float));
    memcpy(saved, s->params, s->L.n_params * sizeof(float));
    mimic_trainer_free(t);

    /* other options, data, architecture */
    mimic_train_options o2 = o;
    o2.learning_rate = 0.02;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.learning_rate");
    o2 = o;
    o2.dropout = 0.1;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.dropout");
    o2 = o;
    o2.flip = 0.5;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.flip");
    o2 = o;
    o2.shift = 1;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.shift");
    o2 = o;
    o2.image_height = 4;
    o2.image_width = 2;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.image_height");
    o2 = o; /* enums by their names */
    o2.optimizer = MIMIC_OPTIMIZER_ADAMW;
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID,
                    "options.optimizer is sgd in the checkpoint but adamw here");
    o2 = o;
    o2.epochs = 3; /* cosine: the length is part of the schedule */
    expect_mismatch(s, p.d, &o2, path, MIMIC_ERR_INVALID, "options.epochs");
    expect_mismatch(s, q.d, &o, path, MIMIC_ERR_SHAPE, "data.");
    mimic_student *wide = tt_student(8, 20, 0, 3, 2);
    expect_mismatch(wide, p.d, &o, path, MIMIC_ERR_SHAPE, "student.hidden");
    mimic_student_free(wide);
    /* not a checkpoint: a student file; garbage; a missing file */
    const char *spath = tu_path("student.safetensors");
    ck_assert_int_eq(mimic_student_save(s, spath), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, spath), MIMIC_ERR_FORMAT);
    ck_assert_msg(strstr(mimic_last_error(), "not a libmimic trainer checkpoint"), "%s",
                  mimic_last_error());
    const char *gpath = tu_path("garbage.ckpt");
    tu_write_file(gpath, "not a safetensors file", 22);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, gpath), MIMIC_ERR_FORMAT);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, tu_path("missing.ckpt")), MIMIC_ERR_IO);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, NULL), MIMIC_ERR_INVALID);
    /* a failed load leaves the trainer usable and the good checkpoint still loads */
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, path), MIMIC_OK);
    ck_assert_int_eq(memcmp(saved, s->params, s->L.n_params * sizeof(float)), 0);
    ck_assert_int_eq(mimic_trainer_epoch(t, NULL), MIMIC_OK);
    mimic_trainer_free(t);
    /* mimic_train with resume surfaces the mismatch */
    o2 = o;
    o2.seed = 99;
    o2.checkpoint_path = path;
    o2.resume = 1;
    ck_assert_int_eq(mimic_train(s, p.d, &o2, NULL), MIMIC_ERR_INVALID);
    ck_assert_msg(strstr(mimic_last_error(), "options.seed"), "%s", mimic_last_error());
    free(saved);
    mimic_student_free(s);
    tt_problem_free(&p);
    tt_problem_free(&q);
}
END_TEST

/* A checkpoint with a tampered state field is refused. */
START_TEST(test_rejects_inconsistent_state)
{
    tt_problem p;
    tt_problem_make(&p, 100, 6, 3, 7, 1.0f, 0.0f);
    const char *path = tu_path("state.ckpt"), *bad = tu_path("state_bad.ckpt");
    mimic_train_options o = tt_options();
    mimic_student *s = tt_student(6, 8, 0, 3, 2);
    mimic_trainer *t = NULL;
    ck_assert_int_eq(mimic_trainer_create(&t, s, p.d, &o), MIMIC_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mimic_trainer_step(t, NULL), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_save_checkpoint(t, path), MIMIC_OK);
    size_t n = 0;
    char *buf = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(buf);
    /* "epoch_position":"3" -> "epoch_position":"4": step count no longer agrees */
    char *at = memmem(buf, n, "\"epoch_position\":\"3\"", 20);
    ck_assert_ptr_nonnull(at);
    at[18] = '4';
    tu_write_file(bad, buf, n);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, bad), MIMIC_ERR_FORMAT);
    ck_assert_msg(strstr(mimic_last_error(), "inconsistent"), "%s", mimic_last_error());
    at[18] = '3';
    /* a 1.0 checkpoint has no "opt.dropout" (renamed here): it means no dropout */
    at = memmem(buf, n, "\"opt.dropout\"", 13);
    ck_assert_ptr_nonnull(at);
    at[11] = 'X';
    tu_write_file(bad, buf, n);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, bad), MIMIC_OK);
    mimic_trainer *t2 = NULL;
    o.dropout = 0.5;
    ck_assert_int_eq(mimic_trainer_create(&t2, s, p.d, &o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t2, bad), MIMIC_ERR_INVALID);
    ck_assert_msg(strstr(mimic_last_error(), "options.dropout is 0 in the checkpoint but 0.5 here"),
                  "%s", mimic_last_error());
    mimic_trainer_free(t2);
    o.dropout = 0;
    /* a 1.1 checkpoint has none of the augmentation's keys: no augmentation */
    const char *keys[] = {"\"opt.image_height\"", "\"opt.image_width\"", "\"opt.flip\"",
                          "\"opt.shift\""};
    for (size_t k = 0; k < 4; k++) {
        at = memmem(buf, n, keys[k], strlen(keys[k]));
        ck_assert_ptr_nonnull(at);
        at[5] = 'X';
    }
    tu_write_file(bad, buf, n);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t, bad), MIMIC_OK);
    o.image_height = 2;
    o.image_width = 3;
    o.flip = 0.5;
    ck_assert_int_eq(mimic_trainer_create(&t2, s, p.d, &o), MIMIC_OK);
    ck_assert_int_eq(mimic_trainer_load_checkpoint(t2, bad), MIMIC_ERR_INVALID);
    ck_assert_msg(strstr(mimic_last_error(), "options.image_height is 0 in the checkpoint but 2 here"),
                  "%s", mimic_last_error());
    mimic_trainer_free(t2);
    free(buf);
    mimic_trainer_free(t);
    mimic_student_free(s);
    tt_problem_free(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_resume_bitwise);
    tcase_add_test(tc, test_resume_mid_epoch);
    tcase_add_test(tc, test_periodic_and_cancel_resume);
    tcase_add_test(tc, test_rejects_mismatch);
    tcase_add_test(tc, test_rejects_inconsistent_state);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
