/*
 * Fuzz target: the file-level entry points on arbitrary bytes, written to a file on tmpfs:
 *   mimic_file_identify (+ mimic_file_kind_name),
 *   mimic_metadata_read and every accessor (count, key, value, get, tensor_count, tensor,
 *     kind),
 *   mimic_array_load and its accessors and conversions (to_f32, to_labels), against
 *     mimic_array_parse on the same bytes,
 *   mimic_student_load (+ a forward pass, and its tensors against the metadata's),
 *   mimic_dataset_load_npy and mimic_dataset_load_idx with the file in each role (inputs or
 *     images, teacher logits, labels) beside small valid companion files (.npy or IDX) of
 *     the row count the file's own header gives,
 *   and, when identify says gzip, the CLI's path to an array (src/gz.c: cli_gunzip_array).
 *
 * Oracle: no sanitizer report; failures return a documented status with a message that
 * names the file; and the kinds agree:
 *   - identify answers for every regular file, EMPTY exactly for 0 bytes;
 *   - a loader refuses a file "for being of another kind" (PATH: this is <kind>, not ...)
 *     exactly when identify names a kind that loader does not read (so a file identify
 *     calls a student is never refused by the student loader as something else), and then
 *     it names identify's kind;
 *   - a loaded array is what identify said (.npy or IDX), and equals mimic_array_parse's
 *     reading of the same bytes; a loaded student is a student or plain .safetensors file,
 *     and its tensors are the ones mimic_metadata_read lists;
 *   - mimic_metadata_kind is identify's kind, and agrees with the metadata's own "format"
 *     entry;
 *   - a dataset loads only from arrays that load, fails with the array's own status when
 *     the array does not, and has the rows, columns and classes of its arrays.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "model/model.h"
#ifdef MIMIC_FUZZ_WITH_ZLIB
#include "cli.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { COMP_COLS = 2 };

/* ---- files ------------------------------------------------------------------------------ */

static char dir[200];
static char path_fuzz[256], path_x[256], path_z[256], path_y[256];

static void remove_files(void)
{
    const char *all[] = {path_fuzz, path_x, path_z, path_y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i][0])
            unlink(all[i]);
    if (dir[0])
        rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "%s/mimic-fuzz-files-%ld",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FUZZ_CHECK(mkdir(dir, 0700) == 0 || access(dir, W_OK) == 0, "harness cannot create %s", dir);
    snprintf(path_fuzz, sizeof path_fuzz, "%s/fuzz", dir);
    snprintf(path_x, sizeof path_x, "%s/x", dir);
    snprintf(path_z, sizeof path_z, "%s/z", dir);
    snprintf(path_y, sizeof path_y, "%s/y", dir);
    atexit(remove_files);

    /* Calls on no file or no handle, once. */
    int32_t kind = -1;
    FUZZ_CHECK(mimic_file_identify(NULL, &kind) == MIMIC_ERR_INVALID, "identify(NULL)");
    FUZZ_CHECK(mimic_file_identify(dir, NULL) == MIMIC_ERR_INVALID, "identify(kind NULL)");
    FUZZ_CHECK(mimic_file_identify(dir, &kind) == MIMIC_ERR_IO, "identify(a directory)");
    FUZZ_CHECK(strcmp(mimic_file_kind_name(-1), mimic_file_kind_name(MIMIC_FILE_UNKNOWN)) == 0 &&
                   strcmp(mimic_file_kind_name(99), mimic_file_kind_name(MIMIC_FILE_UNKNOWN)) == 0,
               "kind names of unknown values");
    FUZZ_CHECK(mimic_metadata_count(NULL) == 0 && mimic_metadata_key(NULL, 0) == NULL &&
                   mimic_metadata_value(NULL, 0) == NULL && mimic_metadata_get(NULL, "a") == NULL &&
                   mimic_metadata_tensor_count(NULL) == 0 &&
                   mimic_metadata_kind(NULL) == MIMIC_FILE_UNKNOWN,
               "metadata getters on NULL");
    FUZZ_CHECK(mimic_metadata_tensor(NULL, 0, NULL, NULL, NULL) == MIMIC_ERR_MISUSE,
               "metadata_tensor(NULL)");
    mimic_metadata_free(NULL);
    mimic_metadata *m = (mimic_metadata *)1;
    FUZZ_CHECK(mimic_metadata_read(&m, dir) == MIMIC_ERR_IO && m == NULL, "metadata of a dir");
    mimic_array *a = (mimic_array *)1;
    FUZZ_CHECK(mimic_array_load(&a, "") == MIMIC_ERR_INVALID && a == NULL, "array_load(\"\")");
}

static void write_file(const char *path, const void *a, size_t an, const void *b, size_t bn)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "harness cannot write %s", path);
    FUZZ_CHECK((an == 0 || fwrite(a, 1, an, f) == an) && (bn == 0 || fwrite(b, 1, bn, f) == bn),
               "harness write %s", path);
    FUZZ_CHECK(fclose(f) == 0, "harness close %s", path);
}

/* A .npy file of zeros: rows x cols of descr (cols = 0: 1-D). */
static void write_npy_zeros(const char *path, const char *descr, size_t item, size_t rows,
                            size_t cols)
{
    char head[128];
    int n =
        cols ? snprintf(head + 10, sizeof head - 10,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr,
                        rows, cols)
             : snprintf(head + 10, sizeof head - 10,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, rows);
    size_t total = 10 + (size_t)n + 1, pad = (64 - total % 64) % 64;
    FUZZ_CHECK(total + pad <= sizeof head, "header too long");
    memset(head + 10 + n, ' ', pad);
    head[total + pad - 1] = '\n';
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)((total + pad - 10) & 0xff);
    head[9] = 0;
    size_t bytes = rows * (cols ? cols : 1) * item;
    void *zeros = calloc(bytes ? bytes : 1, 1);
    FUZZ_CHECK(zeros != NULL, "harness out of memory");
    write_file(path, head, total + pad, zeros, bytes);
    free(zeros);
}

/* An IDX file of zeros: 1-D (rows) or 3-D (rows x 1 x cols). */
static void write_idx_zeros(const char *path, size_t rows, size_t cols, int ndim)
{
    uint8_t head[16] = {0, 0, 8, (uint8_t)ndim};
    const size_t dims[3] = {rows, 1, cols};
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++)
            head[4 + 4 * d + k] = (uint8_t)(dims[d] >> (8 * (3 - k)));
    size_t bytes = rows * (ndim == 1 ? 1 : cols);
    void *zeros = calloc(bytes ? bytes : 1, 1);
    FUZZ_CHECK(zeros != NULL, "harness out of memory");
    write_file(path, head, ndim == 1 ? 8 : 16, zeros, bytes);
    free(zeros);
}

/* Companions of `rows` rows: inputs x (rows x 2 bytes), logits z (rows x 2 '<f4' zeros),
 * labels y (rows zeros); x and y as IDX or .npy. Rewritten only when they change. */
static void companions(size_t rows, int idx)
{
    static size_t last_rows;
    static int last_idx = -1;
    if (rows == last_rows && idx == last_idx)
        return;
    if (idx) {
        write_idx_zeros(path_x, rows, COMP_COLS, 3);
        write_idx_zeros(path_y, rows, 0, 1);
    } else {
        write_npy_zeros(path_x, "|u1", 1, rows, COMP_COLS);
        write_npy_zeros(path_y, "|u1", 1, rows, 0);
    }
    write_npy_zeros(path_z, "<f4", 4, rows, COMP_COLS);
    last_rows = rows;
    last_idx = idx;
}

/* ---- kinds -------------------------------------------------------------------------------- */

/* The kinds each loader reads (a file of none of the known kinds goes to the parser). */
static bool reads_array(int32_t k)
{
    return k == MIMIC_FILE_NPY || k == MIMIC_FILE_IDX || k == MIMIC_FILE_UNKNOWN;
}

static bool reads_student(int32_t k)
{
    return k == MIMIC_FILE_STUDENT || k == MIMIC_FILE_SAFETENSORS || k == MIMIC_FILE_UNKNOWN;
}

static bool reads_metadata(int32_t k)
{
    return reads_student(k) || k == MIMIC_FILE_CHECKPOINT;
}

/* A failed load: documented status, a message naming the file; refused "for being of
 * another kind" exactly when the loader does not read identify's kind, naming that kind. */
static void check_refusal(int rc, const char *call, const char *path, int32_t kind, bool reads)
{
    fuzz_check_failure(rc, call);
    const char *msg = mimic_last_error();
    FUZZ_CHECK(strncmp(msg, path, strlen(path)) == 0, "%s: message does not name %s: %s", call,
               path, msg);
    char any[300], refusal[300];
    snprintf(any, sizeof any, "%s: this is ", path);
    snprintf(refusal, sizeof refusal, "%s: this is %s, not ", path, mimic_file_kind_name(kind));
    bool refused = strncmp(msg, any, strlen(any)) == 0;
    if (reads)
        FUZZ_CHECK(!refused, "%s refuses a file identify calls %s: %s", call,
                   mimic_file_kind_name(kind), msg);
    else
        FUZZ_CHECK(rc == MIMIC_ERR_FORMAT && strncmp(msg, refusal, strlen(refusal)) == 0,
                   "%s on %s: status %d, not the refusal \"%s\": %s", call,
                   mimic_file_kind_name(kind), rc, refusal, msg);
}

/* ---- metadata ------------------------------------------------------------------------------ */

static mimic_metadata *check_metadata(const char *path, int32_t kind)
{
    mimic_metadata *m = NULL;
    int rc = mimic_metadata_read(&m, path);
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(m == NULL, "metadata left on failure");
        check_refusal(rc, "mimic_metadata_read", path, kind, reads_metadata(kind));
        return NULL;
    }
    FUZZ_CHECK(reads_metadata(kind), "metadata read from %s", mimic_file_kind_name(kind));
    int32_t mk = mimic_metadata_kind(m);
    FUZZ_CHECK(mk == MIMIC_FILE_STUDENT || mk == MIMIC_FILE_CHECKPOINT ||
                   mk == MIMIC_FILE_SAFETENSORS,
               "metadata kind %d", (int)mk);
    FUZZ_CHECK(mk == kind, "metadata says %s, identify %s", mimic_file_kind_name(mk),
               mimic_file_kind_name(kind));
    size_t n = mimic_metadata_count(m);
    for (size_t i = 0; i < n; i++) {
        const char *k = mimic_metadata_key(m, i), *v = mimic_metadata_value(m, i);
        FUZZ_CHECK(k != NULL && v != NULL, "entry %zu of %zu is NULL", i, n);
        const char *g = mimic_metadata_get(m, k);
        FUZZ_CHECK(g != NULL && strcmp(g, v) == 0, "get(\"%s\") is not entry %zu", k, i);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(mimic_metadata_key(m, j), k) != 0, "duplicate key %s", k);
    }
    FUZZ_CHECK(mimic_metadata_key(m, n) == NULL && mimic_metadata_value(m, n) == NULL &&
                   mimic_metadata_key(m, SIZE_MAX) == NULL,
               "entries past the end");
    FUZZ_CHECK(mimic_metadata_get(m, NULL) == NULL, "get(NULL)");
    /* the kind is the metadata's own "format" entry */
    const char *format = mimic_metadata_get(m, "format");
    int32_t want = MIMIC_FILE_SAFETENSORS;
    if (format && strcmp(format, "libmimic-student") == 0)
        want = MIMIC_FILE_STUDENT;
    else if (format && strcmp(format, "mimic-trainer-checkpoint") == 0)
        want = MIMIC_FILE_CHECKPOINT;
    FUZZ_CHECK(mk == want, "kind %s, but \"format\" is %s%s%s", mimic_file_kind_name(mk),
               format ? "\"" : "", format ? format : "absent", format ? "\"" : "");
    size_t nt = mimic_metadata_tensor_count(m);
    for (size_t i = 0; i < nt; i++) {
        const char *name = NULL;
        size_t r = 0, c = 0;
        FUZZ_CHECK(mimic_metadata_tensor(m, i, &name, &r, &c) == MIMIC_OK, "tensor %zu: %s", i,
                   mimic_last_error());
        FUZZ_CHECK(name != NULL, "tensor %zu has no name", i);
        FUZZ_CHECK(mimic_metadata_tensor(m, i, NULL, NULL, NULL) == MIMIC_OK, "NULL outputs");
    }
    rc = mimic_metadata_tensor(m, nt, NULL, NULL, NULL);
    FUZZ_CHECK(rc == MIMIC_ERR_RANGE, "tensor %zu of %zu: %d", nt, nt, rc);
    fuzz_check_failure(rc, "mimic_metadata_tensor");
    return m;
}

/* ---- students ----------------------------------------------------------------------------- */

static void check_student(const char *path, int32_t kind, const mimic_metadata *m)
{
    mimic_student *s = NULL;
    int rc = mimic_student_load(&s, path);
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(s == NULL, "student left on failure");
        check_refusal(rc, "mimic_student_load", path, kind, reads_student(kind));
        return;
    }
    FUZZ_CHECK(kind == MIMIC_FILE_STUDENT || kind == MIMIC_FILE_SAFETENSORS,
               "a student loaded from %s", mimic_file_kind_name(kind));
    FUZZ_CHECK(m != NULL, "a student loads, its metadata does not: %s", mimic_last_error());
    /* every tensor the file lists is the student's, with its shape (1-D: 1 x n) */
    for (size_t i = 0; i < mimic_metadata_tensor_count(m); i++) {
        const char *name;
        size_t r, c, sr, sc;
        const float *v;
        FUZZ_CHECK(mimic_metadata_tensor(m, i, &name, &r, &c) == MIMIC_OK, "%s",
                   mimic_last_error());
        FUZZ_CHECK(mimic_student_tensor(s, name, &v, &sr, &sc) == MIMIC_OK,
                   "the file's tensor %s is not the student's: %s", name, mimic_last_error());
        FUZZ_CHECK(c ? (sr == r && sc == c) : (sr == 1 && sc == r),
                   "%s: %zu x %zu in the file, %zu x %zu loaded", name, r, c, sr, sc);
    }
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    FUZZ_CHECK(mimic_student_get_options(s, &o) == MIMIC_OK, "%s", mimic_last_error());
    FUZZ_CHECK(mimic_student_num_params(s) > 0, "no parameters");
    /* sizes come from the file, so they are bounded by it: one row forward */
    float *x = calloc(o.n_inputs, sizeof(float)), *out = calloc(o.n_classes, sizeof(float));
    FUZZ_CHECK(x && out, "harness out of memory");
    rc = mimic_student_forward(s, x, 1, out);
    FUZZ_CHECK(rc == MIMIC_OK, "forward on a loaded student: %s", mimic_last_error());
    free(x);
    free(out);
    mimic_student_free(s);
}

/* ---- arrays ------------------------------------------------------------------------------- */

static void check_values(const mimic_array *a)
{
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a);
    int32_t dt = mimic_array_dtype(a);
    if (rows && cols) {
        size_t per = cols < 256 ? 256 / cols : 1;
        float *buf = malloc((per < rows ? per : rows) * cols * sizeof(float));
        FUZZ_CHECK(buf != NULL, "harness out of memory");
        for (size_t r = 0; r < rows; r += per) {
            size_t n = rows - r < per ? rows - r : per;
            FUZZ_CHECK(mimic_array_to_f32(a, r, n, buf) == MIMIC_OK, "to_f32: %s",
                       mimic_last_error());
        }
        FUZZ_CHECK(mimic_array_to_f32(a, rows, 1, buf) == MIMIC_ERR_RANGE, "row past the end");
        free(buf);
    }
    if (rows && rows < (1u << 20)) {
        int32_t *y = malloc(rows * sizeof *y);
        FUZZ_CHECK(y != NULL, "harness out of memory");
        bool integer = dt == MIMIC_DTYPE_U8 || dt == MIMIC_DTYPE_I32 || dt == MIMIC_DTYPE_I64;
        int rc = mimic_array_to_labels(a, 2, y);
        if (rc == MIMIC_OK) {
            FUZZ_CHECK(integer && cols == 1, "labels from dtype %d x %zu", (int)dt, cols);
            for (size_t r = 0; r < rows; r++)
                FUZZ_CHECK(y[r] == 0 || y[r] == 1, "label %d at row %zu of 2 classes", y[r], r);
        } else {
            fuzz_check_failure(rc, "mimic_array_to_labels");
            FUZZ_CHECK(rc == (integer && cols == 1 ? MIMIC_ERR_RANGE : MIMIC_ERR_UNSUPPORTED),
                       "to_labels: %d: %s", rc, mimic_last_error());
        }
        free(y);
    }
}

static mimic_array *check_array(const char *path, int32_t kind, const uint8_t *data, size_t size,
                                int *rc_out)
{
    mimic_array *a = NULL, *p = NULL;
    int rc = mimic_array_load(&a, path);
    *rc_out = rc;
    /* the same bytes from memory */
    int prc = mimic_array_parse(&p, size ? data : (const uint8_t *)"", size, path, 1);
    FUZZ_CHECK(prc == rc, "load %d, parse %d: %s", rc, prc, mimic_last_error());
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(a == NULL && p == NULL, "array left on failure");
        check_refusal(rc, "mimic_array_load", path, kind, reads_array(kind));
        return NULL;
    }
    FUZZ_CHECK(kind == MIMIC_FILE_NPY || kind == MIMIC_FILE_IDX, "an array loaded from %s",
               mimic_file_kind_name(kind));
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a), h, w, ph, pw;
    int32_t dt = mimic_array_dtype(a);
    mimic_array_image_shape(a, &h, &w);
    mimic_array_image_shape(p, &ph, &pw);
    FUZZ_CHECK(rows == mimic_array_rows(p) && cols == mimic_array_cols(p) &&
                   dt == mimic_array_dtype(p) && mimic_array_ndim(a) == mimic_array_ndim(p) &&
                   h == ph && w == pw,
               "load and parse disagree on the shape");
    FUZZ_CHECK(kind == MIMIC_FILE_NPY || (dt == MIMIC_DTYPE_U8 && (h * w == cols || h == 0)),
               "IDX array of dtype %d, image %zu x %zu, %zu cols", (int)dt, h, w, cols);
    size_t bytes = rows * cols * mimic__dtype_size(dt);
    FUZZ_CHECK(bytes <= size, "%zu data bytes in a file of %zu", bytes, size);
    FUZZ_CHECK(bytes == 0 || memcmp(mimic_array_data(a), mimic_array_data(p), bytes) == 0,
               "load and parse disagree on the values");
    check_values(a);
    mimic_array_free(p);
    return a;
}

/* ---- datasets ----------------------------------------------------------------------------- */

static void check_dataset(const mimic_dataset *d, size_t rows, size_t n_inputs, size_t n_classes)
{
    FUZZ_CHECK(mimic_dataset_rows(d) == rows, "%zu rows, expected %zu", mimic_dataset_rows(d),
               rows);
    FUZZ_CHECK(mimic_dataset_n_inputs(d) == n_inputs, "%zu inputs, expected %zu",
               mimic_dataset_n_inputs(d), n_inputs);
    size_t C = mimic_dataset_n_classes(d);
    FUZZ_CHECK(n_classes ? C == n_classes : C >= 2, "%zu classes, expected %zu", C, n_classes);
    fuzz_check_dataset(d);
}

/* One load with the fuzz file in a role. array_rc: how the file loads as an array. */
static void load_role(int which, const mimic_array *a, int array_rc)
{
    static const char *const names[] = {"load_npy(inputs)", "load_npy(logits)", "load_npy(labels)",
                                        "load_idx(images)", "load_idx(labels)", "load_idx(logits)"};
    const char *F = path_fuzz;
    mimic_dataset *d = NULL;
    int rc;
    switch (which) {
    case 0: rc = mimic_dataset_load_npy(&d, F, path_z, path_y); break;
    case 1: rc = mimic_dataset_load_npy(&d, path_x, F, NULL); break;
    case 2: rc = mimic_dataset_load_npy(&d, path_x, path_z, F); break;
    case 3: rc = mimic_dataset_load_idx(&d, F, path_y, NULL); break;
    case 4: rc = mimic_dataset_load_idx(&d, path_x, F, NULL); break;
    default: rc = mimic_dataset_load_idx(&d, path_x, NULL, F); break;
    }
    if (array_rc != MIMIC_OK) {
        /* the file fails as it does on its own: same status, its message */
        FUZZ_CHECK(rc == array_rc, "%s: %d, the array alone %d: %s", names[which], rc, array_rc,
                   mimic_last_error());
        FUZZ_CHECK(d == NULL, "dataset left on failure");
        FUZZ_CHECK(strncmp(mimic_last_error(), F, strlen(F)) == 0,
                   "%s: message does not name the file: %s", names[which], mimic_last_error());
        return;
    }
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(d == NULL, "dataset left on failure");
        fuzz_check_failure(rc, names[which]);
        FUZZ_CHECK(rc != MIMIC_ERR_IO && rc != MIMIC_ERR_INVALID && rc != MIMIC_ERR_MISUSE,
                   "%s: status %d on loadable files: %s", names[which], rc, mimic_last_error());
        FUZZ_CHECK(strncmp(mimic_last_error(), dir, strlen(dir)) == 0,
                   "%s: message does not name a file: %s", names[which], mimic_last_error());
        return;
    }
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a);
    int ndim = mimic_array_ndim(a);
    int32_t dt = mimic_array_dtype(a);
    bool is_float = dt == MIMIC_DTYPE_F32 || dt == MIMIC_DTYPE_F64 || dt == MIMIC_DTYPE_F16;
    switch (which) {
    case 0:
    case 3: /* inputs: 2-D; 2 classes from the logits or the labels of zeros */
        FUZZ_CHECK(ndim == 2 && dt != MIMIC_DTYPE_I32 && dt != MIMIC_DTYPE_I64,
                   "%s: inputs of rank %d, dtype %d", names[which], ndim, (int)dt);
        check_dataset(d, rows, cols, which == 0 ? COMP_COLS : 0);
        break;
    case 1:
    case 5: /* logits: 2-D float */
        FUZZ_CHECK(ndim == 2 && is_float, "%s: logits of rank %d, dtype %d", names[which], ndim,
                   (int)dt);
        check_dataset(d, rows, COMP_COLS, cols);
        break;
    default: /* labels: 1-D integers */
        FUZZ_CHECK(ndim == 1 && !is_float, "%s: labels of rank %d, dtype %d", names[which], ndim,
                   (int)dt);
        check_dataset(d, rows, COMP_COLS, which == 2 ? COMP_COLS : 0);
        break;
    }
    mimic_dataset_free(d);
}

/* ---- the CLI's gzip path ------------------------------------------------------------------- */

static void check_gzip(const char *path)
{
#ifdef MIMIC_FUZZ_WITH_ZLIB
    mimic_array *a = NULL;
    void *owned = NULL;
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = cli_gunzip_array(path, &a, &owned, err, sizeof err);
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(a == NULL && owned == NULL, "left on failure");
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
        if (err[0] == '\0')
            fuzz_check_failure(rc, "cli_gunzip_array");
        else
            FUZZ_CHECK(rc == MIMIC_ERR_FORMAT, "cli_gunzip_array: %d: %s", rc, err);
        return;
    }
    FUZZ_CHECK(owned != NULL, "no decompressed bytes");
    check_values(a);
    mimic_array_free(a);
    free(owned);
#else
    (void)path;
#endif
}

/* ---- the target -------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    const char *F = path_fuzz;
    write_file(F, data, size, NULL, 0);

    int32_t kind = -1;
    int rc = mimic_file_identify(F, &kind);
    FUZZ_CHECK(rc == MIMIC_OK, "identify: %s", mimic_last_error());
    FUZZ_CHECK(kind >= MIMIC_FILE_UNKNOWN && kind <= MIMIC_FILE_MANIFEST, "kind %d", (int)kind);
    FUZZ_CHECK((kind == MIMIC_FILE_EMPTY) == (size == 0), "kind %d for %zu bytes", (int)kind, size);
    const char *kn = mimic_file_kind_name(kind);
    FUZZ_CHECK(kn && *kn &&
                   (kind == MIMIC_FILE_UNKNOWN ||
                    strcmp(kn, mimic_file_kind_name(MIMIC_FILE_UNKNOWN)) != 0),
               "kind name");

    mimic_metadata *m = check_metadata(F, kind);
    check_student(F, kind, m);
    mimic_metadata_free(m);

    int array_rc;
    mimic_array *a = check_array(F, kind, data, size, &array_rc);
    /* companions with the file's rows (a small count when it has none or too many) */
    size_t rows = a ? mimic_array_rows(a) : 0;
    if (rows == 0 || rows > (1u << 16))
        rows = 1 + size % 3;
    companions(rows, (int)((size >> 1) & 1));
    for (int which = 0; which < 6; which++)
        load_role(which, a, array_rc);
    mimic_array_free(a);

    if (kind == MIMIC_FILE_GZIP)
        check_gzip(F);
    return 0;
}
