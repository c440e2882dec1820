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

int mimic_student_save(const mimic_student *s, const char *path)
{
    static const char fn[] = "mimic_student_save";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "%s: path is NULL or empty", fn);
    mimic__st_tensor t[MIMIC__T_COUNT];
    size_t nt = 0;
    for (int id = 0; id < MIMIC__T_COUNT; id++) {
        mimic__tensor_desc d;
        mimic__tensor_describe(&s->L, s->in_mean != NULL, (mimic__tensor_id)id, &d);
        if (d.present)
            t[nt++] = (mimic__st_tensor){d.name, d.rows ? d.rows : d.cols, d.rows ? d.cols : 0,
                                         mimic__tensor_data(s, (mimic__tensor_id)id)};
    }
    char sizes[MIMIC__ARRAY_LEN(size_keys)][24], seed[24];
    mimic__st_meta meta[4 + MIMIC__ARRAY_LEN(size_keys)];
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
    return mimic__safetensors_write(path, t, nt, meta, nm);
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

static int load_options(const mimic__st_file *f, const char *path, mimic_student_options *o)
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
    return MIMIC_OK;
}

/* Check a stored tensor's shape against the table and its values for finiteness; with dst,
 * copy it instead. */
static int load_tensor(const mimic__st_file *f, const char *path, const mimic__tensor_desc *d,
                       float *dst)
{
    const mimic__st_tensor *t = mimic__st_find(f, d->name);
    if (!t)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: tensor \"%s\" is missing", path, d->name);
    /* 1-D tensors may also come as 1 x n. */
    bool ok = d->rows
                  ? (t->rows == d->rows && t->cols == d->cols)
                  : ((t->rows == d->cols && t->cols == 0) || (t->rows == 1 && t->cols == d->cols));
    if (!ok)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"%s\" has shape [%zu, %zu], but the metadata says "
                            "[%zu, %zu]",
                            path, d->name, t->rows, t->cols, d->rows ? d->rows : d->cols,
                            d->rows ? d->cols : 0);
    size_t n = d->rows ? d->rows * d->cols : d->cols;
    if (dst) {
        memcpy(dst, t->data, n * sizeof(float));
        return MIMIC_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(t->data[i]))
            return mimic__error(MIMIC_ERR_NUMERIC,
                                "%s: tensor \"%s\" has a non-finite value (%g) at element %zu",
                                path, d->name, (double)t->data[i], i);
    return MIMIC_OK;
}

/* Every tensor the table says a student of layout L has: checked (s NULL) or copied. */
static int load_tensors(const mimic__st_file *f, const char *path, const mimic__layout *L,
                        bool has_mean, mimic_student *s)
{
    int rc = MIMIC_OK;
    /* the trainable ones first, then the normalization (the order of the checks) */
    static const mimic__tensor_id order[] = {
        MIMIC__T_BOTTLENECK_W, MIMIC__T_HIDDEN_W,   MIMIC__T_HIDDEN_B,   MIMIC__T_OUTPUT_W,
        MIMIC__T_OUTPUT_B,     MIMIC__T_INPUT_MEAN, MIMIC__T_INPUT_SCALE};
    for (size_t i = 0; rc == MIMIC_OK && i < MIMIC__ARRAY_LEN(order); i++) {
        mimic__tensor_desc d;
        mimic__tensor_describe(L, has_mean, order[i], &d);
        if (d.present)
            rc = load_tensor(f, path, &d, s ? mimic__tensor_data(s, order[i]) : NULL);
    }
    return rc;
}

static int load_from_file(const mimic__st_file *f, const char *path, mimic_student **out)
{
    mimic_student_options o;
    int rc = load_options(f, path, &o);
    if (rc != MIMIC_OK)
        return rc;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (mimic__tensor_lookup(f->tensors[i].name) == MIMIC__T_COUNT)
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
    rc = load_tensors(f, path, &L, has_mean, NULL);
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
    rc = load_tensors(f, path, &L, has_mean, s);
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
