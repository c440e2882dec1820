/*
 * libmimic: what a file is, and the metadata of .safetensors files.
 *
 * Every loader checks the kind of the file it is handed first, so that a wrong file gets
 * "x.npy: this is a NumPy .npy array, not a libmimic student (.safetensors)" rather than a
 * parser's complaint about its bytes. Programs can ask the same question
 * (mimic_file_identify) and read the metadata of students and checkpoints (what `mimic
 * info` shows) without loading their tensors.
 */
#ifndef MIMIC_FILE_H
#define MIMIC_FILE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File kinds (int32_t). */
enum mimic_file_kind {
    MIMIC_FILE_UNKNOWN = 0,     /* none of the below */
    MIMIC_FILE_EMPTY = 1,       /* 0 bytes */
    MIMIC_FILE_NPY = 2,         /* a NumPy .npy array */
    MIMIC_FILE_IDX = 3,         /* an IDX array (the MNIST family), uncompressed */
    MIMIC_FILE_GZIP = 4,        /* gzip-compressed data (libmimic does not decompress) */
    MIMIC_FILE_STUDENT = 5,     /* a libmimic student (.safetensors, mimic_student_save) */
    MIMIC_FILE_CHECKPOINT = 6,  /* a libmimic trainer checkpoint (.safetensors) */
    MIMIC_FILE_SAFETENSORS = 7, /* another .safetensors file */
    MIMIC_FILE_ONNX = 8,        /* an ONNX model (protobuf ModelProto) */
    MIMIC_FILE_MANIFEST = 9     /* a dataset manifest (JSON; since 1.3) */
};

/* The kind of the file at `path`, from its first bytes (and for .safetensors from the
 * "format" key of its metadata). A file that merely starts like a kind may still fail to
 * load. Errors: MIMIC_ERR_INVALID (NULL arguments), MIMIC_ERR_IO (cannot open or read). */
MIMIC_API int mimic_file_identify(const char *path, int32_t *kind);

/* "a NumPy .npy array", "a libmimic student (.safetensors)", ... (static text; "a file of
 * unknown format" for values that are not a MIMIC_FILE_*). */
MIMIC_API const char *mimic_file_kind_name(int32_t kind);

/* The header of a .safetensors file: its "__metadata__" strings and its tensors' names and
 * shapes, read without the tensor data. Immutable; may be shared across threads. */
typedef struct mimic_metadata mimic_metadata;

/* Read the header of the .safetensors file at `path` (a student, a checkpoint or any other).
 * The file is untrusted input. Errors: MIMIC_ERR_INVALID, MIMIC_ERR_IO, MIMIC_ERR_FORMAT
 * (malformed; a file of another kind is named as such), MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_metadata_read(mimic_metadata **out, const char *path);
/* The number of metadata entries, and entry i (0-based, in file order): NULL key/value when i
 * is out of range or m is invalid. */
MIMIC_API size_t mimic_metadata_count(const mimic_metadata *m);
MIMIC_API const char *mimic_metadata_key(const mimic_metadata *m, size_t i);
MIMIC_API const char *mimic_metadata_value(const mimic_metadata *m, size_t i);
/* The value of `key`, or NULL. */
MIMIC_API const char *mimic_metadata_get(const mimic_metadata *m, const char *key);
/* The number of tensors, and tensor i's name and shape (1-D: cols = 0). Errors:
 * MIMIC_ERR_MISUSE, MIMIC_ERR_RANGE. */
MIMIC_API size_t mimic_metadata_tensor_count(const mimic_metadata *m);
MIMIC_API int mimic_metadata_tensor(const mimic_metadata *m, size_t i, const char **name,
                                    size_t *rows, size_t *cols);
/* The file's kind (MIMIC_FILE_STUDENT, _CHECKPOINT or _SAFETENSORS). */
MIMIC_API int32_t mimic_metadata_kind(const mimic_metadata *m);
MIMIC_API void mimic_metadata_free(mimic_metadata *m);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_FILE_H */
