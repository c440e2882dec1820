/*
 * libmimic: writing NumPy .npy files: whole arrays (predictions, logits, classes) and growing
 * ones (transfer sets labelled a batch at a time, by a teacher in any inference engine).
 *
 * Files are format 1.0, C order, little-endian, with numpy's 64-byte header padding, so
 * numpy.load, libmimic and any .npy reader map them. Every writer writes to a temporary file
 * beside the path ("PATH.tmp.XXXXXX") and renames it over PATH only when the file is complete
 * and flushed: a crash or a full disk never leaves a half-written file under PATH, and an
 * existing file there is untouched until then.
 */
#ifndef MIMIC_NPY_H
#define MIMIC_NPY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write `data` as a .npy file at `path`.
 * dtype: MIMIC_DTYPE_F32 ('<f4'), _F64 ('<f8'), _F16 ('<f2': uint16_t bits), _U8 ('|u1'),
 * _I32 ('<i4') or _I64 ('<i8'; the last three since 1.3).
 * cols == 0 writes a 1-D array of `rows` elements; otherwise a rows x cols array.
 * Errors: MIMIC_ERR_INVALID (NULL path/data, bad dtype), MIMIC_ERR_RANGE (size overflow),
 * MIMIC_ERR_IO (cannot write; an existing file at `path` is untouched), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_npy_save(const char *path, const void *data, int32_t dtype, size_t rows,
                             size_t cols);

/* A .npy file written a batch of rows at a time (since 1.3):
 *
 *     size_t row[1] = {10};
 *     mimic_npy_writer *w;
 *     int rc = mimic_npy_writer_open(&w, "shard-00000.logits.npy", MIMIC_DTYPE_F16, row, 1);
 *     while (rc == MIMIC_OK && more)
 *         rc = mimic_npy_writer_append(w, batch_logits, batch_rows);
 *     rc = rc ? (mimic_npy_writer_abort(w), rc) : mimic_npy_writer_close(w);
 *
 * open: a writer of rows of shape row_shape[0..row_ndim) (row_ndim 0: a 1-D file, e.g.
 *   labels; at most 7) of `dtype` (as mimic_npy_save), to become `path`.
 * append: n_rows rows (n_rows x the row's values, contiguous); 0 rows is a no-op.
 * close: fixes the header's row count, flushes, and renames the file to `path` (then and only
 *   then does `path` exist or change); frees the writer in every case. After a failed append
 *   it writes nothing and returns MIMIC_ERR_IO.
 * abort: removes the temporary file and frees the writer (NULL is a no-op).
 * Errors: MIMIC_ERR_INVALID (NULL out/path/rows, bad dtype, a 0 or too many dimensions),
 * MIMIC_ERR_RANGE (size overflow), MIMIC_ERR_IO (cannot create or write, e.g. the disk is
 * full: the message names the file and how many rows were complete), MIMIC_ERR_MISUSE (bad
 * handle; append after a failed append), MIMIC_ERR_NOMEM. A writer is used by one thread at a
 * time. */
typedef struct mimic_npy_writer mimic_npy_writer;

MIMIC_API int mimic_npy_writer_open(mimic_npy_writer **out, const char *path, int32_t dtype,
                                    const size_t *row_shape, size_t row_ndim);
MIMIC_API int mimic_npy_writer_append(mimic_npy_writer *w, const void *rows, size_t n_rows);
/* Rows appended so far (0 on an invalid handle). */
MIMIC_API uint64_t mimic_npy_writer_rows(const mimic_npy_writer *w);
MIMIC_API int mimic_npy_writer_close(mimic_npy_writer *w);
MIMIC_API void mimic_npy_writer_abort(mimic_npy_writer *w);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_NPY_H */
