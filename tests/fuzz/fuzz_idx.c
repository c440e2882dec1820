/*
 * Fuzz target: the CLI's IDX reader (src/idx.c: idx_decode, plain or gzip, and idx_parse)
 * on untrusted bytes.
 * Oracle: no sanitizer report; on success the array is 1-D or 3-D, rows x cols matches the
 * dims and every data byte is readable (inside the input for plain files, inside the owned
 * buffer for gzip); on failure a non-empty, NUL-terminated message that fits the caller's
 * buffer, even a tiny one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_array(const idx_array *a, const uint8_t *base, size_t base_len)
{
    FUZZ_CHECK(a->ndim == 1 || a->ndim == 3, "ndim %d", a->ndim);
    FUZZ_CHECK(a->rows == a->dims[0], "rows %zu != dims[0] %u", a->rows, a->dims[0]);
    size_t cols = a->ndim == 1 ? 1 : (size_t)a->dims[1] * a->dims[2];
    FUZZ_CHECK(a->cols == cols, "cols %zu, dims say %zu", a->cols, cols);
    size_t n = a->rows * a->cols; /* both checked against the buffer below */
    FUZZ_CHECK(a->cols == 0 || n / a->cols == a->rows, "rows x cols overflows");
    FUZZ_CHECK(n == 0 || a->data != NULL, "no data");
    if (n) {
        FUZZ_CHECK(a->data >= base && (size_t)(a->data - base) <= base_len &&
                       n <= base_len - (size_t)(a->data - base),
                   "data [%p, +%zu) outside the buffer", (const void *)a->data, n);
        unsigned acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += a->data[i];
        volatile unsigned sink = acc;
        (void)sink;
    }
}

/* The message buffer is a heap block of exactly errlen bytes, so ASan sees any overflow. */
static void check_message(const char *err, size_t errlen)
{
    FUZZ_CHECK(memchr(err, '\0', errlen) != NULL, "message not terminated");
    FUZZ_CHECK(errlen < 2 || err[0] != '\0', "empty message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Full path: plain or gzip. */
    char *err = malloc(256);
    FUZZ_CHECK(err != NULL, "harness out of memory");
    memset(err, 'x', 256);
    idx_array a;
    uint8_t *owned = (uint8_t *)1;
    const uint8_t *buf = size ? data : (const uint8_t *)"";
    if (idx_decode(buf, size, &a, &owned, err, 256) == 0) {
        if (owned) {
            FUZZ_CHECK(idx_is_gzip(buf, size), "owned buffer for a plain file");
            /* The owned buffer holds exactly the decompressed file: header + data. */
            size_t header = 4 + 4 * (size_t)a.ndim;
            FUZZ_CHECK(a.data == owned + header, "data does not follow the %zu-byte header",
                       header);
            check_array(&a, owned, header + a.rows * a.cols);
        } else {
            FUZZ_CHECK(!idx_is_gzip(buf, size), "gzip input without an owned buffer");
            check_array(&a, buf, size);
        }
    } else {
        FUZZ_CHECK(owned == NULL, "owned buffer left on failure");
        check_message(err, 256);
    }
    free(owned);
    free(err);

    /* The plain parser with a small message buffer (length from the input's size). */
    size_t errlen = 1 + size % 24;
    err = malloc(errlen);
    FUZZ_CHECK(err != NULL, "harness out of memory");
    if (idx_parse(buf, size, &a, err, errlen) == 0)
        check_array(&a, buf, size);
    else
        check_message(err, errlen);
    free(err);
    return 0;
}
