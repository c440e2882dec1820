/*
 * The CLI's array files: NumPy .npy and IDX (plain or gzipped), told apart by content.
 *
 * A cli_array is a 1-D or 2-D array loaded from a file: memory-mapped when the file's bytes
 * can be used as they are (.npy '<f4' '|u1' '<i4', plain IDX), else decoded into memory
 * (gzipped IDX, '<f8' and '<i8' .npy). The library's own .npy reader is internal to it, so
 * the CLI has this small one for the cases the library's dataset loader does not cover
 * (IDX files, arrays without teacher logits, inputs for prediction).
 */
#ifndef MIMIC_CLI_ARRAYS_H
#define MIMIC_CLI_ARRAYS_H

#include <stddef.h>
#include <stdint.h>

enum cli_elem { CLI_U8 = 1, CLI_I32, CLI_I64, CLI_F32, CLI_F64 };

typedef struct cli_array {
    int elem;            /* enum cli_elem */
    int ndim;            /* 1 or 2 */
    size_t rows, cols;   /* cols = 1 for 1-D */
    const void *data;    /* rows * cols elements */
    int is_idx;          /* 1 when read from an IDX file */
    size_t image_h, image_w; /* IDX images: the items' height and width, else 0 */
    /* ownership */
    void *map;           /* mmap'ed file or NULL */
    size_t map_len;
    void *owned;         /* malloc'ed data or NULL */
} cli_array;

/* Parse a .npy header over buf[0, len): fills elem/ndim/rows/cols and *data_offset.
 * Accepts format 1.0-3.0, C order, little-endian '<f4' '<f8' '|u1' '<i4' '<i8', rank 1-2,
 * and requires exactly the declared data bytes. Returns 0, or -1 with a message in err. */
int npy_parse(const uint8_t *buf, size_t len, cli_array *out, size_t *data_offset, char *err,
              size_t errlen);

/* Load `path` (.npy or IDX, by content). Returns 0, or -1 with "PATH: problem" in err. */
int cli_array_load(const char *path, cli_array *out, char *err, size_t errlen);

/* Float32 view of a 2-D numeric array (inputs or logits): the mapped data itself for f32,
 * else a converted copy held by `a` (replaces its owned buffer). -1 with message on failure. */
int cli_array_as_f32(cli_array *a, const char *path, const float **out, char *err, size_t errlen);

/* Labels as a malloc'ed int32 array (caller frees): 1-D (or n x 1) integer array with values
 * in [0, n_classes) when n_classes > 0, else >= 0. -1 with message on failure. */
int cli_array_labels(const cli_array *a, const char *path, size_t n_classes, int32_t **out,
                     char *err, size_t errlen);

/* Largest label + 1 (0 for an empty or invalid array); used to infer the class count. */
size_t cli_labels_max_plus_one(const int32_t *labels, size_t n);

void cli_array_free(cli_array *a);

/* Content sniffing: 1 when the file starts like a .npy file, 0 otherwise or unreadable. */
int cli_file_is_npy(const char *path);

#endif
