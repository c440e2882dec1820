/* A tiny protocol-buffers writer (see protobuf.h). */
#include <string.h>

#include "format/protobuf.h"

void mimic__pb_init_count(mimic__pb *w)
{
    memset(w, 0, sizeof *w);
}

int mimic__pb_init_file(mimic__pb *w, mimic__atomic_file *file, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = mimic__malloc(cap);
    if (!w->buf) {
        w->status = mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for a %zu-byte write buffer",
                                 file->path, cap);
        return w->status;
    }
    w->file = file;
    w->cap = cap;
    return MIMIC_OK;
}

static void flush(mimic__pb *w)
{
    if (w->status == MIMIC_OK && w->len > 0)
        w->status = mimic__atomic_write(w->file, w->buf, w->len);
    w->len = 0;
}

int mimic__pb_finish(mimic__pb *w)
{
    if (w->file)
        flush(w);
    mimic__free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return w->status;
}

void mimic__pb_bytes(mimic__pb *w, const void *p, size_t n)
{
    w->total += n;
    if (!w->file || w->status != MIMIC_OK)
        return;
    const uint8_t *src = p;
    if (n >= w->cap) { /* large tensor data: skip the copy through the staging buffer */
        flush(w);
        if (w->status == MIMIC_OK)
            w->status = mimic__atomic_write(w->file, src, n);
        return;
    }
    while (n > 0) {
        if (w->len == w->cap) {
            flush(w);
            if (w->status != MIMIC_OK)
                return;
        }
        size_t take = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, src, take);
        w->len += take;
        src += take;
        n -= take;
    }
}

void mimic__pb_varint(mimic__pb *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    mimic__pb_bytes(w, b, n);
}

void mimic__pb_tag(mimic__pb *w, uint32_t field, uint32_t wire_type)
{
    mimic__pb_varint(w, ((uint64_t)field << 3) | wire_type);
}

void mimic__pb_int(mimic__pb *w, uint32_t field, int64_t v)
{
    mimic__pb_tag(w, field, 0);
    mimic__pb_varint(w, (uint64_t)v); /* two's complement: protobuf's int32/int64 encoding */
}

void mimic__pb_len_prefix(mimic__pb *w, uint32_t field, uint64_t n)
{
    mimic__pb_tag(w, field, 2);
    mimic__pb_varint(w, n);
}

void mimic__pb_string(mimic__pb *w, uint32_t field, const char *s)
{
    size_t n = strlen(s);
    mimic__pb_len_prefix(w, field, n);
    mimic__pb_bytes(w, s, n);
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_float_le(mimic__pb *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    mimic__pb_bytes(w, b, 4);
}

void mimic__pb_floats_le(mimic__pb *w, const float *x, size_t n, size_t transpose_cols)
{
    if (!w->file || w->status != MIMIC_OK) { /* counting: the size is all that matters */
        w->total += (uint64_t)n * 4;
        return;
    }
    if (transpose_cols > 0) {
        size_t rows = n / transpose_cols;
        for (size_t c = 0; c < transpose_cols; c++)
            for (size_t r = 0; r < rows; r++)
                put_float_le(w, x[r * transpose_cols + c]);
    } else if (host_is_little_endian()) {
        mimic__pb_bytes(w, x, n * 4);
    } else {
        for (size_t i = 0; i < n; i++)
            put_float_le(w, x[i]);
    }
}

void mimic__pb_halves_le(mimic__pb *w, const uint16_t *x, size_t n)
{
    if (!w->file || w->status != MIMIC_OK || host_is_little_endian()) {
        mimic__pb_bytes(w, x, n * 2);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t b[2] = {(uint8_t)(x[i] & 0xff), (uint8_t)(x[i] >> 8)};
        mimic__pb_bytes(w, b, 2);
    }
}

uint64_t mimic__pb_measure(mimic__pb_emit_fn emit, const void *ctx)
{
    mimic__pb c;
    mimic__pb_init_count(&c);
    emit(&c, ctx);
    return c.total;
}

void mimic__pb_message(mimic__pb *w, uint32_t field, mimic__pb_emit_fn emit, const void *ctx)
{
    if (w->status != MIMIC_OK)
        return;
    mimic__pb_len_prefix(w, field, mimic__pb_measure(emit, ctx));
    emit(w, ctx);
}
