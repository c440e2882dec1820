/* What a file is, from its bytes: the magic numbers of the formats libmimic meets, so that
 * a loader handed the wrong file says what the file is instead of failing deep in a parser. */
#include "format/format.h"

/* A protobuf ModelProto (ONNX) starts with one of its own fields: ir_version (varint, tag
 * 0x08) first in every writer we know, then a field tag of ModelProto. */
static bool looks_like_onnx(const uint8_t *b, size_t len)
{
    static const uint8_t next_tags[] = {0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72};
    if (len < 4 || b[0] != 0x08 || b[1] == 0 || b[1] > 0x7f)
        return false;
    for (size_t i = 0; i < sizeof next_tags; i++)
        if (b[2] == next_tags[i])
            return true;
    return false;
}

/* The value of the "format" key in a .safetensors header (the JSON text `h`), found by
 * scanning for the key (allocation-free; the loaders parse the file properly afterwards):
 * writers put it in "__metadata__" as a plain string. */
static int32_t safetensors_kind(const uint8_t *h, size_t n)
{
    static const char key[] = "\"format\"";
    static const struct {
        const char *value;
        int32_t kind;
    } formats[] = {{"libmimic-student", MIMIC_FILE_STUDENT},
                   {"mimic-trainer-checkpoint", MIMIC_FILE_CHECKPOINT}};
    const size_t kn = sizeof key - 1;
    for (size_t i = 0; i + kn < n; i++) {
        if (memcmp(h + i, key, kn) != 0)
            continue;
        size_t j = i + kn;
        while (j < n && (h[j] == ' ' || h[j] == '\t' || h[j] == '\n' || h[j] == '\r'))
            j++;
        if (j >= n || h[j++] != ':')
            continue;
        while (j < n && (h[j] == ' ' || h[j] == '\t' || h[j] == '\n' || h[j] == '\r'))
            j++;
        if (j >= n || h[j++] != '"')
            continue;
        for (size_t k = 0; k < MIMIC__ARRAY_LEN(formats); k++) {
            size_t vn = strlen(formats[k].value);
            if (n - j > vn && memcmp(h + j, formats[k].value, vn) == 0 && h[j + vn] == '"')
                return formats[k].kind;
        }
        return MIMIC_FILE_SAFETENSORS;
    }
    return MIMIC_FILE_SAFETENSORS;
}

/* A JSON object whose first 4 KiB name the manifest format (manifest.c). */
static bool looks_like_manifest(const uint8_t *b, size_t len)
{
    static const char tag[] = "\"mimic-manifest\"";
    const size_t tn = sizeof tag - 1;
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    if (i >= len || b[i] != '{')
        return false;
    const size_t n = len < 4096 ? len : 4096;
    for (; i + tn <= n; i++)
        if (memcmp(b + i, tag, tn) == 0)
            return true;
    return false;
}

int32_t mimic__sniff(const uint8_t *b, size_t len)
{
    static const uint8_t npy[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (len == 0)
        return MIMIC_FILE_EMPTY;
    if (len >= 6 && memcmp(b, npy, 6) == 0)
        return MIMIC_FILE_NPY;
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return MIMIC_FILE_GZIP;
    /* IDX: 00 00, an element type 0x08..0x0e, 1 to 4 dimensions */
    if (len >= 4 && b[0] == 0 && b[1] == 0 && b[2] >= 0x08 && b[2] <= 0x0e && b[3] >= 1 &&
        b[3] <= 4)
        return MIMIC_FILE_IDX;
    if (len >= 10) {
        uint64_t n = mimic__le64(b);
        size_t i = 8;
        while (i < len && i < 8 + n && b[i] == ' ')
            i++;
        if (n >= 2 && n <= len - 8 && i < len && b[i] == '{')
            return safetensors_kind(b + 8, (size_t)n);
    }
    if (looks_like_onnx(b, len))
        return MIMIC_FILE_ONNX;
    if (looks_like_manifest(b, len))
        return MIMIC_FILE_MANIFEST;
    return MIMIC_FILE_UNKNOWN;
}
