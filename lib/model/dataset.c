/* Teacher-logit datasets: copied, borrowed or memory-mapped arrays behind an immutable
 * handle, validated once. Views (slices) share a refcounted storage object, so a parent and
 * its slices can be freed in any order. */
#include <math.h>
#include <string.h>

#include "model/model.h"

/* Everything a dataset owns: up to three file mappings and three copied arrays. Freed when
 * the last view releases it. */
struct mimic__storage {
    atomic_size_t refs;
    mimic__map maps[3];
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
        mimic__unmap(&s->maps[i]);
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

int mimic_dataset_create(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                         const float *teacher_logits, const int32_t *labels, size_t rows,
                         size_t n_inputs, size_t n_classes)
{
    static const char fn[] = "mimic_dataset_create";
    sizes sz = {0, 0, 0};
    int rc = check_args(fn, out, inputs, input_dtype, teacher_logits, labels, rows, n_inputs,
                        n_classes, &sz);
    if (rc)
        return rc;
    mimic__storage *s = storage_new();
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    s->owned[SLOT_INPUTS] = copy_aligned(inputs, sz.inputs);
    if (teacher_logits)
        s->owned[SLOT_LOGITS] = copy_aligned(teacher_logits, sz.logits);
    if (labels)
        s->owned[SLOT_LABELS] = copy_aligned(labels, sz.labels);
    if (!s->owned[SLOT_INPUTS] || (teacher_logits && !s->owned[SLOT_LOGITS]) ||
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

int mimic_dataset_wrap(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                       const float *teacher_logits, const int32_t *labels, size_t rows,
                       size_t n_inputs, size_t n_classes)
{
    static const char fn[] = "mimic_dataset_wrap";
    sizes sz = {0, 0, 0};
    int rc = check_args(fn, out, inputs, input_dtype, teacher_logits, labels, rows, n_inputs,
                        n_classes, &sz);
    if (rc)
        return rc;
    return new_handle(out, fn, input_dtype, rows, n_inputs, n_classes, inputs, teacher_logits,
                      labels, NULL);
}

/* ---- load_npy ----------------------------------------------------------------------------- */

/* One .npy file being loaded; its mapping lives in the storage slot until released. */
typedef struct npy_in {
    const char *path;
    mimic__map *map;
    mimic__npy h;
    const uint8_t *data; /* first data byte */
} npy_in;

static int open_npy(npy_in *f, const char *path, mimic__map *slot, const char *role,
                    int want_ndim, const char *dtypes_ok, const char *dtypes_msg)
{
    f->path = path;
    f->map = slot;
    int rc = mimic__map_file(path, slot);
    if (!rc)
        rc = mimic__npy_parse(slot->data, slot->size, path, &f->h);
    if (rc)
        return rc;
    f->data = slot->data + f->h.data_offset;
    if (f->h.ndim != want_ndim)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported rank: %s must be a %d-D array, got %d-D", path, role,
                            want_ndim, f->h.ndim);
    if (!strstr(dtypes_ok, mimic__npy_descr(&f->h)))
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported dtype '%s' for %s (expected %s)", path,
                            mimic__npy_descr(&f->h), role, dtypes_msg);
    if (f->h.shape[0] == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 rows", path, role);
    if (f->h.shape[1] == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 columns", path, role);
    return MIMIC_OK;
}

static int same_rows(const npy_in *f, const npy_in *ref)
{
    if (f->h.shape[0] != ref->h.shape[0])
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %zu rows, but %s has %zu", f->path,
                            f->h.shape[0], ref->path, ref->h.shape[0]);
    return MIMIC_OK;
}

/* A float32 view of a '<f4' or '<f8' file: the mapping itself when it is '<f4', aligned and
 * the host is little-endian; otherwise a converted aligned copy (and the file is unmapped). */
static int float_view(npy_in *f, void **owned, const float **view)
{
    if (f->h.itemsize == 4 && mimic__host_le() && (uintptr_t)f->data % _Alignof(float) == 0) {
        *view = (const float *)(const void *)f->data;
        return MIMIC_OK;
    }
    float *dst = mimic__aligned_alloc(f->h.count * sizeof(float));
    if (!dst)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory converting %zu values to float32",
                            f->path, f->h.count);
    for (size_t i = 0; i < f->h.count; i++) {
        if (f->h.itemsize == 4) {
            uint32_t u = mimic__le32(f->data + 4 * i);
            memcpy(&dst[i], &u, sizeof u);
        } else {
            uint64_t u = mimic__le64(f->data + 8 * i);
            double v;
            memcpy(&v, &u, sizeof v);
            dst[i] = (float)v;
        }
    }
    *owned = dst;
    *view = dst;
    mimic__unmap(f->map);
    return MIMIC_OK;
}

/* Labels are small: always an owned int32 copy, checked while converting. */
static int label_copy(npy_in *f, size_t classes, void **owned, const int32_t **view)
{
    size_t rows = f->h.count;
    int32_t *dst = mimic__malloc(rows * sizeof(int32_t));
    if (!dst)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory reading %zu labels", f->path,
                            rows);
    *owned = dst;
    for (size_t r = 0; r < rows; r++) {
        long long v;
        if (f->h.itemsize == 1) {
            v = f->data[r];
        } else if (f->h.itemsize == 4) {
            uint32_t u = mimic__le32(f->data + 4 * r);
            int32_t s;
            memcpy(&s, &u, sizeof s);
            v = s;
        } else {
            uint64_t u = mimic__le64(f->data + 8 * r);
            int64_t s;
            memcpy(&s, &u, sizeof s);
            v = s;
        }
        if (v < 0 || (unsigned long long)v >= classes || v > INT32_MAX)
            return label_error(f->path, r, v, classes);
        dst[r] = (int32_t)v;
    }
    *view = dst;
    mimic__unmap(f->map);
    return MIMIC_OK;
}

static int load_files(mimic__storage *s, const char *inputs, const char *logits,
                      const char *labels, mimic_dataset **out)
{
    static const char fn[] = "mimic_dataset_load_npy";
    npy_in x, z, y;
    memset(&y, 0, sizeof y);
    int rc = open_npy(&x, inputs, &s->maps[SLOT_INPUTS], "inputs", 2, "<f4 <f8 |u1",
                      "'<f4', '<f8' or '|u1'");
    if (!rc)
        rc = open_npy(&z, logits, &s->maps[SLOT_LOGITS], "teacher logits", 2, "<f4 <f8",
                      "'<f4' or '<f8'");
    if (!rc)
        rc = same_rows(&z, &x);
    if (!rc && labels) {
        rc = open_npy(&y, labels, &s->maps[SLOT_LABELS], "labels", 1, "<i4 <i8 |u1",
                      "'<i4', '<i8' or '|u1'");
        if (!rc)
            rc = same_rows(&y, &x);
    }
    if (rc)
        return rc;

    size_t rows = x.h.shape[0], n_inputs = x.h.shape[1], classes = z.h.shape[1];
    const void *xv = x.data;
    int32_t dtype = MIMIC_DTYPE_U8;
    if (x.h.dtype == 'f') {
        const float *fv;
        rc = float_view(&x, &s->owned[SLOT_INPUTS], &fv);
        xv = fv;
        dtype = MIMIC_DTYPE_F32;
    }
    const float *zv = NULL;
    if (!rc)
        rc = float_view(&z, &s->owned[SLOT_LOGITS], &zv);
    if (!rc)
        rc = check_logits(zv, rows, classes, logits);
    const int32_t *yv = NULL;
    if (!rc && labels)
        rc = label_copy(&y, classes, &s->owned[SLOT_LABELS], &yv);
    if (!rc)
        rc = new_handle(out, fn, dtype, rows, n_inputs, classes, xv, zv, yv, s);
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
    mimic__storage *s = storage_new();
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    int rc = load_files(s, inputs, teacher_logits, labels_or_NULL, out);
    if (rc) {
        *out = NULL;
        storage_release(s);
    }
    return rc;
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
