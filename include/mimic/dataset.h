/*
 * libmimic: teacher-logit datasets.
 *
 * A dataset is `rows` examples, each with
 *   - an input row of n_inputs values, float32 or uint8 (uint8 stays uint8 in memory:
 *     transfer sets are big; it is converted to float during training's batch gather),
 *   - a row of n_classes teacher logits (float32; optional only for labelled data),
 *   - optionally an int32 label in [0, n_classes).
 * All arrays are row-major (C order).
 *
 * Ownership: `mimic_dataset_create` copies the caller's arrays; `mimic_dataset_wrap`
 * borrows them (the caller keeps them alive and unchanged until the handle is freed);
 * `mimic_dataset_load_npy` memory-maps the files read-only. A slice is a view that keeps
 * the storage of its parent alive, so parent and slice can be freed in any order.
 *
 * Validation happens once, at creation: teacher logits must be finite, labels must lie in
 * [0, n_classes). Float inputs may hold any value (they are the caller's features).
 *
 * Threads: a dataset is immutable after creation; const handles may be used from many
 * threads at once (training several students on one dataset in parallel is fine).
 */
#ifndef MIMIC_DATASET_H
#define MIMIC_DATASET_H

#include "array.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mimic_dataset mimic_dataset;

/* Copy `rows` examples into a new dataset.
 * inputs: rows x n_inputs values of `input_dtype` (MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8).
 * teacher_logits: rows x n_classes floats, or NULL when labels are given (a labels-only
 *   dataset, for hard-label training and evaluation).
 * labels: rows int32 values in [0, n_classes), or NULL.
 * Errors: MIMIC_ERR_INVALID (NULL out/inputs, zero sizes, bad dtype, neither logits nor
 * labels), MIMIC_ERR_NUMERIC (non-finite logit: the message names row and column),
 * MIMIC_ERR_RANGE (label out of range: names the row), MIMIC_ERR_NOMEM.
 * On failure *out is NULL. */
MIMIC_API int mimic_dataset_create(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                                   const float *teacher_logits, const int32_t *labels, size_t rows,
                                   size_t n_inputs, size_t n_classes);

/* As mimic_dataset_create, but borrows the arrays without copying (zero-copy). They must
 * outlive the handle (and every slice of it) and must not change while it exists. */
MIMIC_API int mimic_dataset_wrap(mimic_dataset **out, const void *inputs, int32_t input_dtype,
                                 const float *teacher_logits, const int32_t *labels, size_t rows,
                                 size_t n_inputs, size_t n_classes);

/* Load a dataset from NumPy .npy files (format 1.0, 2.0 or 3.0; C order; little-endian;
 * IDX files are accepted too: arrays are told apart by content).
 * inputs: 2-D '<f4' or '|u1' (memory-mapped, never copied), or '<f8' (converted to f32).
 * teacher_logits: 2-D '<f4' (mapped) or '<f8' (converted); same row count as inputs.
 * labels_or_NULL: 1-D '<i4', '<i8' or '|u1', same row count, values in [0, classes).
 * Errors: MIMIC_ERR_IO (cannot open/map), MIMIC_ERR_FORMAT (bad magic, truncated header or
 * data, malformed header, size overflow), MIMIC_ERR_UNSUPPORTED (Fortran order, big-endian,
 * other dtype or rank), MIMIC_ERR_SHAPE (row counts differ), MIMIC_ERR_NUMERIC (NaN/Inf
 * logit, first bad row and column named), MIMIC_ERR_RANGE (label), MIMIC_ERR_NOMEM.
 * Every message starts with the offending file's path. On failure *out is NULL. */
MIMIC_API int mimic_dataset_load_npy(mimic_dataset **out, const char *inputs,
                                     const char *teacher_logits, const char *labels_or_NULL);

/* A dataset from arrays (array.h), the way every loader makes one.
 * inputs: 2-D '<f4' or '|u1' (used in place: the dataset keeps the array's bytes alive), or
 *   '<f8' (converted to float32).
 * teacher_logits: 2-D '<f4' (in place) or '<f8' (converted), same rows as inputs; or NULL
 *   for a labels-only dataset.
 * labels: 1-D '<i4', '<i8' or '|u1' (copied to int32), same rows; values in
 *   [0, classes); or NULL.
 * n_classes: 0 = the logits' columns, or without logits the largest label + 1 (at least 2);
 *   otherwise the logits' columns must equal it, and labels must be below it.
 * The arrays may be freed right after the call. Errors: MIMIC_ERR_MISUSE (bad handle),
 * MIMIC_ERR_INVALID (neither logits nor labels, n_classes 1), MIMIC_ERR_UNSUPPORTED (rank or
 * dtype not allowed for the role; the message lists the allowed ones), MIMIC_ERR_SHAPE (row
 * or class counts disagree, empty arrays), MIMIC_ERR_NUMERIC (NaN/Inf logit: row and column),
 * MIMIC_ERR_RANGE (label: row), MIMIC_ERR_NOMEM. Messages start with the array's name. */
MIMIC_API int mimic_dataset_from_arrays(mimic_dataset **out, const mimic_array *inputs,
                                        const mimic_array *teacher_logits,
                                        const mimic_array *labels, size_t n_classes);

/* Load a dataset from IDX files (the MNIST family, uncompressed: gunzip .gz files first, or
 * use mimic_array_parse on the decompressed bytes): images (3-D: rows of height x width
 * bytes), labels_or_NULL (1-D), and teacher logits from a .npy file or NULL (at least one of
 * labels and logits). Any of the files may also be .npy: arrays are told apart by content.
 * Errors as mimic_dataset_from_arrays and mimic_array_load. */
MIMIC_API int mimic_dataset_load_idx(mimic_dataset **out, const char *images,
                                     const char *labels_or_NULL,
                                     const char *teacher_logits_or_NULL);

/* A view of rows [first_row, first_row + n_rows) of `d`, sharing its storage (no copy).
 * Errors: MIMIC_ERR_MISUSE (bad handle), MIMIC_ERR_RANGE (range outside d or empty),
 * MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_dataset_slice(mimic_dataset **out, const mimic_dataset *d, size_t first_row,
                                  size_t n_rows);

/* Getters. On a NULL or invalid handle they return 0. */
MIMIC_API size_t mimic_dataset_rows(const mimic_dataset *d);
MIMIC_API size_t mimic_dataset_n_inputs(const mimic_dataset *d);
MIMIC_API size_t mimic_dataset_n_classes(const mimic_dataset *d);
MIMIC_API int mimic_dataset_has_labels(const mimic_dataset *d);
MIMIC_API int mimic_dataset_has_logits(const mimic_dataset *d);
/* MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8 */
MIMIC_API int32_t mimic_dataset_input_dtype(const mimic_dataset *d);

/* Free a dataset. NULL is a no-op. Borrowed arrays are not touched; the storage is
 * released when the last view of it is freed. */
MIMIC_API void mimic_dataset_free(mimic_dataset *d);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_DATASET_H */
