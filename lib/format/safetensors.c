/*
 * .safetensors: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [r, c],
 *    "data_offsets": [begin, end]}, ...}
 * padded with spaces, then the tensor bytes (offsets relative to the end of the header).
 *
 * The parser takes untrusted bytes. It is a strict, schema-driven JSON reader (objects,
 * arrays, strings with every escape incl. \uXXXX surrogate pairs, non-negative integers;
 * nesting is bounded by the schema: at most three levels) that runs twice over the header:
 * the first pass validates everything and counts, the second fills one exactly sized block
 * (so a parse makes a single allocation). Then the offsets must tile the data area exactly:
 * no overlap, no hole, nothing out of range. Tensor data is copied into 64-byte-aligned
 * buffers (file offsets need not be aligned).
 */
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

#define MAX_HEADER ((size_t)100 << 20) /* as the reference implementation */
#define MAX_RANK 2

/* ---- writer ------------------------------------------------------------------------------ */

/* Appends to p when set, else only counts (the first of two passes measures). */
typedef struct sbuf {
    char *p;
    size_t n;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->p)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_c(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_u64(sbuf *b, uint64_t v)
{
    char tmp[24];
    mimic__u64_to_str(v, tmp);
    put_c(b, tmp);
}

static void put_json_string(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(b, "\"", 1);
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') {
            char e[2] = {'\\', (char)*u};
            put(b, e, 2);
        } else if (*u < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 15]};
            put(b, e, 6);
        } else {
            put(b, (const char *)u, 1);
        }
    }
    put(b, "\"", 1);
}

static size_t tensor_count(const mimic__st_typed *t)
{
    return t->cols ? t->rows * t->cols : t->rows; /* checked by check_write_args */
}

/* The safetensors name and the element size of a dtype the files may hold (0: none). */
static const char *dtype_text(int32_t dtype, size_t *size)
{
    switch (dtype) {
    case MIMIC_DTYPE_F32: *size = 4; return "F32";
    case MIMIC_DTYPE_F16: *size = 2; return "F16";
    case MIMIC_DTYPE_I8: *size = 1; return "I8";
    default: *size = 0; return NULL;
    }
}

static void build_header(sbuf *b, const mimic__st_typed *t, size_t nt, const mimic__st_meta *m,
                         size_t nm)
{
    put(b, "{", 1);
    bool first = true;
    if (nm) {
        put_c(b, "\"__metadata__\":{");
        for (size_t i = 0; i < nm; i++) {
            if (i)
                put(b, ",", 1);
            put_json_string(b, m[i].key);
            put(b, ":", 1);
            put_json_string(b, m[i].value);
        }
        put(b, "}", 1);
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        if (!first)
            put(b, ",", 1);
        first = false;
        size_t size;
        const char *dt = dtype_text(t[i].dtype, &size);
        put_json_string(b, t[i].name);
        put_c(b, ":{\"dtype\":\"");
        put_c(b, dt);
        put_c(b, "\",\"shape\":[");
        put_u64(b, t[i].rows);
        if (t[i].cols) {
            put(b, ",", 1);
            put_u64(b, t[i].cols);
        }
        put_c(b, "],\"data_offsets\":[");
        put_u64(b, off);
        put(b, ",", 1);
        off += (uint64_t)tensor_count(&t[i]) * size;
        put_u64(b, off);
        put_c(b, "]}");
    }
    put(b, "}", 1);
}

static int check_write_args(const char *path, const mimic__st_typed *t, size_t nt,
                            const mimic__st_meta *m, size_t nm)
{
    size_t total = 0, n, bytes, size;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "safetensors: output path is NULL or empty");
    if ((nt && !t) || (nm && !m))
        return mimic__error(MIMIC_ERR_INVALID, "%s: NULL tensor or metadata array", path);
    for (size_t i = 0; i < nt; i++) {
        if (!t[i].name || !strcmp(t[i].name, "__metadata__"))
            return mimic__error(MIMIC_ERR_INVALID, "%s: tensor %zu has no usable name", path, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t[i].name, t[j].name))
                return mimic__error(MIMIC_ERR_INVALID, "%s: tensor name \"%s\" appears twice", path,
                                    t[i].name);
        if (!dtype_text(t[i].dtype, &size))
            return mimic__error(MIMIC_ERR_INVALID, "%s: tensor \"%s\" has dtype %d", path,
                                t[i].name, (int)t[i].dtype);
        if ((t[i].cols && !mimic__mul_ok(t[i].rows, t[i].cols, &n)) ||
            !mimic__mul_ok(t[i].cols ? n : t[i].rows, size, &bytes) ||
            !mimic__add_ok(total, bytes, &total))
            return mimic__error(MIMIC_ERR_INVALID, "%s: tensor \"%s\" is too large", path,
                                t[i].name);
        if (!t[i].data && bytes)
            return mimic__error(MIMIC_ERR_INVALID, "%s: tensor \"%s\" has NULL data", path,
                                t[i].name);
    }
    for (size_t i = 0; i < nm; i++)
        if (!m[i].key || !m[i].value)
            return mimic__error(MIMIC_ERR_INVALID, "%s: metadata entry %zu is NULL", path, i);
    return MIMIC_OK;
}

/* n elements of `size` bytes, little-endian on disk. */
static int write_elements(mimic__atomic_file *f, const void *x, size_t n, size_t size)
{
    if (mimic__host_le() || size == 1)
        return mimic__atomic_write(f, x, n * size);
    uint8_t tmp[4096];
    const uint8_t *src = x;
    for (size_t i = 0; i < n;) {
        size_t m = n - i < sizeof tmp / size ? n - i : sizeof tmp / size;
        for (size_t j = 0; j < m * size; j += size)
            for (size_t k = 0; k < size; k++)
                tmp[j + k] = src[(i * size) + j + size - 1 - k];
        int rc = mimic__atomic_write(f, tmp, m * size);
        if (rc != MIMIC_OK)
            return rc;
        i += m;
    }
    return MIMIC_OK;
}

int mimic__safetensors_write_typed(const char *path, const mimic__st_typed *tensors,
                                   size_t n_tensors, const mimic__st_meta *meta, size_t n_meta)
{
    int rc = check_write_args(path, tensors, n_tensors, meta, n_meta);
    if (rc != MIMIC_OK)
        return rc;
    sbuf b = {NULL, 0};
    build_header(&b, tensors, n_tensors, meta, n_meta);
    size_t hlen = (b.n + 7) & ~(size_t)7;
    char *buf = mimic__malloc(8 + hlen);
    if (!buf)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for the header", path);
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((uint64_t)hlen >> (8 * i) & 0xff);
    b.p = buf + 8;
    b.n = 0;
    build_header(&b, tensors, n_tensors, meta, n_meta);
    memset(buf + 8 + b.n, ' ', hlen - b.n);

    mimic__atomic_file f;
    rc = mimic__atomic_open(&f, path);
    if (rc == MIMIC_OK) {
        rc = mimic__atomic_write(&f, buf, 8 + hlen);
        for (size_t i = 0; i < n_tensors && rc == MIMIC_OK; i++) {
            size_t size;
            (void)dtype_text(tensors[i].dtype, &size);
            rc = write_elements(&f, tensors[i].data, tensor_count(&tensors[i]), size);
        }
        if (rc == MIMIC_OK)
            rc = mimic__atomic_commit(&f);
        else
            mimic__atomic_abort(&f);
    }
    mimic__free(buf);
    return rc;
}

int mimic__safetensors_write(const char *path, const mimic__st_tensor *tensors, size_t n_tensors,
                             const mimic__st_meta *meta, size_t n_meta)
{
    if (n_tensors && !tensors)
        return mimic__error(MIMIC_ERR_INVALID, "%s: NULL tensor or metadata array",
                            path ? path : "safetensors");
    mimic__st_typed *t = mimic__calloc(n_tensors ? n_tensors : 1, sizeof *t);
    if (!t)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path ? path : "safetensors");
    for (size_t i = 0; i < n_tensors; i++)
        t[i] = (mimic__st_typed){tensors[i].name, tensors[i].rows, tensors[i].cols, MIMIC_DTYPE_F32,
                                 tensors[i].data};
    int rc = mimic__safetensors_write_typed(path, t, n_tensors, meta, n_meta);
    mimic__free(t);
    return rc;
}

/* ---- parser ------------------------------------------------------------------------------ */

typedef struct range {
    uint64_t begin, end;
    size_t index;
    size_t esize; /* bytes per element */
    uint8_t *dst; /* where the data is copied (second pass, with data) */
} range;

typedef struct parser {
    mimic__json j;    /* the JSON header */
    const char *name; /* file name for messages */
    bool store;       /* second pass: fill the arrays */
    bool typed;       /* F16 and I8 tensors too (else F32 only) */
    bool seen_meta;
    /* counts (first pass) / fill positions (second pass) */
    size_t n_tensors, n_meta, pool_bytes, data_bytes;
    size_t raw_bytes; /* sum of the tensors' byte counts, saturating past data_len */
    /* second pass destinations */
    mimic__st_tensor *tensors;
    mimic__st_typed *typed_tensors; /* typed parses */
    mimic__st_meta *meta;
    range *ranges;
    char *pool;
    size_t pool_used;
    uint8_t *data_area;
    size_t data_used; /* bytes */
} parser;

static int fail(parser *ps, const char *what)
{
    return mimic__json_fail(&ps->j, what);
}

static int expect(parser *ps, char c, const char *what)
{
    return mimic__json_expect(&ps->j, c, what);
}

static int peek(parser *ps)
{
    return mimic__json_peek(&ps->j);
}

/* A JSON string: decoded (NUL-terminated) into the pool on the second pass, *out pointing at
 * it; counted on the first. The decoded form plus its NUL never exceeds the encoded form
 * with its quotes. */
static int parse_string(parser *ps, const char **out, const char *what)
{
    char *dst = ps->store ? ps->pool + ps->pool_used : NULL;
    size_t len = 0;
    int rc = mimic__json_string(&ps->j, dst, &len, what);
    if (rc != MIMIC_OK)
        return rc;
    if (dst)
        ps->pool_used += len + 1;
    else
        ps->pool_bytes += len + 1;
    *out = dst;
    return MIMIC_OK;
}

static int parse_string_eq(parser *ps, const char *want, bool *eq)
{
    return mimic__json_string_eq(&ps->j, want, eq);
}

static int parse_uint(parser *ps, uint64_t *v)
{
    return mimic__json_uint(&ps->j, v);
}

/* [a, b, ...] of at most `max` non-negative integers. */
static int parse_uint_array(parser *ps, uint64_t *v, size_t max, size_t *count,
                            const char *too_many)
{
    int rc = expect(ps, '[', "expected '['");
    if (rc != MIMIC_OK)
        return rc;
    *count = 0;
    if (peek(ps) == ']') {
        ps->j.p++;
        return MIMIC_OK;
    }
    for (;;) {
        if (*count == max)
            return fail(ps, too_many);
        if ((rc = parse_uint(ps, &v[(*count)++])) != MIMIC_OK)
            return rc;
        int c = peek(ps);
        if (c == ']') {
            ps->j.p++;
            return MIMIC_OK;
        }
        if (c != ',')
            return fail(ps, "expected ',' or ']' in an array");
        ps->j.p++;
    }
}

/* A dtype string: its MIMIC_DTYPE_* and element size, or size 0 for one this parse does not
 * take. */
static int parse_dtype(parser *ps, int32_t *dtype, size_t *esize)
{
    static const struct {
        const char *text;
        int32_t dtype;
        size_t size;
        bool typed_only;
    } dtypes[] = {{"F32", MIMIC_DTYPE_F32, 4, false},
                  {"F16", MIMIC_DTYPE_F16, 2, true},
                  {"I8", MIMIC_DTYPE_I8, 1, true}};
    const uint8_t *at = ps->j.p;
    *esize = 0;
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(dtypes); i++) {
        bool eq;
        ps->j.p = at;
        int rc = parse_string_eq(ps, dtypes[i].text, &eq);
        if (rc != MIMIC_OK)
            return rc;
        if (eq && (ps->typed || !dtypes[i].typed_only)) {
            *dtype = dtypes[i].dtype;
            *esize = dtypes[i].size;
            return MIMIC_OK;
        }
    }
    return MIMIC_OK;
}

/* {"dtype": "F32", "shape": [..], "data_offsets": [b, e]} for tensor `tname`. */
static int parse_tensor(parser *ps, const char *tname, const char *shown, size_t data_len)
{
    bool have_dtype = false, have_shape = false, have_offsets = false;
    int32_t dtype = MIMIC_DTYPE_F32;
    size_t esize = 4;
    uint64_t shape[MAX_RANK], offs[2];
    size_t rank = 0, n_offs = 0;
    int rc = expect(ps, '{', "a tensor entry must be an object");
    if (rc != MIMIC_OK)
        return rc;
    const uint8_t *entry = ps->j.p;
    if (peek(ps) != '}')
        for (;;) {
            bool is_dtype, is_shape, is_offsets;
            const uint8_t *key = ps->j.p;
            if ((rc = parse_string_eq(ps, "dtype", &is_dtype)) != MIMIC_OK)
                return rc;
            ps->j.p = key;
            (void)parse_string_eq(ps, "shape", &is_shape);
            ps->j.p = key;
            (void)parse_string_eq(ps, "data_offsets", &is_offsets);
            if (!is_dtype && !is_shape && !is_offsets) {
                ps->j.p = key;
                return fail(ps, "unknown field in a tensor entry (expected dtype, shape, "
                                "data_offsets)");
            }
            if ((is_dtype && have_dtype) || (is_shape && have_shape) ||
                (is_offsets && have_offsets)) {
                ps->j.p = key;
                return fail(ps, "duplicate field in a tensor entry");
            }
            if ((rc = expect(ps, ':', "expected ':'")) != MIMIC_OK)
                return rc;
            if (is_dtype) {
                mimic__json_ws(&ps->j);
                const uint8_t *at = ps->j.p;
                if ((rc = parse_dtype(ps, &dtype, &esize)) != MIMIC_OK)
                    return rc;
                if (!esize) {
                    ps->j.p = at;
                    return mimic__error(MIMIC_ERR_FORMAT,
                                        ps->typed ? "%s: tensor \"%s\": dtype is not F32, F16 or "
                                                    "I8 (the dtypes of a student's tensors)"
                                                  : "%s: tensor \"%s\": dtype is not F32 (only "
                                                    "float32 tensors are supported)",
                                        ps->name, shown);
                }
                have_dtype = true;
            } else if (is_shape) {
                if ((rc = parse_uint_array(ps, shape, MAX_RANK, &rank,
                                           "tensor rank > 2 is not supported")) != MIMIC_OK)
                    return rc;
                have_shape = true;
            } else {
                if ((rc = parse_uint_array(ps, offs, 2, &n_offs,
                                           "data_offsets must have two entries")) != MIMIC_OK)
                    return rc;
                if (n_offs != 2)
                    return fail(ps, "data_offsets must have two entries");
                have_offsets = true;
            }
            int c = peek(ps);
            if (c == '}')
                break;
            if (c != ',')
                return fail(ps, "expected ',' or '}' in a tensor entry");
            ps->j.p++;
        }
    ps->j.p++; /* '}' */
    if (!have_dtype || !have_shape || !have_offsets) {
        const uint8_t *here = ps->j.p;
        ps->j.p = entry;
        rc = fail(ps, !have_dtype   ? "tensor entry without dtype"
                      : !have_shape ? "tensor entry without shape"
                                    : "tensor entry without data_offsets");
        ps->j.p = here;
        return rc;
    }
    /* Elements and bytes, overflow-checked; a 2-D tensor with a zero dim is empty 1-D. */
    size_t rows = 1, cols = 0, count = 1, bytes;
    for (size_t i = 0; i < rank; i++)
        if (shape[i] > SIZE_MAX || !mimic__mul_ok(count, (size_t)shape[i], &count))
            return mimic__error(MIMIC_ERR_FORMAT, "%s: tensor \"%s\": shape overflows", ps->name,
                                shown);
    if (rank >= 1)
        rows = (size_t)shape[0];
    if (rank == 2)
        cols = (size_t)shape[1];
    if (count == 0)
        rows = cols = 0;
    if (!mimic__mul_ok(count, esize, &bytes))
        return mimic__error(MIMIC_ERR_FORMAT, "%s: tensor \"%s\": shape overflows", ps->name,
                            shown);
    if (offs[0] > offs[1] || offs[1] > data_len)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range (the data "
                            "area has %zu bytes)",
                            ps->name, shown, (unsigned long long)offs[0],
                            (unsigned long long)offs[1], data_len);
    if (offs[1] - offs[0] != bytes)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: tensor \"%s\": data_offsets [%llu, %llu] span %llu bytes, but "
                            "its shape needs %zu",
                            ps->name, shown, (unsigned long long)offs[0],
                            (unsigned long long)offs[1], (unsigned long long)(offs[1] - offs[0]),
                            bytes);
    size_t padded = (bytes + 63) & ~(size_t)63; /* each tensor 64-byte aligned */
    if (!ps->store) {
        /* Tiled data means the byte counts sum to data_len exactly: more is an overlap (and
         * would make the copy larger than the file). Gaps are reported after the parse. */
        if (!mimic__add_ok(ps->raw_bytes, bytes, &ps->raw_bytes) || ps->raw_bytes > data_len)
            return mimic__error(MIMIC_ERR_FORMAT,
                                "%s: tensor \"%s\": data_offsets [%llu, %llu] overlap another "
                                "tensor's data",
                                ps->name, shown, (unsigned long long)offs[0],
                                (unsigned long long)offs[1]);
        ps->data_bytes += padded; /* <= data_len + 64 per tensor */
        ps->n_tensors++;
        return MIMIC_OK;
    }
    size_t i = ps->n_tensors++;
    uint8_t *data = ps->data_area ? ps->data_area + ps->data_used : NULL;
    ps->tensors[i].name = tname;
    ps->tensors[i].rows = rows;
    ps->tensors[i].cols = cols;
    ps->tensors[i].data = dtype == MIMIC_DTYPE_F32 ? (const float *)(void *)data : NULL;
    if (ps->typed_tensors)
        ps->typed_tensors[i] = (mimic__st_typed){tname, rows, cols, dtype, data};
    ps->ranges[i].begin = offs[0];
    ps->ranges[i].end = offs[1];
    ps->ranges[i].index = i;
    ps->ranges[i].esize = esize;
    ps->ranges[i].dst = data;
    ps->data_used += padded;
    return MIMIC_OK;
}

static int parse_metadata(parser *ps)
{
    int rc = expect(ps, '{', "__metadata__ must be an object");
    if (rc != MIMIC_OK)
        return rc;
    if (peek(ps) == '}') {
        ps->j.p++;
        return MIMIC_OK;
    }
    for (;;) {
        const char *key, *value;
        if ((rc = parse_string(ps, &key, "expected a string key in __metadata__")) != MIMIC_OK)
            return rc;
        if ((rc = expect(ps, ':', "expected ':'")) != MIMIC_OK)
            return rc;
        if (peek(ps) != '"')
            return fail(ps, "__metadata__ values must be strings");
        if ((rc = parse_string(ps, &value, "expected a string")) != MIMIC_OK)
            return rc;
        if (ps->store) {
            ps->meta[ps->n_meta].key = key;
            ps->meta[ps->n_meta].value = value;
        }
        ps->n_meta++;
        int c = peek(ps);
        if (c == '}') {
            ps->j.p++;
            return MIMIC_OK;
        }
        if (c != ',')
            return fail(ps, "expected ',' or '}' in __metadata__");
        ps->j.p++;
    }
}

static int parse_header(parser *ps, size_t data_len)
{
    int rc = expect(ps, '{', "the header must be a JSON object");
    if (rc != MIMIC_OK)
        return rc;
    if (peek(ps) != '}')
        for (;;) {
            bool is_meta;
            const uint8_t *key = ps->j.p;
            if ((rc = parse_string_eq(ps, "__metadata__", &is_meta)) != MIMIC_OK)
                return rc;
            if (is_meta) {
                if (ps->seen_meta) {
                    ps->j.p = key;
                    return fail(ps, "__metadata__ appears twice");
                }
                ps->seen_meta = true;
                if ((rc = expect(ps, ':', "expected ':'")) != MIMIC_OK ||
                    (rc = parse_metadata(ps)) != MIMIC_OK)
                    return rc;
            } else {
                const char *tname;
                char shown[sizeof ps->j.last];
                ps->j.p = key;
                if ((rc = parse_string(ps, &tname, "expected a tensor name")) != MIMIC_OK)
                    return rc;
                memcpy(shown, ps->j.last, sizeof shown);
                if ((rc = expect(ps, ':', "expected ':'")) != MIMIC_OK ||
                    (rc = parse_tensor(ps, tname, shown, data_len)) != MIMIC_OK)
                    return rc;
            }
            int c = peek(ps);
            if (c == '}')
                break;
            if (c != ',')
                return fail(ps, "expected ',' or '}' after a header entry");
            ps->j.p++;
        }
    ps->j.p++; /* '}' */
    mimic__json_ws(&ps->j);
    if (ps->j.p != ps->j.end)
        return fail(ps, "unexpected bytes after the header object");
    return MIMIC_OK;
}

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate names: sort pointers to them (scratch of n pointers) and compare neighbours. */
static const char *find_duplicate(const char **scratch, size_t n)
{
    qsort(scratch, n, sizeof *scratch, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(scratch[i - 1], scratch[i]))
            return scratch[i];
    return NULL;
}

static int check_tiling(const char *name, range *r, size_t n, const mimic__st_tensor *t,
                        size_t data_len)
{
    qsort(r, n, sizeof *r, cmp_range);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].begin < pos)
            return mimic__error(MIMIC_ERR_FORMAT,
                                "%s: tensor \"%s\": data_offsets [%llu, %llu] overlap another "
                                "tensor's data",
                                name, t[r[i].index].name, (unsigned long long)r[i].begin,
                                (unsigned long long)r[i].end);
        if (r[i].begin > pos)
            return mimic__error(MIMIC_ERR_FORMAT, "%s: data bytes [%llu, %llu) belong to no tensor",
                                name, (unsigned long long)pos, (unsigned long long)r[i].begin);
        pos = r[i].end;
    }
    if (pos != data_len)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: data bytes [%llu, %zu) belong to no tensor",
                            name, (unsigned long long)pos, data_len);
    return MIMIC_OK;
}

/* Each tensor's bytes to its place in the block, in host byte order. */
static void copy_tensor_data(const range *r, size_t n, const uint8_t *data)
{
    const bool le = mimic__host_le();
    for (size_t i = 0; i < n; i++) {
        const size_t bytes = (size_t)(r[i].end - r[i].begin), es = r[i].esize;
        uint8_t *dst = r[i].dst;
        memcpy(dst, data + r[i].begin, bytes);
        for (size_t j = 0; !le && es > 1 && j < bytes; j += es)
            for (size_t k = 0; k < es / 2; k++) {
                uint8_t t = dst[j + k];
                dst[j + k] = dst[j + es - 1 - k];
                dst[j + es - 1 - k] = t;
            }
    }
}

static size_t round64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static int parse(const uint8_t *buf, size_t len, const char *name, bool with_data, bool typed,
                 mimic__st_file *out)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "safetensors";
    if (!buf && len)
        return mimic__error(MIMIC_ERR_INVALID, "%s: NULL buffer", name);
    if (len < 8)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file",
                            name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > len - 8)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: header length %llu exceeds the %zu bytes after it", name,
                            (unsigned long long)hlen, len - 8);
    if (hlen > MAX_HEADER)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: header length %llu exceeds the %zu limit", name,
                            (unsigned long long)hlen, MAX_HEADER);
    if (hlen < 2)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: header length %llu is too short", name,
                            (unsigned long long)hlen);
    const uint8_t *data = buf + 8 + hlen;
    const size_t data_len = len - 8 - (size_t)hlen;

    /* Pass 1: validate and count. */
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.name = name;
    ps.typed = typed;
    ps.j = (mimic__json){buf + 8, buf + 8, buf + 8 + hlen, name, "safetensors header", ""};
    int rc = parse_header(&ps, data_len);
    if (rc != MIMIC_OK)
        return rc;
    const size_t nt = ps.n_tensors, nm = ps.n_meta, pool = ps.pool_bytes;
    const size_t dbytes = with_data ? ps.data_bytes : 0;

    /* One block: tensors | typed tensors | data | meta | ranges | name scratch | strings. All
     * sizes are bounded by small multiples of hlen + data_len, but check anyway. */
    size_t sz_t, sz_y, sz_m, sz_r, sz_s, n_names = nt > nm ? nt : nm;
    size_t o_typed, o_data, o_meta, o_rng, o_scr, o_pool, total;
    if (!mimic__mul_ok(nt, sizeof(mimic__st_tensor), &sz_t) ||
        !mimic__mul_ok(typed ? nt : 0, sizeof(mimic__st_typed), &sz_y) || sz_y > SIZE_MAX / 4 ||
        !mimic__mul_ok(nm, sizeof(mimic__st_meta), &sz_m) ||
        !mimic__mul_ok(nt, sizeof(range), &sz_r) ||
        !mimic__mul_ok(n_names, sizeof(char *), &sz_s) || sz_t > SIZE_MAX / 2 ||
        dbytes > SIZE_MAX / 4)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: too many tensors", name);
    o_typed = round64(sz_t);
    o_data = o_typed + round64(sz_y);
    o_meta = o_data + round64(dbytes);
    o_rng = o_meta + round64(sz_m);
    o_scr = o_rng + round64(sz_r);
    o_pool = o_scr + round64(sz_s);
    if (!mimic__add_ok(o_pool, pool, &total))
        return mimic__error(MIMIC_ERR_FORMAT, "%s: header too large", name);
    uint8_t *block = mimic__aligned_alloc(total);
    if (!block)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, total);

    /* Pass 2: fill. */
    parser ps2;
    memset(&ps2, 0, sizeof ps2);
    ps2.name = name;
    ps2.j = (mimic__json){buf + 8, buf + 8, buf + 8 + hlen, name, "safetensors header", ""};
    ps2.store = true;
    ps2.typed = typed;
    ps2.tensors = (mimic__st_tensor *)(void *)block;
    ps2.typed_tensors = typed ? (mimic__st_typed *)(void *)(block + o_typed) : NULL;
    ps2.data_area = with_data ? block + o_data : NULL;
    ps2.meta = (mimic__st_meta *)(void *)(block + o_meta);
    ps2.ranges = (range *)(void *)(block + o_rng);
    ps2.pool = (char *)(block + o_pool);
    rc = parse_header(&ps2, data_len);
    if (rc == MIMIC_OK && (ps2.n_tensors != nt || ps2.n_meta != nm))
        rc = mimic__error(MIMIC_ERR_INTERNAL, "%s: safetensors parser passes disagree", name);
    const char **scratch = (const char **)(void *)(block + o_scr);
    const char *dup = NULL;
    if (rc == MIMIC_OK) {
        for (size_t i = 0; i < nt; i++)
            scratch[i] = ps2.tensors[i].name;
        if ((dup = find_duplicate(scratch, nt)) != NULL)
            rc = mimic__error(MIMIC_ERR_FORMAT, "%s: tensor \"%s\" appears twice", name, dup);
    }
    if (rc == MIMIC_OK) {
        for (size_t i = 0; i < nm; i++)
            scratch[i] = ps2.meta[i].key;
        if ((dup = find_duplicate(scratch, nm)) != NULL)
            rc = mimic__error(MIMIC_ERR_FORMAT, "%s: __metadata__ key \"%s\" appears twice", name,
                              dup);
    }
    if (rc == MIMIC_OK)
        rc = check_tiling(name, ps2.ranges, nt, ps2.tensors, data_len);
    if (rc != MIMIC_OK) {
        mimic__free(block);
        return rc;
    }
    if (with_data)
        copy_tensor_data(ps2.ranges, nt, data);
    out->tensors = ps2.tensors;
    out->typed = ps2.typed_tensors;
    out->n_tensors = nt;
    out->meta = nm ? ps2.meta : NULL;
    out->n_meta = nm;
    return MIMIC_OK;
}

int mimic__safetensors_parse(const uint8_t *buf, size_t len, const char *name, mimic__st_file *out)
{
    return parse(buf, len, name, true, false, out);
}

int mimic__safetensors_parse_typed(const uint8_t *buf, size_t len, const char *name,
                                   mimic__st_file *out)
{
    return parse(buf, len, name, true, true, out);
}

int mimic__safetensors_parse_header(const uint8_t *buf, size_t len, const char *name,
                                    mimic__st_file *out)
{
    return parse(buf, len, name, false, true, out);
}

int mimic__safetensors_read(const char *path, mimic__st_file *out)
{
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "safetensors: path is NULL or empty");
    mimic__map m;
    int rc = mimic__map_file(path, &m);
    if (rc != MIMIC_OK)
        return rc;
    rc = mimic__safetensors_parse(m.data, m.size, path, out);
    mimic__unmap(&m);
    return rc;
}

const mimic__st_typed *mimic__st_find_typed(const mimic__st_file *f, const char *name)
{
    for (size_t i = 0; f->typed && i < f->n_tensors; i++)
        if (!strcmp(f->typed[i].name, name))
            return &f->typed[i];
    return NULL;
}

const mimic__st_tensor *mimic__st_find(const mimic__st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *mimic__st_meta_get(const mimic__st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[i].key, key))
            return f->meta[i].value;
    return NULL;
}

void mimic__st_close(mimic__st_file *f)
{
    if (!f)
        return;
    mimic__free(f->tensors); /* the block's start */
    memset(f, 0, sizeof *f);
}
