/* NumPy .npy files: a header parser over untrusted bytes, and the writer.
 * Format reference: numpy/lib/format.py (NEP 1). The header is a Python dict literal; we
 * parse the small subset numpy writes (strings, True/False, tuples of integers) and reject
 * everything else, so a fuzzer cannot walk us off the buffer. */
#include <stdio.h>
#include <string.h>

#include "format/format.h"

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- header dict tokenizer -------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *begin, *end;
    const char *name;
} cursor;

static int malformed(const cursor *c, const char *what)
{
    return mimic__error(MIMIC_ERR_FORMAT, "%s: malformed header: %s at header offset %zu", c->name,
                        what, (size_t)(c->p - c->begin));
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool accept(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static bool accept_word(cursor *c, const char *w)
{
    size_t n = strlen(w);
    skip_ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    if (c->p + n < c->end && is_ident_char(c->p[n]))
        return false;
    c->p += n;
    return true;
}

/* A Python string literal without escapes: 'abc' or "abc". */
static int parse_string(cursor *c, const char **s, size_t *n)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return malformed(c, "expected a quoted string");
    char q = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\')
            return malformed(c, "escape sequence in a string");
        if (*c->p == '\n')
            return malformed(c, "unterminated string");
        c->p++;
    }
    if (c->p >= c->end)
        return malformed(c, "unterminated string");
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return MIMIC_OK;
}

static int parse_bool(cursor *c, bool *v)
{
    if (accept_word(c, "True"))
        *v = true;
    else if (accept_word(c, "False"))
        *v = false;
    else
        return malformed(c, "expected True or False");
    return MIMIC_OK;
}

typedef struct shape_info {
    size_t ndim;
    size_t dims[MIMIC__NPY_MAX_RANK]; /* the first MIMIC__NPY_MAX_RANK */
    bool overflow; /* the element count does not fit in size_t */
} shape_info;

/* A non-negative decimal integer (Python 2 numpy wrote a trailing 'L'). */
static int parse_dim(cursor *c, size_t *v, bool *too_big)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return malformed(c, "expected a non-negative integer in the shape");
    size_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (!mimic__mul_ok(x, 10, &x) || !mimic__add_ok(x, (size_t)(*c->p - '0'), &x))
            *too_big = true;
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
        c->p++;
    *v = *too_big ? SIZE_MAX : x;
    return MIMIC_OK;
}

/* (), (3,), (3, 4), (3, 4,), (2, 3, 4) ... A lone (3) is an int in Python, not a tuple. */
static int parse_shape(cursor *c, shape_info *s)
{
    size_t count = 1;
    bool ovf = false, zero = false, huge = false, trailing_comma = false;
    s->ndim = 0;
    for (size_t i = 0; i < MIMIC__NPY_MAX_RANK; i++)
        s->dims[i] = 1;
    if (!accept(c, '('))
        return malformed(c, "expected a shape tuple");
    while (!accept(c, ')')) {
        size_t v = 0;
        bool too_big = false;
        int rc = parse_dim(c, &v, &too_big);
        if (rc)
            return rc;
        if (s->ndim < MIMIC__NPY_MAX_RANK)
            s->dims[s->ndim] = v;
        s->ndim++;
        /* A dimension beyond size_t overflows even when another one is 0: the shape
         * could not be reported. */
        if (too_big)
            huge = true;
        zero = zero || v == 0;
        if (!mimic__mul_ok(count, v, &count))
            ovf = true;
        trailing_comma = accept(c, ',');
        if (!trailing_comma) {
            if (!accept(c, ')'))
                return malformed(c, "expected ',' or ')' in the shape");
            break;
        }
    }
    if (s->ndim == 1 && !trailing_comma)
        return malformed(c, "shape (n) is not a tuple (numpy writes (n,))");
    s->overflow = huge || (ovf && !zero);
    return MIMIC_OK;
}

/* ---- the header dict -------------------------------------------------------------------- */

typedef struct header {
    bool has_descr, has_fortran, has_shape;
    const char *descr;
    size_t descr_len;
    bool fortran;
    shape_info shape;
} header;

/* Copy an untrusted string for a message: printable ASCII only, truncated. */
static const char *printable(char *buf, size_t cap, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && i + 4 < cap; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (i < n && i + 3 < cap) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int duplicate_key(const cursor *c, const char *key)
{
    char what[64];
    snprintf(what, sizeof what, "duplicate key '%s'", key);
    return malformed(c, what);
}

static int parse_entry(cursor *c, header *h)
{
    const char *key = NULL;
    size_t kn = 0;
    int rc = parse_string(c, &key, &kn);
    if (rc)
        return rc;
    if (!accept(c, ':'))
        return malformed(c, "expected ':' after a key");
    if (kn == 5 && memcmp(key, "descr", 5) == 0) {
        if (h->has_descr)
            return duplicate_key(c, "descr");
        skip_ws(c);
        if (c->p < c->end && (*c->p == '[' || *c->p == '('))
            return mimic__error(MIMIC_ERR_UNSUPPORTED,
                                "%s: unsupported dtype: structured (record) dtypes are not "
                                "supported",
                                c->name);
        h->has_descr = true;
        return parse_string(c, &h->descr, &h->descr_len);
    }
    if (kn == 13 && memcmp(key, "fortran_order", 13) == 0) {
        if (h->has_fortran)
            return duplicate_key(c, "fortran_order");
        h->has_fortran = true;
        return parse_bool(c, &h->fortran);
    }
    if (kn == 5 && memcmp(key, "shape", 5) == 0) {
        if (h->has_shape)
            return duplicate_key(c, "shape");
        h->has_shape = true;
        return parse_shape(c, &h->shape);
    }
    char buf[40], what[80];
    snprintf(what, sizeof what, "unknown key '%s'", printable(buf, sizeof buf, key, kn));
    return malformed(c, what);
}

static int parse_dict(cursor *c, header *h)
{
    if (!accept(c, '{'))
        return malformed(c, "expected '{'");
    while (!accept(c, '}')) {
        int rc = parse_entry(c, h);
        if (rc)
            return rc;
        if (!accept(c, ',')) {
            if (!accept(c, '}'))
                return malformed(c, "expected ',' or '}'");
            break;
        }
    }
    skip_ws(c);
    if (c->p != c->end)
        return malformed(c, "unexpected bytes after the dict");
    const char *missing = !h->has_descr ? "descr" : !h->has_fortran ? "fortran_order"
                        : !h->has_shape ? "shape" : NULL;
    if (missing)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: malformed header: key '%s' is missing", c->name,
                            missing);
    return MIMIC_OK;
}

/* ---- validation ---------------------------------------------------------------------- */

/* The element types libmimic reads and writes: one table for the parser, the writers and
 * the messages. */
static const struct {
    const char *descr;
    char kind;
    uint8_t itemsize;
    int32_t dtype;
} npy_dtypes[] = {
    {"<f4", 'f', 4, MIMIC_DTYPE_F32}, {"<f8", 'f', 8, MIMIC_DTYPE_F64},
    {"<f2", 'f', 2, MIMIC_DTYPE_F16}, {"|u1", 'u', 1, MIMIC_DTYPE_U8},
    {"<i4", 'i', 4, MIMIC_DTYPE_I32}, {"<i8", 'i', 8, MIMIC_DTYPE_I64},
};

const char *mimic__npy_descr(const mimic__npy *h)
{
    return mimic__dtype_descr(h->mdtype);
}

const char *mimic__dtype_descr(int32_t dtype)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(npy_dtypes); i++)
        if (npy_dtypes[i].dtype == dtype)
            return npy_dtypes[i].descr;
    return "?";
}

size_t mimic__dtype_size(int32_t dtype)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(npy_dtypes); i++)
        if (npy_dtypes[i].dtype == dtype)
            return npy_dtypes[i].itemsize;
    return 0;
}

static int check_dtype(const header *h, const char *name, mimic__npy *out)
{
    for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++) {
        if (h->descr_len == 3 && memcmp(h->descr, npy_dtypes[i].descr, 3) == 0) {
            out->dtype = npy_dtypes[i].kind;
            out->itemsize = npy_dtypes[i].itemsize;
            out->mdtype = npy_dtypes[i].dtype;
            return MIMIC_OK;
        }
    }
    char buf[40];
    printable(buf, sizeof buf, h->descr, h->descr_len);
    if (h->descr_len > 0 && (h->descr[0] == '>' || h->descr[0] == '!'))
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: big-endian dtype '%s' is not supported (save it with "
                            "arr.astype(arr.dtype.newbyteorder('<')))",
                            name, buf);
    return mimic__error(MIMIC_ERR_UNSUPPORTED,
                        "%s: unsupported dtype '%s' (libmimic reads '<f4', '<f8', '<f2', '|u1', "
                        "'<i4' and '<i8'; which a role takes: inputs '<f4', '<f8' or '|u1', "
                        "teacher logits '<f4', '<f2' or '<f8', labels '<i4', '<i8' or '|u1')",
                        name, buf);
}

static int check_layout(const header *h, const char *name, mimic__npy *out)
{
    const shape_info *s = &h->shape;
    if (s->ndim == 0)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported rank: 0-D (scalar) arrays are not supported", name);
    if (s->ndim > MIMIC__NPY_MAX_RANK)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported rank: %zu-D arrays are not supported (at most %d-D)",
                            name, s->ndim, MIMIC__NPY_MAX_RANK);
    /* A Fortran-order array with at most one dimension above 1 has the C layout. */
    size_t above_one = 0;
    for (size_t i = 0; i < s->ndim; i++)
        above_one += s->dims[i] > 1;
    if (h->fortran && above_one > 1)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: Fortran-order (column-major) arrays are not supported (save "
                            "np.ascontiguousarray(arr))",
                            name);
    out->ndim = (int)s->ndim;
    out->shape[0] = s->dims[0];
    out->shape[1] = 1;
    bool ovf = false;
    for (size_t i = 1; i < s->ndim; i++) {
        out->dims[i - 1] = s->dims[i];
        ovf = ovf || !mimic__mul_ok(out->shape[1], s->dims[i], &out->shape[1]);
    }
    if (ovf)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: shape too large: the array's byte size overflows", name);
    if (s->overflow || !mimic__mul_ok(out->shape[0], out->shape[1], &out->count) ||
        !mimic__mul_ok(out->count, out->itemsize, &out->data_bytes))
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: shape too large: the array's byte size overflows", name);
    return MIMIC_OK;
}

int mimic__npy_parse_header(const uint8_t *buf, size_t len, const char *name, mimic__npy *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < len && i < sizeof npy_magic; i++)
        if (buf[i] != npy_magic[i])
            return mimic__error(MIMIC_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    if (len < 8)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: truncated header: the file has only %zu bytes",
                            name, len);
    unsigned major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return mimic__error(MIMIC_ERR_UNSUPPORTED,
                            "%s: unsupported .npy format version %u.%u (1.0, 2.0 or 3.0)", name,
                            major, minor);
    size_t len_bytes = major == 1 ? 2 : 4;
    size_t start = 8 + len_bytes;
    if (len < start)
        return mimic__error(MIMIC_ERR_FORMAT, "%s: truncated header: the file has only %zu bytes",
                            name, len);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (len_bytes == 4)
        hlen |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > len - start)
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: truncated header: header length is %zu bytes, but the file "
                            "has %zu after the preamble",
                            name, hlen, len - start);
    /* Versions 1.0/2.0 are latin-1, 3.0 is utf-8: either way the structure is ASCII, and
     * any other byte can only sit inside a string, where it fails the dtype match. */
    cursor c = {(const char *)buf + start, (const char *)buf + start,
                (const char *)buf + start + hlen, name};
    header h;
    memset(&h, 0, sizeof h);
    int rc = parse_dict(&c, &h);
    if (!rc)
        rc = check_dtype(&h, name, out);
    if (!rc)
        rc = check_layout(&h, name, out);
    if (rc) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->data_offset = start + hlen;
    return MIMIC_OK;
}

int mimic__npy_parse(const uint8_t *buf, size_t len, const char *name, mimic__npy *out)
{
    int rc = mimic__npy_parse_header(buf, len, name, out);
    if (rc != MIMIC_OK)
        return rc;
    if (out->data_bytes > len - out->data_offset) {
        size_t have = len - out->data_offset, want = out->data_bytes;
        memset(out, 0, sizeof *out);
        return mimic__error(MIMIC_ERR_FORMAT,
                            "%s: data truncated: header says %zu bytes, file has %zu", name, want,
                            have);
    }
    return MIMIC_OK;
}

/* ---- writer ----------------------------------------------------------------------------- */

/* Write n items of `size` bytes in little-endian order. */
static int write_le(mimic__atomic_file *f, const uint8_t *p, size_t n, size_t size)
{
    if (size == 1 || mimic__host_le())
        return mimic__atomic_write(f, p, n * size);
    uint8_t chunk[4096];
    while (n > 0) {
        size_t k = n < sizeof chunk / size ? n : sizeof chunk / size;
        for (size_t i = 0; i < k; i++)
            for (size_t b = 0; b < size; b++)
                chunk[i * size + b] = p[i * size + size - 1 - b];
        int rc = mimic__atomic_write(f, chunk, k * size);
        if (rc)
            return rc;
        p += k * size;
        n -= k;
    }
    return MIMIC_OK;
}

/* A format 1.0 header for `rows` rows of shape row_shape[0..row_ndim) into hdr (at least
 * MIMIC__NPY_HEADER_MAX bytes), padded with spaces and a final '\n' as numpy pads it, so the
 * data starts at a multiple of 64 bytes (aligned for mapped SIMD loads); `total` 0 makes it as
 * short as it can be, else exactly `total` bytes (a streaming writer reserves room for any
 * row count). Returns its length, or 0 when it does not fit. */
#define MIMIC__NPY_HEADER_MAX 512
static size_t npy_header(char *hdr, const char *descr, uint64_t rows, const size_t *row_shape,
                         size_t row_ndim, size_t total)
{
    char shape[400];
    int n = snprintf(shape, sizeof shape, "(%llu,", (unsigned long long)rows);
    for (size_t i = 0; i < row_ndim && n > 0 && (size_t)n < sizeof shape; i++)
        n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%zu%s", i ? " " : " ", row_shape[i],
                      i + 1 < row_ndim ? "," : "");
    if (n < 0 || (size_t)n + 2 > sizeof shape)
        return 0;
    shape[n++] = ')';
    shape[n] = '\0';
    int d = snprintf(hdr + 10, MIMIC__NPY_HEADER_MAX - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    if (d < 0 || (size_t)d + 11 > MIMIC__NPY_HEADER_MAX)
        return 0;
    size_t need = ((size_t)d + 11 + 63) & ~(size_t)63;
    if (total == 0)
        total = need;
    if (need > total || total > MIMIC__NPY_HEADER_MAX)
        return 0;
    memset(hdr + 10 + d, ' ', total - 10 - (size_t)d);
    hdr[total - 1] = '\n';
    size_t hlen = total - 10;
    memcpy(hdr, npy_magic, sizeof npy_magic);
    hdr[6] = 1;
    hdr[7] = 0;
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    return total;
}

/* The element size of a dtype the writers take, or 0 with MIMIC_ERR_INVALID set. */
static size_t writable_dtype(const char *what, int32_t dtype)
{
    size_t size = mimic__dtype_size(dtype);
    if (!size)
        mimic__error(MIMIC_ERR_INVALID,
                     "%s: dtype %d is not one of MIMIC_DTYPE_F32, _F64, _F16, _U8, _I32, _I64",
                     what, (int)dtype);
    return size;
}

int mimic_npy_save(const char *path, const void *data, int32_t dtype, size_t rows, size_t cols)
{
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_npy_save: path is NULL or empty");
    if (!data)
        return mimic__error(MIMIC_ERR_INVALID, "%s: data is NULL", path);
    const size_t itemsize = writable_dtype(path, dtype);
    if (!itemsize)
        return MIMIC_ERR_INVALID;
    size_t count = rows, bytes;
    if ((cols && !mimic__mul_ok(rows, cols, &count)) || !mimic__mul_ok(count, itemsize, &bytes))
        return mimic__error(MIMIC_ERR_RANGE, "%s: %zu x %zu array: byte size overflows", path,
                            rows, cols);
    char hdr[MIMIC__NPY_HEADER_MAX];
    size_t total = npy_header(hdr, mimic__dtype_descr(dtype), rows, &cols, cols ? 1 : 0, 0);
    if (!total)
        return mimic__error(MIMIC_ERR_INTERNAL, "%s: .npy header does not fit", path);

    mimic__atomic_file f;
    int rc = mimic__atomic_open(&f, path);
    if (rc)
        return rc;
    rc = mimic__atomic_write(&f, hdr, total);
    if (!rc)
        rc = write_le(&f, data, count, itemsize);
    if (rc) {
        mimic__atomic_abort(&f);
        return rc;
    }
    return mimic__atomic_commit(&f);
}

/* ---- the streaming writer ------------------------------------------------------------------ */

struct mimic_npy_writer {
    uint32_t magic;
    int32_t dtype;
    int failed;                 /* an append failed: close aborts */
    size_t itemsize, row_values, row_bytes, header_bytes;
    size_t row_ndim;
    size_t row_shape[MIMIC__NPY_MAX_RANK - 1];
    uint64_t rows;
    mimic__atomic_file f;
};

static int writer_check(const mimic_npy_writer *w, const char *fn)
{
    return mimic__handle_check(w, w ? w->magic : 0, MIMIC__MAGIC_NPY_WRITER, fn, "npy writer");
}

int mimic_npy_writer_open(mimic_npy_writer **out, const char *path, int32_t dtype,
                          const size_t *row_shape, size_t row_ndim)
{
    static const char fn[] = "mimic_npy_writer_open";
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!path || !*path)
        return mimic__error(MIMIC_ERR_INVALID, "%s: path is NULL or empty", fn);
    const size_t itemsize = writable_dtype(path, dtype);
    if (!itemsize)
        return MIMIC_ERR_INVALID;
    if (row_ndim > MIMIC__NPY_MAX_RANK - 1)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: a row of %zu dimensions (at most %d: files are at most %d-D)",
                            path, row_ndim, MIMIC__NPY_MAX_RANK - 1, MIMIC__NPY_MAX_RANK);
    if (row_ndim && !row_shape)
        return mimic__error(MIMIC_ERR_INVALID, "%s: row_shape is NULL", path);
    size_t values = 1, bytes;
    for (size_t i = 0; i < row_ndim; i++) {
        if (row_shape[i] == 0)
            return mimic__error(MIMIC_ERR_INVALID, "%s: row_shape[%zu] is 0", path, i);
        if (!mimic__mul_ok(values, row_shape[i], &values))
            return mimic__error(MIMIC_ERR_RANGE, "%s: the row's size overflows", path);
    }
    if (!mimic__mul_ok(values, itemsize, &bytes))
        return mimic__error(MIMIC_ERR_RANGE, "%s: the row's size overflows", path);
    mimic_npy_writer *w = mimic__calloc(1, sizeof *w);
    if (!w)
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", path);
    w->dtype = dtype;
    w->itemsize = itemsize;
    w->row_values = values;
    w->row_bytes = bytes;
    w->row_ndim = row_ndim;
    for (size_t i = 0; i < row_ndim; i++)
        w->row_shape[i] = row_shape[i];
    /* room for the largest row count: close rewrites the header in place */
    char hdr[MIMIC__NPY_HEADER_MAX];
    w->header_bytes = npy_header(hdr, mimic__dtype_descr(dtype), UINT64_MAX, w->row_shape,
                                 row_ndim, 0);
    int rc = w->header_bytes ? MIMIC_OK
                             : mimic__error(MIMIC_ERR_INVALID, "%s: .npy header does not fit", path);
    if (!rc)
        rc = mimic__atomic_open(&w->f, path);
    if (rc) {
        mimic__free(w);
        return rc;
    }
    /* a placeholder (0 rows) until close: an interrupted file reads as empty, and its name
     * is the temporary one */
    npy_header(hdr, mimic__dtype_descr(dtype), 0, w->row_shape, row_ndim, w->header_bytes);
    rc = mimic__atomic_write(&w->f, hdr, w->header_bytes);
    if (rc) {
        mimic__atomic_abort(&w->f);
        mimic__free(w);
        return rc;
    }
    w->magic = MIMIC__MAGIC_NPY_WRITER;
    *out = w;
    return MIMIC_OK;
}

int mimic_npy_writer_append(mimic_npy_writer *w, const void *rows, size_t n_rows)
{
    int rc = writer_check(w, "mimic_npy_writer_append: w");
    if (rc)
        return rc;
    if (w->failed)
        return mimic__error(MIMIC_ERR_MISUSE,
                            "%s: an earlier write failed; close or abort the writer", w->f.path);
    if (n_rows == 0)
        return MIMIC_OK;
    if (!rows)
        return mimic__error(MIMIC_ERR_INVALID, "%s: rows is NULL", w->f.path);
    size_t bytes;
    if (!mimic__mul_ok(n_rows, w->row_bytes, &bytes) || w->rows + n_rows < w->rows)
        return mimic__error(MIMIC_ERR_RANGE, "%s: %zu rows of %zu bytes: size overflows",
                            w->f.path, n_rows, w->row_bytes);
    rc = write_le(&w->f, rows, n_rows * w->row_values, w->itemsize);
    if (rc) {
        w->failed = 1;
        char msg[512];
        return mimic__error(rc, "%s (after %llu complete rows; the file is not kept)",
                            mimic__error_copy(msg, sizeof msg), (unsigned long long)w->rows);
    }
    w->rows += n_rows;
    return MIMIC_OK;
}

uint64_t mimic_npy_writer_rows(const mimic_npy_writer *w)
{
    return w && w->magic == MIMIC__MAGIC_NPY_WRITER ? w->rows : 0;
}

static void writer_free(mimic_npy_writer *w)
{
    w->magic = MIMIC__MAGIC_DEAD;
    mimic__free(w);
}

int mimic_npy_writer_close(mimic_npy_writer *w)
{
    int rc = writer_check(w, "mimic_npy_writer_close: w");
    if (rc)
        return rc;
    if (w->failed) {
        char path[512];
        snprintf(path, sizeof path, "%s", w->f.path);
        mimic__atomic_abort(&w->f);
        writer_free(w);
        return mimic__error(MIMIC_ERR_IO, "%s: not written: an earlier write failed", path);
    }
    char hdr[MIMIC__NPY_HEADER_MAX];
    npy_header(hdr, mimic__dtype_descr(w->dtype), w->rows, w->row_shape, w->row_ndim,
               w->header_bytes);
    rc = mimic__atomic_pwrite(&w->f, hdr, w->header_bytes, 0);
    if (rc)
        mimic__atomic_abort(&w->f);
    else
        rc = mimic__atomic_commit(&w->f);
    writer_free(w);
    return rc;
}

void mimic_npy_writer_abort(mimic_npy_writer *w)
{
    if (!w || w->magic != MIMIC__MAGIC_NPY_WRITER)
        return;
    mimic__atomic_abort(&w->f);
    writer_free(w);
}
