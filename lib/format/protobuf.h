/*
 * A tiny protocol-buffers writer: exactly what libmimic needs to emit ONNX models (varints,
 * length-delimited fields, nested messages, raw little-endian float data). Internal.
 *
 * A writer either counts bytes (no output) or streams them to an atomic file through a
 * staging buffer. Nested messages are written as "emit functions": mimic__pb_message runs the
 * function once in counting mode to learn the exact length prefix, then once for real, so
 * no length is ever guessed or patched. Errors are sticky: after the first failure every call
 * is a no-op and mimic__pb_status reports it.
 */
#ifndef MIMIC_PROTOBUF_H
#define MIMIC_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "format/format.h"

typedef struct mimic__pb {
    mimic__atomic_file *file; /* NULL: counting mode */
    uint8_t *buf;             /* staging buffer (file mode) */
    size_t len, cap;
    uint64_t total; /* bytes emitted so far */
    int status;     /* first error, sticky */
} mimic__pb;

/* A counting writer (never fails, allocates nothing). */
void mimic__pb_init_count(mimic__pb *w);
/* A writer streaming into `file` (already opened) through a staging buffer of `cap` bytes
 * from mimic__malloc. MIMIC_ERR_NOMEM if the buffer cannot be allocated. */
int mimic__pb_init_file(mimic__pb *w, mimic__atomic_file *file, size_t cap);
/* Flush the staging buffer and release it; returns the writer's status. */
int mimic__pb_finish(mimic__pb *w);

void mimic__pb_bytes(mimic__pb *w, const void *p, size_t n);
void mimic__pb_varint(mimic__pb *w, uint64_t v);
/* Wire types: 0 varint, 2 length-delimited. */
void mimic__pb_tag(mimic__pb *w, uint32_t field, uint32_t wire_type);
/* field = v as a varint (int32/int64/enum fields; negative values as 10-byte varints). */
void mimic__pb_int(mimic__pb *w, uint32_t field, int64_t v);
/* field = NUL-terminated UTF-8 string (or bytes). */
void mimic__pb_string(mimic__pb *w, uint32_t field, const char *s);
/* Only the tag and length of a length-delimited field; the caller emits exactly n bytes. */
void mimic__pb_len_prefix(mimic__pb *w, uint32_t field, uint64_t n);
/* n floats as little-endian IEEE-754 binary32, whatever the host byte order. With
 * `transpose_cols` > 0 the data is read as a rows x transpose_cols matrix (n = rows * cols)
 * and emitted column by column, i.e. as its transpose. */
void mimic__pb_floats_le(mimic__pb *w, const float *x, size_t n, size_t transpose_cols);
/* n binary16 values (uint16_t bits) as little-endian bytes. */
void mimic__pb_halves_le(mimic__pb *w, const uint16_t *x, size_t n);

/* Emit one message body. */
typedef void (*mimic__pb_emit_fn)(mimic__pb *w, const void *ctx);
/* field = the message emit(ctx) writes, length-prefixed. */
void mimic__pb_message(mimic__pb *w, uint32_t field, mimic__pb_emit_fn emit, const void *ctx);
/* Bytes emit(ctx) writes. */
uint64_t mimic__pb_measure(mimic__pb_emit_fn emit, const void *ctx);

static inline int mimic__pb_status(const mimic__pb *w)
{
    return w->status;
}

#endif /* MIMIC_PROTOBUF_H */
