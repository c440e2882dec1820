/*
 * Fuzz target: the .npy header parser (mimic__npy_parse) on untrusted bytes.
 * Oracle: no sanitizer report; on success the parsed header is self-consistent and its data
 * range lies inside the buffer (every data byte is read, so ASan sees an overread); on
 * failure a documented status and a message starting with the file name.
 *
 * The validation that follows the parse inside mimic_dataset_load_npy (rank and dtype per
 * role, row counts, f8 -> f32 conversion, NaN/Inf logits, label range) is static in
 * dataset.c, so a header that parses is also loaded for real: the input is written to a
 * file on tmpfs as the inputs, logits or labels array (chosen by its rank and length) next
 * to generated companion files of the same row count, and the loaded dataset is checked.
 */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *tmp_path(const char *leaf)
{
    static char paths[3][256];
    static int next;
    static const char *dir;
    if (!dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char *p = paths[next++ % 3];
    snprintf(p, sizeof paths[0], "%s/mimic-fuzz-npy-%ld-%s", dir, (long)getpid(), leaf);
    return p;
}

static void write_file(const char *path, const void *a, size_t an, const void *b, size_t bn)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "harness cannot write %s", path);
    FUZZ_CHECK(fwrite(a, 1, an, f) == an && (bn == 0 || fwrite(b, 1, bn, f) == bn),
               "harness write %s", path);
    FUZZ_CHECK(fclose(f) == 0, "harness close %s", path);
}

/* A valid .npy of zeros: rows x cols of descr (cols = 0: 1-D). */
static void write_zeros(const char *path, const char *descr, size_t item, size_t rows, size_t cols)
{
    char head[128];
    int n;
    if (cols)
        n = snprintf(head + 10, sizeof head - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr,
                     rows, cols);
    else
        n = snprintf(head + 10, sizeof head - 10,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, rows);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FUZZ_CHECK(total + pad <= sizeof head, "header too long");
    memset(head + 10 + n, ' ', pad);
    head[total + pad - 1] = '\n';
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)((total + pad - 10) & 0xff);
    head[9] = 0;
    size_t bytes = rows * (cols ? cols : 1) * item;
    void *zeros = calloc(bytes ? bytes : 1, 1);
    FUZZ_CHECK(zeros != NULL, "harness out of memory");
    write_file(path, head, total + pad, zeros, bytes);
    free(zeros);
}


/* Load the fuzz input through mimic_dataset_load_npy in the role its header allows. */
static void load_for_real(const uint8_t *data, size_t size, const mimic__npy *h)
{
    size_t rows = h->shape[0];
    if (rows == 0 || rows > ((size_t)1 << 16))
        return; /* companion files would be huge; open_npy rejects 0 rows itself */
    const char *fz = tmp_path("fuzz.npy"), *p1 = tmp_path("a.npy"), *p2 = tmp_path("b.npy");
    write_file(fz, data, size, NULL, 0);
    mimic_dataset *d = NULL;
    int rc;
    if (h->ndim == 1) {
        write_zeros(p1, "|u1", 1, rows, 1);
        write_zeros(p2, "<f4", 4, rows, 3);
        rc = mimic_dataset_load_npy(&d, p1, p2, fz);
    } else if (size % 2 == 0) {
        write_zeros(p2, "<f4", 4, rows, 1);
        rc = mimic_dataset_load_npy(&d, fz, p2, NULL);
    } else {
        write_zeros(p1, "|u1", 1, rows, 2);
        rc = mimic_dataset_load_npy(&d, p1, fz, NULL);
    }
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic_dataset_load_npy");
        FUZZ_CHECK(d == NULL, "*out not NULL on failure");
        FUZZ_CHECK(strstr(mimic_last_error(), "mimic-fuzz-npy-") != NULL,
                   "message does not name the file: %s", mimic_last_error());
    } else {
        fuzz_check_dataset(d);
        mimic_dataset_free(d);
    }
    unlink(fz);
    unlink(p1);
    unlink(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "fuzz.npy";
    mimic__npy h;
    int rc = mimic__npy_parse(data, size, name, &h);
    if (rc != MIMIC_OK) {
        fuzz_check_failure(rc, "mimic__npy_parse");
        FUZZ_CHECK(rc == MIMIC_ERR_FORMAT || rc == MIMIC_ERR_UNSUPPORTED ||
                       rc == MIMIC_ERR_VERSION,
                   "undocumented status %d: %s", rc, mimic_last_error());
        FUZZ_CHECK(strncmp(mimic_last_error(), name, sizeof name - 1) == 0,
                   "message does not name the file: %s", mimic_last_error());
        return 0;
    }
    FUZZ_CHECK(h.ndim >= 1 && h.ndim <= MIMIC__NPY_MAX_RANK, "ndim %d", h.ndim);
    size_t per_row = 1;
    for (int i = 1; i < h.ndim; i++)
        FUZZ_CHECK(mimic__mul_ok(per_row, h.dims[i - 1], &per_row), "row size overflows");
    FUZZ_CHECK(per_row == h.shape[1], "shape[1] = %zu, the row's dimensions make %zu", h.shape[1],
               per_row);
    FUZZ_CHECK(h.mdtype != 0 && mimic__dtype_size(h.mdtype) == h.itemsize, "mdtype %d",
               (int)h.mdtype);
    FUZZ_CHECK((h.dtype == 'f' && (h.itemsize == 2 || h.itemsize == 4 || h.itemsize == 8)) ||
                   (h.dtype == 'u' && h.itemsize == 1) ||
                   (h.dtype == 'i' && (h.itemsize == 4 || h.itemsize == 8)),
               "dtype %c%u", h.dtype, h.itemsize);
    size_t count, bytes, end;
    FUZZ_CHECK(mimic__mul_ok(h.shape[0], h.shape[1], &count) && count == h.count,
               "count %zu != %zu x %zu", h.count, h.shape[0], h.shape[1]);
    FUZZ_CHECK(mimic__mul_ok(count, h.itemsize, &bytes) && bytes == h.data_bytes,
               "data_bytes %zu", h.data_bytes);
    FUZZ_CHECK(h.data_offset >= 10, "data_offset %zu inside the prefix", h.data_offset);
    FUZZ_CHECK(mimic__add_ok(h.data_offset, h.data_bytes, &end) && end <= size,
               "data [%zu, +%zu) past the buffer of %zu", h.data_offset, h.data_bytes, size);
    /* Touch every data byte: an overread is an ASan report. */
    unsigned acc = 0;
    for (size_t i = 0; i < h.data_bytes; i++)
        acc += data[h.data_offset + i];
    volatile unsigned sink = acc;
    (void)sink;
    load_for_real(data, size, &h);
    return 0;
}
