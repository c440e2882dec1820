/*
 * libmimic: arrays from .npy and IDX files, the building blocks of datasets.
 *
 * One parser per format, in the library (fuzzed): mimic_array_load reads a NumPy .npy file
 * (format 1.0-3.0, C order, little-endian '<f4' '<f8' '<f2' '|u1' '<i4' '<i8', 1-D to 8-D;
 * an array of shape (n, d1, d2, ...) is n rows of d1 * d2 * ... values) or an uncompressed
 * IDX file (unsigned bytes; 1-D labels or 3-D images, which become rows x (height * width)),
 * told apart by content, memory-mapped. mimic_array_parse does the same
 * on bytes in memory, e.g. a gzipped IDX file decompressed by the caller (libmimic does not
 * link zlib; the `mimic` tool does). Datasets are made from arrays
 * (mimic_dataset_from_arrays), zero-copy where the stored values can be used as they are.
 *
 * Arrays are immutable and reference-counted internally: a dataset made from an array keeps
 * it alive, so the array may be freed right after. Const handles may be shared across
 * threads.
 */
#ifndef MIMIC_ARRAY_H
#define MIMIC_ARRAY_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mimic_array mimic_array;

/* Load the .npy or IDX file at `path` (memory-mapped). Errors: MIMIC_ERR_INVALID,
 * MIMIC_ERR_IO, MIMIC_ERR_FORMAT (malformed or truncated; a file of another kind is named as
 * such: "is a libmimic student, not an array"), MIMIC_ERR_UNSUPPORTED (dtype, rank, byte
 * order, Fortran order), MIMIC_ERR_NOMEM. Every message starts with the path. */
MIMIC_API int mimic_array_load(mimic_array **out, const char *path);

/* Parse `size` bytes of a .npy or IDX image. copy = 1: the bytes are copied; copy = 0: they
 * are borrowed and must stay valid and unchanged until the array and every dataset made from
 * it are freed. `name` prefixes messages (NULL: "array"). Errors as mimic_array_load. */
MIMIC_API int mimic_array_parse(mimic_array **out, const void *data, size_t size,
                                const char *name, int32_t copy);

/* The size in bytes of the whole .npy or IDX file whose first `n` bytes are `prefix`, from
 * its header, so a streaming reader (a decompressor) knows how much to produce: n must cover
 * the header (16 bytes for IDX; the header length for .npy, at most 64 KiB for files numpy
 * writes). Errors: MIMIC_ERR_FORMAT (not .npy or IDX, or the prefix ends inside the
 * header), MIMIC_ERR_UNSUPPORTED, MIMIC_ERR_INVALID. */
MIMIC_API int mimic_array_file_size(const void *prefix, size_t n, const char *name,
                                    uint64_t *size);

/* Getters; on an invalid handle they return 0. dtype: MIMIC_DTYPE_F32, _F64, _F16, _U8, _I32
 * or _I64. rows: the first dimension; cols: the values per row (1 for a 1-D array). ndim: 1
 * or 2 (arrays of more dimensions are rows x (their product), e.g. 3-D IDX image files). */
MIMIC_API int32_t mimic_array_dtype(const mimic_array *a);
MIMIC_API size_t mimic_array_rows(const mimic_array *a);
MIMIC_API size_t mimic_array_cols(const mimic_array *a);
MIMIC_API int mimic_array_ndim(const mimic_array *a);
/* For arrays of one-channel images (IDX image files; .npy of shape (n, height, width),
 * (n, 1, height, width) or (n, height, width, 1)), the images' height and width; 0 and 0
 * otherwise. */
MIMIC_API void mimic_array_image_shape(const mimic_array *a, size_t *height, size_t *width);
/* The values as stored (little-endian for .npy), rows x cols of the dtype. */
MIMIC_API const void *mimic_array_data(const mimic_array *a);

/* Rows [first_row, first_row + n_rows) converted to float32 into out (n_rows x cols floats),
 * e.g. a chunk at a time for a forward pass. Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_INVALID
 * (NULL out), MIMIC_ERR_RANGE (rows outside the array). */
MIMIC_API int mimic_array_to_f32(const mimic_array *a, size_t first_row, size_t n_rows,
                                 float *out);

/* A 1-D (or n x 1) integer array as int32 labels into out (rows values), each in
 * [0, n_classes) (n_classes 0: any value >= 0 that fits). Errors: MIMIC_ERR_MISUSE,
 * MIMIC_ERR_INVALID, MIMIC_ERR_UNSUPPORTED (not integer, not 1-D), MIMIC_ERR_RANGE (the
 * message names the row). */
MIMIC_API int mimic_array_to_labels(const mimic_array *a, size_t n_classes, int32_t *out);

MIMIC_API void mimic_array_free(mimic_array *a);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_ARRAY_H */
