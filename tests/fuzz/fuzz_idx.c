/*
 * Fuzz target: arrays from IDX bytes, plain or gzip: the library's IDX (and .npy) parser
 * (mimic_array_parse, mimic_array_file_size) and the CLI's gzip path (src/gz.c: cli_gunzip,
 * which sizes its output from the library's reading of the decompressed header).
 * Oracle: no sanitizer report; the header reader and the parser agree (an image parses
 * exactly when its header reads and declares its size: all of it for IDX, at most all of it
 * for .npy, which may carry trailing bytes); on success the array's shape is consistent,
 * every value is read (to float and, for integers, as labels), and a dataset is made from it
 * in each role its rank allows (2-D: inputs, and float logits; 1-D: labels); a gzip file
 * decompresses to exactly the size its header declares; on failure a documented status and
 * a non-empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An IDX image in memory: 1-D labels (`rows` zeros) or 3-D images (rows x 1 x cols zeros). */
static uint8_t *idx_zeros(size_t rows, size_t cols, int ndim, size_t *len)
{
    size_t head = ndim == 1 ? 8 : 16, n = head + rows * (ndim == 1 ? 1 : cols);
    uint8_t *b = calloc(n, 1);
    FUZZ_CHECK(b != NULL, "harness out of memory");
    b[2] = 8;
    b[3] = (uint8_t)ndim;
    const size_t dims[3] = {rows, 1, cols};
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * d + k] = (uint8_t)(dims[d] >> (8 * (3 - k)));
    *len = n;
    return b;
}

/* The array in one role of a dataset, beside companions of zeros with the same rows. */
static void dataset_role(const mimic_array *a, int role)
{
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a);
    size_t ln, xn;
    uint8_t *lb = idx_zeros(rows, 1, 1, &ln), *xb = idx_zeros(rows, 2, 3, &xn);
    mimic_array *labels = NULL, *inputs = NULL;
    FUZZ_CHECK(mimic_array_parse(&labels, lb, ln, "labels", 0) == MIMIC_OK, "labels: %s",
               mimic_last_error());
    FUZZ_CHECK(mimic_array_parse(&inputs, xb, xn, "inputs", 0) == MIMIC_OK, "inputs: %s",
               mimic_last_error());
    mimic_dataset *d = NULL;
    int rc;
    size_t want_d = 2;
    if (role == 0) { /* inputs, labels of zeros */
        rc = mimic_dataset_from_arrays(&d, a, NULL, labels, 0);
        want_d = cols;
    } else if (role == 1) { /* teacher logits */
        rc = mimic_dataset_from_arrays(&d, inputs, a, NULL, 0);
    } else { /* labels */
        rc = mimic_dataset_from_arrays(&d, inputs, NULL, a, 0);
    }
    if (rc == MIMIC_OK) {
        FUZZ_CHECK(mimic_dataset_rows(d) == rows && mimic_dataset_n_inputs(d) == want_d,
                   "dataset %zu x %zu from %zu x %zu", mimic_dataset_rows(d),
                   mimic_dataset_n_inputs(d), rows, cols);
        FUZZ_CHECK(role != 1 || mimic_dataset_n_classes(d) == cols, "%zu classes from %zu columns",
                   mimic_dataset_n_classes(d), cols);
        FUZZ_CHECK(role == 1 || mimic_dataset_n_classes(d) >= 2, "%zu classes from labels",
                   mimic_dataset_n_classes(d));
        mimic_dataset_free(d);
    } else {
        FUZZ_CHECK(d == NULL, "dataset left on failure");
        fuzz_check_failure(rc, "mimic_dataset_from_arrays");
    }
    mimic_array_free(labels);
    mimic_array_free(inputs);
    free(lb);
    free(xb);
}

static void check_array(const mimic_array *a, size_t bytes)
{
    size_t rows = mimic_array_rows(a), cols = mimic_array_cols(a);
    int ndim = mimic_array_ndim(a);
    int32_t dt = mimic_array_dtype(a);
    FUZZ_CHECK(ndim == 1 || ndim == 2, "ndim %d", ndim);
    FUZZ_CHECK(ndim == 2 || cols == 1, "1-D array with %zu columns", cols);
    FUZZ_CHECK(dt == MIMIC_DTYPE_F32 || dt == MIMIC_DTYPE_F64 || dt == MIMIC_DTYPE_F16 ||
                   dt == MIMIC_DTYPE_U8 || dt == MIMIC_DTYPE_I32 || dt == MIMIC_DTYPE_I64,
               "dtype %d", (int)dt);
    FUZZ_CHECK(mimic_array_data(a) != NULL || rows * cols == 0, "no data");
    FUZZ_CHECK(cols == 0 || rows <= bytes / cols, "%zu x %zu from %zu bytes", rows, cols, bytes);
    size_t h, w;
    mimic_array_image_shape(a, &h, &w);
    FUZZ_CHECK((h == 0) == (w == 0) && (h == 0 || h * w == cols), "image %zu x %zu, %zu cols", h, w,
               cols);
    /* every value, a chunk of rows at a time as a forward pass would take them (the data is
     * in the input, so rows x cols is bounded by its size when rows > 0) */
    if (rows && cols) {
        size_t per = cols < 256 ? 256 / cols : 1;
        float *buf = malloc((per < rows ? per : rows) * cols * sizeof(float));
        FUZZ_CHECK(buf != NULL, "harness out of memory");
        for (size_t r = 0; r < rows; r += per) {
            size_t n = rows - r < per ? rows - r : per;
            FUZZ_CHECK(mimic_array_to_f32(a, r, n, buf) == MIMIC_OK, "to_f32: %s",
                       mimic_last_error());
        }
        FUZZ_CHECK(mimic_array_to_f32(a, rows, 1, buf) == MIMIC_ERR_RANGE,
                   "row past the end accepted");
        FUZZ_CHECK(mimic_array_to_f32(a, 1, rows, buf) == MIMIC_ERR_RANGE,
                   "rows past the end accepted");
        free(buf);
    }
    if (rows && rows < (1u << 20)) {
        int32_t *y = malloc(rows * sizeof *y);
        FUZZ_CHECK(y != NULL, "harness out of memory");
        int rc = mimic_array_to_labels(a, 0, y);
        int integer = dt == MIMIC_DTYPE_U8 || dt == MIMIC_DTYPE_I32 || dt == MIMIC_DTYPE_I64;
        if (rc == MIMIC_OK) {
            FUZZ_CHECK(integer && cols == 1, "labels from dtype %d, %zu columns", (int)dt, cols);
            for (size_t r = 0; r < rows; r++)
                FUZZ_CHECK(y[r] >= 0, "label %d at row %zu", y[r], r);
        } else {
            fuzz_check_failure(rc, "mimic_array_to_labels");
            FUZZ_CHECK(rc == (integer && cols == 1 ? MIMIC_ERR_RANGE : MIMIC_ERR_UNSUPPORTED),
                       "to_labels: status %d: %s", rc, mimic_last_error());
        }
        free(y);
    }
    /* a dataset in each role the rank allows (companions stay small) */
    if (rows && rows < (1u << 16)) {
        if (ndim == 2) {
            dataset_role(a, 0);
            if (dt == MIMIC_DTYPE_F32 || dt == MIMIC_DTYPE_F64 || dt == MIMIC_DTYPE_F16)
                dataset_role(a, 1);
        } else {
            dataset_role(a, 2);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *buf = size ? data : (const uint8_t *)"";
    const uint8_t *bytes = buf;
    size_t n = size;
    uint8_t *owned = NULL;
    int gz = size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
    if (gz) {
        char err[256];
        memset(err, 'x', sizeof err);
        size_t produced = 0;
        int rc = cli_gunzip(buf, size, "fuzz.gz", &owned, &produced, err, sizeof err);
        if (rc != MIMIC_OK) {
            FUZZ_CHECK(owned == NULL, "owned buffer left on failure");
            FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
            if (err[0] == '\0')
                fuzz_check_failure(rc, "cli_gunzip"); /* the library's header reading failed */
            else
                FUZZ_CHECK(rc == MIMIC_ERR_FORMAT, "cli_gunzip: status %d: %s", rc, err);
            return 0;
        }
        bytes = owned;
        n = produced;
    }
    /* The header reader, on the whole image, against the parser. */
    uint64_t declared = 0;
    int32_t is_npy = n >= 6 && memcmp(bytes, "\x93NUMPY", 6) == 0;
    int frc = mimic_array_file_size(bytes, n, "fuzz", &declared);
    if (frc != MIMIC_OK)
        fuzz_check_failure(frc, "mimic_array_file_size");
    if (gz)
        FUZZ_CHECK(frc == MIMIC_OK && declared == n,
                   "decompressed %zu bytes, the header declares %llu", n,
                   (unsigned long long)declared);
    mimic_array *a = NULL;
    int rc = mimic_array_parse(&a, bytes, n, "fuzz", (int32_t)(size & 1));
    int fits = frc == MIMIC_OK && (is_npy ? declared <= n : declared == n);
    FUZZ_CHECK((rc == MIMIC_OK) == fits, "parse %d, header size %d (%llu of %zu bytes): %s", rc,
               frc, (unsigned long long)declared, n, mimic_last_error());
    if (rc == MIMIC_OK) {
        check_array(a, n);
        mimic_array_free(a);
    } else {
        FUZZ_CHECK(a == NULL, "array left on failure");
        fuzz_check_failure(rc, "mimic_array_parse");
        FUZZ_CHECK(strncmp(mimic_last_error(), "fuzz", 4) == 0, "message does not name it: %s",
                   mimic_last_error());
    }
    free(owned);
    return 0;
}
