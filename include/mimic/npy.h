/*
 * libmimic: writing NumPy .npy files (predictions, logits, classes).
 */
#ifndef MIMIC_NPY_H
#define MIMIC_NPY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write `data` as a .npy file (format 1.0, C order, little-endian) at `path`.
 * dtype: MIMIC_DTYPE_F32 ('<f4'), MIMIC_DTYPE_U8 ('|u1') or MIMIC_DTYPE_I32 ('<i4').
 * cols == 0 writes a 1-D array of `rows` elements; otherwise a rows x cols array.
 * The file is written to a temporary file beside `path`, flushed and renamed over it, so
 * an existing file is never left half-overwritten.
 * Errors: MIMIC_ERR_INVALID (NULL path/data, bad dtype), MIMIC_ERR_RANGE (size overflow),
 * MIMIC_ERR_IO (cannot write; an existing file at `path` is untouched), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_npy_save(const char *path, const void *data, int32_t dtype, size_t rows,
                             size_t cols);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_NPY_H */
