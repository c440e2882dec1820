/*
 * Sharded datasets: mimic_dataset_load_manifest, and the manifest writer.
 *
 * A manifest (format/manifest.c) lists shards of .npy (or IDX) files; paths are relative to
 * the manifest's directory. Every distinct file is mapped once (two shards naming one file,
 * however spelt, share its mapping and its validation), used in place where its values can be
 * (mimic__array_in_place), and checked: the roles' ranks and dtypes, row counts within a shard
 * and against the manifest, the same columns and element types in every shard, finite logits,
 * labels in range. Every message names the manifest and the shard.
 */
#include <stdio.h>

#include "model/model.h"

/* ---- paths --------------------------------------------------------------------------------- */

/* Bytes of the manifest's directory prefix ("data/m.json" -> 5, "m.json" -> 0). */
static size_t dir_len(const char *manifest)
{
    const char *slash = strrchr(manifest, '/');
    return slash ? (size_t)(slash - manifest) + 1 : 0;
}

/* `rel` resolved against the manifest's directory: into dst (NULL: just the length, without
 * the NUL). */
static size_t resolve(char *dst, const char *manifest, const char *rel)
{
    size_t d = rel[0] == '/' ? 0 : dir_len(manifest), n = strlen(rel);
    if (dst) {
        memcpy(dst, manifest, d);
        memcpy(dst + d, rel, n + 1);
    }
    return d + n;
}

/* Re-raise the current error with "MANIFEST: shard I: " in front. */
static int shard_error(int rc, const char *manifest, size_t i)
{
    char msg[768];
    mimic__error_copy(msg, sizeof msg);
    return mimic__error(rc, "%s: shard %zu: %s", manifest, i, msg);
}

/* ---- the distinct files ---------------------------------------------------------------------- */

typedef struct file_slot {
    const char *path; /* resolved, in the names block */
    uint64_t id[2];
    bool has_id;
    mimic_array *a;
    const uint8_t *view; /* the values the dataset uses (in place or converted) */
    int32_t dtype;
    bool logits_checked, labels_checked;
} file_slot;

typedef struct file_table {
    file_slot *slots;
    size_t n;
    size_t *hash; /* open addressing over slot index + 1 (0: empty) */
    size_t cap;   /* a power of two, at least twice the most slots */
} file_table;

static uint64_t id_hash(const uint64_t id[2])
{
    return mimic__hash64(id[0], id[1]);
}

/* The slot of `path`, loading it the first time any spelling of it is seen. */
static int file_get(file_table *t, const char *path, size_t *slot)
{
    uint64_t id[2];
    bool has_id = mimic__file_id(path, id);
    size_t h = 0;
    if (has_id) {
        for (h = (size_t)id_hash(id) & (t->cap - 1); t->hash[h]; h = (h + 1) & (t->cap - 1)) {
            file_slot *f = &t->slots[t->hash[h] - 1];
            if (f->id[0] == id[0] && f->id[1] == id[1]) {
                *slot = t->hash[h] - 1;
                return MIMIC_OK;
            }
        }
    }
    file_slot *f = &t->slots[t->n];
    memset(f, 0, sizeof *f);
    f->path = path;
    int rc = mimic_array_load(&f->a, path);
    if (rc != MIMIC_OK)
        return rc;
    f->has_id = has_id;
    if (has_id) {
        f->id[0] = id[0];
        f->id[1] = id[1];
        t->hash[h] = t->n + 1;
    }
    *slot = t->n++;
    return MIMIC_OK;
}

static void file_table_free(file_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        mimic_array_free(t->slots[i].a);
    mimic__free(t->slots);
    mimic__free(t->hash);
}

/* ---- loading ----------------------------------------------------------------------------- */

enum { ROLE_INPUTS, ROLE_LOGITS, ROLE_LABELS };

typedef struct loader {
    const char *manifest;
    mimic__manifest m;
    file_table files;
    size_t (*uses)[3]; /* per shard: slot + 1 of each role, 0 for none */
    char *names;       /* every resolved path, NUL-separated */
    mimic__storage *s;
} loader;

static const char *role_name(int role)
{
    return role == ROLE_INPUTS ? "inputs" : role == ROLE_LOGITS ? "logits" : "labels";
}

/* The element type the dataset keeps of an array: float64 becomes float32. */
static int32_t kept_dtype(const mimic_array *a)
{
    int32_t d = mimic_array_dtype(a);
    return d == MIMIC_DTYPE_F64 ? MIMIC_DTYPE_F32 : d;
}

/* Shard i against its own files and against shard 0. */
static int check_shard(loader *L, size_t i, uint64_t *rows)
{
    const mimic__manifest_shard *ms = &L->m.shards[i];
    const mimic_array *a[3] = {NULL, NULL, NULL};
    for (int r = 0; r < 3; r++)
        if (L->uses[i][r])
            a[r] = L->files.slots[L->uses[i][r] - 1].a;
    int rc = mimic__check_input_array(a[0]);
    if (!rc && a[1])
        rc = mimic__check_logits_array(a[1]);
    if (!rc && a[1])
        rc = mimic__same_rows(a[1], a[0]);
    if (!rc && a[2])
        rc = mimic__check_labels_array(a[2]);
    if (!rc && a[2])
        rc = mimic__same_rows(a[2], a[0]);
    if (rc)
        return shard_error(rc, L->manifest, i);
    *rows = mimic_array_rows(a[0]);
    if (ms->has_rows && ms->rows != *rows)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "%s: shard %zu: the manifest says %llu rows, but %s has %llu",
                            L->manifest, i, (unsigned long long)ms->rows, mimic__array_name(a[0]),
                            (unsigned long long)*rows);
    if (i == 0)
        return MIMIC_OK;
    const mimic_array *b[3] = {NULL, NULL, NULL};
    for (int r = 0; r < 3; r++)
        if (L->uses[0][r])
            b[r] = L->files.slots[L->uses[0][r] - 1].a;
    for (int r = 1; r < 3; r++)
        if ((a[r] == NULL) != (b[r] == NULL))
            return mimic__error(MIMIC_ERR_SHAPE, "%s: shard %zu %s %s, but shard 0 %s", L->manifest,
                                i, a[r] ? "has" : "has no", role_name(r),
                                b[r] ? "has" : "has none");
    for (int r = 0; r < 3; r++) {
        if (!a[r])
            continue;
        if (r < 2 && mimic_array_cols(a[r]) != mimic_array_cols(b[r]))
            return mimic__error(MIMIC_ERR_SHAPE,
                                "%s: shard %zu: %s has %zu columns, but shard 0's %s has %zu",
                                L->manifest, i, mimic__array_name(a[r]), mimic_array_cols(a[r]),
                                role_name(r), mimic_array_cols(b[r]));
        if (kept_dtype(a[r]) != kept_dtype(b[r]))
            return mimic__error(MIMIC_ERR_UNSUPPORTED,
                                "%s: shard %zu: %s holds '%s', but shard 0's %s hold '%s' (every "
                                "shard stores a role with one element type)",
                                L->manifest, i, mimic__array_name(a[r]), mimic__array_descr(a[r]),
                                role_name(r), mimic__array_descr(b[r]));
    }
    return MIMIC_OK;
}

/* Map every file of every shard, once per distinct file. */
static int open_files(loader *L)
{
    const size_t n = L->m.n_shards;
    size_t names = 0, len;
    for (size_t i = 0; i < n; i++) {
        const char *p[3] = {L->m.shards[i].inputs, L->m.shards[i].logits, L->m.shards[i].labels};
        for (int r = 0; r < 3; r++)
            if (p[r] && (!mimic__add_ok(names, resolve(NULL, L->manifest, p[r]), &len) ||
                         !mimic__add_ok(len, 1, &names)))
                return mimic__error(MIMIC_ERR_RANGE, "%s: paths too long", L->manifest);
    }
    size_t most = 0, cap = 16;
    if (!mimic__mul_ok(n, 3, &most))
        return mimic__error(MIMIC_ERR_RANGE, "%s: too many shards", L->manifest);
    while (cap < 2 * most)
        cap *= 2;
    L->names = mimic__malloc(names);
    L->uses = mimic__calloc(n, sizeof *L->uses);
    L->files.slots = mimic__calloc(most, sizeof(file_slot));
    L->files.hash = mimic__calloc(cap, sizeof(size_t));
    L->files.cap = cap;
    if (!L->names || !L->uses || !L->files.slots || !L->files.hash)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for %zu shards", L->manifest, n);
    char *q = L->names;
    for (size_t i = 0; i < n; i++) {
        const char *p[3] = {L->m.shards[i].inputs, L->m.shards[i].logits, L->m.shards[i].labels};
        for (int r = 0; r < 3; r++) {
            if (!p[r])
                continue;
            char *path = q;
            q += resolve(path, L->manifest, p[r]) + 1;
            size_t slot;
            int rc = file_get(&L->files, path, &slot);
            if (rc)
                return shard_error(rc, L->manifest, i);
            L->uses[i][r] = slot + 1;
        }
    }
    return MIMIC_OK;
}

/* The values of slot k as the dataset keeps them (in place, or converted once). */
static int keep(loader *L, size_t k)
{
    file_slot *f = &L->files.slots[k];
    if (f->view)
        return MIMIC_OK;
    return mimic__array_in_place(f->a, &L->s->blobs[k], &L->s->owned[k], &f->view, &f->dtype);
}

static int build(loader *L, mimic_dataset **out)
{
    static const char fn[] = "mimic_dataset_load_manifest";
    const size_t n = L->m.n_shards;
    uint64_t total = 0;
    uint64_t *rows = mimic__calloc(n, sizeof *rows);
    if (!rows)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", L->manifest);
    int rc = MIMIC_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = check_shard(L, i, &rows[i]);
        if (!rc && total + rows[i] < total)
            rc = mimic__error(MIMIC_ERR_RANGE, "%s: the row count overflows 64 bits", L->manifest);
        total += rows[i];
    }
    if (!rc && L->m.has_rows && L->m.rows != total)
        rc = mimic__error(MIMIC_ERR_SHAPE, "%s: the manifest says %llu rows, its shards hold %llu",
                          L->manifest, (unsigned long long)L->m.rows, (unsigned long long)total);
    if (!rc && total > SIZE_MAX)
        rc = mimic__error(MIMIC_ERR_RANGE, "%s: %llu rows do not fit this platform's size_t",
                          L->manifest, (unsigned long long)total);
    L->s = rc ? NULL : mimic__storage_new(n, L->files.n, L->files.n + 1);
    if (!rc && !L->s)
        rc = mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", L->manifest);
    if (rc) {
        mimic__free(rows);
        return rc;
    }
    L->s->owned[L->files.n] = L->names; /* the shards' names live as long as the storage */
    L->names = NULL;

    const bool has_z = L->uses[0][ROLE_LOGITS] != 0, has_y = L->uses[0][ROLE_LABELS] != 0;
    const mimic_array *x0 = L->files.slots[L->uses[0][ROLE_INPUTS] - 1].a;
    mimic__dataset_shape shape = {0, 0, 0, (size_t)total, mimic_array_cols(x0), 0, 0, 0};
    mimic_array_image_shape(x0, &shape.image_h, &shape.image_w);
    if (has_z)
        shape.n_classes = mimic_array_cols(L->files.slots[L->uses[0][ROLE_LOGITS] - 1].a);
    /* labels-only: the classes are the largest label of any shard + 1 */
    int64_t top = -1;
    uint64_t first = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        mimic__shard *sh = &L->s->shards[i];
        sh->first = first;
        sh->rows = rows[i];
        first += rows[i];
        const uint8_t **views[3] = {&sh->inputs, &sh->logits, &sh->labels};
        int32_t *dtypes[3] = {&shape.input_dtype, &shape.logits_dtype, &shape.labels_dtype};
        for (int r = 0; r < 3 && !rc; r++) {
            if (!L->uses[i][r])
                continue;
            size_t k = L->uses[i][r] - 1;
            file_slot *f = &L->files.slots[k];
            rc = keep(L, k);
            if (rc)
                break;
            *views[r] = f->view;
            *dtypes[r] = f->dtype;
            if (r == ROLE_LOGITS && !f->logits_checked) {
                rc = mimic__check_logits(f->view, f->dtype, rows[i], shape.n_classes, 0,
                                         mimic__array_name(f->a));
                f->logits_checked = true;
            } else if (r == ROLE_LABELS && !f->labels_checked) {
                int64_t t = -1;
                rc = mimic__check_labels(f->view, f->dtype, rows[i], shape.n_classes, 0,
                                         mimic__array_name(f->a), &t);
                top = t > top ? t : top;
                f->labels_checked = true;
            }
        }
        if (rc)
            rc = shard_error(rc, L->manifest, i);
        sh->name = L->files.slots[L->uses[i][ROLE_INPUTS] - 1].path;
    }
    mimic__free(rows);
    if (!rc && !has_z)
        shape.n_classes = top < 1 ? 2 : (size_t)top + 1;
    (void)has_y;
    if (!rc)
        rc = mimic__dataset_new(out, fn, &shape, L->s->shards, n, L->s);
    if (!rc)
        L->s = NULL; /* the dataset owns it */
    return rc;
}

int mimic_dataset_load_manifest(mimic_dataset **out, const char *path)
{
    static const char fn[] = "mimic_dataset_load_manifest";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "%s: path is NULL or empty", fn);
    mimic__map map;
    int rc = mimic__map_file(path, &map);
    if (rc)
        return rc;
    loader L;
    memset(&L, 0, sizeof L);
    L.manifest = path;
    rc = mimic__expect_kind(path, map.data, map.size, MIMIC_FILE_MANIFEST, "a dataset manifest");
    if (!rc)
        rc = mimic__manifest_parse(map.data, map.size, path, &L.m);
    mimic__unmap(&map);
    if (!rc)
        rc = open_files(&L);
    if (!rc)
        rc = build(&L, out);
    if (rc)
        *out = NULL;
    mimic__storage_release(L.s);
    mimic__free(L.names);
    mimic__free(L.uses);
    file_table_free(&L.files);
    mimic__manifest_free(&L.m);
    return rc;
}

/* ---- the writer ------------------------------------------------------------------------------ */

struct mimic_manifest_writer {
    uint32_t magic;
    char *path;
    mimic__manifest m; /* shards[0..n_shards); paths owned (strdup) */
    size_t cap;
    size_t cols[2];    /* shard 0's input and logit columns */
    int32_t dtypes[3]; /* and kept element types (0: role absent) */
};

static int mw_check(const mimic_manifest_writer *w, const char *arg)
{
    return mimic__handle_check(w, w ? w->magic : 0, MIMIC__MAGIC_MANIFEST_WRITER, arg,
                               "manifest writer");
}

int mimic_manifest_writer_open(mimic_manifest_writer **out, const char *path)
{
    static const char fn[] = "mimic_manifest_writer_open";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "%s: path is NULL or empty", fn);
    mimic_manifest_writer *w = mimic__calloc(1, sizeof *w);
    if (w)
        w->path = mimic__strdup(path);
    if (!w || !w->path) {
        mimic__free(w);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path);
    }
    w->magic = MIMIC__MAGIC_MANIFEST_WRITER;
    *out = w;
    return MIMIC_OK;
}

/* The arrays of a shard to be added, checked as the loader will check them (headers and
 * shapes; the values are checked when the manifest is loaded). */
static int mw_check_files(mimic_manifest_writer *w, const char *const paths[3], uint64_t *rows)
{
    mimic_array *a[3] = {NULL, NULL, NULL};
    int rc = MIMIC_OK;
    for (int r = 0; r < 3 && !rc; r++) {
        if (!paths[r])
            continue;
        char *full = mimic__malloc(resolve(NULL, w->path, paths[r]) + 1);
        if (!full)
            rc = mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", w->path);
        else
            resolve(full, w->path, paths[r]);
        if (!rc)
            rc = mimic_array_load(&a[r], full);
        mimic__free(full);
    }
    if (!rc)
        rc = mimic__check_input_array(a[0]);
    if (!rc && a[1] && !(rc = mimic__check_logits_array(a[1])))
        rc = mimic__same_rows(a[1], a[0]);
    if (!rc && a[2] && !(rc = mimic__check_labels_array(a[2])))
        rc = mimic__same_rows(a[2], a[0]);
    const size_t i = w->m.n_shards;
    if (!rc && i == 0) {
        w->cols[0] = mimic_array_cols(a[0]);
        w->cols[1] = a[1] ? mimic_array_cols(a[1]) : 0;
        for (int r = 0; r < 3; r++)
            w->dtypes[r] = a[r] ? kept_dtype(a[r]) : 0;
    } else if (!rc) {
        for (int r = 0; r < 3 && !rc; r++) {
            if ((a[r] != NULL) != (w->dtypes[r] != 0))
                rc = mimic__error(MIMIC_ERR_SHAPE, "%s: shard %zu %s %s, but shard 0 %s", w->path,
                                  i, a[r] ? "has" : "has no", role_name(r),
                                  w->dtypes[r] ? "has" : "has none");
            else if (a[r] && r < 2 && mimic_array_cols(a[r]) != w->cols[r])
                rc = mimic__error(MIMIC_ERR_SHAPE,
                                  "%s: shard %zu: %s has %zu columns, but shard 0's %s has %zu",
                                  w->path, i, mimic__array_name(a[r]), mimic_array_cols(a[r]),
                                  role_name(r), w->cols[r]);
            else if (a[r] && kept_dtype(a[r]) != w->dtypes[r])
                rc = mimic__error(MIMIC_ERR_UNSUPPORTED,
                                  "%s: shard %zu: %s holds '%s', but shard 0's %s hold '%s'",
                                  w->path, i, mimic__array_name(a[r]), mimic__array_descr(a[r]),
                                  role_name(r), mimic__dtype_descr(w->dtypes[r]));
        }
    }
    if (!rc)
        *rows = mimic_array_rows(a[0]);
    for (int r = 0; r < 3; r++)
        mimic_array_free(a[r]);
    return rc;
}

int mimic_manifest_writer_add(mimic_manifest_writer *w, const char *inputs,
                              const char *logits_or_NULL, const char *labels_or_NULL)
{
    int rc = mw_check(w, "mimic_manifest_writer_add: w");
    if (rc)
        return rc;
    const size_t i = w->m.n_shards;
    if (!inputs || !*inputs)
        return mimic__error(MIMIC_ERR_INVALID, "%s: shard %zu: inputs path is NULL or empty",
                            w->path, i);
    if ((logits_or_NULL && !*logits_or_NULL) || (labels_or_NULL && !*labels_or_NULL))
        return mimic__error(MIMIC_ERR_INVALID, "%s: shard %zu: an empty path", w->path, i);
    if (!logits_or_NULL && !labels_or_NULL)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: shard %zu: logits and labels are both NULL (a shard needs one)",
                            w->path, i);
    const char *const paths[3] = {inputs, logits_or_NULL, labels_or_NULL};
    for (int r = 0; r < 3; r++)
        if (paths[r] && mimic__json_quote(NULL, paths[r]) == SIZE_MAX)
            return mimic__error(MIMIC_ERR_INVALID, "%s: shard %zu: %s path is not UTF-8", w->path,
                                i, role_name(r));
    uint64_t rows = 0;
    rc = mw_check_files(w, paths, &rows);
    if (rc)
        return rc;
    if (w->m.n_shards == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        mimic__manifest_shard *grown = mimic__calloc(cap, sizeof *grown);
        if (!grown)
            return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", w->path);
        if (w->m.n_shards)
            memcpy(grown, w->m.shards, w->m.n_shards * sizeof *grown);
        mimic__free(w->m.shards);
        w->m.shards = grown;
        w->cap = cap;
    }
    mimic__manifest_shard *s = &w->m.shards[i];
    memset(s, 0, sizeof *s);
    s->inputs = mimic__strdup(inputs);
    s->logits = logits_or_NULL ? mimic__strdup(logits_or_NULL) : NULL;
    s->labels = labels_or_NULL ? mimic__strdup(labels_or_NULL) : NULL;
    if (!s->inputs || (logits_or_NULL && !s->logits) || (labels_or_NULL && !s->labels)) {
        mimic__free((void *)s->inputs);
        mimic__free((void *)s->logits);
        mimic__free((void *)s->labels);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", w->path);
    }
    s->rows = rows;
    s->has_rows = true;
    w->m.rows += rows;
    w->m.has_rows = true;
    w->m.n_shards++;
    return MIMIC_OK;
}

static void mw_free(mimic_manifest_writer *w)
{
    for (size_t i = 0; i < w->m.n_shards; i++) {
        mimic__free((void *)w->m.shards[i].inputs);
        mimic__free((void *)w->m.shards[i].logits);
        mimic__free((void *)w->m.shards[i].labels);
    }
    mimic__free(w->m.shards);
    mimic__free(w->path);
    w->magic = MIMIC__MAGIC_DEAD;
    mimic__free(w);
}

int mimic_manifest_writer_close(mimic_manifest_writer *w)
{
    int rc = mw_check(w, "mimic_manifest_writer_close: w");
    if (rc)
        return rc;
    if (w->m.n_shards == 0) {
        rc = mimic__error(MIMIC_ERR_INVALID, "%s: no shards were added; nothing written", w->path);
        mw_free(w);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    rc = mimic__manifest_format(&w->m, w->path, &text, &len);
    mimic__atomic_file f;
    if (!rc)
        rc = mimic__atomic_open(&f, w->path);
    if (!rc) {
        rc = mimic__atomic_write(&f, text, len);
        if (rc)
            mimic__atomic_abort(&f);
        else
            rc = mimic__atomic_commit(&f);
    }
    mimic__free(text);
    mw_free(w);
    return rc;
}

void mimic_manifest_writer_abort(mimic_manifest_writer *w)
{
    if (w && w->magic == MIMIC__MAGIC_MANIFEST_WRITER)
        mw_free(w);
}

uint64_t mimic_manifest_writer_rows(const mimic_manifest_writer *w)
{
    return w && w->magic == MIMIC__MAGIC_MANIFEST_WRITER ? w->m.rows : 0;
}
