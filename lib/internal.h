/*
 * libmimic internals shared across lib/ files. Nothing here is exported from the shared
 * object (hidden visibility); tests reach these through the static library.
 * Naming: mimic__<name> for cross-file internals; everything else is static.
 */
#ifndef MIMIC_INTERNAL_H
#define MIMIC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mimic.h"

#if defined(__GNUC__)
#define MIMIC__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MIMIC__PRINTF(f, a)
#endif

/* ---- errors (status.c) ---------------------------------------------------------------- */

/* Set the thread's last-error message (printf-style) and return `status`. Never allocates.
 * Usage: return mimic__error(MIMIC_ERR_SHAPE, "%s: %zu rows, but %s has %zu", ...); */
int mimic__error(int status, const char *fmt, ...) MIMIC__PRINTF(2, 3);

/* ---- allocation (alloc.c): every allocation of the library goes through these ---------- */

void *mimic__malloc(size_t n);             /* NULL on failure or n == 0 -> minimal block */
void *mimic__calloc(size_t count, size_t size); /* overflow-checked */
void *mimic__aligned_alloc(size_t n);      /* 64-byte aligned; free with mimic__free */
void mimic__free(void *p);
char *mimic__strdup(const char *s);

/* Test hook: make the n-th allocation from now on (1-based) on this thread fail, and every
 * one after it until reset; n = 0 disables injection. Returns the number of allocations
 * made on this thread since the last call, so a test can loop n = 1, 2, ... until the call
 * under test makes fewer allocations than n. */
uint64_t mimic__alloc_fail_at(uint64_t n);

/* ---- hot elementwise loops ----------------------------------------------------------------
 * MIMIC__HOT on a function with plain elementwise loops: one clone per instruction set
 * (AVX-512, AVX2, baseline), picked at load time from the CPU (not from BLAS's CPU detection),
 * and GCC's loop vectorizer on at -O2. Results are bitwise the same in every clone: the
 * loops have no reductions, and FMA contraction is off (GCC: -std=c11 implies
 * -ffp-contract=off; clang: the FP_CONTRACT pragma in the files that use this). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MIMIC__HOT                                                                         \
    __attribute__((target_clones("avx512f", "avx2", "default"),                           \
                   optimize("tree-vectorize", "vect-cost-model=dynamic")))
#endif
#elif defined(__x86_64__) && defined(__clang__) && defined(__has_attribute)
/* Not under TSan: the ifunc resolvers run before its runtime starts and crash at load. */
#if __has_attribute(target_clones) && !defined(__SANITIZE_ADDRESS__) && \
    !__has_feature(thread_sanitizer)
#define MIMIC__HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#define MIMIC__HOT_CLANG_CLONES 1
#endif
#endif
#if !defined(MIMIC__HOT) && defined(__GNUC__) && !defined(__clang__)
#define MIMIC__HOT __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#endif
#ifndef MIMIC__HOT
#define MIMIC__HOT
#endif
/* MIMIC__HOT_NOINLINE: the same, never inlined into its caller (which changes MXCSR around
 * the call). Clang rejects noinline beside target_clones; its clones are reached through an
 * ifunc and so are never inlined anyway. */
#if defined(MIMIC__HOT_CLANG_CLONES) || !defined(__GNUC__)
#define MIMIC__HOT_NOINLINE MIMIC__HOT
#else
#define MIMIC__HOT_NOINLINE MIMIC__HOT __attribute__((noinline))
#endif

/* ---- checked arithmetic ------------------------------------------------------------- */

static inline bool mimic__mul_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool mimic__add_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

/* ---- options structs (options.c) ------------------------------------------------------ */

/* Copy a caller's versioned struct (first field size_t struct_size) into `dst` of the
 * library's size `ours`, which the caller has pre-filled with defaults. A smaller caller
 * struct keeps our defaults for the tail; a larger one is accepted only when its unknown
 * tail is all zero (else MIMIC_ERR_VERSION). `what` names the struct in messages. */
int mimic__options_copy(void *dst, size_t ours, const void *src, const char *what);

/* ---- files (fileio.c) --------------------------------------------------------------- */

/* A read-only mapping of a whole file (or, for empty files, no mapping). */
typedef struct mimic__map {
    const uint8_t *data;
    size_t size;
} mimic__map;

int mimic__map_file(const char *path, mimic__map *out); /* MIMIC_ERR_IO with message */
void mimic__unmap(mimic__map *m);

/* Atomic file writing: open a temp file beside `path`, write, then commit (fsync, rename,
 * fsync the directory) or abort (unlink). An existing file at `path` is untouched until the
 * commit's rename. */
typedef struct mimic__atomic_file {
    int fd;
    char *path;
    char *tmp_path;
} mimic__atomic_file;

int mimic__atomic_open(mimic__atomic_file *f, const char *path);
int mimic__atomic_write(mimic__atomic_file *f, const void *data, size_t n);
int mimic__atomic_commit(mimic__atomic_file *f); /* frees f's strings in every case */
void mimic__atomic_abort(mimic__atomic_file *f);

/* ---- random numbers (rng.c): counter-free, state in the handle ------------------------- */

typedef struct mimic__rng {
    uint64_t s[4]; /* xoshiro256** */
} mimic__rng;

void mimic__rng_seed(mimic__rng *r, uint64_t seed); /* splitmix64 expansion */
uint64_t mimic__rng_next(mimic__rng *r);
double mimic__rng_uniform(mimic__rng *r);             /* [0, 1) */
double mimic__rng_normal(mimic__rng *r);              /* standard normal */
uint64_t mimic__rng_below(mimic__rng *r, uint64_t n); /* uniform in [0, n), unbiased */
uint64_t mimic__hash64(uint64_t a, uint64_t b);       /* stateless: 64 mixed bits of (a, b) */

/* ---- datasets (dataset.c) ----------------------------------------------------------- */

#define MIMIC__MAGIC_DATASET 0x4d444154u /* "MDAT" */
#define MIMIC__MAGIC_STUDENT 0x4d535455u /* "MSTU" */
#define MIMIC__MAGIC_TRAINER 0x4d545241u /* "MTRA" */
#define MIMIC__MAGIC_DEAD 0xdeadbeefu

typedef struct mimic__storage mimic__storage; /* refcounted owner of mapped/copied arrays */

struct mimic_dataset {
    uint32_t magic;
    int32_t input_dtype;  /* MIMIC_DTYPE_F32 or MIMIC_DTYPE_U8 */
    size_t rows, n_inputs, n_classes;
    const void *inputs;   /* row 0 of this view; rows x n_inputs of input_dtype */
    const float *logits;  /* rows x n_classes, or NULL */
    const int32_t *labels; /* rows, or NULL */
    mimic__storage *storage; /* NULL for a wrap without anything owned */
};

/* Validates a handle: returns MIMIC_OK, or sets an error naming `arg` and returns
 * MIMIC_ERR_MISUSE. */
int mimic__dataset_check(const mimic_dataset *d, const char *arg);

/* ---- students (student.c) ---------------------------------------------------------- */

/* Trainable parameters live in one flat float array, in this order:
 *   bottleneck.weight (k x D, if k > 0), hidden.weight (H x k'), hidden.bias (H),
 *   output.weight (C x H), output.bias (C)          with k' = k ? k : D.
 * Gradients and optimizer state use the same layout, so the optimizer is one loop. */
typedef struct mimic__layout {
    size_t D, H, k, C, kin; /* kin = k ? k : D (hidden layer's input width) */
    size_t off_bottleneck, off_hidden_w, off_hidden_b, off_output_w, off_output_b;
    size_t n_params;
} mimic__layout;

struct mimic_student {
    uint32_t magic;
    mimic_student_options opts;
    mimic__layout L;
    float *params;    /* n_params floats, 64-byte aligned */
    float *in_mean;   /* D floats or NULL (no input normalization) */
    float *in_scale;  /* D floats or NULL */
};

int mimic__student_check(const mimic_student *s, const char *arg);
/* Fill a layout from sizes; MIMIC_ERR_RANGE on overflow. */
int mimic__layout_init(mimic__layout *L, size_t D, size_t H, size_t k, size_t C);

/* Floats of workspace the forward/backward pass needs for `rows` rows:
 * z (rows x k, only if k > 0), h (rows x H), logits (rows x C). */
size_t mimic__student_ws_floats(const mimic__layout *L, size_t rows);

/* Inverted dropout on the hidden activations, for one training step. Unit j of batch row r
 * (index i = r * H + j, which must fit in 32 bits) is kept when
 * mimic__dropout_bits(i, k0, k1) >= threshold, i.e. with probability 1 - threshold / 2^32;
 * kept activations are multiplied by `scale` = 1 / keep, dropped ones are 0. The mask is a
 * pure function of (key, index): the backward pass recomputes it instead of storing it, and
 * a resumed run draws the same masks. */
typedef struct mimic__dropout {
    uint32_t k0, k1;      /* the step's key */
    uint32_t threshold;   /* round(p * 2^32) */
    float scale;          /* 1 / keep */
    float keep;           /* 1 - p */
} mimic__dropout;

/* The dropout of rate p in [0, 1) with a 64-bit key (p = 0 keeps every unit; callers pass
 * NULL instead to skip the mask altogether). */
void mimic__dropout_init(mimic__dropout *d, double p, uint64_t key);

/* 32 well-mixed bits of (index, key): two rounds of a 32-bit integer hash (multiply and
 * xor-shift; vectorizes). */
static inline uint32_t mimic__dropout_bits(uint32_t i, uint32_t k0, uint32_t k1)
{
    uint32_t x = i ^ k0;
    for (int round = 0; round < 2; round++) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        x += k1;
    }
    return x;
}

/* Forward pass on already-normalized inputs x (rows x D) with parameters `params` (flat
 * layout): z = x V^T (if k), h = f(z W_hid^T + b_hid), logits = h W_out^T + b_out.
 * `ws` holds mimic__student_ws_floats floats; on return *z_out, *h_out, *logits_out point
 * into it (z_out may be NULL when k = 0). With `dropout` (training; NULL = none) h holds the
 * dropped and rescaled activations that the logits were computed from. No allocation. */
void mimic__student_forward_ws(const mimic__layout *L, int32_t activation, const float *params,
                               const float *x, size_t rows, const mimic__dropout *dropout,
                               float *ws, float **z_out, float **h_out, float **logits_out);

/* Backward pass for the activations of the matching forward call (same `dropout`): given
 * dlogits (rows x C, dL/dlogits), write dL/dparams into `grads` (flat layout, overwritten).
 * h is overwritten with dL/d(pre-activation); `dz` is a scratch of rows x k floats (if k).
 * No gradient for the raw inputs. No allocation. */
void mimic__student_backward_ws(const mimic__layout *L, int32_t activation, const float *params,
                                const float *x, size_t rows, const mimic__dropout *dropout,
                                const float *z, float *h, const float *dlogits, float *dz,
                                float *grads);

/* Normalize rows of raw inputs (f32 or u8) into dst (rows x D floats):
 * dst = (x - mean) * scale, or a plain conversion when mean/scale are NULL. */
void mimic__normalize_rows(const float *mean, const float *scale, size_t D, const void *src,
                           int32_t src_dtype, size_t rows, float *dst);

/* A deep copy (for best-weights snapshots, last-good restore). */
int mimic__student_clone(const mimic_student *s, mimic_student **out);

/* ---- .npy (npy.c) --------------------------------------------------------------------- */

/* A parsed .npy header over a memory buffer (the parser never reads past len). */
typedef struct mimic__npy {
    char dtype;          /* 'f' float, 'u' unsigned, 'i' signed */
    uint8_t itemsize;    /* 1, 4 or 8 */
    int ndim;            /* 1 or 2 (0-D and >2-D are rejected) */
    size_t shape[2];     /* shape[1] = 1 for 1-D */
    size_t count;        /* shape[0] * shape[1] */
    size_t data_offset;  /* first data byte */
    size_t data_bytes;   /* count * itemsize, checked against len */
} mimic__npy;

/* Parse and validate the header of a .npy image of `len` bytes: magic, version (1.0, 2.0,
 * 3.0), header length, the header dict (descr, fortran_order, shape), little-endian,
 * supported dtypes (<f4 <f8 |u1 <i4 <i8), rank 1 or 2, overflow-safe size, data present.
 * `name` prefixes every message. MIMIC_ERR_FORMAT / MIMIC_ERR_UNSUPPORTED on failure. */
int mimic__npy_parse(const uint8_t *buf, size_t len, const char *name, mimic__npy *out);

/* ---- safetensors (safetensors.c): shared by student save/load and checkpoints ---------- */

/* One F32 tensor: rows x cols (cols = 0 means 1-D of `rows` elements). When read from a
 * file, `data` is a mimic__malloc'ed aligned copy owned by the mimic__st_file. */
typedef struct mimic__st_tensor {
    const char *name;
    size_t rows, cols;
    const float *data;
} mimic__st_tensor;

typedef struct mimic__st_meta {
    const char *key;
    const char *value;
} mimic__st_meta;

/* Write tensors + string metadata as .safetensors, atomically (mimic__atomic_*). */
int mimic__safetensors_write(const char *path, const mimic__st_tensor *tensors, size_t n_tensors,
                             const mimic__st_meta *meta, size_t n_meta);

/* A parsed file: everything owned by it, released by mimic__st_close. */
typedef struct mimic__st_file {
    mimic__st_tensor *tensors;
    size_t n_tensors;
    mimic__st_meta *meta;
    size_t n_meta;
} mimic__st_file;

/* Parse untrusted bytes (JSON header + data): bad JSON, offsets out of range or overlapping,
 * dtype other than F32, rank > 2, duplicate names: MIMIC_ERR_FORMAT naming `name`. */
int mimic__safetensors_parse(const uint8_t *buf, size_t len, const char *name, mimic__st_file *out);
int mimic__safetensors_read(const char *path, mimic__st_file *out);
const mimic__st_tensor *mimic__st_find(const mimic__st_file *f, const char *name);
const char *mimic__st_meta_get(const mimic__st_file *f, const char *key);
void mimic__st_close(mimic__st_file *f);

/* ---- ONNX export (onnx.c) ------------------------------------------------------------ */

/* Layouts of the linear layers in an exported graph: Gemm(transB=1) on the PyTorch weights
 * (what mimic_student_export_onnx writes), or MatMul on transposed weights + Add (kept for
 * the latency benchmark's comparison). */
enum { MIMIC__ONNX_GEMM = 0, MIMIC__ONNX_MATMUL = 1 };
int mimic__onnx_export(const mimic_student *s, const char *path, int layout);

#endif /* MIMIC_INTERNAL_H */
