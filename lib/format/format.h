/*
 * libmimic internals, layer 2 of 4: file formats (lib/format/).
 *
 * One parser or writer per format, each over a memory buffer + length, each fuzzed
 * (tests/fuzz/): NumPy .npy, .safetensors (with its strict JSON header reader), IDX (the
 * MNIST family), dataset manifests (JSON), and the ONNX / protocol-buffers writer. Nothing here knows what a dataset,
 * a student or a trainer is: the model layer turns these into handles. Includes only
 * common/common.h.
 */
#ifndef MIMIC_LIB_FORMAT_H
#define MIMIC_LIB_FORMAT_H

#include "common/common.h"

/* ---- .npy (npy.c) --------------------------------------------------------------------- */

/* A parsed .npy header over a memory buffer (the parser never reads past len). */
#define MIMIC__NPY_MAX_RANK 8

typedef struct mimic__npy {
    char dtype;          /* 'f' float, 'u' unsigned, 'i' signed */
    uint8_t itemsize;    /* 1, 2, 4 or 8 */
    int32_t mdtype;      /* the MIMIC_DTYPE_* */
    int ndim;            /* 1 to MIMIC__NPY_MAX_RANK (0-D is rejected) */
    size_t shape[2];     /* rows, and the values per row (the product of the other
                            dimensions; 1 for 1-D) */
    size_t dims[MIMIC__NPY_MAX_RANK - 1]; /* the dimensions after the first (a row's shape) */
    size_t count;        /* shape[0] * shape[1] */
    size_t data_offset;  /* first data byte */
    size_t data_bytes;   /* count * itemsize, checked against len */
} mimic__npy;

/* Parse and validate the header of a .npy image of `len` bytes: magic, version (1.0, 2.0,
 * 3.0), header length, the header dict (descr, fortran_order, shape), little-endian,
 * supported dtypes (<f4 <f8 <f2 |u1 <i4 <i8), rank 1 to 8, overflow-safe size, data present.
 * `name` prefixes every message. MIMIC_ERR_FORMAT / MIMIC_ERR_UNSUPPORTED on failure. */
int mimic__npy_parse(const uint8_t *buf, size_t len, const char *name, mimic__npy *out);
/* The same without the data check: buf need only hold the header (to size a file from its
 * first bytes). */
int mimic__npy_parse_header(const uint8_t *buf, size_t len, const char *name, mimic__npy *out);

/* The descr text of a parsed header ("<f4", "|u1", ...). */
const char *mimic__npy_descr(const mimic__npy *h);
/* The descr text ("<f2"; "?" for none) and the element size (0 for none) of a MIMIC_DTYPE_*:
 * one table for every reader and writer. */
const char *mimic__dtype_descr(int32_t dtype);
size_t mimic__dtype_size(int32_t dtype);

/* ---- IDX (idx.c) ----------------------------------------------------------------------- */

/* A parsed IDX header: unsigned bytes, 1-D (labels) or 3-D (images). */
typedef struct mimic__idx {
    int ndim;            /* 1 or 3 */
    uint32_t dims[3];    /* dims[0] = items; unused dims are 1 */
    size_t rows, cols;   /* items, and values per item (dims[1] * dims[2]) */
    size_t header_bytes; /* the data starts here */
    size_t data_bytes;   /* rows * cols */
} mimic__idx;

/* The header of an IDX image of `len` bytes (len may cover only the header). */
int mimic__idx_parse_header(const uint8_t *buf, size_t len, const char *name, mimic__idx *out);
/* The header, and the data exactly as declared (no more, no less). */
int mimic__idx_parse(const uint8_t *buf, size_t len, const char *name, mimic__idx *out);

/* ---- file kinds (sniff.c) ----------------------------------------------------------------- */

/* What a file is (MIMIC_FILE_*), from its bytes: magic numbers, and for .safetensors the
 * "format" key of its metadata (students and checkpoints). */
int32_t mimic__sniff(const uint8_t *buf, size_t len);

/* ---- JSON (json.c): a strict reader over untrusted bytes ------------------------------- */

typedef struct mimic__json {
    const uint8_t *start, *p, *end; /* the text; p = the next byte */
    const char *name;               /* the file, for messages */
    const char *what;               /* "safetensors header", "manifest" */
    char last[96];                  /* the last string read, truncated, for messages */
} mimic__json;

/* MIMIC_ERR_FORMAT "NAME: WHAT, byte N: problem" at the cursor. */
int mimic__json_fail(mimic__json *j, const char *problem);
void mimic__json_ws(mimic__json *j);
/* The next non-space byte (0 at the end), not consumed. */
int mimic__json_peek(mimic__json *j);
/* Consume `c` (after spaces), or fail with `what`. */
int mimic__json_expect(mimic__json *j, char c, const char *what);
/* A string: decoded (NUL-terminated) into dst when dst is not NULL, which must hold as many
 * bytes as the encoded string with its quotes; *len (optional) gets the decoded length. */
int mimic__json_string(mimic__json *j, char *dst, size_t *len, const char *what);
/* A string compared with `want` (plain ASCII) without storing it. */
int mimic__json_string_eq(mimic__json *j, const char *want, bool *eq);
/* A non-negative integer (no sign, fraction, exponent or leading zero; fits 64 bits). */
int mimic__json_uint(mimic__json *j, uint64_t *v);
/* Any value, nested at most 32 deep. */
int mimic__json_skip(mimic__json *j, int depth);
/* Consume a `null` (after spaces) when one is next. */
bool mimic__json_null(mimic__json *j);
/* `s` as a JSON string with its quotes into dst (NULL: just count), NUL-terminated; returns
 * its length without the NUL, or SIZE_MAX when s is not valid UTF-8. */
size_t mimic__json_quote(char *dst, const char *s);

/* ---- dataset manifests (manifest.c): JSON lists of shards ------------------------------ */

typedef struct mimic__manifest_shard {
    const char *inputs;          /* paths as written (NUL-terminated, in the pool) */
    const char *logits, *labels; /* or NULL */
    uint64_t rows;               /* when has_rows */
    bool has_rows;
} mimic__manifest_shard;

typedef struct mimic__manifest {
    mimic__manifest_shard *shards;
    size_t n_shards;             /* at least 1 */
    uint64_t rows;               /* the declared total, when has_rows */
    bool has_rows;
    char *pool;
} mimic__manifest;

/* Parse a manifest of `len` bytes (format in manifest.c). MIMIC_ERR_FORMAT "NAME: manifest,
 * byte N: problem" (shard problems name the shard's index), MIMIC_ERR_VERSION (another
 * version), MIMIC_ERR_NOMEM. */
int mimic__manifest_parse(const uint8_t *buf, size_t len, const char *name, mimic__manifest *out);
void mimic__manifest_free(mimic__manifest *m);
/* The text of a manifest (mimic__malloc'ed, NUL-terminated) into *out and *len. Errors:
 * MIMIC_ERR_INVALID (a path that is not UTF-8), MIMIC_ERR_NOMEM. `name` prefixes messages. */
int mimic__manifest_format(const mimic__manifest *m, const char *name, char **out, size_t *len);

/* ---- .safetensors (safetensors.c): shared by student save/load and checkpoints ---------- */

/* One F32 tensor: rows x cols (cols = 0 means 1-D of `rows` elements). When read from a
 * file, `data` is a mimic__malloc'ed aligned copy owned by the mimic__st_file. */
typedef struct mimic__st_tensor {
    const char *name;
    size_t rows, cols;
    const float *data;
} mimic__st_tensor;

/* One tensor of any dtype a student's file may hold (the typed reader and writer). */
typedef struct mimic__st_typed {
    const char *name;
    size_t rows, cols; /* as mimic__st_tensor */
    int32_t dtype;     /* MIMIC_DTYPE_F32, MIMIC_DTYPE_F16 or MIMIC_DTYPE_I8 */
    const void *data;  /* the elements in host byte order; read: 64-byte aligned, owned by the
                          mimic__st_file */
} mimic__st_typed;

typedef struct mimic__st_meta {
    const char *key;
    const char *value;
} mimic__st_meta;

/* Write tensors + string metadata as .safetensors, atomically (mimic__atomic_*): F32 tensors,
 * or tensors of their own dtype (F32, F16, I8). */
int mimic__safetensors_write(const char *path, const mimic__st_tensor *tensors, size_t n_tensors,
                             const mimic__st_meta *meta, size_t n_meta);
int mimic__safetensors_write_typed(const char *path, const mimic__st_typed *tensors,
                                   size_t n_tensors, const mimic__st_meta *meta, size_t n_meta);

/* A parsed file: everything owned by it, released by mimic__st_close. */
typedef struct mimic__st_file {
    mimic__st_tensor *tensors; /* typed parses: `data` is NULL for a tensor that is not F32 */
    mimic__st_typed *typed;    /* typed parses and headers: the same tensors with their dtype;
                                  else NULL */
    size_t n_tensors;
    mimic__st_meta *meta;
    size_t n_meta;
} mimic__st_file;

/* Parse untrusted bytes (JSON header + data): bad JSON, offsets out of range or overlapping,
 * dtype other than F32, rank > 2, duplicate names: MIMIC_ERR_FORMAT naming `name`. The typed
 * parse (students) also takes F16 and I8 tensors. */
int mimic__safetensors_parse(const uint8_t *buf, size_t len, const char *name, mimic__st_file *out);
int mimic__safetensors_parse_typed(const uint8_t *buf, size_t len, const char *name,
                                   mimic__st_file *out);
int mimic__safetensors_read(const char *path, mimic__st_file *out);
/* The header only (metadata, tensor names, dtypes and shapes; every tensor's data is NULL),
 * checked as by mimic__safetensors_parse_typed but without copying the data. */
int mimic__safetensors_parse_header(const uint8_t *buf, size_t len, const char *name,
                                    mimic__st_file *out);
const mimic__st_tensor *mimic__st_find(const mimic__st_file *f, const char *name);
/* A typed parse's tensor called `name`, or NULL. */
const mimic__st_typed *mimic__st_find_typed(const mimic__st_file *f, const char *name);
const char *mimic__st_meta_get(const mimic__st_file *f, const char *key);
void mimic__st_close(mimic__st_file *f);

/* ---- ONNX (onnx.c, over the protobuf writer in protobuf.c) -------------------------------- */

/* An ONNX graph to write: initializers (float32, float16 or int8), nodes, one float32 input
 * and one output of shape [batch, width] (batch symbolic), metadata. The caller
 * (model/student_onnx.c) builds it; the writer knows only onnx.proto. Strings and tensor
 * data are borrowed. */
typedef struct mimic__onnx_tensor {
    const char *name;
    int64_t dims[2];
    int ndim;
    int32_t dtype;    /* MIMIC_DTYPE_F32, MIMIC_DTYPE_F16 or MIMIC_DTYPE_I8 */
    const void *data; /* count elements of dtype */
    size_t count;
    size_t transpose_cols; /* float32 only: > 0: data is (dims[1] x dims[0]), written
                              transposed */
} mimic__onnx_tensor;

typedef struct mimic__onnx_node {
    const char *op;
    const char *name;
    const char *in[3];
    int n_in;
    const char *out;
    const char *attr; /* one integer attribute ("transB", "to", "axis"), or NULL */
    int64_t attr_value;
} mimic__onnx_node;

typedef struct mimic__onnx_value {
    const char *name;
    int64_t width; /* [batch, width] */
} mimic__onnx_value;

typedef struct mimic__onnx_entry {
    const char *key;
    char value[32];
} mimic__onnx_entry;

#define MIMIC__ONNX_MAX_TENSORS 16
#define MIMIC__ONNX_MAX_NODES 24
#define MIMIC__ONNX_MAX_META 8

typedef struct mimic__onnx_model {
    const char *graph_name;
    mimic__onnx_tensor tensors[MIMIC__ONNX_MAX_TENSORS];
    size_t n_tensors;
    mimic__onnx_node nodes[MIMIC__ONNX_MAX_NODES];
    size_t n_nodes;
    mimic__onnx_value input, output;
    mimic__onnx_entry meta[MIMIC__ONNX_MAX_META];
    size_t n_meta;
    char doc[160];
} mimic__onnx_model;

/* Write `m` as a ModelProto (IR version 7, opset 13, producer "libmimic") at `path`,
 * atomically. MIMIC_ERR_UNSUPPORTED past protobuf's 2 GiB limit (checked before writing). */
int mimic__onnx_write(const char *path, const mimic__onnx_model *m);

#endif /* MIMIC_LIB_FORMAT_H */
