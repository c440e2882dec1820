/* Gzip-compressed array files (the MNIST family ships .idx.gz), decompressed with zlib: the
 * library does not link zlib, so the tool inflates and hands the bytes to the library's
 * parsers. The library reads the header (mimic_array_file_size) to say how many bytes the
 * file holds, and exactly that many are produced: a stream that holds more or less is an
 * error, and a header that claims more than the stream could possibly expand to is refused
 * before anything large is allocated. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"

/* Deflate cannot compress better than about 1032:1; with gzip's header and trailer this
 * bounds what a stream of n bytes can expand to. */
#define MAX_DEFLATE_RATIO 1032u
/* Enough decompressed bytes to hold any header the library reads (IDX: 16; .npy: numpy
 * writes headers of a few hundred bytes, at most 64 KiB). */
#define HEADER_PEEK (64u * 1024u)

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return MIMIC_ERR_FORMAT;
}

static int is_gzip(const uint8_t *buf, size_t len)
{
    return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* Inflate into dst[0, cap) until the stream ends, dst is full, or an error. Concatenated
 * gzip members are decoded one after another (gzip allows them). *produced gets the byte
 * count. With stop_when_full, a full dst ends the call successfully (used to read just the
 * header); otherwise a full dst is an error, so callers pass one byte more than they expect
 * and learn that the stream holds too much without inflating all of it. */
static int inflate_into(const uint8_t *buf, size_t len, uint8_t *dst, size_t cap,
                        int stop_when_full, size_t *produced, char *err, size_t errlen)
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
            if (!is_gzip(buf + in_off, len - in_off)) {
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
            rc = fail(err, errlen,
                      "the gzip stream holds more data than the file's header declares (%zu "
                      "bytes)",
                      cap - 1);
            break;
        }
        if (in_off == len) {
            rc = fail(err, errlen, "truncated gzip stream: it ends after %zu decompressed bytes",
                      out_off);
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

/* Decompress the gzip bytes buf[0, len) of `name` into a malloc'ed buffer of exactly the
 * size the file's header declares. */
int cli_gunzip(const uint8_t *buf, size_t len, const char *name, uint8_t **out, size_t *size,
               char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    if (!is_gzip(buf, len))
        return fail(err, errlen, "not gzip-compressed");
    uint8_t *head = malloc(HEADER_PEEK);
    if (!head)
        return fail(err, errlen, "out of memory");
    size_t got = 0;
    char zerr[256];
    int hrc = inflate_into(buf, len, head, HEADER_PEEK, 1, &got, zerr, sizeof zerr);
    uint64_t total = 0;
    int st = mimic_array_file_size(head, got, name, &total);
    free(head);
    if (st != MIMIC_OK) {
        /* a broken stream explains a short header better than the header parser can */
        if (hrc != 0 && got < HEADER_PEEK)
            return fail(err, errlen, "%s", zerr);
        return st;
    }
    uint64_t bound = (uint64_t)len * MAX_DEFLATE_RATIO;
    if (total > bound || total >= SIZE_MAX)
        return fail(err, errlen,
                    "the header declares %llu bytes, more than a %zu-byte gzip stream can hold "
                    "(truncated or corrupt file)",
                    (unsigned long long)total, len);
    /* One spare byte: filling it means the stream holds more than the header declares. */
    uint8_t *dst = malloc((size_t)total + 1);
    if (!dst)
        return fail(err, errlen,
                    "out of memory: cannot allocate %llu bytes for the "
                    "decompressed data",
                    (unsigned long long)total);
    size_t produced = 0;
    int rc = inflate_into(buf, len, dst, (size_t)total + 1, 0, &produced, err, errlen);
    if (rc == 0 && produced != total)
        rc = fail(err, errlen,
                  "truncated data: the header declares %llu bytes, the gzip stream "
                  "holds %zu",
                  (unsigned long long)total, produced);
    if (rc != 0) {
        free(dst);
        return rc;
    }
    *out = dst;
    *size = produced;
    return MIMIC_OK;
}

int cli_gunzip_array(const char *path, mimic_array **out, void **owned, char *err, size_t errlen)
{
    *out = NULL;
    *owned = NULL;
    err[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return fail(err, errlen, "cannot read");
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return fail(err, errlen, "cannot map: %s", strerror(errno));
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = cli_gunzip(map, len, path, &bytes, &size, err, errlen);
    munmap(map, len);
    if (rc != MIMIC_OK)
        return rc;
    rc = mimic_array_parse(out, bytes, size, path, 0);
    if (rc != MIMIC_OK) {
        free(bytes);
        return rc;
    }
    *owned = bytes;
    return MIMIC_OK;
}
