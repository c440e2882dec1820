/*
 * Student files: .safetensors written and read through the tensor table (student.c), the
 * architecture in "__metadata__". Loading treats the file as untrusted: every tensor is
 * checked against the metadata before anything is allocated from the metadata's sizes.
 */
#include <math.h>
#include <stdio.h>

#include "model/model.h"

#define STUDENT_FORMAT "libmimic-student"

/* The architecture keys of the metadata, in file order, and the option each one holds. */
static const struct {
    const char *key;
    size_t offset;
    bool required;
} size_keys[] = {
    {"n_inputs", offsetof(mimic_student_options, n_inputs), true},
    {"n_hidden", offsetof(mimic_student_options, n_hidden), true},
    {"n_bottleneck", offsetof(mimic_student_options, n_bottleneck), true},
    {"n_classes", offsetof(mimic_student_options, n_classes), true},
};

/* The weight matrix of tensor `id`, or MIMIC__N_MATRICES. */
static size_t matrix_of(mimic__tensor_id id)
{
    size_t m = 0;
    while (m < MIMIC__N_MATRICES && mimic__matrix_tensor(m) != id)
        m++;
    return m;
}

int mimic_student_save(const mimic_student *s, const char *path)
{
    static const char fn[] = "mimic_student_save";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "%s: path is NULL or empty", fn);
    const mimic__compact *q = s->compact;
    mimic__st_typed t[MIMIC__T_COUNT + MIMIC__N_MATRICES];
    size_t nt = 0;
    for (int id = 0; id < MIMIC__T_COUNT; id++) {
        mimic__tensor_desc d;
        mimic__tensor_describe(&s->L, s->in_mean != NULL, (mimic__tensor_id)id, &d);
        if (!d.present)
            continue;
        const size_t rows = d.rows ? d.rows : d.cols, cols = d.rows ? d.cols : 0;
        const size_t m = matrix_of((mimic__tensor_id)id);
        if (!q || m == MIMIC__N_MATRICES) {
            t[nt++] = (mimic__st_typed){d.name, rows, cols, MIMIC_DTYPE_F32,
                                        mimic__tensor_data(s, (mimic__tensor_id)id)};
            continue;
        }
        t[nt++] = (mimic__st_typed){d.name, rows, cols, q->dtype, q->w[m]};
        if (q->scale[m])
            t[nt++] = (mimic__st_typed){mimic__matrix_scale_name(m), rows, 0, MIMIC_DTYPE_F32,
                                        q->scale[m]};
    }
    char sizes[MIMIC__ARRAY_LEN(size_keys)][24], seed[24];
    mimic__st_meta meta[5 + MIMIC__ARRAY_LEN(size_keys)];
    size_t nm = 0;
    meta[nm++] = (mimic__st_meta){"format", STUDENT_FORMAT};
    meta[nm++] = (mimic__st_meta){"libmimic_version", MIMIC_VERSION_STRING};
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(size_keys); i++) {
        size_t v;
        memcpy(&v, (const char *)&s->opts + size_keys[i].offset, sizeof v);
        mimic__u64_to_str(v, sizes[i]);
        meta[nm++] = (mimic__st_meta){size_keys[i].key, sizes[i]};
    }
    meta[nm++] = (mimic__st_meta){"activation", mimic__activation_name(s->opts.activation)};
    mimic__u64_to_str(s->opts.seed, seed);
    meta[nm++] = (mimic__st_meta){"seed", seed};
    if (q) /* absent: float32, as every file before compact weights */
        meta[nm++] = (mimic__st_meta){"weight_dtype", mimic__weight_dtype_name(q->dtype)};
    return mimic__safetensors_write_typed(path, t, nt, meta, nm);
}

/* A decimal metadata value: digits only, no sign, no overflow. */
static int meta_u64(const mimic__st_file *f, const char *path, const char *key, bool required,
                    uint64_t *v)
{
    const char *s = mimic__st_meta_get(f, key);
    *v = 0;
    if (!s) {
        if (!required)
            return MIMIC_OK;
        return mimic__error(MIMIC_ERR_FORMAT, "%s: __metadata__ has no \"%s\"", path, key);
    }
    if (!*s)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: __metadata__ \"%s\" is empty", path, key);
    if (!mimic__parse_u64(s, v)) {
        for (const char *p = s; *p; p++)
            if (*p < '0' || *p > '9')
                return mimic__error(MIMIC_ERR_FORMAT,
                                    "%s: __metadata__ \"%s\" is \"%s\", not a non-negative "
                                    "integer",
                                    path, key, s);
        return mimic__error(MIMIC_ERR_FORMAT, "%s: __metadata__ \"%s\" overflows", path, key);
    }
    return MIMIC_OK;
}

static int load_options(const mimic__st_file *f, const char *path, mimic_student_options *o,
                        int32_t *wdtype)
{
    const char *format = mimic__st_meta_get(f, "format");
    if (format && strcmp(format, STUDENT_FORMAT) != 0)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: __metadata__ format is \"%s\", not \"" STUDENT_FORMAT "\"", path,
                            format);
    mimic_student_options_init(o, sizeof *o);
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(size_keys); i++) {
        uint64_t v;
        int rc = meta_u64(f, path, size_keys[i].key, size_keys[i].required, &v);
        if (rc != MIMIC_OK)
            return rc;
        if (v > SIZE_MAX)
            return mimic__error(MIMIC_ERR_FORMAT, "%s: architecture sizes too large", path);
        size_t z = (size_t)v;
        memcpy((char *)o + size_keys[i].offset, &z, sizeof z);
    }
    int rc = meta_u64(f, path, "seed", false, &o->seed);
    if (rc != MIMIC_OK)
        return rc;
    const char *act = mimic__st_meta_get(f, "activation");
    if (!act)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: __metadata__ has no \"activation\"", path);
    o->activation = mimic__activation_lookup(act);
    if (!o->activation)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: __metadata__ activation \"%s\" is not relu, sigmoid or tanh", path,
                            act);
    const char *wd = mimic__st_meta_get(f, "weight_dtype");
    *wdtype = wd ? mimic__weight_dtype_lookup(wd) : MIMIC_DTYPE_F32;
    if (!*wdtype)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: __metadata__ weight_dtype \"%s\" is not float32, float16 or int8",
                            path, wd);
    return MIMIC_OK;
}

/* Stored tensor `name`, of the dtype `dtype`, with the shape `rows` x `cols` (1-D: rows 0,
 * cols n; also accepted as 1 x n). */
static int find_stored(const mimic__st_file *f, const char *path, const char *name, int32_t dtype,
                       size_t rows, size_t cols, const mimic__st_typed **out)
{
    const mimic__st_typed *t = mimic__st_find_typed(f, name);
    if (!t)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: tensor \"%s\" is missing", path, name);
    if (t->dtype != dtype)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"%s\" is %s, but the student's %s are %s", path, name,
                            mimic__weight_dtype_name(t->dtype), rows ? "weights" : "vectors",
                            mimic__weight_dtype_name(dtype));
    bool ok = rows ? (t->rows == rows && t->cols == cols)
                   : ((t->rows == cols && t->cols == 0) || (t->rows == 1 && t->cols == cols));
    if (!ok)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"%s\" has shape [%zu, %zu], but the metadata says "
                            "[%zu, %zu]",
                            path, name, t->rows, t->cols, rows ? rows : cols, rows ? cols : 0);
    *out = t;
    return MIMIC_OK;
}

static int check_finite(const mimic__st_typed *t, size_t n, const char *path, bool positive)
{
    for (size_t i = 0; i < n; i++) {
        float v;
        if (t->dtype == MIMIC_DTYPE_F16)
            mimic__f16_to_f32_portable((const uint16_t *)t->data + i, &v, 1);
        else if (t->dtype == MIMIC_DTYPE_F32)
            v = ((const float *)t->data)[i];
        else
            return MIMIC_OK; /* int8: always finite */
        if (!isfinite(v) || (positive && !(v > 0)))
            return mimic__error(
                MIMIC_ERR_NUMERIC, "%s: tensor \"%s\" has %s (%g) at element %zu", path, t->name,
                positive ? "a scale that is not > 0" : "a non-finite value", (double)v, i);
    }
    return MIMIC_OK;
}

/* Tensor `id` of a student of layout L whose weight matrices are `wdtype`: checked (s NULL),
 * or copied into s (its float32 parameters, and its compact weights). */
static int load_tensor(const mimic__st_file *f, const char *path, const mimic__layout *L,
                       bool has_mean, mimic__tensor_id id, int32_t wdtype, mimic_student *s)
{
    mimic__tensor_desc d;
    mimic__tensor_describe(L, has_mean, id, &d);
    if (!d.present)
        return MIMIC_OK;
    const size_t m = matrix_of(id), n = d.rows ? d.rows * d.cols : d.cols;
    const int32_t dt = m < MIMIC__N_MATRICES ? wdtype : MIMIC_DTYPE_F32;
    const mimic__st_typed *t, *sc = NULL;
    int rc = find_stored(f, path, d.name, dt, d.rows, d.cols, &t);
    if (rc == MIMIC_OK && dt == MIMIC_DTYPE_I8)
        rc = find_stored(f, path, mimic__matrix_scale_name(m), MIMIC_DTYPE_F32, 0, d.rows, &sc);
    if (rc != MIMIC_OK)
        return rc;
    if (!s) {
        rc = check_finite(t, n, path, false);
        return rc == MIMIC_OK && sc ? check_finite(sc, d.rows, path, true) : rc;
    }
    if (dt == MIMIC_DTYPE_F32) {
        memcpy(mimic__tensor_data(s, id), t->data, n * sizeof(float));
        return MIMIC_OK;
    }
    memcpy(s->compact->w[m], t->data, n * mimic__weight_size(dt));
    if (sc)
        memcpy(s->compact->scale[m], sc->data, d.rows * sizeof(float));
    mimic__compact_dequantize(s->compact, m, mimic__tensor_data(s, id));
    return MIMIC_OK;
}

/* Every tensor the table says a student of layout L has: checked (s NULL) or copied. */
static int load_tensors(const mimic__st_file *f, const char *path, const mimic__layout *L,
                        bool has_mean, int32_t wdtype, mimic_student *s)
{
    int rc = MIMIC_OK;
    /* the trainable ones first, then the normalization (the order of the checks) */
    static const mimic__tensor_id order[] = {
        MIMIC__T_BOTTLENECK_W, MIMIC__T_HIDDEN_W,   MIMIC__T_HIDDEN_B,   MIMIC__T_OUTPUT_W,
        MIMIC__T_OUTPUT_B,     MIMIC__T_INPUT_MEAN, MIMIC__T_INPUT_SCALE};
    for (size_t i = 0; rc == MIMIC_OK && i < MIMIC__ARRAY_LEN(order); i++)
        rc = load_tensor(f, path, L, has_mean, order[i], wdtype, s);
    return rc;
}

/* Whether `name` is an int8 student's scale tensor. */
static bool is_scale_name(const char *name)
{
    for (size_t m = 0; m < MIMIC__N_MATRICES; m++)
        if (strcmp(name, mimic__matrix_scale_name(m)) == 0)
            return true;
    return false;
}

static int load_from_file(const mimic__st_file *f, const char *path, mimic_student **out)
{
    mimic_student_options o;
    int32_t wdtype;
    int rc = load_options(f, path, &o, &wdtype);
    if (rc != MIMIC_OK)
        return rc;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (mimic__tensor_lookup(f->tensors[i].name) == MIMIC__T_COUNT &&
            !(wdtype == MIMIC_DTYPE_I8 && is_scale_name(f->tensors[i].name)))
            return mimic__error(MIMIC_ERR_FORMAT, "%s: unexpected tensor \"%s\"", path,
                                f->tensors[i].name);
    const bool has_mean = mimic__st_find(f, "input.mean") != NULL;
    if (has_mean != (mimic__st_find(f, "input.scale") != NULL))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: input.mean and input.scale must be present together", path);
    if (o.n_bottleneck == 0 && mimic__st_find(f, "bottleneck.weight"))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"bottleneck.weight\" present, but n_bottleneck is 0",
                            path);
    /* Check every tensor against the metadata before allocating anything: the allocation's
     * size comes from the (untrusted) metadata, the tensors are bounded by the file. */
    mimic__layout L;
    rc = mimic__student_options_validate(&o, &L);
    if (rc != MIMIC_OK) {
        char why[256];
        return mimic__error(MIMIC_ERR_FORMAT, "%s: bad architecture in __metadata__: %s", path,
                            mimic__error_copy(why, sizeof why));
    }
    rc = load_tensors(f, path, &L, has_mean, wdtype, NULL);
    if (rc != MIMIC_OK)
        return rc;
    mimic_student *s;
    rc = mimic__student_alloc(&o, &s);
    if (rc != MIMIC_OK)
        return rc;
    if (has_mean) {
        s->in_mean = mimic__falloc(L.D, 1);
        s->in_scale = mimic__falloc(L.D, 1);
        if (!s->in_mean || !s->in_scale) {
            mimic_student_free(s);
            return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path);
        }
    }
    if (wdtype != MIMIC_DTYPE_F32 &&
        (rc = mimic__compact_alloc(&s->compact, &L, wdtype)) != MIMIC_OK) {
        mimic_student_free(s);
        return rc;
    }
    rc = load_tensors(f, path, &L, has_mean, wdtype, s);
    if (rc != MIMIC_OK) {
        mimic_student_free(s);
        return rc;
    }
    *out = s;
    return MIMIC_OK;
}

int mimic_student_load(mimic_student **out, const char *path)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_student_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_student_load: path is NULL or empty");
    mimic__st_file f;
    int rc = mimic__read_safetensors_as(path, MIMIC_FILE_STUDENT, &f);
    if (rc != MIMIC_OK)
        return rc;
    rc = load_from_file(&f, path, out);
    mimic__st_close(&f);
    return rc;
}
