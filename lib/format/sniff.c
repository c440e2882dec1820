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

static bool json_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The JSON string that starts at h[*i] (a '"'): its text decoded into out when it is ASCII
 * and shorter than cap (*fits; else false), and *i moved past its closing quote. false when
 * the string does not end inside the header. */
static bool json_string(const uint8_t *h, size_t n, size_t *i, char *out, size_t cap, bool *fits)
{
    size_t j = *i + 1, k = 0;
    *fits = true;
    while (j < n && h[j] != '"') {
        unsigned c = h[j++];
        if (c == '\\') {
            if (j >= n)
                return false;
            unsigned e = h[j++];
            switch (e) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                if (n - j < 4)
                    return false;
                c = 0;
                for (int d = 0; d < 4; d++) {
                    unsigned x = h[j++], lx = x | 0x20u;
                    if (x >= '0' && x <= '9')
                        c = c * 16 + (x - '0');
                    else if (lx >= 'a' && lx <= 'f')
                        c = c * 16 + (lx - 'a' + 10);
                    else
                        c = 0x10000; /* not an escape the parser takes: matches nothing */
                }
                break;
            default: c = e; break; /* \" \\ \/ (others fail the parser) */
            }
        }
        if (c == 0 || c >= 0x80 || k + 1 >= cap)
            *fits = false;
        else
            out[k++] = (char)c;
    }
    if (j >= n)
        return false;
    out[k] = '\0';
    *i = j + 1;
    return true;
}

/* The value of the "format" key in a .safetensors header (the JSON text `h`), found by
 * reading its strings in order (allocation-free; the loaders parse the file properly
 * afterwards): the first key "format" with a string value. In a header the parser takes,
 * that is the "__metadata__" entry (tensor entries have no string-valued keys but dtype),
 * escapes and white space as the parser reads them, so the kind is the metadata's. */
static int32_t safetensors_kind(const uint8_t *h, size_t n)
{
    static const struct {
        const char *value;
        int32_t kind;
    } formats[] = {{"libmimic-student", MIMIC_FILE_STUDENT},
                   {"mimic-trainer-checkpoint", MIMIC_FILE_CHECKPOINT}};
    char key[8], value[32];
    bool fits;
    size_t i = 0;
    while (i < n) {
        if (h[i] != '"') {
            i++;
            continue;
        }
        if (!json_string(h, n, &i, key, sizeof key, &fits))
            break;
        size_t j = i;
        while (j < n && json_ws(h[j]))
            j++;
        if (!fits || strcmp(key, "format") != 0 || j >= n || h[j] != ':')
            continue;
        for (j++; j < n && json_ws(h[j]); j++)
            ;
        if (j >= n || h[j] != '"')
            continue;
        i = j;
        if (!json_string(h, n, &i, value, sizeof value, &fits))
            break;
        for (size_t k = 0; fits && k < MIMIC__ARRAY_LEN(formats); k++)
            if (strcmp(value, formats[k].value) == 0)
                return formats[k].kind;
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
        while (i < len && i < 8 + n && json_ws(b[i])) /* JSON white space, as the parser */
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
