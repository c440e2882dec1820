/*
 * Fuzz target: arrays from IDX bytes, plain or gzip: the library's IDX (and .npy) parser
 * (mimic_array_parse, mimic_array_file_size) and the CLI's gzip path (src/gz.c: cli_gunzip,
 * which sizes its output from the library's reading of the decompressed header).
 * Oracle: no sanitizer report; on success the array's shape is consistent, every value is
 * read (to float and, for integers, as labels), a dataset can be made from it in the role
 * its rank allows, and a gzip file decompresses to exactly the size its header declares; on
 * failure a documented status and a non-empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_array(const mimic_array *a, size_t bytes)
{
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a);
    int ndim = mimic_array_ndim(a);
    FUZZ_CHECK(ndim == 1 || ndim == 2, "ndim %d", ndim);
    FUZZ_CHECK(ndim == 2 || cols == 1, "1-D array with %zu columns", cols);
    FUZZ_CHECK(cols == 0 || rows <= bytes / cols + 1, "%zu x %zu from %zu bytes", rows, cols,
               bytes);
    size_t h, w;
    mimic_array_image_shape(a, &h, &w);
    FUZZ_CHECK((h == 0) == (w == 0) && (h == 0 || h * w == cols), "image %zu x %zu, %zu cols", h, w,
               cols);
    /* every value, a few rows at a time as a forward pass would take them */
    float buf[256];
    size_t per = cols ? (cols < 256 ? 256 / cols : 0) : 0;
    for (size_t r = 0; per && r < rows; r += per) {
        size_t n = rows - r < per ? rows - r : per;
        FUZZ_CHECK(mimic_array_to_f32(a, r, n, buf) == MIMIC_OK, "to_f32: %s", mimic_last_error());
    }
    FUZZ_CHECK(mimic_array_to_f32(a, rows, 1, buf) == MIMIC_ERR_RANGE, "row past the end accepted");
    int32_t dt = mimic_array_dtype(a);
    if (rows && rows < (1u << 20) && cols == 1 &&
        (dt == MIMIC_DTYPE_U8 || dt == MIMIC_DTYPE_I32 || dt == MIMIC_DTYPE_I64)) {
        int32_t *y = malloc(rows * sizeof *y);
        FUZZ_CHECK(y != NULL, "harness out of memory");
        int rc = mimic_array_to_labels(a, 0, y);
        if (rc != MIMIC_OK)
            fuzz_check_failure(rc, "mimic_array_to_labels");
        free(y);
    }
    /* the array as a dataset's inputs (2-D) with labels of zeros */
    if (ndim == 2 && rows && rows < (1u << 16)) {
        uint8_t *zeros = calloc(rows, 1);
        FUZZ_CHECK(zeros != NULL, "harness out of memory");
        mimic_dataset *d = NULL;
        int rc = mimic_dataset_wrap(&d, zeros, MIMIC_DTYPE_U8, NULL, NULL, rows, 1, 2);
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID, "dataset without logits or labels accepted");
        mimic_array *labels = NULL;
        /* an IDX 1-D label file of `rows` zeros */
        uint8_t *idx = calloc(8 + rows, 1);
        FUZZ_CHECK(idx != NULL, "harness out of memory");
        idx[2] = 8;
        idx[3] = 1;
        idx[4] = (uint8_t)(rows >> 24);
        idx[5] = (uint8_t)(rows >> 16);
        idx[6] = (uint8_t)(rows >> 8);
        idx[7] = (uint8_t)rows;
        FUZZ_CHECK(mimic_array_parse(&labels, idx, 8 + rows, "labels", 1) == MIMIC_OK, "labels: %s",
                   mimic_last_error());
        rc = mimic_dataset_from_arrays(&d, a, NULL, labels, 0);
        if (rc == MIMIC_OK) {
            FUZZ_CHECK(mimic_dataset_rows(d) == rows && mimic_dataset_n_inputs(d) == cols,
                       "dataset %zu x %zu from %zu x %zu", mimic_dataset_rows(d),
                       mimic_dataset_n_inputs(d), rows, cols);
            mimic_dataset_free(d);
        } else {
            fuzz_check_failure(rc, "mimic_dataset_from_arrays");
        }
        mimic_array_free(labels);
        free(idx);
        free(zeros);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *buf = size ? data : (const uint8_t *)"";
    const uint8_t *bytes = buf;
    size_t n = size;
    uint8_t *owned = NULL;
    if (size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        char err[256];
        memset(err, 'x', sizeof err);
        size_t produced = 0;
        int rc = cli_gunzip(buf, size, "fuzz.gz", &owned, &produced, err, sizeof err);
        if (rc != MIMIC_OK) {
            FUZZ_CHECK(owned == NULL, "owned buffer left on failure");
            FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
            if (err[0] == '\0')
                fuzz_check_failure(rc, "cli_gunzip");
            return 0;
        }
        uint64_t declared = 0;
        FUZZ_CHECK(mimic_array_file_size(owned, produced, "fuzz", &declared) == MIMIC_OK &&
                       declared == produced,
                   "decompressed %zu bytes, the header declares %llu", produced,
                   (unsigned long long)declared);
        bytes = owned;
        n = produced;
    } else {
        uint64_t declared = 0;
        int rc = mimic_array_file_size(buf, size, "fuzz", &declared);
        if (rc != MIMIC_OK)
            fuzz_check_failure(rc, "mimic_array_file_size");
    }
    mimic_array *a = NULL;
    int rc = mimic_array_parse(&a, bytes, n, "fuzz", (int32_t)(size & 1));
    if (rc == MIMIC_OK) {
        check_array(a, n);
        mimic_array_free(a);
    } else {
        FUZZ_CHECK(a == NULL, "array left on failure");
        fuzz_check_failure(rc, "mimic_array_parse");
    }
    free(owned);
    return 0;
}
