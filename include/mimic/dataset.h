/*
 * libmimic: teacher-logit datasets.
 *
 * A dataset is `rows` examples, each with
 *   - an input row of n_inputs values, float32 or uint8 (uint8 stays uint8 in memory:
 *     transfer sets are big; it is converted to float during training's batch gather),
 *   - a row of n_classes teacher logits, float32 or float16 (float16 halves the memory and
 *     the disk a transfer set needs and keeps a logit to about 1e-3 relative; it is widened
 *     exactly to float32 as rows are read; optional only for labelled data),
 *   - optionally a label in [0, n_classes) (int32, int64 or uint8 as stored).
 * All arrays are row-major (C order). Rows are numbered with 64-bit indices; a dataset may
 * be one set of arrays or many shards (mimic_dataset_load_manifest).
 *
 * Ownership: `mimic_dataset_create` copies the caller's arrays; `mimic_dataset_wrap`
 * borrows them (the caller keeps them alive and unchanged until the handle is freed);
 * the file loaders memory-map the files read-only (a transfer set larger than memory costs
 * page cache, not heap). A slice is a view that keeps the storage of its parent alive, so
 * parent and slice can be freed in any order.
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

/* A dataset from arrays in memory, with their element types (versioned: fill with
 * mimic_dataset_memory_init first). Since 1.3; mimic_dataset_create/wrap are the float32
 * logits / int32 labels case. */
typedef struct mimic_dataset_memory {
    size_t struct_size;
    const void *inputs;         /* rows x n_inputs */
    int32_t input_dtype;        /* MIMIC_DTYPE_F32 (default) or MIMIC_DTYPE_U8 */
    const void *teacher_logits; /* rows x n_classes, or NULL */
    int32_t logits_dtype;       /* MIMIC_DTYPE_F32 (default) or MIMIC_DTYPE_F16: IEEE binary16
                                   as uint16_t bits (NumPy float16), used as stored and widened
                                   per batch; keeps a logit to about 1e-3 relative */
    const void *labels;         /* rows, or NULL */
    int32_t labels_dtype;       /* MIMIC_DTYPE_I32 (default), MIMIC_DTYPE_I64 or MIMIC_DTYPE_U8 */
    size_t rows, n_inputs, n_classes;
} mimic_dataset_memory;

MIMIC_API void mimic_dataset_memory_init(mimic_dataset_memory *m, size_t struct_size);
/* As mimic_dataset_create (copies) and mimic_dataset_wrap (borrows), with the element types of
 * *m. Errors as theirs, plus MIMIC_ERR_VERSION (a larger struct with unknown fields set). */
MIMIC_API int mimic_dataset_create_memory(mimic_dataset **out, const mimic_dataset_memory *m);
MIMIC_API int mimic_dataset_wrap_memory(mimic_dataset **out, const mimic_dataset_memory *m);

/* A dataset from arrays (array.h), the way every loader makes one.
 * inputs: 2-D '<f4' or '|u1' (used in place: the dataset keeps the array's bytes alive), or
 *   '<f8' (converted to float32).
 * teacher_logits: 2-D '<f4' or '<f2' (in place) or '<f8' (converted), same rows as inputs;
 *   or NULL for a labels-only dataset.
 * labels: 1-D '<i4', '<i8' or '|u1' (in place), same rows; values in [0, classes); or NULL.
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

/* A dataset from the shards a manifest lists (since 1.3): a JSON file
 *
 *     {"format": "mimic-manifest", "version": 1, "rows": 131072,
 *      "shards": [{"inputs": "s0.inputs.npy", "logits": "s0.logits.npy", "rows": 65536},
 *                 {"inputs": "s1.inputs.npy", "logits": "s1.logits.npy", "rows": 65536}]}
 *
 * per shard "inputs" and at least one of "logits" and "labels" (files as
 * mimic_dataset_load_npy takes them; relative paths are relative to the manifest's
 * directory), and optionally "rows"; at top level optionally the total "rows" and a
 * "metadata" value libmimic ignores. mimic_manifest_writer writes them.
 * Every shard is memory-mapped, used in place as one file is, and its rows follow the
 * previous shard's: rows are numbered globally with 64-bit indices (more than 2^32 rows work),
 * training shuffles them across shards, and the anonymous memory a dataset needs does not
 * grow with its size. A file named by several shards is mapped and checked once. Every shard
 * must have the same input columns, logit columns and element types.
 * Errors as mimic_dataset_load_npy, each message starting "MANIFEST: shard I: " and naming the
 * file (a missing or truncated shard, a shard whose rows disagree with the manifest or whose
 * columns or dtypes differ from shard 0's), plus MIMIC_ERR_FORMAT "MANIFEST: manifest, byte N:
 * problem" (malformed JSON, an unknown key) and MIMIC_ERR_VERSION (another manifest version).
 */
MIMIC_API int mimic_dataset_load_manifest(mimic_dataset **out, const char *path);

/* Writing a manifest (since 1.3), after the shards' files are complete:
 *
 *     mimic_manifest_writer *m;
 *     rc = mimic_manifest_writer_open(&m, "set/manifest.json");
 *     for (each shard) rc = mimic_manifest_writer_add(m, "s0.inputs.npy", "s0.logits.npy", NULL);
 *     rc = rc ? (mimic_manifest_writer_abort(m), rc) : mimic_manifest_writer_close(m);
 *
 * add: a shard's files, as they are to appear in the manifest (relative paths are relative to
 *   its directory). Their headers are read and checked as mimic_dataset_load_manifest will
 *   (roles, rows, columns and element types equal to the first shard's); the row count is
 *   recorded. A failed add adds nothing, and the writer may go on.
 * close: writes the manifest (temporary file, renamed at the end: a crash never leaves a
 *   partial manifest, and the manifest is the last file a labelling job writes) and frees
 *   the writer in every case. Errors: MIMIC_ERR_INVALID (no shards), MIMIC_ERR_IO.
 * abort: frees the writer, writes nothing (NULL is a no-op).
 * rows: the rows added so far (0 on an invalid handle).
 * Errors of add: MIMIC_ERR_INVALID (NULL or empty paths, neither logits nor labels, a path that
 * is not UTF-8), those of mimic_dataset_load_npy for the files, MIMIC_ERR_SHAPE /
 * MIMIC_ERR_UNSUPPORTED (differs from the first shard), MIMIC_ERR_MISUSE, MIMIC_ERR_NOMEM. */
typedef struct mimic_manifest_writer mimic_manifest_writer;

MIMIC_API int mimic_manifest_writer_open(mimic_manifest_writer **out, const char *path);
MIMIC_API int mimic_manifest_writer_add(mimic_manifest_writer *w, const char *inputs,
                                        const char *logits_or_NULL, const char *labels_or_NULL);
MIMIC_API uint64_t mimic_manifest_writer_rows(const mimic_manifest_writer *w);
MIMIC_API int mimic_manifest_writer_close(mimic_manifest_writer *w);
MIMIC_API void mimic_manifest_writer_abort(mimic_manifest_writer *w);

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
/* MIMIC_DTYPE_F32 or MIMIC_DTYPE_F16; 0 without teacher logits. Since 1.3. */
MIMIC_API int32_t mimic_dataset_logits_dtype(const mimic_dataset *d);
/* The number of shards (1 unless loaded from a manifest). Since 1.3. */
MIMIC_API size_t mimic_dataset_n_shards(const mimic_dataset *d);

/* The inputs' image height and width when their file gives them (IDX images, .npy arrays of
 * one-channel images; manifests: the first shard's), else 0 and 0. Since 1.3. */
MIMIC_API void mimic_dataset_image_shape(const mimic_dataset *d, size_t *height, size_t *width);

/* Rows [first_row, first_row + n_rows) of the dataset, converted: inputs as float32 (uint8
 * values become 0..255), teacher logits as float32 (float16 widened exactly), labels as
 * int32. out holds n_rows x n_inputs, n_rows x n_classes or n_rows values. Since 1.3.
 * Errors: MIMIC_ERR_MISUSE (bad handle), MIMIC_ERR_INVALID (NULL out; no logits / no labels),
 * MIMIC_ERR_RANGE (rows outside the dataset). */
MIMIC_API int mimic_dataset_get_inputs(const mimic_dataset *d, size_t first_row, size_t n_rows,
                                       float *out);
MIMIC_API int mimic_dataset_get_logits(const mimic_dataset *d, size_t first_row, size_t n_rows,
                                       float *out);
MIMIC_API int mimic_dataset_get_labels(const mimic_dataset *d, size_t first_row, size_t n_rows,
                                       int32_t *out);

/* Free a dataset. NULL is a no-op. Borrowed arrays are not touched; the storage is
 * released when the last view of it is freed. */
MIMIC_API void mimic_dataset_free(mimic_dataset *d);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_DATASET_H */
