/*
 * IDX files (the MNIST family: Fashion-MNIST, KMNIST, EMNIST), plain or gzipped.
 *
 * Only unsigned-byte data is accepted: magic 0x00000801 (1-D, labels) or 0x00000803
 * (3-D, images). Every size is checked with overflow-safe arithmetic before use, and a file
 * must hold exactly the bytes its header declares. These functions do not depend on
 * libmimic (idx_parse uses only libc; idx_decode adds zlib), so they can be fuzzed alone.
 */
#ifndef MIMIC_CLI_IDX_H
#define MIMIC_CLI_IDX_H

#include <stddef.h>
#include <stdint.h>

typedef struct idx_array {
    int ndim;             /* 1 (labels) or 3 (images) */
    uint32_t dims[3];     /* dims[0] = number of items; unused dims are 1 */
    size_t rows;          /* dims[0] */
    size_t cols;          /* values per item: 1 for 1-D, dims[1] * dims[2] for 3-D */
    const uint8_t *data;  /* rows * cols bytes, row-major; points into the parsed buffer */
} idx_array;

/* Parse an uncompressed IDX image of `len` bytes. Never reads past buf + len.
 * Returns 0, or -1 with a message (no file name) in err[errlen]. */
int idx_parse(const uint8_t *buf, size_t len, idx_array *out, char *err, size_t errlen);

/* True when the buffer starts with the gzip magic bytes 1f 8b. */
int idx_is_gzip(const uint8_t *buf, size_t len);

/* Parse plain or gzip-compressed IDX bytes. For gzip input the decompressed bytes are in a
 * malloc'ed buffer returned in *owned (free it after use; out->data points into it); for
 * plain input *owned is NULL and out->data points into buf. Decompression never produces
 * more bytes than the header declares, and refuses headers that declare more than a gzip
 * stream of `len` bytes could possibly hold. Returns 0, or -1 with a message in err. */
int idx_decode(const uint8_t *buf, size_t len, idx_array *out, uint8_t **owned, char *err,
               size_t errlen);

#endif
