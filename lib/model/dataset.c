/*
 * Teacher-logit datasets: rows of inputs, teacher logits and labels in one or more shards
 * (copied, borrowed or memory-mapped arrays) behind an immutable handle, validated once.
 *
 * Rows are numbered globally with 64-bit indices; a shard is a contiguous run of them with its
 * own arrays. Logits are float32 or float16 and labels int32, int64 or uint8, each read in
 * place and converted per row (mimic__logits_row, mimic__label_at), so a mapped transfer set
 * costs no anonymous memory. Views (slices) share a refcounted storage object, so a parent and
 * its slices can be freed in any order. Manifests (many shards) are in manifest.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

/* ---- storage ---------------------------------------------------------------------------- */

mimic__storage *mimic__storage_new(size_t n_shards, size_t n_blobs, size_t n_owned)
{
    size_t bytes = sizeof(mimic__storage), part;
    if (!mimic__mul_ok(n_shards, sizeof(mimic__shard), &part) || !mimic__add_ok(bytes, part, &bytes) ||
        !mimic__mul_ok(n_blobs, sizeof(mimic__blob *), &part) || !mimic__add_ok(bytes, part, &bytes) ||
        !mimic__mul_ok(n_owned, sizeof(void *), &part) || !mimic__add_ok(bytes, part, &bytes))
        return NULL;
    mimic__storage *s = mimic__calloc(1, bytes);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->shards = (mimic__shard *)(void *)(s + 1);
    s->n_shards = n_shards;
    s->blobs = (mimic__blob **)(void *)(s->shards + n_shards);
    s->n_blobs = n_blobs;
    s->owned = (void **)(void *)(s->blobs + n_blobs);
    s->n_owned = n_owned;
    return s;
}

static void storage_retain(mimic__storage *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void mimic__storage_release(mimic__storage *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n_blobs; i++)
        mimic__blob_release(s->blobs[i]);
    for (size_t i = 0; i < s->n_owned; i++)
        mimic__free(s->owned[i]);
    mimic__free(s);
}

/* ---- handle checks, shapes ---------------------------------------------------------------- */

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

static size_t label_size(int32_t dtype);

/* ---- rows ------------------------------------------------------------------------------- */

/* The shard that holds row r of the view, and r's row within it. */
static size_t shard_of(const mimic_dataset *d, uint64_t g);

static const mimic__shard *locate(const mimic_dataset *d, uint64_t r, uint64_t *local)
{
    const uint64_t g = d->first + r;
    const mimic__shard *s = d->n_shards == 1 ? d->shards : &d->shards[shard_of(d, g)];
    *local = g - s->first;
    return s;
}

const void *mimic__input_row(const mimic_dataset *d, uint64_t r)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    return s->inputs + i * mimic__dataset_row_bytes(d);
}

uint64_t mimic__dataset_span(const mimic_dataset *d, uint64_t r, uint64_t n)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    return s->rows - i < n ? s->rows - i : n;
}

const void *mimic__logits_stored(const mimic_dataset *d, uint64_t r)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    return s->logits + i * d->n_classes * mimic__dtype_size_of_logits(d->logits_dtype);
}

const float *mimic__logits_f32(const mimic_dataset *d, uint64_t r)
{
    return d->logits_dtype == MIMIC_DTYPE_F32 ? mimic__logits_stored(d, r) : NULL;
}

void mimic__logits_row(const mimic_dataset *d, uint64_t r, float *dst)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    if (d->logits_dtype == MIMIC_DTYPE_F32)
        memcpy(dst, s->logits + i * d->n_classes * sizeof(float), d->n_classes * sizeof(float));
    else
        mimic__f16_to_f32((const uint16_t *)(const void *)s->logits + i * d->n_classes, dst,
                          d->n_classes);
}

/* Label i of a shard's labels of `dtype` (little-endian storage). */
static int64_t label_value(const uint8_t *y, int32_t dtype, uint64_t i)
{
    switch (dtype) {
    case MIMIC_DTYPE_U8: return y[i];
    case MIMIC_DTYPE_I32: {
        int32_t v;
        memcpy(&v, y + 4 * i, sizeof v);
        return v;
    }
    default: { /* MIMIC_DTYPE_I64 */
        int64_t v;
        memcpy(&v, y + 8 * i, sizeof v);
        return v;
    }
    }
}

const void *mimic__labels_stored(const mimic_dataset *d, uint64_t r)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    return s->labels + i * label_size(d->labels_dtype);
}

int32_t mimic__label_at(const mimic_dataset *d, uint64_t r)
{
    uint64_t i;
    const mimic__shard *s = locate(d, r, &i);
    return (int32_t)label_value(s->labels, d->labels_dtype, i); /* checked at creation */
}

const char *mimic__shard_name(const mimic_dataset *d, uint64_t r)
{
    uint64_t i;
    return locate(d, r, &i)->name;
}

/* ---- the shards a view covers, fingerprints ---------------------------------------------- */

/* The index of the shard that holds global row g. */
static size_t shard_of(const mimic_dataset *d, uint64_t g)
{
    size_t lo = 0, hi = d->n_shards;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->shards[mid].first <= g)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

size_t mimic__view_shards(const mimic_dataset *d)
{
    return shard_of(d, d->first + d->rows - 1) - shard_of(d, d->first) + 1;
}

void mimic__view_shard(const mimic_dataset *d, size_t k, uint64_t *first, uint64_t *rows,
                       const char **name)
{
    const mimic__shard *s = &d->shards[shard_of(d, d->first) + k];
    uint64_t lo = s->first > d->first ? s->first : d->first;
    uint64_t end = s->first + s->rows, vend = d->first + d->rows;
    uint64_t hi = end < vend ? end : vend;
    *first = lo - d->first;
    *rows = hi - lo;
    if (name)
        *name = s->name;
}

uint64_t mimic__dataset_fingerprint(const mimic_dataset *d, uint64_t first, uint64_t rows,
                                    uint64_t samples)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const size_t in_row = mimic__dataset_row_bytes(d);
    const size_t z_row = d->n_classes * mimic__dtype_size_of_logits(d->logits_dtype);
    samples = rows < samples ? rows : samples;
    for (uint64_t i = 0; i < samples; i++) {
        uint64_t r = first + (samples > 1 ? i * (rows - 1) / (samples - 1) : 0);
        int32_t label = d->labels_dtype ? mimic__label_at(d, r) : 0;
        /* the logits as stored: float32 bytes (as 1.x hashed them), or float16 */
        const unsigned char *z = d->logits_dtype ? mimic__logits_stored(d, r) : NULL;
        const unsigned char *parts[3] = {mimic__input_row(d, r), z,
                                         d->labels_dtype ? (const unsigned char *)&label : NULL};
        size_t lens[3] = {in_row, z_row, sizeof(int32_t)};
        for (int p = 0; p < 3; p++)
            for (size_t j = 0; parts[p] && j < lens[p]; j++)
                h = (h ^ parts[p][j]) * 0x100000001b3ull;
    }
    return h;
}

/* ---- validation of logits and labels, once -------------------------------------------------- */

/* Every teacher logit finite; the message names `what` and the row (counted from `base`). */
int mimic__check_logits(const void *z, int32_t dtype, uint64_t rows, size_t classes,
                        uint64_t base, const char *what)
{
    const uint64_t n = rows * classes;
    if (dtype == MIMIC_DTYPE_F16) {
        const uint16_t *h = z;
        for (uint64_t k = 0; k < n; k++)
            if (!mimic__f16_finite(h[k])) {
                float v;
                mimic__f16_to_f32_portable(&h[k], &v, 1);
                return mimic__error(MIMIC_ERR_NUMERIC,
                                    "%s: teacher logit at row %llu, column %zu is %s", what,
                                    (unsigned long long)(base + k / classes), (size_t)(k % classes),
                                    isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
            }
        return MIMIC_OK;
    }
    const float *f = z;
    for (uint64_t k = 0; k < n; k++)
        if (!isfinite(f[k]))
            return mimic__error(MIMIC_ERR_NUMERIC,
                                "%s: teacher logit at row %llu, column %zu is %s", what,
                                (unsigned long long)(base + k / classes), (size_t)(k % classes),
                                isnan(f[k]) ? "NaN" : f[k] > 0 ? "+Inf" : "-Inf");
    return MIMIC_OK;
}

/* Every label in [0, classes) (classes 0: >= 0 and fits int32); *top gets the largest. */
int mimic__check_labels(const void *y, int32_t dtype, uint64_t rows, size_t classes,
                        uint64_t base, const char *what, int64_t *top)
{
    int64_t hi = -1;
    for (uint64_t r = 0; r < rows; r++) {
        int64_t v = label_value(y, dtype, r);
        if (v < 0 || v > INT32_MAX || (classes && (uint64_t)v >= classes)) {
            if (classes)
                return mimic__error(MIMIC_ERR_RANGE,
                                    "%s: label at row %llu is %lld, outside [0, %zu)", what,
                                    (unsigned long long)(base + r), (long long)v, classes);
            return mimic__error(MIMIC_ERR_RANGE,
                                "%s: label at row %llu is %lld, not a class index (>= 0)", what,
                                (unsigned long long)(base + r), (long long)v);
        }
        hi = v > hi ? v : hi;
    }
    if (top)
        *top = hi;
    return MIMIC_OK;
}

size_t mimic__dtype_size_of_logits(int32_t dtype)
{
    return dtype == MIMIC_DTYPE_F16 ? 2 : 4;
}

/* ---- handles -------------------------------------------------------------------------------- */

int mimic__dataset_new(mimic_dataset **out, const char *fn, const mimic__dataset_shape *shape,
                       const mimic__shard *shards, size_t n_shards, mimic__storage *s)
{
    mimic_dataset *d = mimic__calloc(1, sizeof *d);
    if (!d)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    d->magic = MIMIC__MAGIC_DATASET;
    d->input_dtype = shape->input_dtype;
    d->logits_dtype = shape->logits_dtype;
    d->labels_dtype = shape->labels_dtype;
    d->rows = shape->rows;
    d->n_inputs = shape->n_inputs;
    d->n_classes = shape->n_classes;
    d->image_h = shape->image_h;
    d->image_w = shape->image_w;
    d->first = 0;
    if (n_shards == 1) { /* kept in the handle: no table to share */
        d->one = shards[0];
        d->shards = &d->one;
    } else {
        d->shards = shards;
    }
    d->n_shards = n_shards;
    d->storage = s;
    *out = d;
    return MIMIC_OK;
}

/* ---- from memory: create (copy) and wrap (borrow) --------------------------------------------- */

void mimic_dataset_memory_init(mimic_dataset_memory *m, size_t struct_size)
{
    mimic_dataset_memory d;
    memset(&d, 0, sizeof d);
    d.input_dtype = MIMIC_DTYPE_F32;
    d.logits_dtype = MIMIC_DTYPE_F32;
    d.labels_dtype = MIMIC_DTYPE_I32;
    mimic__struct_copy_out(m, struct_size, &d, sizeof d);
}

typedef struct sizes {
    size_t inputs, logits, labels; /* bytes */
} sizes;

static size_t label_size(int32_t dtype)
{
    return dtype == MIMIC_DTYPE_U8 ? 1 : dtype == MIMIC_DTYPE_I64 ? 8 : 4;
}

static int check_memory(const char *fn, const mimic_dataset_memory *m, sizes *sz)
{
    if (!m->inputs)
        return mimic__error(MIMIC_ERR_INVALID, "%s: inputs is NULL", fn);
    if (m->input_dtype != MIMIC_DTYPE_F32 && m->input_dtype != MIMIC_DTYPE_U8)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: input_dtype %d is not MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8", fn,
                            (int)m->input_dtype);
    if (!m->teacher_logits && !m->labels)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: teacher_logits and labels are both NULL (a dataset needs one)",
                            fn);
    if (m->teacher_logits && m->logits_dtype != MIMIC_DTYPE_F32 &&
        m->logits_dtype != MIMIC_DTYPE_F16)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: logits_dtype %d is not MIMIC_DTYPE_F32 or MIMIC_DTYPE_F16", fn,
                            (int)m->logits_dtype);
    if (m->labels && m->labels_dtype != MIMIC_DTYPE_I32 && m->labels_dtype != MIMIC_DTYPE_I64 &&
        m->labels_dtype != MIMIC_DTYPE_U8)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: labels_dtype %d is not MIMIC_DTYPE_I32, _I64 or _U8", fn,
                            (int)m->labels_dtype);
    if (m->rows == 0 || m->n_inputs == 0 || m->n_classes == 0)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s is 0", fn,
                            m->rows == 0 ? "rows" : m->n_inputs == 0 ? "n_inputs" : "n_classes");
    size_t elem = m->input_dtype == MIMIC_DTYPE_F32 ? sizeof(float) : 1, n;
    if (!mimic__mul_ok(m->rows, m->n_inputs, &n) || !mimic__mul_ok(n, elem, &sz->inputs) ||
        !mimic__mul_ok(m->rows, m->n_classes, &n) ||
        !mimic__mul_ok(n, mimic__dtype_size_of_logits(m->logits_dtype), &sz->logits) ||
        !mimic__mul_ok(m->rows, label_size(m->labels_dtype), &sz->labels))
        return mimic__error(MIMIC_ERR_RANGE,
                            "%s: %zu rows x (%zu inputs, %zu classes): size overflows", fn,
                            m->rows, m->n_inputs, m->n_classes);
    sz->logits = m->teacher_logits ? sz->logits : 0;
    sz->labels = m->labels ? sz->labels : 0;
    int rc = MIMIC_OK;
    if (m->teacher_logits)
        rc = mimic__check_logits(m->teacher_logits, m->logits_dtype, m->rows, m->n_classes, 0,
                                 "teacher_logits");
    if (!rc && m->labels)
        rc = mimic__check_labels(m->labels, m->labels_dtype, m->rows, m->n_classes, 0, "labels",
                                 NULL);
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
static int make_dataset(const char *fn, bool copy, mimic_dataset **out,
                        const mimic_dataset_memory *mem)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    mimic_dataset_memory m;
    mimic_dataset_memory_init(&m, sizeof m);
    int rc = mimic__struct_copy_in(&m, sizeof m, mem, "mimic_dataset_memory");
    sizes sz = {0, 0, 0};
    if (rc == MIMIC_OK)
        rc = check_memory(fn, &m, &sz);
    if (rc)
        return rc;
    const mimic__dataset_shape shape = {m.input_dtype, m.teacher_logits ? m.logits_dtype : 0,
                                        m.labels ? m.labels_dtype : 0, m.rows, m.n_inputs,
                                        m.n_classes, 0, 0};
    mimic__shard one = {0, m.rows, m.inputs, m.teacher_logits, m.labels, NULL};
    if (!copy)
        return mimic__dataset_new(out, fn, &shape, &one, 1, NULL);
    mimic__storage *s = mimic__storage_new(0, 0, 3);
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    one.inputs = s->owned[0] = copy_aligned(m.inputs, sz.inputs);
    if (m.teacher_logits)
        one.logits = s->owned[1] = copy_aligned(m.teacher_logits, sz.logits);
    if (m.labels)
        one.labels = s->owned[2] = copy_aligned(m.labels, sz.labels);
    if (!s->owned[0] || (m.teacher_logits && !s->owned[1]) || (m.labels && !s->owned[2])) {
        mimic__storage_release(s);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory copying %zu rows", fn, m.rows);
    }
    rc = mimic__dataset_new(out, fn, &shape, &one, 1, s);
    if (rc)
        mimic__storage_release(s);
    return rc;
}

int mimic_dataset_create_memory(mimic_dataset **out, const mimic_dataset_memory *m)
{
    return make_dataset("mimic_dataset_create_memory", true, out, m);
}

int mimic_dataset_wrap_memory(mimic_dataset **out, const mimic_dataset_memory *m)
{
    return make_dataset("mimic_dataset_wrap_memory", false, out, m);
}

/* The 1.0 calls: float32 logits, int32 labels. */
static void memory_of(mimic_dataset_memory *m, const void *inputs, int32_t input_dtype,
                      const float *logits, const int32_t *labels, size_t rows, size_t n_inputs,
                      size_t n_classes)
{
    mimic_dataset_memory_init(m, sizeof *m);
    m->inputs = inputs;
    m->input_dtype = input_dtype;
    m->teacher_logits = logits;
    m->labels = labels;
    m->rows = rows;
    m->n_inputs = n_inputs;
    m->n_classes = n_classes;
}

int mimic_dataset_create(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                         const float *teacher_logits, const int32_t *labels, size_t rows,
                         size_t n_inputs, size_t n_classes)
{
    mimic_dataset_memory m;
    memory_of(&m, inputs, input_dtype, teacher_logits, labels, rows, n_inputs, n_classes);
    return make_dataset("mimic_dataset_create", true, out, &m);
}

int mimic_dataset_wrap(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                       const float *teacher_logits, const int32_t *labels, size_t rows,
                       size_t n_inputs, size_t n_classes)
{
    mimic_dataset_memory m;
    memory_of(&m, inputs, input_dtype, teacher_logits, labels, rows, n_inputs, n_classes);
    return make_dataset("mimic_dataset_wrap", false, out, &m);
}

/* ---- from arrays: load_npy, load_idx ------------------------------------------------------ */

static const int32_t input_dtypes[] = {MIMIC_DTYPE_F32, MIMIC_DTYPE_F64, MIMIC_DTYPE_U8};
static const int32_t logit_dtypes[] = {MIMIC_DTYPE_F32, MIMIC_DTYPE_F16, MIMIC_DTYPE_F64};
static const int32_t label_dtypes[] = {MIMIC_DTYPE_I32, MIMIC_DTYPE_I64, MIMIC_DTYPE_U8};
#define INPUT_DTYPES "'<f4', '<f8' or '|u1'"
#define LOGIT_DTYPES "'<f4', '<f2' or '<f8'"
#define LABEL_DTYPES "'<i4', '<i8' or '|u1'"

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
                            mimic__array_descr(a), role, dtypes_msg);
    if (mimic_array_rows(a) == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 rows", name, role);
    if (mimic_array_cols(a) == 0)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %s array has 0 columns", name, role);
    return MIMIC_OK;
}

int mimic__check_input_array(const mimic_array *a)
{
    return check_role(a, "inputs", 2, input_dtypes, 3, INPUT_DTYPES);
}

int mimic__check_logits_array(const mimic_array *a)
{
    return check_role(a, "teacher logits", 2, logit_dtypes, 3, LOGIT_DTYPES);
}

int mimic__check_labels_array(const mimic_array *a)
{
    return check_role(a, "labels", 1, label_dtypes, 3, LABEL_DTYPES);
}

int mimic__same_rows(const mimic_array *a, const mimic_array *ref)
{
    if (mimic_array_rows(a) != mimic_array_rows(ref))
        return mimic__error(MIMIC_ERR_SHAPE, "%s: %zu rows, but %s has %zu", mimic__array_name(a),
                            mimic_array_rows(a), mimic__array_name(ref), mimic_array_rows(ref));
    return MIMIC_OK;
}

/* The array's values as used in place (the storage keeps its bytes alive: *blob_slot), or as
 * float32 converted into an aligned copy (*owned_slot) when they cannot be (float64 values,
 * unaligned or big-endian storage). want: the dtype the dataset keeps (F32, or the array's own
 * U8 / F16 / integer label dtype). */
int mimic__array_in_place(const mimic_array *a, mimic__blob **blob_slot, void **owned_slot,
                          const uint8_t **view, int32_t *dtype)
{
    const int32_t have = mimic_array_dtype(a);
    const size_t item = mimic__dtype_size(have);
    const bool keep = have != MIMIC_DTYPE_F64 && mimic__host_le() &&
                      (uintptr_t)mimic_array_data(a) % item == 0;
    if (keep) {
        *blob_slot = mimic__array_blob(a);
        mimic__blob_retain(*blob_slot);
        *view = mimic_array_data(a);
        *dtype = have;
        return MIMIC_OK;
    }
    size_t n = mimic_array_rows(a) * mimic_array_cols(a);
    float *dst = mimic__falloc(n, 1);
    if (!dst)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory converting %zu values to float32",
                            mimic__array_name(a), n);
    mimic__array_floats(a, dst);
    *owned_slot = dst;
    *view = (const uint8_t *)dst;
    *dtype = MIMIC_DTYPE_F32;
    return MIMIC_OK;
}

static int from_arrays(mimic__storage *s, const mimic_array *x, const mimic_array *z,
                       const mimic_array *y, size_t n_classes, mimic_dataset **out)
{
    static const char fn[] = "mimic_dataset_from_arrays";
    int rc = mimic__check_input_array(x);
    if (!rc && z)
        rc = mimic__check_logits_array(z);
    if (!rc && z)
        rc = mimic__same_rows(z, x);
    if (!rc && y) {
        rc = mimic__check_labels_array(y);
        if (!rc)
            rc = mimic__same_rows(y, x);
    }
    if (!rc && z && n_classes && mimic_array_cols(z) != n_classes)
        rc = mimic__error(MIMIC_ERR_SHAPE, "%s: %zu columns of logits, but %zu classes are expected",
                          mimic__array_name(z), mimic_array_cols(z), n_classes);
    if (rc)
        return rc;
    const size_t rows = mimic_array_rows(x);
    mimic__dataset_shape shape = {0, 0, 0, rows, mimic_array_cols(x), n_classes, 0, 0};
    mimic_array_image_shape(x, &shape.image_h, &shape.image_w);
    mimic__shard one = {0, rows, NULL, NULL, NULL, NULL};
    rc = mimic__array_in_place(x, &s->blobs[0], &s->owned[0], &one.inputs, &shape.input_dtype);
    if (!rc && z) {
        shape.n_classes = mimic_array_cols(z);
        rc = mimic__array_in_place(z, &s->blobs[1], &s->owned[1], &one.logits,
                                   &shape.logits_dtype);
        if (!rc)
            rc = mimic__check_logits(one.logits, shape.logits_dtype, rows, shape.n_classes, 0,
                                     mimic__array_name(z));
    }
    if (!rc && y) {
        rc = mimic__array_in_place(y, &s->blobs[2], &s->owned[2], &one.labels,
                                   &shape.labels_dtype);
        int64_t top = 0;
        if (!rc)
            rc = mimic__check_labels(one.labels, shape.labels_dtype, rows, shape.n_classes, 0,
                                     mimic__array_name(y), &top);
        if (!rc && !shape.n_classes) /* a labels-only dataset: the largest label + 1, >= 2 */
            shape.n_classes = top < 1 ? 2 : (size_t)top + 1;
    }
    if (!rc)
        rc = mimic__dataset_new(out, fn, &shape, &one, 1, s);
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
    mimic__storage *s = mimic__storage_new(0, 3, 3);
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    rc = from_arrays(s, inputs, teacher_logits, labels, n_classes, out);
    if (rc) {
        *out = NULL;
        mimic__storage_release(s);
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
    mimic_dataset *v = mimic__malloc(sizeof *v);
    if (!v)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    *v = *d;
    if (d->shards == &d->one)
        v->shards = &v->one;
    v->first = d->first + first_row;
    v->rows = n_rows;
    storage_retain(d->storage);
    *out = v;
    return MIMIC_OK;
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
    return valid(d) && d->labels_dtype != 0;
}

int mimic_dataset_has_logits(const mimic_dataset *d)
{
    return valid(d) && d->logits_dtype != 0;
}

int32_t mimic_dataset_input_dtype(const mimic_dataset *d)
{
    return valid(d) ? d->input_dtype : 0;
}

int32_t mimic_dataset_logits_dtype(const mimic_dataset *d)
{
    return valid(d) ? d->logits_dtype : 0;
}

size_t mimic_dataset_n_shards(const mimic_dataset *d)
{
    return valid(d) ? mimic__view_shards(d) : 0;
}

void mimic_dataset_image_shape(const mimic_dataset *d, size_t *height, size_t *width)
{
    if (height)
        *height = valid(d) ? d->image_h : 0;
    if (width)
        *width = valid(d) ? d->image_w : 0;
}

/* The checks of the row getters: a handle, an output, rows inside the view. */
static int get_check(const mimic_dataset *d, const char *fn, size_t first_row, size_t n_rows,
                     const void *out)
{
    int rc = mimic__dataset_check(d, fn);
    if (rc)
        return rc;
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    if (first_row > d->rows || n_rows > d->rows - first_row)
        return mimic__error(MIMIC_ERR_RANGE,
                            "%s: rows [%zu, %zu + %zu) are outside the dataset's %zu rows", fn,
                            first_row, first_row, n_rows, d->rows);
    return MIMIC_OK;
}

int mimic_dataset_get_inputs(const mimic_dataset *d, size_t first_row, size_t n_rows, float *out)
{
    int rc = get_check(d, "mimic_dataset_get_inputs", first_row, n_rows, out);
    if (rc)
        return rc;
    const size_t D = d->n_inputs;
    for (size_t i = 0; i < n_rows; i++) {
        const void *row = mimic__input_row(d, first_row + i);
        if (d->input_dtype == MIMIC_DTYPE_F32) {
            memcpy(out + i * D, row, D * sizeof(float));
        } else {
            const uint8_t *u = row;
            for (size_t j = 0; j < D; j++)
                out[i * D + j] = (float)u[j];
        }
    }
    return MIMIC_OK;
}

int mimic_dataset_get_logits(const mimic_dataset *d, size_t first_row, size_t n_rows, float *out)
{
    static const char fn[] = "mimic_dataset_get_logits";
    int rc = get_check(d, fn, first_row, n_rows, out);
    if (rc)
        return rc;
    if (!d->logits_dtype)
        return mimic__error(MIMIC_ERR_INVALID, "%s: the dataset has no teacher logits", fn);
    for (size_t i = 0; i < n_rows; i++)
        mimic__logits_row(d, first_row + i, out + i * d->n_classes);
    return MIMIC_OK;
}

int mimic_dataset_get_labels(const mimic_dataset *d, size_t first_row, size_t n_rows,
                             int32_t *out)
{
    static const char fn[] = "mimic_dataset_get_labels";
    int rc = get_check(d, fn, first_row, n_rows, out);
    if (rc)
        return rc;
    if (!d->labels_dtype)
        return mimic__error(MIMIC_ERR_INVALID, "%s: the dataset has no labels", fn);
    for (size_t i = 0; i < n_rows; i++)
        out[i] = mimic__label_at(d, first_row + i);
    return MIMIC_OK;
}

void mimic_dataset_free(mimic_dataset *d)
{
    /* An invalid handle (double free, wrong type) is left alone rather than freed twice. */
    if (!valid(d))
        return;
    d->magic = MIMIC__MAGIC_DEAD;
    mimic__storage_release(d->storage);
    mimic__free(d);
}
