/* What a file is (include/mimic/file.h), and the headers of .safetensors files. */
#include "model/model.h"

int mimic_file_identify(const char *path, int32_t *kind)
{
    if (!path || !*path || !kind)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_file_identify: NULL path or kind");
    mimic__map m;
    int rc = mimic__map_file(path, &m);
    if (rc != MIMIC_OK)
        return rc;
    *kind = mimic__sniff(m.data, m.size);
    mimic__unmap(&m);
    return MIMIC_OK;
}

const char *mimic_file_kind_name(int32_t kind)
{
    switch (kind) {
    case MIMIC_FILE_EMPTY: return "an empty file";
    case MIMIC_FILE_NPY: return "a NumPy .npy array";
    case MIMIC_FILE_IDX: return "an IDX array";
    case MIMIC_FILE_GZIP: return "a gzip-compressed file";
    case MIMIC_FILE_STUDENT: return "a libmimic student (.safetensors)";
    case MIMIC_FILE_CHECKPOINT: return "a libmimic trainer checkpoint (.safetensors)";
    case MIMIC_FILE_SAFETENSORS: return "a .safetensors file";
    case MIMIC_FILE_ONNX: return "an ONNX model";
    case MIMIC_FILE_MANIFEST: return "a dataset manifest";
    default: return "a file of unknown format";
    }
}

int mimic__expect_kind(const char *path, const uint8_t *buf, size_t len, int32_t want,
                       const char *want_text)
{
    int32_t kind = mimic__sniff(buf, len);
    if (kind == want || kind == MIMIC_FILE_UNKNOWN ||
        (kind == MIMIC_FILE_SAFETENSORS && want == MIMIC_FILE_STUDENT))
        return MIMIC_OK;
    return mimic__error(MIMIC_ERR_FORMAT, "%s: this is %s, not %s", path,
                        mimic_file_kind_name(kind), want_text);
}

int mimic__read_safetensors_as(const char *path, int32_t want, mimic__st_file *out)
{
    memset(out, 0, sizeof *out);
    mimic__map map;
    int rc = mimic__map_file(path, &map);
    if (rc != MIMIC_OK)
        return rc;
    rc = mimic__expect_kind(path, map.data, map.size, want, mimic_file_kind_name(want));
    if (rc == MIMIC_OK) /* students may hold compact (F16, I8) weights; checkpoints are F32 */
        rc = want == MIMIC_FILE_STUDENT
                 ? mimic__safetensors_parse_typed(map.data, map.size, path, out)
                 : mimic__safetensors_parse(map.data, map.size, path, out);
    mimic__unmap(&map);
    return rc;
}

struct mimic_metadata {
    uint32_t magic;
    int32_t kind;
    mimic__st_file f;
};

static bool meta_valid(const mimic_metadata *m)
{
    return m && m->magic == MIMIC__MAGIC_META;
}

int mimic_metadata_read(mimic_metadata **out, const char *path)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_metadata_read: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_metadata_read: path is NULL or empty");
    mimic__map map;
    int rc = mimic__map_file(path, &map);
    if (rc != MIMIC_OK)
        return rc;
    int32_t kind = mimic__sniff(map.data, map.size);
    mimic_metadata *m = NULL;
    if (kind != MIMIC_FILE_STUDENT && kind != MIMIC_FILE_CHECKPOINT &&
        kind != MIMIC_FILE_SAFETENSORS && kind != MIMIC_FILE_UNKNOWN)
        rc = mimic__error(MIMIC_ERR_FORMAT, "%s: this is %s, not a .safetensors file", path,
                          mimic_file_kind_name(kind));
    if (rc == MIMIC_OK && !(m = mimic__calloc(1, sizeof *m)))
        rc = mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path);
    if (rc == MIMIC_OK)
        rc = mimic__safetensors_parse_header(map.data, map.size, path, &m->f);
    mimic__unmap(&map);
    if (rc != MIMIC_OK) {
        mimic__free(m);
        return rc;
    }
    m->magic = MIMIC__MAGIC_META;
    m->kind = kind == MIMIC_FILE_UNKNOWN ? MIMIC_FILE_SAFETENSORS : kind;
    *out = m;
    return MIMIC_OK;
}

size_t mimic_metadata_count(const mimic_metadata *m)
{
    return meta_valid(m) ? m->f.n_meta : 0;
}

const char *mimic_metadata_key(const mimic_metadata *m, size_t i)
{
    return meta_valid(m) && i < m->f.n_meta ? m->f.meta[i].key : NULL;
}

const char *mimic_metadata_value(const mimic_metadata *m, size_t i)
{
    return meta_valid(m) && i < m->f.n_meta ? m->f.meta[i].value : NULL;
}

const char *mimic_metadata_get(const mimic_metadata *m, const char *key)
{
    return meta_valid(m) && key ? mimic__st_meta_get(&m->f, key) : NULL;
}

size_t mimic_metadata_tensor_count(const mimic_metadata *m)
{
    return meta_valid(m) ? m->f.n_tensors : 0;
}

int mimic_metadata_tensor(const mimic_metadata *m, size_t i, const char **name, size_t *rows,
                          size_t *cols)
{
    int rc = mimic__handle_check(m, m ? m->magic : 0, MIMIC__MAGIC_META, "mimic_metadata_tensor",
                                 "metadata");
    if (rc != MIMIC_OK)
        return rc;
    if (i >= m->f.n_tensors)
        return mimic__error(MIMIC_ERR_RANGE, "mimic_metadata_tensor: index %zu, %zu tensors", i,
                            m->f.n_tensors);
    if (name)
        *name = m->f.tensors[i].name;
    if (rows)
        *rows = m->f.tensors[i].rows;
    if (cols)
        *cols = m->f.tensors[i].cols;
    return MIMIC_OK;
}

int32_t mimic_metadata_kind(const mimic_metadata *m)
{
    return meta_valid(m) ? m->kind : MIMIC_FILE_UNKNOWN;
}

void mimic_metadata_free(mimic_metadata *m)
{
    if (!meta_valid(m))
        return;
    m->magic = MIMIC__MAGIC_DEAD;
    mimic__st_close(&m->f);
    mimic__free(m);
}
