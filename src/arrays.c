/* .npy and IDX array files for the CLI (see arrays.h). */
#include "arrays.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idx.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static size_t elem_size(int elem)
{
    switch (elem) {
    case CLI_U8: return 1;
    case CLI_I32: case CLI_F32: return 4;
    default: return 8;
    }
}

/* ---- .npy header ---------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Find the value following the quoted `key` and ':' in the header dict, or NULL. */
static const char *find_key(const char *h, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = h; p + kl + 2 <= end; p++) {
        if ((*p == '\'' || *p == '"') && p[kl + 1] == *p && memcmp(p + 1, key, kl) == 0) {
            const char *q = skip_ws(p + kl + 2, end);
            if (q < end && *q == ':')
                return skip_ws(q + 1, end);
            return NULL;
        }
    }
    return NULL;
}

int npy_parse(const uint8_t *buf, size_t len, cli_array *out, size_t *data_offset, char *err,
              size_t errlen)
{
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (len < 10 || memcmp(buf, magic, 6) != 0)
        return fail(err, errlen, "not a .npy file (bad magic)");
    uint8_t major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return fail(err, errlen, "truncated .npy header");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return fail(err, errlen, "unsupported .npy format version %u.%u", major, buf[7]);
    }
    if (hlen > len - hstart)
        return fail(err, errlen, "truncated .npy header (%zu header bytes declared, %zu present)", hlen,
                    len - hstart);
    const char *h = (const char *)buf + hstart, *end = h + hlen;

    const char *v = find_key(h, end, "descr");
    if (!v || v + 5 > end || (*v != '\'' && *v != '"'))
        return fail(err, errlen, "malformed .npy header: no 'descr'");
    char q = *v++;
    const char *ve = memchr(v, q, (size_t)(end - v));
    if (!ve)
        return fail(err, errlen, "malformed .npy header: unterminated 'descr'");
    size_t dl = (size_t)(ve - v);
    int elem = 0;
    if (dl == 3) {
        if (memcmp(v, "<f4", 3) == 0) elem = CLI_F32;
        else if (memcmp(v, "<f8", 3) == 0) elem = CLI_F64;
        else if (memcmp(v, "|u1", 3) == 0 || memcmp(v, "<u1", 3) == 0) elem = CLI_U8;
        else if (memcmp(v, "<i4", 3) == 0) elem = CLI_I32;
        else if (memcmp(v, "<i8", 3) == 0) elem = CLI_I64;
    }
    if (!elem)
        return fail(err, errlen, "unsupported .npy dtype '%.*s' (expected <f4, <f8, |u1, <i4 or <i8)",
                    (int)(dl > 16 ? 16 : dl), v);

    v = find_key(h, end, "fortran_order");
    if (!v)
        return fail(err, errlen, "malformed .npy header: no 'fortran_order'");
    if ((size_t)(end - v) >= 4 && memcmp(v, "True", 4) == 0)
        return fail(err, errlen, "unsupported .npy layout: Fortran order (save with np.ascontiguousarray)");
    if ((size_t)(end - v) < 5 || memcmp(v, "False", 5) != 0)
        return fail(err, errlen, "malformed .npy header: bad 'fortran_order'");

    v = find_key(h, end, "shape");
    if (!v || v >= end || *v != '(')
        return fail(err, errlen, "malformed .npy header: no 'shape' tuple");
    v++;
    size_t dims[3];
    int nd = 0;
    for (;;) {
        v = skip_ws(v, end);
        if (v >= end)
            return fail(err, errlen, "malformed .npy header: unterminated 'shape'");
        if (*v == ')')
            break;
        if (*v < '0' || *v > '9')
            return fail(err, errlen, "malformed .npy header: bad 'shape'");
        size_t d = 0;
        while (v < end && *v >= '0' && *v <= '9') {
            if (__builtin_mul_overflow(d, (size_t)10, &d) || __builtin_add_overflow(d, (size_t)(*v - '0'), &d))
                return fail(err, errlen, "malformed .npy header: dimension overflows");
            v++;
        }
        if (nd == 3)
            return fail(err, errlen, "unsupported .npy rank (more than 2 dimensions)");
        dims[nd++] = d;
        v = skip_ws(v, end);
        if (v < end && *v == ',')
            v++;
    }
    if (nd == 0 || nd > 2)
        return fail(err, errlen, "unsupported .npy rank %d (1-D or 2-D expected)", nd);
    size_t rows = dims[0], cols = nd == 2 ? dims[1] : 1, count, bytes;
    if (__builtin_mul_overflow(rows, cols, &count) || __builtin_mul_overflow(count, elem_size(elem), &bytes))
        return fail(err, errlen, "malformed .npy header: size overflows");
    size_t off = hstart + hlen;
    if (len - off < bytes)
        return fail(err, errlen, "truncated .npy data: %zu bytes declared, %zu present", bytes, len - off);
    if (len - off > bytes)
        return fail(err, errlen, "%zu unexpected bytes after the .npy data", len - off - bytes);
    memset(out, 0, sizeof *out);
    out->elem = elem;
    out->ndim = nd;
    out->rows = rows;
    out->cols = cols;
    out->data = buf + off;
    *data_offset = off;
    return 0;
}

/* ---- loading ---------------------------------------------------------------------------- */

int cli_file_is_npy(const char *path)
{
    unsigned char b[6] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    return n == 6 && b[0] == 0x93 && memcmp(b + 1, "NUMPY", 5) == 0;
}

int cli_array_load(const char *path, cli_array *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        return fail(err, errlen, "%s: empty file", path);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return fail(err, errlen, "%s: cannot map: %s", path, strerror(e));
    const uint8_t *buf = map;
    char msg[256];

    if (len >= 6 && buf[0] == 0x93) {
        size_t off;
        if (npy_parse(buf, len, out, &off, msg, sizeof msg) != 0) {
            munmap(map, len);
            return fail(err, errlen, "%s: %s", path, msg);
        }
        out->map = map;
        out->map_len = len;
        return 0;
    }
    if (len >= 2 && (idx_is_gzip(buf, len) || (buf[0] == 0 && buf[1] == 0))) {
        idx_array ia;
        uint8_t *owned = NULL;
        if (idx_decode(buf, len, &ia, &owned, msg, sizeof msg) != 0) {
            munmap(map, len);
            return fail(err, errlen, "%s: %s", path, msg);
        }
        out->elem = CLI_U8;
        out->ndim = ia.ndim == 1 ? 1 : 2;
        out->rows = ia.rows;
        out->cols = ia.cols;
        out->data = ia.data;
        out->is_idx = 1;
        if (ia.ndim == 3) {
            out->image_h = ia.dims[1];
            out->image_w = ia.dims[2];
        }
        if (owned) {
            munmap(map, len);
            out->owned = owned;
        } else {
            out->map = map;
            out->map_len = len;
        }
        return 0;
    }
    munmap(map, len);
    return fail(err, errlen, "%s: unknown file format (expected .npy, IDX or gzipped IDX)", path);
}

int cli_array_as_f32(cli_array *a, const char *path, const float **out, char *err, size_t errlen)
{
    if (a->elem == CLI_F32) {
        *out = a->data;
        return 0;
    }
    size_t n = a->rows * a->cols; /* checked by the parsers */
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f)
        return fail(err, errlen, "%s: out of memory converting %zu values to float32", path, n);
    for (size_t i = 0; i < n; i++) {
        switch (a->elem) {
        case CLI_U8: f[i] = ((const uint8_t *)a->data)[i]; break;
        case CLI_I32: f[i] = (float)((const int32_t *)a->data)[i]; break;
        case CLI_I64: f[i] = (float)((const int64_t *)a->data)[i]; break;
        default: {
            double d;
            memcpy(&d, (const unsigned char *)a->data + i * 8, sizeof d);
            f[i] = (float)d;
        }
        }
    }
    free(a->owned);
    if (a->map) {
        munmap(a->map, a->map_len);
        a->map = NULL;
    }
    a->owned = f;
    a->data = f;
    a->elem = CLI_F32;
    *out = f;
    return 0;
}

int cli_array_labels(const cli_array *a, const char *path, size_t n_classes, int32_t **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    if (a->ndim == 2 && a->cols != 1)
        return fail(err, errlen, "%s: labels must be 1-D, got %zu x %zu", path, a->rows, a->cols);
    if (a->elem == CLI_F32 || a->elem == CLI_F64)
        return fail(err, errlen, "%s: labels must be integers, got floating-point values", path);
    int32_t *l = malloc((a->rows ? a->rows : 1) * sizeof *l);
    if (!l)
        return fail(err, errlen, "%s: out of memory", path);
    for (size_t i = 0; i < a->rows; i++) {
        int64_t v;
        if (a->elem == CLI_U8) v = ((const uint8_t *)a->data)[i];
        else if (a->elem == CLI_I32) v = ((const int32_t *)a->data)[i];
        else memcpy(&v, (const unsigned char *)a->data + i * 8, sizeof v);
        if (v < 0 || v > INT32_MAX || (n_classes > 0 && (uint64_t)v >= n_classes)) {
            free(l);
            if (n_classes > 0)
                return fail(err, errlen, "%s: label %lld at row %zu is outside [0, %zu)", path, (long long)v, i,
                            n_classes);
            return fail(err, errlen, "%s: label %lld at row %zu is negative or too large", path, (long long)v, i);
        }
        l[i] = (int32_t)v;
    }
    *out = l;
    return 0;
}

size_t cli_labels_max_plus_one(const int32_t *labels, size_t n)
{
    int32_t m = -1;
    for (size_t i = 0; i < n; i++)
        if (labels[i] > m)
            m = labels[i];
    return (size_t)(m + 1);
}

void cli_array_free(cli_array *a)
{
    if (!a)
        return;
    if (a->map)
        munmap(a->map, a->map_len);
    free(a->owned);
    memset(a, 0, sizeof *a);
}
