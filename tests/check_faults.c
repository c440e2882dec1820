/*
 * Fault injection across the public API.
 *
 * Allocation failures: for every public call that allocates, fail its N-th allocation
 * (mimic__alloc_fail_at) for N = 1, 2, ... until the call succeeds with fewer than N
 * allocations. Every failing run must return MIMIC_ERR_NOMEM with a message, set *out to
 * NULL for constructors, leave the handles it was given usable, and leak nothing (run this
 * suite under ASan/LSan or valgrind to check the last point; CK_FORK=no).
 *
 * I/O failures: saving a student, a checkpoint, an .npy and an ONNX export to a full disk
 * (RLIMIT_FSIZE in a child process: write() fails with EFBIG), an unwritable place, and a
 * path that is a directory must return MIMIC_ERR_IO with a message naming the path, leave
 * an existing file at that path byte-identical and leave no temporary file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/train.h"
#include "testutil.h"

enum { ROWS = 24, D = 5, H = 6, K = 3, C = 3 };

static float g_x[ROWS * D], g_z[ROWS * C];
static int32_t g_y[ROWS];

static void make_data(void)
{
    tu_fill_uniform(g_x, ROWS * D, -1.0f, 1.0f, 21);
    tu_fill_uniform(g_z, ROWS * C, -2.0f, 2.0f, 22);
    for (int i = 0; i < ROWS; i++)
        g_y[i] = i % C;
}

static mimic_dataset *new_dataset(void)
{
    mimic_dataset *d = NULL;
    ck_assert_int_eq(mimic_dataset_create(&d, g_x, MIMIC_DTYPE_F32, g_z, g_y, ROWS, D, C),
                     MIMIC_OK);
    return d;
}

static void student_opts(mimic_student_options *so, size_t k)
{
    mimic_student_options_init(so, sizeof *so);
    so->n_inputs = D;
    so->n_hidden = H;
    so->n_bottleneck = k;
    so->n_classes = C;
    so->seed = 4;
}

static mimic_student *new_student(void)
{
    mimic_student_options so;
    student_opts(&so, K);
    mimic_student *s = NULL;
    ck_assert_int_eq(mimic_student_create(&s, &so), MIMIC_OK);
    return s;
}

static void train_opts(mimic_train_options *o)
{
    mimic_train_options_init(o, sizeof *o);
    o->epochs = 2;
    o->batch_size = 8;
    o->learning_rate = 0.01;
    o->seed = 3;
}

/* The student still works: a forward pass without injected failures. */
static void assert_student_usable(const mimic_student *s)
{
    float x[D] = {0.5f, -0.25f, 0.0f, 1.0f, 0.125f}, z[C];
    ck_assert_msg(mimic_student_forward(s, x, 1, z) == MIMIC_OK, "%s", mimic_last_error());
    for (int c = 0; c < C; c++)
        ck_assert(isfinite(z[c]));
}

/* No temporary file ("<name>.tmp.XXXXXX") is left in the suite's directory. */
static void assert_no_temp_files(void)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", tu_path(""));
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strstr(e->d_name, ".tmp.") == NULL, "temporary file left: %s", e->d_name);
    closedir(d);
}

/* ---- allocation-failure loop ---------------------------------------------------------- */

typedef int (*op_fn)(void *ctx);
typedef void (*check_fn)(void *ctx, int rc);

/* Runs op with the n-th allocation failing for n = 1, 2, ...; every failure must be
 * MIMIC_ERR_NOMEM with a message. After each run, `after` (optional) runs with injection
 * off, to check that the handles op was given still work. Returns the failing runs. */
static unsigned fault_loop_checked(const char *what, op_fn op, check_fn after, void *ctx)
{
    unsigned failures = 0;
    for (uint64_t n = 1;; n++) {
        ck_assert_msg(n < 100000, "%s: no end to the allocations", what);
        mimic__alloc_fail_at(n);
        int rc = op(ctx);
        uint64_t made = mimic__alloc_fail_at(0);
        if (after)
            after(ctx, rc);
        if (rc == MIMIC_OK) {
            if (made < n)
                break; /* the n-th allocation never happened: every one was tried */
            continue;  /* the failure was absorbed (a fallback path); go on */
        }
        ck_assert_msg(rc == MIMIC_ERR_NOMEM, "%s: allocation %llu failed, status %d (%s): %s",
                      what, (unsigned long long)n, rc, mimic_status_str(rc), mimic_last_error());
        ck_assert_msg(mimic_last_error()[0] != '\0', "%s: no message", what);
        failures++;
    }
    ck_assert_msg(failures > 0, "%s: made no allocation at all", what);
    return failures;
}

static unsigned fault_loop(const char *what, op_fn op, void *ctx)
{
    return fault_loop_checked(what, op, NULL, ctx);
}

/* Each op owns its cleanup: what it creates is freed before it returns, on every path. */

static int op_dataset_create(void *ctx)
{
    (void)ctx;
    mimic_dataset *d = (mimic_dataset *)1;
    int rc = mimic_dataset_create(&d, g_x, MIMIC_DTYPE_F32, g_z, g_y, ROWS, D, C);
    ck_assert(rc == MIMIC_OK ? d != NULL : d == NULL);
    mimic_dataset_free(d);
    return rc;
}

static int op_dataset_wrap(void *ctx)
{
    (void)ctx;
    mimic_dataset *d = (mimic_dataset *)1;
    int rc = mimic_dataset_wrap(&d, g_x, MIMIC_DTYPE_F32, g_z, NULL, ROWS, D, C);
    ck_assert(rc == MIMIC_OK ? d != NULL : d == NULL);
    mimic_dataset_free(d);
    return rc;
}

static int op_dataset_slice(void *ctx)
{
    const mimic_dataset *parent = ctx;
    mimic_dataset *d = (mimic_dataset *)1;
    int rc = mimic_dataset_slice(&d, parent, 2, 10);
    ck_assert(rc == MIMIC_OK ? d != NULL : d == NULL);
    mimic_dataset_free(d);
    return rc;
}

static int op_dataset_load(void *ctx)
{
    const char *const *paths = ctx;
    mimic_dataset *d = (mimic_dataset *)1;
    int rc = mimic_dataset_load_npy(&d, paths[0], paths[1], paths[2]);
    ck_assert(rc == MIMIC_OK ? d != NULL : d == NULL);
    if (rc == MIMIC_OK)
        ck_assert_uint_eq(mimic_dataset_rows(d), ROWS);
    mimic_dataset_free(d);
    return rc;
}

START_TEST(test_nomem_dataset)
{
    make_data();
    fault_loop("mimic_dataset_create", op_dataset_create, NULL);
    /* wrap may or may not allocate beyond the handle: at least the handle. */
    fault_loop("mimic_dataset_wrap", op_dataset_wrap, NULL);
    mimic_dataset *parent = new_dataset();
    fault_loop("mimic_dataset_slice", op_dataset_slice, parent);
    ck_assert_uint_eq(mimic_dataset_rows(parent), ROWS); /* parent intact */
    mimic_dataset_free(parent);

    /* load_npy: f8 inputs and logits (converted copies) and i8 labels. */
    static double x8[ROWS * D], z8[ROWS * C];
    for (int i = 0; i < ROWS * D; i++)
        x8[i] = g_x[i];
    for (int i = 0; i < ROWS * C; i++)
        z8[i] = g_z[i];
    const char *paths[3] = {tu_path("fx.npy"), tu_path("fz.npy"), tu_path("fy.npy")};
    /* mimic_npy_save writes f32, u8 and i32 only: the f8 and i8 files by hand. */
    static int64_t y8[ROWS];
    for (int i = 0; i < ROWS; i++)
        y8[i] = i % C;
    tu_write_npy(paths[0], "<f8", ROWS, D, x8, sizeof x8);
    tu_write_npy(paths[1], "<f8", ROWS, C, z8, sizeof z8);
    tu_write_npy(paths[2], "<i8", ROWS, 0, y8, sizeof y8);
    fault_loop("mimic_dataset_load_npy (f8, i8 labels)", op_dataset_load, (void *)paths);
    /* f4/u8 mapped without conversion. */
    static uint8_t xu[ROWS * D];
    for (int i = 0; i < ROWS * D; i++)
        xu[i] = (uint8_t)(i * 13);
    const char *paths2[3] = {tu_path("ux.npy"), tu_path("uz.npy"), tu_path("uy.npy")};
    ck_assert_int_eq(mimic_npy_save(paths2[0], xu, MIMIC_DTYPE_U8, ROWS, D), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_save(paths2[1], g_z, MIMIC_DTYPE_F32, ROWS, C), MIMIC_OK);
    ck_assert_int_eq(mimic_npy_save(paths2[2], g_y, MIMIC_DTYPE_I32, ROWS, 0), MIMIC_OK);
    fault_loop("mimic_dataset_load_npy (u8, f4, i4)", op_dataset_load, (void *)paths2);
}
END_TEST

static int op_student_create(void *ctx)
{
    mimic_student_options *so = ctx;
    mimic_student *s = (mimic_student *)1;
    int rc = mimic_student_create(&s, so);
    ck_assert(rc == MIMIC_OK ? s != NULL : s == NULL);
    mimic_student_free(s);
    return rc;
}

static int op_student_save(void *ctx)
{
    const mimic_student *s = ctx;
    int rc = mimic_student_save(s, tu_path("nomem.safetensors"));
    return rc;
}

static int op_student_load(void *ctx)
{
    const char *path = ctx;
    mimic_student *s = (mimic_student *)1;
    int rc = mimic_student_load(&s, path);
    ck_assert(rc == MIMIC_OK ? s != NULL : s == NULL);
    mimic_student_free(s);
    return rc;
}

/* Enough rows that the workspace no longer fits the stack buffer of small calls. */
enum { FWD_ROWS = 600 };

static int op_student_forward(void *ctx)
{
    const mimic_student *s = ctx;
    static float x[FWD_ROWS * D], z[FWD_ROWS * C];
    static int32_t cls[FWD_ROWS];
    tu_fill_uniform(x, FWD_ROWS * D, -1, 1, 5);
    int rc = mimic_student_forward(s, x, FWD_ROWS, z);
    if (rc == MIMIC_OK)
        rc = mimic_student_predict(s, x, FWD_ROWS, cls);
    return rc;
}

static int op_set_input_norm(void *ctx)
{
    mimic_student *s = ctx;
    float mean[D] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, scale[D] = {1, 2, 3, 4, 5};
    return mimic_student_set_input_norm(s, mean, scale);
}

static void after_student(void *ctx, int rc)
{
    (void)rc;
    assert_student_usable(ctx);
}

static int op_export_onnx(void *ctx)
{
    const mimic_student *s = ctx;
    return mimic_student_export_onnx(s, tu_path("nomem.onnx"));
}

static int op_npy_save(void *ctx)
{
    (void)ctx;
    return mimic_npy_save(tu_path("nomem.npy"), g_z, MIMIC_DTYPE_F32, ROWS, C);
}

START_TEST(test_nomem_student)
{
    make_data();
    mimic_student_options so;
    student_opts(&so, K);
    fault_loop("mimic_student_create (k > 0)", op_student_create, &so);
    student_opts(&so, 0);
    so.activation = MIMIC_ACT_TANH;
    fault_loop("mimic_student_create (k = 0)", op_student_create, &so);

    /* A wide student for forward/predict: its workspace is far beyond any stack buffer. */
    mimic_student_options wide;
    student_opts(&wide, K);
    wide.n_hidden = 64;
    mimic_student *w = NULL;
    ck_assert_int_eq(mimic_student_create(&w, &wide), MIMIC_OK);
    fault_loop("mimic_student_forward/predict", op_student_forward, w);
    mimic_student_free(w);
    mimic_student *s = new_student();
    fault_loop_checked("mimic_student_set_input_norm", op_set_input_norm, after_student, s);
    fault_loop("mimic_student_save", op_student_save, s);
    assert_no_temp_files();
    const char *saved = tu_path("nomem.safetensors");
    fault_loop("mimic_student_load", op_student_load, (void *)saved);
    fault_loop("mimic_student_export_onnx", op_export_onnx, s);
    assert_no_temp_files();
    fault_loop("mimic_npy_save", op_npy_save, NULL);
    assert_no_temp_files();
    assert_student_usable(s);
    mimic_student_free(s);
}
END_TEST

typedef struct train_ctx {
    const mimic_dataset *train;
    mimic_train_options o;
    mimic_student *s; /* persists across the loop: a failed run must leave it usable */
    const void *ckpt_bytes; /* when set, restored at o.checkpoint_path before each run */
    size_t ckpt_len;
} train_ctx;

static void after_train(void *ctx, int rc)
{
    (void)rc;
    train_ctx *c = ctx;
    assert_student_usable(c->s);
}

static int op_train(void *ctx)
{
    train_ctx *c = ctx;
    mimic_train_report r;
    mimic_train_report_init(&r, sizeof r);
    if (c->ckpt_bytes) /* written with stdio: no library allocation is counted */
        tu_write_file(c->o.checkpoint_path, c->ckpt_bytes, c->ckpt_len);
    return mimic_train(c->s, c->train, &c->o, &r);
}

/* The step-wise trainer: create, steps, an epoch, checkpoint save and load, free. */
static int op_trainer(void *ctx)
{
    train_ctx *c = ctx;
    mimic_trainer *t = (mimic_trainer *)1;
    int rc = mimic_trainer_create(&t, c->s, c->train, &c->o);
    if (rc != MIMIC_OK) {
        ck_assert_ptr_null(t);
        return rc;
    }
    double loss;
    for (int i = 0; i < 2 && rc == MIMIC_OK; i++)
        rc = mimic_trainer_step(t, &loss);
    if (rc == MIMIC_OK)
        rc = mimic_trainer_epoch(t, NULL);
    if (rc == MIMIC_OK)
        rc = mimic_trainer_save_checkpoint(t, tu_path("nomem.ckpt"));
    if (rc == MIMIC_OK)
        rc = mimic_trainer_load_checkpoint(t, tu_path("nomem.ckpt"));
    if (rc != MIMIC_OK) {
        /* The trainer itself stays usable after a failed call. */
        uint64_t saved = mimic__alloc_fail_at(0);
        int rc2 = mimic_trainer_step(t, &loss);
        ck_assert_msg(rc2 == MIMIC_OK, "step after a failed call: %s", mimic_last_error());
        mimic__alloc_fail_at(0);
        (void)saved;
        /* Injection is now off: the loop sees made = 0 and, since rc != OK, goes on. */
    }
    mimic_trainer_free(t);
    return rc;
}

typedef struct eval_ctx {
    const mimic_student *s;
    const mimic_dataset *d;
} eval_ctx;

static int op_evaluate(void *ctx)
{
    eval_ctx *e = ctx;
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    int rc = mimic_evaluate(e->s, e->d, 2.0, &m);
    if (rc == MIMIC_OK)
        ck_assert(isfinite(m.logit_rmse) && isfinite(m.accuracy));
    return rc;
}

START_TEST(test_nomem_training)
{
    make_data();
    train_ctx c;
    memset(&c, 0, sizeof c);
    mimic_dataset *train = new_dataset();
    mimic_dataset *val = NULL;
    ck_assert_int_eq(mimic_dataset_slice(&val, train, 0, 8), MIMIC_OK);
    c.train = train;
    c.s = new_student();

    /* Plain SGD, then the paths with extra buffers: validation + early stopping (best
     * weights snapshot), standardization, target normalization, Adam, KD loss, checkpoints. */
    train_opts(&c.o);
    fault_loop_checked("mimic_train (SGD)", op_train, after_train, &c);
    train_opts(&c.o);
    c.o.validation = val;
    c.o.patience = 1;
    c.o.standardize = 1;
    c.o.target_norm = MIMIC_TARGET_STANDARDIZE;
    c.o.eval_train = 1;
    c.o.checkpoint_path = tu_path("train.ckpt");
    fault_loop_checked("mimic_train (validation, standardize, checkpoints)", op_train,
                       after_train, &c);
    assert_no_temp_files();
    /* Resume: a checkpoint after epoch 1 of 3, restored before every run. */
    train_opts(&c.o);
    c.o.loss = MIMIC_LOSS_KD;
    c.o.hard_weight = 0.5;
    c.o.optimizer = MIMIC_OPTIMIZER_ADAMW;
    c.o.schedule = MIMIC_SCHEDULE_CONSTANT;
    c.o.epochs = 1;
    c.o.checkpoint_path = tu_path("resume.ckpt");
    ck_assert_msg(mimic_train(c.s, train, &c.o, NULL) == MIMIC_OK, "%s", mimic_last_error());
    size_t ckpt_len = 0;
    void *ckpt = tu_read_file(c.o.checkpoint_path, &ckpt_len);
    ck_assert_ptr_nonnull(ckpt);
    c.ckpt_bytes = ckpt;
    c.ckpt_len = ckpt_len;
    c.o.epochs = 3;
    c.o.resume = 1;
    fault_loop_checked("mimic_train (KD, AdamW, resume)", op_train, after_train, &c);
    c.ckpt_bytes = NULL;
    free(ckpt);

    train_opts(&c.o);
    c.o.optimizer = MIMIC_OPTIMIZER_ADAM;
    c.o.validation = val;
    fault_loop_checked("mimic_trainer_* (create, step, epoch, checkpoint)", op_trainer,
                       after_train, &c);
    assert_no_temp_files();

    eval_ctx e = {c.s, val};
    fault_loop("mimic_evaluate", op_evaluate, &e);

    mimic_student_free(c.s);
    mimic_dataset_free(val);
    mimic_dataset_free(train);
}
END_TEST

/* ---- I/O faults --------------------------------------------------------------------------- */

typedef int (*save_fn)(const char *path, void *ctx);

static int save_student(const char *path, void *ctx)
{
    return mimic_student_save(ctx, path);
}

static int save_onnx(const char *path, void *ctx)
{
    return mimic_student_export_onnx(ctx, path);
}

static int save_npy(const char *path, void *ctx)
{
    (void)ctx;
    return mimic_npy_save(path, g_z, MIMIC_DTYPE_F32, ROWS, C);
}

static int save_checkpoint(const char *path, void *ctx)
{
    return mimic_trainer_save_checkpoint(ctx, path);
}

static const char ORIGINAL[] = "an existing file that a failed save must leave untouched\n";

static void write_original(const char *path)
{
    tu_write_file(path, ORIGINAL, sizeof ORIGINAL - 1);
}

static void assert_original(const char *path)
{
    size_t n = 0;
    char *got = tu_read_file(path, &n);
    ck_assert_msg(got != NULL, "%s is gone", path);
    ck_assert_msg(n == sizeof ORIGINAL - 1 && memcmp(got, ORIGINAL, n) == 0,
                  "%s was changed by a failed save", path);
    free(got);
}

static void assert_io_error(int rc, const char *what, const char *path)
{
    ck_assert_msg(rc == MIMIC_ERR_IO, "%s to %s: status %d (%s), want MIMIC_ERR_IO: %s", what,
                  path, rc, mimic_status_str(rc), mimic_last_error());
    ck_assert_msg(strstr(mimic_last_error(), path) != NULL, "%s: message does not name %s: %s",
                  what, path, mimic_last_error());
}

/* A full disk: the child may write at most 48 bytes to any file; write() then fails with
 * EFBIG (SIGXFSZ ignored). The existing file must survive and no temp file remain. */
static void full_disk(const char *what, save_fn save, void *ctx)
{
    const char *path = tu_path("full_disk.out");
    write_original(path);
    fflush(NULL);
    /* The child reports through a pipe, not its exit status: under valgrind, the child's
     * exit status is valgrind's (the parent's handles look leaked from the child). */
    int fds[2];
    ck_assert(pipe(fds) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        unsigned char code = 0;
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {48, 48};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            code = 90;
        } else {
            int rc = save(path, ctx);
            if (rc != MIMIC_ERR_IO)
                code = rc == MIMIC_OK ? 91 : 92;
            else if (!strstr(mimic_last_error(), path))
                code = 93;
            else if (!strstr(mimic_last_error(), "large") && !strstr(mimic_last_error(), "write"))
                code = 94; /* the cause (EFBIG: "File too large") is in the message */
        }
        ssize_t w = write(fds[1], &code, 1);
        _exit(w == 1 ? 0 : 1);
    }
    close(fds[1]);
    unsigned char code = 255;
    ssize_t got = read(fds[0], &code, 1);
    close(fds[0]);
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(got == 1 && code == 0,
                  "%s on a full disk: child code %d (91: succeeded, 92: not MIMIC_ERR_IO, "
                  "93/94: message, 255: child died)",
                  what, (int)code);
    assert_original(path);
    assert_no_temp_files();
}

/* A path whose parent is a regular file (ENOTDIR), a place nobody can create files in
 * (/proc), and -- when not root, as root ignores permissions -- a read-only directory
 * holding the file. */
static void unwritable(const char *what, save_fn save, void *ctx)
{
    const char *parent = tu_path("plain_file");
    write_original(parent);
    char path[1300];
    snprintf(path, sizeof path, "%s/model.out", parent);
    assert_io_error(save(path, ctx), what, path);
    assert_original(parent);

    const char *proc = "/proc/mimic-check-faults.out";
    assert_io_error(save(proc, ctx), what, proc);

    if (geteuid() != 0) {
        const char *dir = tu_path("readonly_dir");
        ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof path, "%s/model.out", dir);
        write_original(path);
        ck_assert(chmod(dir, 0500) == 0);
        int rc = save(path, ctx);
        ck_assert(chmod(dir, 0755) == 0);
        assert_io_error(rc, what, path);
        assert_original(path);
    }
    assert_no_temp_files();
}

/* The path is a directory (with a file in it): untouched. */
static void is_directory(const char *what, save_fn save, void *ctx)
{
    const char *dir = tu_path("a_directory");
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    char inner[1300];
    snprintf(inner, sizeof inner, "%s/inside", dir);
    write_original(inner);
    assert_io_error(save(dir, ctx), what, dir);
    struct stat st;
    ck_assert(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    assert_original(inner);
    assert_no_temp_files();
}

static void all_io_faults(const char *what, save_fn save, void *ctx)
{
    full_disk(what, save, ctx);
    unwritable(what, save, ctx);
    is_directory(what, save, ctx);
    /* And the same call still works on a good path afterwards. */
    ck_assert_msg(save(tu_path("good.out"), ctx) == MIMIC_OK, "%s: %s", what, mimic_last_error());
}

START_TEST(test_io_faults)
{
    make_data();
    mimic_student *s = new_student();
    all_io_faults("mimic_student_save", save_student, s);
    all_io_faults("mimic_student_export_onnx", save_onnx, s);
    all_io_faults("mimic_npy_save", save_npy, NULL);
    mimic_dataset *d = new_dataset();
    mimic_trainer *t = NULL;
    mimic_train_options o;
    train_opts(&o);
    ck_assert_int_eq(mimic_trainer_create(&t, s, d, &o), MIMIC_OK);
    double loss;
    ck_assert_int_eq(mimic_trainer_step(t, &loss), MIMIC_OK);
    all_io_faults("mimic_trainer_save_checkpoint", save_checkpoint, t);
    mimic_trainer_free(t);
    mimic_dataset_free(d);
    mimic_student_free(s);
}
END_TEST

/* A file truncated or corrupted on disk loads with an error, never a crash. */
START_TEST(test_truncated_files)
{
    make_data();
    mimic_student *s = new_student();
    const char *path = tu_path("whole.safetensors");
    ck_assert_int_eq(mimic_student_save(s, path), MIMIC_OK);
    size_t n = 0;
    uint8_t *bytes = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(bytes);
    const char *cut = tu_path("cut.safetensors");
    for (size_t len = 0; len < n; len += 1 + len / 16) {
        tu_write_file(cut, bytes, len);
        mimic_student *back = (mimic_student *)1;
        int rc = mimic_student_load(&back, cut);
        ck_assert_msg(rc == MIMIC_ERR_FORMAT || rc == MIMIC_ERR_IO,
                      "%zu of %zu bytes: status %d: %s", len, n, rc, mimic_last_error());
        ck_assert_ptr_null(back);
    }
    free(bytes);
    mimic_student_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_nomem_dataset);
    tcase_add_test(tc, test_nomem_student);
    tcase_add_test(tc, test_nomem_training);
    tcase_add_test(tc, test_io_faults);
    tcase_add_test(tc, test_truncated_files);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
