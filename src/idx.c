/* IDX parsing and gzip decompression (see idx.h). */
#include "idx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Deflate cannot compress better than about 1032:1; with gzip's header and trailer this
 * bounds what a stream of n bytes can expand to, so a header that claims more is a lie
 * (or a truncated file) and we refuse it before allocating anything. */
#define IDX_MAX_DEFLATE_RATIO 1032u
#define IDX_MAX_HEADER 16u

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

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Header only: fills out (data = NULL) and *header_bytes, *data_bytes. */
static int parse_header(const uint8_t *buf, size_t len, idx_array *out, size_t *header_bytes,
                        size_t *data_bytes, char *err, size_t errlen)
{
    if (len < 4)
        return fail(err, errlen, "not an IDX file: %zu bytes, shorter than the 4-byte magic", len);
    if (buf[0] != 0 || buf[1] != 0)
        return fail(err, errlen, "not an IDX file: magic %02x %02x %02x %02x does not start with 00 00",
                    buf[0], buf[1], buf[2], buf[3]);
    if (buf[2] != 0x08)
        return fail(err, errlen, "unsupported IDX element type 0x%02x (only 0x08, unsigned byte, is supported)",
                    buf[2]);
    if (buf[3] != 1 && buf[3] != 3)
        return fail(err, errlen, "unsupported IDX rank %u (1-D labels or 3-D images expected)", buf[3]);
    int ndim = buf[3];
    size_t hb = 4u + 4u * (size_t)ndim;
    if (len < hb)
        return fail(err, errlen, "truncated IDX header: %zu bytes, %zu needed for %d dimensions", len, hb, ndim);
    memset(out, 0, sizeof *out);
    out->ndim = ndim;
    out->dims[0] = out->dims[1] = out->dims[2] = 1;
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(buf + 4 + 4 * i);
        if (d == 0)
            return fail(err, errlen, "IDX dimension %d is 0", i);
        out->dims[i] = d;
        if (__builtin_mul_overflow(total, (size_t)d, &total))
            return fail(err, errlen, "IDX dimensions overflow the address space");
    }
    size_t end;
    if (__builtin_add_overflow(total, hb, &end))
        return fail(err, errlen, "IDX dimensions overflow the address space");
    out->rows = out->dims[0];
    out->cols = total / out->rows;
    *header_bytes = hb;
    *data_bytes = total;
    return 0;
}

int idx_parse(const uint8_t *buf, size_t len, idx_array *out, char *err, size_t errlen)
{
    idx_array a;
    size_t hb = 0, db = 0;
    if (!buf || !out)
        return fail(err, errlen, "no buffer");
    if (parse_header(buf, len, &a, &hb, &db, err, errlen) != 0)
        return -1;
    if (len - hb < db)
        return fail(err, errlen, "truncated IDX data: header declares %zu bytes (%zu items), file holds %zu",
                    db, a.rows, len - hb);
    if (len - hb > db)
        return fail(err, errlen, "%zu unexpected bytes after the %zu data bytes the IDX header declares",
                    len - hb - db, db);
    a.data = buf + hb;
    *out = a;
    return 0;
}

int idx_is_gzip(const uint8_t *buf, size_t len)
{
    return buf && len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* Inflate into dst[0, cap) until the stream ends, dst is full, or an error. Concatenated
 * gzip members are decoded one after another (gzip allows them). *produced gets the byte
 * count. With stop_when_full, a full dst ends the call successfully (used to read just the
 * header); otherwise a full dst is an error, so callers pass one byte more than they expect
 * and learn that the stream holds too much without inflating all of it. */
static int inflate_into(const uint8_t *buf, size_t len, uint8_t *dst, size_t cap, int stop_when_full,
                        size_t *produced, char *err, size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return fail(err, errlen, "cannot initialize zlib");
    size_t in_off = 0, out_off = 0;
    int rc = 0;
    for (;;) {
        size_t in_left = len - in_off, out_left = cap - out_off;
        zs.next_in = (Bytef *)(uintptr_t)(buf + in_off);
        zs.avail_in = (uInt)(in_left > 0x40000000u ? 0x40000000u : in_left);
        zs.next_out = dst + out_off;
        zs.avail_out = (uInt)(out_left > 0x40000000u ? 0x40000000u : out_left);
        uInt in_before = zs.avail_in, out_before = zs.avail_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        in_off += in_before - zs.avail_in;
        out_off += out_before - zs.avail_out;
        if (stop_when_full && out_off == cap)
            break;
        if (z == Z_STREAM_END) {
            if (in_off == len)
                break;
            if (!idx_is_gzip(buf + in_off, len - in_off)) {
                rc = fail(err, errlen, "%zu bytes of garbage after the gzip stream", len - in_off);
                break;
            }
            if (inflateReset(&zs) != Z_OK) {
                rc = fail(err, errlen, "cannot reset zlib");
                break;
            }
            continue;
        }
        if (z == Z_DATA_ERROR || z == Z_NEED_DICT || z == Z_STREAM_ERROR) {
            rc = fail(err, errlen, "corrupt gzip data after %zu decompressed bytes (%s)", out_off,
                      zs.msg ? zs.msg : "invalid deflate stream");
            break;
        }
        if (z == Z_MEM_ERROR) {
            rc = fail(err, errlen, "out of memory in zlib");
            break;
        }
        if (out_off == cap) {
            rc = fail(err, errlen, "the gzip stream holds more data than the IDX header declares (%zu bytes)",
                      cap - 1);
            break;
        }
        if (in_off == len) {
            rc = fail(err, errlen, "truncated gzip stream: it ends after %zu decompressed bytes", out_off);
            break;
        }
        if (in_before == zs.avail_in && out_before == zs.avail_out) {
            rc = fail(err, errlen, "corrupt gzip data: the stream makes no progress");
            break;
        }
    }
    inflateEnd(&zs);
    *produced = out_off;
    return rc;
}

int idx_decode(const uint8_t *buf, size_t len, idx_array *out, uint8_t **owned, char *err,
               size_t errlen)
{
    if (!buf || !out || !owned)
        return fail(err, errlen, "no buffer");
    *owned = NULL;
    if (!idx_is_gzip(buf, len))
        return idx_parse(buf, len, out, err, errlen);

    /* Read the header first to learn the exact size, then decompress exactly that much. */
    uint8_t head[IDX_MAX_HEADER];
    size_t got = 0;
    char zerr[160];
    int hrc = inflate_into(buf, len, head, sizeof head, 1, &got, zerr, sizeof zerr);
    idx_array a;
    size_t hb = 0, db = 0;
    if (got < 4 && hrc != 0)
        return fail(err, errlen, "%s", zerr);
    if (parse_header(head, got, &a, &hb, &db, err, errlen) != 0) {
        if (hrc != 0 && got < IDX_MAX_HEADER)
            return fail(err, errlen, "%s", zerr);
        return -1;
    }
    size_t total = hb + db; /* no overflow: parse_header checked */
    size_t bound;
    if (__builtin_mul_overflow(len, (size_t)IDX_MAX_DEFLATE_RATIO, &bound))
        bound = SIZE_MAX;
    if (total > bound || total == SIZE_MAX)
        return fail(err, errlen, "the IDX header declares %zu bytes, more than a %zu-byte gzip stream can hold "
                    "(truncated or corrupt file)", total, len);
    /* One spare byte: filling it means the stream holds more than the header declares. */
    uint8_t *dst = malloc(total + 1);
    if (!dst)
        return fail(err, errlen, "out of memory: cannot allocate %zu bytes for the decompressed data", total);
    size_t produced = 0;
    if (inflate_into(buf, len, dst, total + 1, 0, &produced, err, errlen) != 0) {
        free(dst);
        return -1;
    }
    if (produced != total) {
        free(dst);
        return fail(err, errlen, "truncated IDX data: header declares %zu bytes, the gzip stream holds %zu",
                    total, produced);
    }
    if (idx_parse(dst, total, out, err, errlen) != 0) {
        free(dst);
        return -1;
    }
    *owned = dst;
    return 0;
}
