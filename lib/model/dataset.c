/* Teacher-logit datasets: copied, borrowed or memory-mapped arrays behind an immutable
 * handle, validated once. Views (slices) share a refcounted storage object, so a parent and
 * its slices can be freed in any order. */
#include <math.h>
#include <string.h>

#include "model/model.h"

/* Everything a dataset owns: the bytes of up to three arrays it uses in place (shared with
 * the arrays) and three converted copies. Freed when the last view releases it. */
struct mimic__storage {
    atomic_size_t refs;
    mimic__blob *blobs[3];
    void *owned[3];
};

enum { SLOT_INPUTS = 0, SLOT_LOGITS = 1, SLOT_LABELS = 2 };

static mimic__storage *storage_new(void)
{
    mimic__storage *s = mimic__calloc(1, sizeof *s);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

static void storage_retain(mimic__storage *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void storage_release(mimic__storage *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < 3; i++) {
        mimic__blob_release(s->blobs[i]);
        mimic__free(s->owned[i]);
    }
    mimic__free(s);
}

/* ---- handle checks -------------------------------------------------------------------- */

static bool valid(const mimic_dataset *d)
{
    return d && d->magic == MIMIC__MAGIC_DATASET;
}

int mimic__dataset_check(const mimic_dataset *d, const char *arg)
{
    return mimic__handle_check(d, d ? d->magic : 0, MIMIC__MAGIC_DATASET, arg, "dataset");
}

size_t mimic__dataset_row_bytes(const mimic_dataset *d)
{
    return d->n_inputs * (d->input_dtype == MIMIC_DTYPE_U8 ? 1 : sizeof(float));
}

/* ---- validation of logits and labels ---------------------------------------------------- */

static int check_logits(const float *z, size_t rows, size_t classes, const char *what)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = z + r * classes;
        for (size_t c = 0; c < classes; c++) {
            if (!isfinite(row[c]))
                return mimic__error(MIMIC_ERR_NUMERIC,
                                    "%s: teacher logit at row %zu, column %zu is %s", what, r, c,
                                    isnan(row[c]) ? "NaN" : row[c] > 0 ? "+Inf" : "-Inf");
        }
    }
    return MIMIC_OK;
}

static int label_error(const char *what, size_t row, long long value, size_t classes)
{
    return mimic__error(MIMIC_ERR_RANGE, "%s: label at row %zu is %lld, outside [0, %zu)", what,
                        row, value, classes);
}

static int check_labels(const int32_t *y, size_t rows, size_t classes, const char *what)
{
    for (size_t r = 0; r < rows; r++)
        if (y[r] < 0 || (size_t)y[r] >= classes)
            return label_error(what, r, y[r], classes);
    return MIMIC_OK;
}

static int new_handle(mimic_dataset **out, const char *fn, int32_t dtype, size_t rows,
                      size_t n_inputs, size_t n_classes, const void *inputs, const float *logits,
                      const int32_t *labels, mimic__storage *s)
{
    mimic_dataset *d = mimic__malloc(sizeof *d);
    if (!d)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    d->magic = MIMIC__MAGIC_DATASET;
    d->input_dtype = dtype;
    d->rows = rows;
    d->n_inputs = n_inputs;
    d->n_classes = n_classes;
    d->inputs = inputs;
    d->logits = logits;
    d->labels = labels;
    d->storage = s;
    *out = d;
    return MIMIC_OK;
}

/* ---- create / wrap ---------------------------------------------------------------------- */

typedef struct sizes {
    size_t inputs, logits, labels; /* bytes */
} sizes;

static int check_args(const char *fn, mimic_dataset **out, const void *inputs, int32_t dtype,
                      const float *logits, const int32_t *labels, size_t rows, size_t n_inputs,
                      size_t n_classes, sizes *sz)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!inputs)
        return mimic__error(MIMIC_ERR_INVALID, "%s: inputs is NULL", fn);
    if (dtype != MIMIC_DTYPE_F32 && dtype != MIMIC_DTYPE_U8)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: input_dtype %d is not MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8", fn,
                            (int)dtype);
    if (!logits && !labels)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: teacher_logits and labels are both NULL (a dataset needs one)",
                            fn);
    if (rows == 0 || n_inputs == 0 || n_classes == 0)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s is 0", fn,
                            rows == 0 ? "rows" : n_inputs == 0 ? "n_inputs" : "n_classes");
    size_t elem = dtype == MIMIC_DTYPE_F32 ? sizeof(float) : 1, n;
    if (!mimic__mul_ok(rows, n_inputs, &n) || !mimic__mul_ok(n, elem, &sz->inputs) ||
        !mimic__mul_ok(rows, n_classes, &n) || !mimic__mul_ok(n, sizeof(float), &sz->logits) ||
        !mimic__mul_ok(rows, sizeof(int32_t), &sz->labels))
        return mimic__error(MIMIC_ERR_RANGE,
                            "%s: %zu rows x (%zu inputs, %zu classes): size overflows", fn, rows,
                            n_inputs, n_classes);
    if (!logits)
        sz->logits = 0;
    if (!labels)
        sz->labels = 0;
    int rc = logits ? check_logits(logits, rows, n_classes, "teacher_logits") : MIMIC_OK;
    if (!rc && labels)
        rc = check_labels(labels, rows, n_classes, "labels");
    return rc;
}

static void *copy_aligned(const void *src, size_t n)
{
    void *p = mimic__aligned_alloc(n);
    if (p)
        memcpy(p, src, n);
    return p;
}

/* create (copy = true) and wrap (copy = false): the same checks, then copies or borrows. */
static int make_dataset(const char *fn, bool copy, mimic_dataset **out, const void *inputs,
                        int32_t input_dtype, const float *logits, const int32_t *labels,
                        size_t rows, size_t n_inputs, size_t n_classes)
{
    sizes sz = {0, 0, 0};
    int rc = check_args(fn, out, inputs, input_dtype, logits, labels, rows, n_inputs, n_classes,
                        &sz);
    if (rc)
        return rc;
    if (!copy)
        return new_handle(out, fn, input_dtype, rows, n_inputs, n_classes, inputs, logits,
                          labels, NULL);
    mimic__storage *s = storage_new();
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    s->owned[SLOT_INPUTS] = copy_aligned(inputs, sz.inputs);
    if (logits)
        s->owned[SLOT_LOGITS] = copy_aligned(logits, sz.logits);
    if (labels)
        s->owned[SLOT_LABELS] = copy_aligned(labels, sz.labels);
    if (!s->owned[SLOT_INPUTS] || (logits && !s->owned[SLOT_LOGITS]) ||
        (labels && !s->owned[SLOT_LABELS])) {
        storage_release(s);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory copying %zu rows", fn, rows);
    }
    rc = new_handle(out, fn, input_dtype, rows, n_inputs, n_classes, s->owned[SLOT_INPUTS],
                    s->owned[SLOT_LOGITS], s->owned[SLOT_LABELS], s);
    if (rc)
        storage_release(s);
    return rc;
}

int mimic_dataset_create(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                         const float *teacher_logits, const int32_t *labels, size_t rows,
                         size_t n_inputs, size_t n_classes)
{
    return make_dataset("mimic_dataset_create", true, out, inputs, input_dtype, teacher_logits,
                        labels, rows, n_inputs, n_classes);
}

int mimic_dataset_wrap(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                       const float *teacher_logits, const int32_t *labels, size_t rows,
                       size_t n_inputs, size_t n_classes)
{
    return make_dataset("mimic_dataset_wrap", false, out, inputs, input_dtype, teacher_logits,
                        labels, rows, n_inputs, n_classes);
}

/* ---- from arrays: load_npy, load_idx ------------------------------------------------------ */

/* One array in a role (inputs, teacher logits, labels): its rank and dtype must suit it. */
static int check_role(const mimic_array *a, const char *role, int want_ndim,
                      const int32_t *dtypes, size_t n_dtypes, const char *dtypes_msg)
{
    const char *name = mimic__array_name(a);
    const int ndim = mimic_array_ndim(a);
    if (ndim != want_ndim)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported rank: %s must be a %d-D array, got %d-D", name, role,
                            want_ndim, ndim);
    bool ok = false;
    for (size_t i = 0; i < n_dtypes; i++)
        ok = ok || mimic_array_dtype(a) == dtypes[i];
    if (!ok)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported dtype '%s' for %s (expected %s)", name,
                            mimic__dtype_descr(mimic_array_dtype(a)), role, dtypes_msg);
    if (mimic_array_rows(a) == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 rows", name, role);
    if (mimic_array_cols(a) == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 columns", name, role);
    return MIMIC_OK;
}

static const int32_t input_dtypes[] = {MIMIC_DTYPE_F32, MIMIC_DTYPE_F64, MIMIC_DTYPE_U8};
static const int32_t logit_dtypes[] = {MIMIC_DTYPE_F32, MIMIC_DTYPE_F64};
static const int32_t label_dtypes[] = {MIMIC_DTYPE_I32, MIMIC_DTYPE_I64, MIMIC_DTYPE_U8};
#define INPUT_DTYPES "'<f4', '<f8' or '|u1'"
#define LOGIT_DTYPES "'<f4' or '<f8'"
#define LABEL_DTYPES "'<i4', '<i8' or '|u1'"

static int same_rows(const mimic_array *a, const mimic_array *ref)
{
    if (mimic_array_rows(a) != mimic_array_rows(ref))
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %zu rows, but %s has %zu", mimic__array_name(a),
                            mimic_array_rows(a), mimic__array_name(ref), mimic_array_rows(ref));
    return MIMIC_OK;
}

/* The array's values as float32: the stored bytes themselves when they are little-endian
 * '<f4' and aligned (the storage then keeps the array's bytes alive), otherwise a converted
 * aligned copy owned by the storage. */
static int float_values(const mimic_array *a, mimic__storage *s, int slot, const float **view)
{
    const float *v = mimic__array_f32_view(a);
    if (v) {
        s->blobs[slot] = mimic__array_blob(a);
        mimic__blob_retain(s->blobs[slot]);
        *view = v;
        return MIMIC_OK;
    }
    size_t n = mimic_array_rows(a) * mimic_array_cols(a);
    float *dst = mimic__falloc(n, 1);
    if (!dst)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory converting %zu values to float32",
                            mimic__array_name(a), n);
    mimic__array_floats(a, dst);
    s->owned[slot] = dst;
    *view = dst;
    return MIMIC_OK;
}

/* The largest label + 1 (at least 2): the class count of a labels-only dataset. */
static size_t classes_from_labels(const int32_t *y, size_t rows)
{
    int32_t top = 1;
    for (size_t r = 0; r < rows; r++)
        top = y[r] > top ? y[r] : top;
    return (size_t)top + 1;
}

static int from_arrays(mimic__storage *s, const mimic_array *x, const mimic_array *z,
                       const mimic_array *y, size_t n_classes, mimic_dataset **out)
{
    static const char fn[] = "mimic_dataset_from_arrays";
    int rc = check_role(x, "inputs", 2, input_dtypes, 3, INPUT_DTYPES);
    if (!rc && z)
        rc = check_role(z, "teacher logits", 2, logit_dtypes, 2, LOGIT_DTYPES);
    if (!rc && z)
        rc = same_rows(z, x);
    if (!rc && y) {
        rc = check_role(y, "labels", 1, label_dtypes, 3, LABEL_DTYPES);
        if (!rc)
            rc = same_rows(y, x);
    }
    if (!rc && z && n_classes && mimic_array_cols(z) != n_classes)
        rc = mimic__error(MIMIC_ERR_SHAPE, "%s: %zu columns of logits, but %zu classes are expected",
                          mimic__array_name(z), mimic_array_cols(z), n_classes);
    if (rc)
        return rc;
    const size_t rows = mimic_array_rows(x), n_inputs = mimic_array_cols(x);
    const void *xv = mimic_array_data(x);
    int32_t dtype = MIMIC_DTYPE_U8;
    if (mimic_array_dtype(x) == MIMIC_DTYPE_U8) {
        s->blobs[SLOT_INPUTS] = mimic__array_blob(x);
        mimic__blob_retain(s->blobs[SLOT_INPUTS]);
    } else {
        const float *fv;
        rc = float_values(x, s, SLOT_INPUTS, &fv);
        xv = fv;
        dtype = MIMIC_DTYPE_F32;
    }
    const float *zv = NULL;
    if (!rc && z) {
        n_classes = mimic_array_cols(z);
        rc = float_values(z, s, SLOT_LOGITS, &zv);
        if (!rc)
            rc = check_logits(zv, rows, n_classes, mimic__array_name(z));
    }
    int32_t *yv = NULL;
    if (!rc && y) {
        /* labels are small: always an owned int32 copy, checked while converting */
        yv = mimic__calloc(rows, sizeof(int32_t));
        if (!yv)
            return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory reading %zu labels",
                                mimic__array_name(y), rows);
        s->owned[SLOT_LABELS] = yv;
        rc = mimic__array_labels(y, n_classes, yv);
        if (!rc && !n_classes)
            n_classes = classes_from_labels(yv, rows);
    }
    if (!rc)
        rc = new_handle(out, fn, dtype, rows, n_inputs, n_classes, xv, zv, yv, s);
    return rc;
}

int mimic_dataset_from_arrays(mimic_dataset **out, const mimic_array *inputs,
                              const mimic_array *teacher_logits, const mimic_array *labels,
                              size_t n_classes)
{
    static const char fn[] = "mimic_dataset_from_arrays";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    int rc = mimic__array_check(inputs, "inputs");
    if (!rc && teacher_logits)
        rc = mimic__array_check(teacher_logits, "teacher_logits");
    if (!rc && labels)
        rc = mimic__array_check(labels, "labels");
    if (rc)
        return rc;
    if (!teacher_logits && !labels)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: teacher_logits and labels are both NULL (a dataset needs one)", fn);
    if (n_classes == 1)
        return mimic__error(MIMIC_ERR_INVALID, "%s: n_classes is 1 (at least 2)", fn);
    mimic__storage *s = storage_new();
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    rc = from_arrays(s, inputs, teacher_logits, labels, n_classes, out);
    if (rc) {
        *out = NULL;
        storage_release(s);
    }
    return rc;
}

/* Load up to three array files (.npy or IDX, by content) and make a dataset of them. */
static int load_files(const char *const paths[3], mimic_dataset **out)
{
    mimic_array *a[3] = {NULL, NULL, NULL};
    int rc = MIMIC_OK;
    for (int i = 0; i < 3 && rc == MIMIC_OK; i++)
        if (paths[i])
            rc = mimic_array_load(&a[i], paths[i]);
    if (rc == MIMIC_OK)
        rc = mimic_dataset_from_arrays(out, a[0], a[1], a[2], 0);
    for (int i = 0; i < 3; i++)
        mimic_array_free(a[i]);
    return rc;
}

int mimic_dataset_load_npy(mimic_dataset **out, const char *inputs, const char *teacher_logits,
                           const char *labels_or_NULL)
{
    static const char fn[] = "mimic_dataset_load_npy";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!inputs || !teacher_logits)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s path is NULL", fn,
                            !inputs ? "inputs" : "teacher_logits");
    const char *const paths[3] = {inputs, teacher_logits, labels_or_NULL};
    return load_files(paths, out);
}

int mimic_dataset_load_idx(mimic_dataset **out, const char *images, const char *labels_or_NULL,
                           const char *teacher_logits_or_NULL)
{
    static const char fn[] = "mimic_dataset_load_idx";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!images)
        return mimic__error(MIMIC_ERR_INVALID, "%s: images path is NULL", fn);
    if (!labels_or_NULL && !teacher_logits_or_NULL)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: labels and teacher_logits are both NULL (a dataset needs one)",
                            fn);
    const char *const paths[3] = {images, teacher_logits_or_NULL, labels_or_NULL};
    return load_files(paths, out);
}

/* ---- slices, getters, free ---------------------------------------------------------------- */

int mimic_dataset_slice(mimic_dataset **out, const mimic_dataset *d, size_t first_row,
                        size_t n_rows)
{
    static const char fn[] = "mimic_dataset_slice";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    int rc = mimic__dataset_check(d, "mimic_dataset_slice: d");
    if (rc)
        return rc;
    if (n_rows == 0)
        return mimic__error(MIMIC_ERR_RANGE, "%s: n_rows is 0 (a slice needs at least one row)",
                            fn);
    if (first_row > d->rows || n_rows > d->rows - first_row)
        return mimic__error(MIMIC_ERR_RANGE,
                            "%s: rows [%zu, %zu + %zu) are outside the dataset's %zu rows", fn,
                            first_row, first_row, n_rows, d->rows);
    const void *x = (const uint8_t *)d->inputs + first_row * mimic__dataset_row_bytes(d);
    const float *z = d->logits ? d->logits + first_row * d->n_classes : NULL;
    const int32_t *y = d->labels ? d->labels + first_row : NULL;
    rc = new_handle(out, fn, d->input_dtype, n_rows, d->n_inputs, d->n_classes, x, z, y,
                    d->storage);
    if (!rc)
        storage_retain(d->storage);
    return rc;
}

size_t mimic_dataset_rows(const mimic_dataset *d)
{
    return valid(d) ? d->rows : 0;
}

size_t mimic_dataset_n_inputs(const mimic_dataset *d)
{
    return valid(d) ? d->n_inputs : 0;
}

size_t mimic_dataset_n_classes(const mimic_dataset *d)
{
    return valid(d) ? d->n_classes : 0;
}

int mimic_dataset_has_labels(const mimic_dataset *d)
{
    return valid(d) && d->labels != NULL;
}

int mimic_dataset_has_logits(const mimic_dataset *d)
{
    return valid(d) && d->logits != NULL;
}

int32_t mimic_dataset_input_dtype(const mimic_dataset *d)
{
    return valid(d) ? d->input_dtype : 0;
}

void mimic_dataset_free(mimic_dataset *d)
{
    /* An invalid handle (double free, wrong type) is left alone rather than freed twice. */
    if (!valid(d))
        return;
    d->magic = MIMIC__MAGIC_DEAD;
    storage_release(d->storage);
    mimic__free(d);
}
