/*
 * Arrays from .npy and IDX files (include/mimic/array.h): one parser per format (format/npy.c,
 * format/idx.c), told apart by content; a file of another kind is named as such. An array
 * owns its mapping or copy and is reference-counted, so datasets made from it keep it alive.
 */
#include <math.h>
#include <stdio.h>

#include "model/model.h"

struct mimic_array {
    uint32_t magic;
    mimic__blob *blob; /* the bytes (a mapping or a copy), or NULL when borrowed */
    int32_t dtype;     /* MIMIC_DTYPE_* */
    int ndim;          /* 1 or 2 */
    size_t rows, cols; /* cols = 1 for 1-D */
    size_t image_h, image_w;
    size_t itemsize;
    const uint8_t *data; /* the first value */
    char name[];         /* for messages (allocated with the handle) */
};

static bool valid(const mimic_array *a)
{
    return a && a->magic == MIMIC__MAGIC_ARRAY;
}

int mimic__array_check(const mimic_array *a, const char *arg)
{
    return mimic__handle_check(a, a ? a->magic : 0, MIMIC__MAGIC_ARRAY, arg, "array");
}

mimic__blob *mimic__array_blob(const mimic_array *a)
{
    return a->blob;
}

static void array_free(mimic_array *a)
{
    a->magic = MIMIC__MAGIC_DEAD;
    mimic__blob_release(a->blob);
    mimic__free(a);
}

const char *mimic__array_descr(const mimic_array *a)
{
    return mimic__dtype_descr(a->dtype);
}

const char *mimic__array_name(const mimic_array *a)
{
    return a->name;
}

/* The message for a file that is not an array, naming what it is. */
static int not_an_array(const char *name, int32_t kind)
{
    return mimic__error(MIMIC_ERR_FORMAT,
                        "%s: this is %s, not an array (.npy or uncompressed IDX)%s", name,
                        mimic_file_kind_name(kind),
                        kind == MIMIC_FILE_GZIP
                            ? "; decompress it first (the mimic tool reads .gz files)"
                        : kind == MIMIC_FILE_MANIFEST
                            ? "; load it with mimic_dataset_load_manifest (the mimic tool: "
                              "--manifest)"
                            : "");
}

/* Fill a's shape and data from the bytes it holds. */
static int parse_into(mimic_array *a, const uint8_t *buf, size_t len)
{
    const int32_t kind = mimic__sniff(buf, len);
    if (kind == MIMIC_FILE_IDX) {
        mimic__idx h;
        int rc = mimic__idx_parse(buf, len, a->name, &h);
        if (rc != MIMIC_OK)
            return rc;
        a->dtype = MIMIC_DTYPE_U8;
        a->itemsize = 1;
        a->ndim = h.ndim == 1 ? 1 : 2;
        a->rows = h.rows;
        a->cols = h.cols;
        if (h.ndim == 3 && h.cols > 0) { /* no image of a zero dimension */
            a->image_h = h.dims[1];
            a->image_w = h.dims[2];
        }
        a->data = buf + h.header_bytes;
        return MIMIC_OK;
    }
    if (kind != MIMIC_FILE_NPY && kind != MIMIC_FILE_UNKNOWN)
        return not_an_array(a->name, kind);
    mimic__npy h;
    int rc = mimic__npy_parse(buf, len, a->name, &h);
    if (rc != MIMIC_OK)
        return rc;
    a->dtype = h.mdtype;
    a->itemsize = h.itemsize;
    a->ndim = h.ndim == 1 ? 1 : 2; /* (n, ...) is n rows of the other dimensions' product */
    if (h.shape[1] == 0) {
        /* no columns, no image: (n, 30, 0) is not a 30 x 0 image */
    } else if (h.ndim == 3) { /* (n, height, width) */
        a->image_h = h.dims[0];
        a->image_w = h.dims[1];
    } else if (h.ndim == 4 && (h.dims[0] == 1 || h.dims[2] == 1)) { /* one channel */
        a->image_h = h.dims[0] == 1 ? h.dims[1] : h.dims[0];
        a->image_w = h.dims[0] == 1 ? h.dims[2] : h.dims[1];
    }
    a->rows = h.shape[0];
    a->cols = h.shape[1];
    a->data = buf + h.data_offset;
    return MIMIC_OK;
}

static int new_array(mimic_array **out, const char *name)
{
    size_t n = strlen(name) + 1, bytes;
    mimic_array *a = mimic__add_ok(sizeof *a, n, &bytes) ? mimic__calloc(1, bytes) : NULL;
    if (!a)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", name);
    a->magic = MIMIC__MAGIC_ARRAY;
    memcpy(a->name, name, n);
    *out = a;
    return MIMIC_OK;
}

int mimic_array_load(mimic_array **out, const char *path)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_array_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_array_load: path is NULL or empty");
    mimic_array *a = NULL;
    int rc = new_array(&a, path);
    if (rc != MIMIC_OK)
        return rc;
    rc = mimic__blob_map(path, &a->blob);
    if (rc == MIMIC_OK)
        rc = parse_into(a, mimic__blob_data(a->blob), mimic__blob_size(a->blob));
    if (rc != MIMIC_OK) {
        array_free(a);
        return rc;
    }
    *out = a;
    return MIMIC_OK;
}

int mimic_array_parse(mimic_array **out, const void *data, size_t size, const char *name,
                      int32_t copy)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_array_parse: out is NULL");
    *out = NULL;
    if (!name)
        name = "array";
    if (!data && size)
        return mimic__error(MIMIC_ERR_INVALID, "%s: data is NULL", name);
    if (copy != 0 && copy != 1)
        return mimic__error(MIMIC_ERR_INVALID, "%s: copy must be 0 or 1, not %d", name, (int)copy);
    mimic_array *a = NULL;
    int rc = new_array(&a, name);
    if (rc != MIMIC_OK)
        return rc;
    const uint8_t *buf = data;
    if (copy) {
        rc = mimic__blob_copy(data, size, name, &a->blob);
        buf = rc == MIMIC_OK ? mimic__blob_data(a->blob) : NULL;
    }
    if (rc == MIMIC_OK)
        rc = parse_into(a, buf, size);
    if (rc != MIMIC_OK) {
        array_free(a);
        return rc;
    }
    *out = a;
    return MIMIC_OK;
}

int mimic_array_file_size(const void *prefix, size_t n, const char *name, uint64_t *size)
{
    if (!name)
        name = "array";
    if (!size || (!prefix && n))
        return mimic__error(MIMIC_ERR_INVALID, "%s: mimic_array_file_size: NULL argument", name);
    const uint8_t *b = prefix;
    const int32_t kind = mimic__sniff(b, n);
    int rc;
    if (kind == MIMIC_FILE_IDX) {
        mimic__idx h;
        if ((rc = mimic__idx_parse_header(b, n, name, &h)) != MIMIC_OK)
            return rc;
        *size = (uint64_t)h.header_bytes + h.data_bytes;
        return MIMIC_OK;
    }
    if (kind != MIMIC_FILE_NPY)
        return kind == MIMIC_FILE_UNKNOWN
                   ? mimic__error(MIMIC_ERR_FORMAT, "%s: not a .npy or IDX file", name)
                   : not_an_array(name, kind);
    mimic__npy h;
    if ((rc = mimic__npy_parse_header(b, n, name, &h)) != MIMIC_OK)
        return rc;
    *size = (uint64_t)h.data_offset + h.data_bytes;
    return MIMIC_OK;
}

int32_t mimic_array_dtype(const mimic_array *a)
{
    return valid(a) ? a->dtype : 0;
}

size_t mimic_array_rows(const mimic_array *a)
{
    return valid(a) ? a->rows : 0;
}

size_t mimic_array_cols(const mimic_array *a)
{
    return valid(a) ? a->cols : 0;
}

int mimic_array_ndim(const mimic_array *a)
{
    return valid(a) ? a->ndim : 0;
}

void mimic_array_image_shape(const mimic_array *a, size_t *height, size_t *width)
{
    if (height)
        *height = valid(a) ? a->image_h : 0;
    if (width)
        *width = valid(a) ? a->image_w : 0;
}

const void *mimic_array_data(const mimic_array *a)
{
    return valid(a) ? a->data : NULL;
}

/* Value i of the array as a double (host order from little-endian storage). */
static double value_at(const mimic_array *a, size_t i)
{
    const uint8_t *p = a->data + i * a->itemsize;
    switch (a->dtype) {
    case MIMIC_DTYPE_U8: return p[0];
    case MIMIC_DTYPE_F16: {
        uint16_t h = (uint16_t)(p[0] | p[1] << 8);
        float f;
        mimic__f16_to_f32(&h, &f, 1);
        return f;
    }
    case MIMIC_DTYPE_F32: {
        uint32_t u = mimic__le32(p);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case MIMIC_DTYPE_I32: {
        uint32_t u = mimic__le32(p);
        int32_t v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    case MIMIC_DTYPE_F64: {
        uint64_t u = mimic__le64(p);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    default: { /* MIMIC_DTYPE_I64 */
        uint64_t u = mimic__le64(p);
        int64_t v;
        memcpy(&v, &u, sizeof v);
        return (double)v;
    }
    }
}

/* Integer value i, exactly (labels). */
static int64_t int_at(const mimic_array *a, size_t i)
{
    const uint8_t *p = a->data + i * a->itemsize;
    if (a->dtype == MIMIC_DTYPE_U8)
        return p[0];
    if (a->dtype == MIMIC_DTYPE_I32) {
        uint32_t u = mimic__le32(p);
        int32_t v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    uint64_t u = mimic__le64(p);
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Rows [r0, r0 + n) as float32. */
static void rows_to_floats(const mimic_array *a, size_t r0, size_t n, float *out)
{
    const size_t first = r0 * a->cols, count = n * a->cols;
    if (a->dtype == MIMIC_DTYPE_F32 && mimic__host_le()) {
        memcpy(out, a->data + first * sizeof(float), count * sizeof(float));
        return;
    }
    for (size_t i = 0; i < count; i++)
        out[i] = (float)value_at(a, first + i);
}

void mimic__array_floats(const mimic_array *a, float *out)
{
    rows_to_floats(a, 0, a->rows, out);
}

const float *mimic__array_f32_view(const mimic_array *a)
{
    if (a->dtype == MIMIC_DTYPE_F32 && mimic__host_le() &&
        (uintptr_t)a->data % _Alignof(float) == 0)
        return (const float *)(const void *)a->data;
    return NULL;
}

int mimic_array_to_f32(const mimic_array *a, size_t first_row, size_t n_rows, float *out)
{
    int rc = mimic__array_check(a, "mimic_array_to_f32");
    if (rc != MIMIC_OK)
        return rc;
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_array_to_f32: out is NULL");
    if (first_row > a->rows || n_rows > a->rows - first_row)
        return mimic__error(MIMIC_ERR_RANGE,
                            "%s: rows [%zu, %zu + %zu) are outside the array's %zu rows", a->name,
                            first_row, first_row, n_rows, a->rows);
    rows_to_floats(a, first_row, n_rows, out);
    return MIMIC_OK;
}

int mimic__array_labels(const mimic_array *a, size_t n_classes, int32_t *out)
{
    for (size_t r = 0; r < a->rows; r++) {
        int64_t v = int_at(a, r);
        if (v < 0 || v > INT32_MAX || (n_classes && (uint64_t)v >= n_classes)) {
            if (n_classes)
                return mimic__error(MIMIC_ERR_RANGE,
                                    "%s: label at row %zu is %lld, outside [0, %zu)", a->name, r,
                                    (long long)v, n_classes);
            return mimic__error(MIMIC_ERR_RANGE,
                                "%s: label at row %zu is %lld, not a class index (>= 0)", a->name,
                                r, (long long)v);
        }
        out[r] = (int32_t)v;
    }
    return MIMIC_OK;
}

int mimic_array_to_labels(const mimic_array *a, size_t n_classes, int32_t *out)
{
    int rc = mimic__array_check(a, "mimic_array_to_labels");
    if (rc != MIMIC_OK)
        return rc;
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_array_to_labels: out is NULL");
    if (a->dtype != MIMIC_DTYPE_U8 && a->dtype != MIMIC_DTYPE_I32 && a->dtype != MIMIC_DTYPE_I64)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: labels must be integers ('<i4', '<i8' or '|u1'), not '%s'",
                            a->name, mimic__dtype_descr(a->dtype));
    if (a->cols != 1)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: labels must be a 1-D array (or one column), got %zu x %zu",
                            a->name, a->rows, a->cols);
    return mimic__array_labels(a, n_classes, out);
}

void mimic_array_free(mimic_array *a)
{
    if (valid(a))
        array_free(a);
}
