/*
 * Fuzz target: the .safetensors parser on untrusted bytes, typed (F32, F16, I8: students'
 * files) and F32-only (checkpoints), then what the library builds from a parsed file: a
 * student (mimic_student_load, compact weights included) and a trainer checkpoint
 * (mimic_trainer_load_checkpoint).
 * Oracle: no sanitizer report; on success every tensor's data is readable in full (ASan sees
 * an overread), names are unique NUL-terminated strings that mimic__st_find returns, the
 * metadata is strings; on failure a documented status and a message naming the file. A
 * loaded student runs a forward pass; a failed checkpoint load leaves the trainer usable.
 *
 * The steps after the parse are static in student.c / checkpoint.c, so a file that parses
 * is written to tmpfs and loaded through the public calls (cheap next to the parse).
 *
 * Checkpoint seeds must come from the exact trainer this harness builds (options, data
 * fingerprint): MIMIC_FUZZ_WRITE_SEEDS=DIR replay_safetensors ANY_FILE writes them into DIR
 * (tests/fuzz/make_corpus.py runs it when given the replay binary).
 */
#include <stdint.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const mimic__st_file *f)
{
    FUZZ_CHECK(f->n_tensors == 0 || f->tensors != NULL, "tensors NULL");
    FUZZ_CHECK(f->n_meta == 0 || f->meta != NULL, "meta NULL");
    for (size_t i = 0; i < f->n_tensors; i++) {
        const mimic__st_tensor *t = &f->tensors[i];
        FUZZ_CHECK(t->name != NULL, "tensor %zu has no name", i);
        size_t elems = t->rows;
        if (t->cols != 0)
            FUZZ_CHECK(mimic__mul_ok(t->rows, t->cols, &elems), "size overflow accepted");
        FUZZ_CHECK(elems == 0 || t->data != NULL, "tensor %s: no data", t->name);
        float acc = 0.0f;
        for (size_t j = 0; j < elems; j++)
            acc += t->data[j]; /* reads every element */
        volatile float sink = acc;
        (void)sink;
        FUZZ_CHECK(mimic__st_find(f, t->name) == t, "tensor %s: find gives another", t->name);
        /* Names are unique (the parser rejects duplicates). Quadratic, bounded by input. */
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(f->tensors[j].name, t->name) != 0, "duplicate name %s", t->name);
    }
    for (size_t i = 0; i < f->n_meta; i++) {
        FUZZ_CHECK(f->meta[i].key != NULL && f->meta[i].value != NULL, "metadata %zu NULL", i);
        volatile size_t sink = strlen(f->meta[i].key) + strlen(f->meta[i].value);
        (void)sink;
        FUZZ_CHECK(mimic__st_meta_get(f, f->meta[i].key) != NULL, "meta_get %s", f->meta[i].key);
    }
    FUZZ_CHECK(mimic__st_find(f, "no such tensor \x01") == NULL, "find invented a tensor");
}

/* The typed view: every tensor's bytes readable, the F32 view consistent with it. */
static void check_typed(const mimic__st_file *f)
{
    FUZZ_CHECK(f->n_tensors == 0 || f->typed != NULL, "typed NULL");
    for (size_t i = 0; i < f->n_tensors; i++) {
        const mimic__st_typed *t = &f->typed[i];
        const size_t es = t->dtype == MIMIC_DTYPE_F32 ? 4 : t->dtype == MIMIC_DTYPE_F16 ? 2 : 1;
        FUZZ_CHECK(t->dtype == MIMIC_DTYPE_F32 || t->dtype == MIMIC_DTYPE_F16 ||
                       t->dtype == MIMIC_DTYPE_I8,
                   "tensor %zu: dtype %d", i, (int)t->dtype);
        size_t elems = t->rows;
        if (t->cols != 0)
            FUZZ_CHECK(mimic__mul_ok(t->rows, t->cols, &elems), "size overflow accepted");
        FUZZ_CHECK(elems == 0 || t->data != NULL, "tensor %s: no data", t->name);
        unsigned acc = 0;
        for (size_t j = 0; j < elems * es; j++)
            acc += ((const uint8_t *)t->data)[j]; /* reads every byte */
        volatile unsigned sink = acc;
        (void)sink;
        FUZZ_CHECK(mimic__st_find_typed(f, t->name) == t, "tensor %s: find_typed", t->name);
        FUZZ_CHECK(f->tensors[i].name == t->name, "tensor %zu: views disagree", i);
        FUZZ_CHECK(t->dtype == MIMIC_DTYPE_F32 ? f->tensors[i].data == t->data
                                               : f->tensors[i].data == NULL,
                   "tensor %s: F32 view", t->name);
    }
}

enum { ROWS = 6, D = 3, H = 4, K = 2, C = 2 };

static const mimic_dataset *tiny_dataset(void)
{
    static mimic_dataset *ds;
    if (!ds) {
        static float x[ROWS * D], z[ROWS * C];
        static int32_t y[ROWS];
        for (int i = 0; i < ROWS * D; i++)
            x[i] = (float)(i % 5) * 0.25f - 0.5f;
        for (int i = 0; i < ROWS * C; i++)
            z[i] = (float)(i % 7) * 0.5f - 1.5f;
        for (int i = 0; i < ROWS; i++)
            y[i] = i % C;
        FUZZ_CHECK(mimic_dataset_create(&ds, x, MIMIC_DTYPE_F32, z, y, ROWS, D, C) == MIMIC_OK,
                   "%s", mimic_last_error());
    }
    return ds;
}

/* The fixed trainer whose checkpoints the corpus holds: Adam (so optimizer state tensors
 * exist), standardized inputs, bottleneck. */
static void new_trainer(mimic_student **s, mimic_trainer **t)
{
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = D;
    so.n_hidden = H;
    so.n_bottleneck = K;
    so.n_classes = C;
    so.seed = 5;
    FUZZ_CHECK(mimic_student_create(s, &so) == MIMIC_OK, "%s", mimic_last_error());
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.epochs = 3;
    o.batch_size = 4;
    o.optimizer = MIMIC_OPTIMIZER_ADAM;
    o.learning_rate = 0.01;
    o.standardize = 1;
    o.seed = 9;
    FUZZ_CHECK(mimic_trainer_create(t, *s, tiny_dataset(), &o) == MIMIC_OK, "%s",
               mimic_last_error());
}

static const char *tmp_file(void)
{
    static char path[256];
    if (!path[0])
        snprintf(path, sizeof path, "%s/mimic-fuzz-st-%ld.safetensors",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    return path;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "harness cannot write %s", path);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size, "harness write");
    FUZZ_CHECK(fclose(f) == 0, "harness close");
}

static void load_student(const char *path)
{
    mimic_student *s = NULL;
    int rc = mimic_student_load(&s, path);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_student_load");
        FUZZ_CHECK(s == NULL, "*out not NULL on failure");
        FUZZ_CHECK(strstr(mimic_last_error(), path) != NULL, "message does not name the file: %s",
                   mimic_last_error());
        return;
    }
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    FUZZ_CHECK(mimic_student_get_options(s, &o) == MIMIC_OK, "%s", mimic_last_error());
    /* Sizes come from the file, so they are bounded by it: one row forward. */
    float *x = calloc(o.n_inputs, sizeof(float)), *out = calloc(o.n_classes, sizeof(float));
    FUZZ_CHECK(x && out, "harness out of memory");
    /* Finite but huge weights may overflow to Inf: only the call itself is checked. */
    rc = mimic_student_forward(s, x, 1, out);
    FUZZ_CHECK(rc == MIMIC_OK, "forward on a loaded student: %s", mimic_last_error());
    free(x);
    free(out);
    mimic_student_free(s);
}

static void load_checkpoint(const char *path)
{
    mimic_student *s = NULL;
    mimic_trainer *t = NULL;
    new_trainer(&s, &t);
    int rc = mimic_trainer_load_checkpoint(t, path);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_trainer_load_checkpoint");
        FUZZ_CHECK(rc != MIMIC_ERR_MISUSE, "trainer reported as misused: %s", mimic_last_error());
    }
    /* Loaded or not, the trainer still answers (state from the file, or untouched). */
    double loss = 0;
    rc = mimic_trainer_step(t, &loss);
    if (rc != MIMIC_OK) /* e.g. the checkpoint says training is finished */
        fuzz_check_failure(rc, "mimic_trainer_step after a checkpoint load");
    mimic_trainer_free(t);
    mimic_student_free(s);
}

/* Seed files for the corpus, written by this harness's own trainer. */
static void write_seeds(const char *dir)
{
    char path[512];
    mimic_student *s = NULL;
    mimic_trainer *t = NULL;
    new_trainer(&s, &t);
    snprintf(path, sizeof path, "%s/checkpoint_start.safetensors", dir);
    FUZZ_CHECK(mimic_trainer_save_checkpoint(t, path) == MIMIC_OK, "%s", mimic_last_error());
    double loss;
    FUZZ_CHECK(mimic_trainer_step(t, &loss) == MIMIC_OK, "%s", mimic_last_error());
    snprintf(path, sizeof path, "%s/checkpoint_mid_epoch.safetensors", dir);
    FUZZ_CHECK(mimic_trainer_save_checkpoint(t, path) == MIMIC_OK, "%s", mimic_last_error());
    FUZZ_CHECK(mimic_trainer_epoch(t, NULL) == MIMIC_OK, "%s", mimic_last_error());
    snprintf(path, sizeof path, "%s/checkpoint_epoch1.safetensors", dir);
    FUZZ_CHECK(mimic_trainer_save_checkpoint(t, path) == MIMIC_OK, "%s", mimic_last_error());
    snprintf(path, sizeof path, "%s/student_saved.safetensors", dir);
    FUZZ_CHECK(mimic_student_save(s, path) == MIMIC_OK, "%s", mimic_last_error());
    mimic_trainer_free(t);
    mimic_student_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int seeds_done;
    if (!seeds_done) {
        seeds_done = 1;
        const char *dir = getenv("MIMIC_FUZZ_WRITE_SEEDS");
        if (dir && *dir)
            write_seeds(dir);
    }
    static const char name[] = "fuzz.safetensors";
    mimic__st_file f;
    int rc = mimic__safetensors_parse_typed(data, size, name, &f);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic__safetensors_parse_typed");
        FUZZ_CHECK(rc == MIMIC_ERR_FORMAT || rc == MIMIC_ERR_NOMEM ||
                       rc == MIMIC_ERR_UNSUPPORTED || rc == MIMIC_ERR_NUMERIC,
                   "undocumented status %d: %s", rc, mimic_last_error());
        FUZZ_CHECK(strstr(mimic_last_error(), name) != NULL, "message does not name the file: %s",
                   mimic_last_error());
        /* what the typed parse refuses for its contents, the F32 parse refuses too */
        if (rc != MIMIC_ERR_NOMEM && mimic__safetensors_parse(data, size, name, &f) == MIMIC_OK) {
            mimic__st_close(&f);
            FUZZ_CHECK(0, "F32 parse accepted what the typed parse refused");
        }
        return 0;
    }
    check_typed(&f);
    mimic__st_file f32;
    int rc32 = mimic__safetensors_parse(data, size, name, &f32);
    if (rc32 == MIMIC_OK) {
        check_parsed(&f32);
        mimic__st_close(&f32);
    } else { /* only a dtype it does not take (or memory) tells the two parses apart */
        FUZZ_CHECK(rc32 == MIMIC_ERR_NOMEM ||
                       (rc32 == MIMIC_ERR_FORMAT && strstr(mimic_last_error(), "dtype is not F32")),
                   "typed parse accepted, F32 parse said %d: %s", rc32, mimic_last_error());
    }
    /* Files with a student's or a checkpoint's metadata go on through the loaders. */
    const char *format = mimic__st_meta_get(&f, "format");
    bool ckpt = format && strstr(format, "checkpoint") != NULL;
    mimic__st_close(&f);
    const char *path = tmp_file();
    write_file(path, data, size);
    if (ckpt)
        load_checkpoint(path);
    else
        load_student(path);
    unlink(path);
    return 0;
}
