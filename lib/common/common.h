/*
 * libmimic internals, layer 1 of 4: common (lib/common/).
 *
 * What every other layer uses and nothing here knows about files formats, models or
 * training: the error slot, the allocation wrapper, checked arithmetic, the SIMD clone
 * attributes, versioned-struct copying, file mapping and atomic writes, random numbers and
 * hashes, byte order, small helpers. Includes only the public headers and libc.
 *
 * Layers (docs/ARCHITECTURE.md): common <- format <- model <- train. A layer includes its
 * own header and the headers of the layers below it, never one above. Nothing declared in
 * these headers is exported from the shared object (hidden visibility); tests reach them
 * through the static library.
 * Naming: mimic__<name> for cross-file internals; everything else is static.
 */
#ifndef MIMIC_LIB_COMMON_H
#define MIMIC_LIB_COMMON_H

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mimic.h"

#if defined(__GNUC__)
#define MIMIC__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MIMIC__PRINTF(f, a)
#endif

#define MIMIC__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors (status.c) ---------------------------------------------------------------- */

/* Set the thread's last-error message (printf-style) and return `status`. Never allocates.
 * Usage: return mimic__error(MIMIC_ERR_SHAPE, "%s: %zu rows, but %s has %zu", ...); */
int mimic__error(int status, const char *fmt, ...) MIMIC__PRINTF(2, 3);

/* The thread's current message, for prefixing it ("%s: bad architecture: %s"): copies it
 * into buf (cap bytes), so the next mimic__error can overwrite the slot. Returns buf. */
const char *mimic__error_copy(char *buf, size_t cap);

/* ---- allocation (alloc.c): every allocation of the library goes through these ---------- */

void *mimic__malloc(size_t n);             /* NULL on failure or n == 0 -> minimal block */
void *mimic__calloc(size_t count, size_t size); /* overflow-checked */
void *mimic__aligned_alloc(size_t n);      /* 64-byte aligned; free with mimic__free */
void mimic__free(void *p);
char *mimic__strdup(const char *s);
/* An aligned float buffer of a * b elements, NULL on overflow or failure. */
float *mimic__falloc(size_t a, size_t b);

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

/* Instruction sets of the hand-written kernels (model/matvec.c, model/gemm.c), each a set of functions
 * written for it with its own register width, chosen at run time rather than by
 * target_clones: a test or benchmark can call every one on any CPU that has it. */
enum { MIMIC__ISA_PORTABLE = 0, MIMIC__ISA_AVX2 = 1, MIMIC__ISA_AVX512 = 2, MIMIC__ISA_COUNT };
/* The best of them this CPU and OS support (cpu.c, CPUID and XGETBV, cached): AVX2 needs
 * AVX2, FMA and F16C (which every AVX2 CPU has); AVX512 needs those and AVX512F. */
int mimic__cpu_isa(void);

/* ---- threads of our own (pool.c) -------------------------------------------------------
 * A pool is made only when a caller asks for more than one thread; NULL is "the calling
 * thread alone" everywhere. A job is n chunks that any thread may run, in any order: split
 * work so that every assignment gives the same bits (by rows or by output units). */
typedef struct mimic__pool mimic__pool;
/* Chunk `i` of `n` of a job. */
typedef void (*mimic__pool_fn)(void *ctx, size_t i, size_t n);
#define MIMIC__POOL_MAX_CHUNKS 65535
/* A pool of `threads` threads in all: threads - 1 workers are started (none, and *out NULL,
 * for 0 or 1). Idle workers spin for `spin_s` seconds (with `yield`, calling sched_yield
 * rather than pausing, so that other threads runnable on their core go first), then sleep.
 * Errors:
 * MIMIC_ERR_INVALID (more than 1024 threads), MIMIC_ERR_NOMEM (memory or a thread). */
int mimic__pool_create(mimic__pool **out, size_t threads, double spin_s, bool yield);
/* Stops and joins the workers. NULL is a no-op. */
void mimic__pool_free(mimic__pool *p);
/* Threads in all (1 for NULL). */
size_t mimic__pool_threads(const mimic__pool *p);
/* Run fn(ctx, i, n) for every i < n (n <= MIMIC__POOL_MAX_CHUNKS), each on whichever of the
 * calling thread and the workers claims it first, and return when all are done. Runs
 * fn(ctx, 0, 1) on the calling thread instead when the pool is NULL, n is 1, another
 * caller's job holds the workers, or the pool was started by another process (a fork).
 * Thread-safe. */
void mimic__pool_for(mimic__pool *p, size_t n, mimic__pool_fn fn, void *ctx);
/* Chunk i of n of [0, len) as [*begin, *end): contiguous, in order, balanced, in blocks of 4
 * when the chunks are longer than 8. */
void mimic__split(size_t len, size_t i, size_t n, size_t *begin, size_t *end);
/* Chunk i of n of [0, len) in whole blocks of `align` (a power of two; the last chunk ends at
 * len): e.g. whole cache lines of a float array with align 16. */
void mimic__split_aligned(size_t len, size_t i, size_t n, size_t align, size_t *begin, size_t *end);
/* How many chunks to cut `units` units of `unit_bytes` bytes each into on `p`: 1 without a
 * pool; otherwise as many as keep every chunk at `min_bytes` or more, at most 4 per thread
 * (claimed one by one, so a thread the OS does not schedule stalls no one for long). */
size_t mimic__pool_chunks(const mimic__pool *p, size_t units, size_t unit_bytes, size_t min_bytes);

/* ---- checked arithmetic ------------------------------------------------------------- */

static inline bool mimic__mul_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool mimic__add_ok(size_t a, size_t b, size_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

/* ---- versioned structs (versioned.c): first field size_t struct_size (libbpf's *_opts) -- */

/* Copy a caller's versioned struct into `dst` of the library's size `ours`, which the
 * caller has pre-filled with defaults. A smaller caller struct keeps our defaults for the
 * tail; a larger one is accepted only when its unknown tail is all zero (else
 * MIMIC_ERR_VERSION). `what` names the struct in messages. */
int mimic__struct_copy_in(void *dst, size_t ours, const void *src, const char *what);

/* Write the library's `full` struct (ours bytes, struct_size field ignored) into a caller
 * struct of `struct_size` bytes: only that many bytes are touched, a tail the library does
 * not know is zeroed, and the caller's struct_size is kept. The _init functions and every
 * call that fills a caller's struct (get_options, evaluate, get_report) use it. */
void mimic__struct_copy_out(void *dst, size_t struct_size, const void *full, size_t ours);

/* Checks a caller's output struct: MIMIC_OK, or MIMIC_ERR_INVALID naming `fn` and `init`
 * (the _init function to call) when it is NULL or its struct_size is unset. */
int mimic__struct_check_out(const void *out, const char *fn, const char *init);

/* ---- option tables (optable.c) ---------------------------------------------------------
 * Each options struct is described by one table of mimic__opt rows (student options in
 * model/student.c, train options in train/options.c); defaults, validation of each field's
 * type and bounds, text parsing, introspection (include/mimic/options.h) and the
 * checkpoint identity all come from it. */

enum {
    MIMIC__OPT_MIN_EXCL = 1u,    /* bounds: value > min (else >= min) */
    MIMIC__OPT_MAX_EXCL = 2u,    /* bounds: value < max (else <= max) */
    MIMIC__OPT_SHAPES_RUN = 4u,  /* flags: part of a checkpoint's identity */
    MIMIC__OPT_IDENT_SPARSE = 8u /* flags: a checkpoint records the key only when its value
                                    is not `absent`, so runs that leave the option off write
                                    the checkpoints they wrote before it existed (a resume
                                    still compares it, reading a missing key as `absent`) */
};

/* Bounds of a row, one of these per row (designated initializers may not repeat a field). */
#define MIMIC__ANY .min = -HUGE_VAL, .max = HUGE_VAL
#define MIMIC__GE(a) .min = (a), .max = HUGE_VAL
#define MIMIC__GT(a) .min = (a), .max = HUGE_VAL, .bounds = MIMIC__OPT_MIN_EXCL
#define MIMIC__IN(a, b) .min = (a), .max = (b)
#define MIMIC__IN_HALF(a, b) .min = (a), .max = (b), .bounds = MIMIC__OPT_MAX_EXCL

typedef struct mimic__opt {
    const char *name;        /* the field */
    int32_t type;            /* MIMIC_OPTION_* */
    size_t offset, size;
    double def;              /* default of numbers, bools and enums */
    double min, max;         /* bounds (numbers), -HUGE_VAL / HUGE_VAL when open */
    uint32_t bounds;         /* MIMIC__OPT_MIN_EXCL | MIMIC__OPT_MAX_EXCL */
    uint32_t flags;          /* MIMIC__OPT_SHAPES_RUN */
    int32_t since;           /* MIMIC_VERSION_NUMBER that added it; 0 = 1.0.0 */
    const char *flag;        /* CLI flag, or NULL */
    const char *metavar;
    const char *help;
    const char *default_text;
    const char *note;        /* added to range messages, e.g. "0 = the default" */
    /* ENUM: the k-th choice's name (its value in *v), NULL past the last; the C prefix of
     * the values for messages ("MIMIC_LOSS_") */
    const char *(*choice)(size_t k, int32_t *v);
    const char *enum_prefix;
    /* checkpoint identity (SHAPES_RUN): the key (NULL = "opt." + name), the text of the
     * value (NULL = the field's value), and what a key that an older checkpoint lacks
     * means (NULL = the key is required) */
    const char *ident_key;
    void (*ident)(const void *opts, char *buf, size_t cap);
    const char *absent;
    /* why the option has no effect with the other options, or NULL when it has one */
    const char *(*unused)(const void *opts, char *buf, size_t cap);
} mimic__opt;

/* The rows of one topic, defined beside the code that reads them (the loss's options in
 * model/loss.c, the optimizer's in train/optimizer.c, ...). */
typedef struct mimic__opt_group {
    const char *heading;     /* what they are about: --help's heading ("optimizer") */
    const mimic__opt *rows;
    size_t n;
} mimic__opt_group;

/* A struct's table: its groups, in the order introspection and --help list them. */
typedef struct mimic__optable {
    const char *what;        /* message prefix: "options", "student_options" */
    const mimic__opt_group *const *groups;
    size_t n_groups;
} mimic__optable;

/* A row of a mimic_train_options table: the field's name, type, offset and size. */
#define MIMIC__TRAIN_ROW(field, type_)                                                          \
    .name = #field, .type = MIMIC_OPTION_##type_,                                              \
    .offset = offsetof(mimic_train_options, field),                                            \
    .size = sizeof(((mimic_train_options *)0)->field)
/* The row's value is part of a checkpoint's identity. */
#define MIMIC__SHAPES_RUN .flags = MIMIC__OPT_SHAPES_RUN
/* ... recorded only when its value is not the row's `absent` (MIMIC__OPT_IDENT_SPARSE). */
#define MIMIC__SHAPES_RUN_SPARSE .flags = MIMIC__OPT_SHAPES_RUN | MIMIC__OPT_IDENT_SPARSE

/* The number of rows, and row i (with its group's heading in *heading when not NULL). */
size_t mimic__opt_count(const mimic__optable *t);
const mimic__opt *mimic__opt_at(const mimic__optable *t, size_t i, const char **heading);

/* For an option that only some values of an enum field read (momentum: the optimizer sgd):
 * "it applies to options.OWNER a or b, and options.OWNER is CURRENT" into buf, listing the
 * choices c of `owner_choice` for which reads(c, field) holds. Returns buf. */
const char *mimic__opt_applies_to(char *buf, size_t cap, const char *field, const char *owner,
                                  const char *current,
                                  const char *(*owner_choice)(size_t, int32_t *),
                                  bool (*reads)(int32_t value, const char *field));
/* Defines unused_FIELD, the `unused` rule of a field that only some losses, optimizers or
 * schedules read: by_owner(opts, "FIELD", buf, cap) (e.g. unused_by_optimizer in
 * train/optimizer.c, which ends in mimic__opt_applies_to). */
#define MIMIC__UNUSED_BY(by_owner, field)                                                          \
    static const char *unused_##field(const void *p, char *buf, size_t cap)                        \
    {                                                                                              \
        return by_owner(p, #field, buf, cap);                                                      \
    }

/* Fill `dst` (the library's full struct) with the table's defaults; other bytes zero. */
void mimic__opt_defaults(const mimic__optable *t, void *dst, size_t size);
/* Check one field's value against its type and bounds; the message names it. */
int mimic__opt_check(const mimic__optable *t, const mimic__opt *o, const void *opts);
/* Check every field. */
int mimic__opt_validate(const mimic__optable *t, const void *opts);
/* The row called `name` (field name or CLI flag), or NULL with MIMIC_ERR_INVALID set. */
const mimic__opt *mimic__opt_find(const mimic__optable *t, const char *name);
/* The index of the row called `name` (the public _option_find). */
int mimic__opt_index(const mimic__optable *t, const char *name, size_t *index);
/* Set a field from text, checked; opts unchanged on failure. */
int mimic__opt_set(const mimic__optable *t, void *opts, const char *name, const char *text);
/* The public description of row i. */
int mimic__opt_info(const mimic__optable *t, size_t i, void *out);
int mimic__opt_choice(const mimic__optable *t, size_t i, size_t k, const char **name,
                      int32_t *value);
/* The name of value v of an ENUM row ("?" when unknown). */
const char *mimic__opt_choice_name(const mimic__opt *o, int32_t v);
/* The field's value as a double (numbers, bools, enums). */
double mimic__opt_number(const mimic__opt *o, const void *opts);
/* The checkpoint identity text of a SHAPES_RUN row: integers in decimal, doubles as %.17g
 * (exact through strtod). */
void mimic__opt_ident(const mimic__opt *o, const void *opts, char *buf, size_t cap);

/* ---- handles ------------------------------------------------------------------------- */

#define MIMIC__MAGIC_DATASET 0x4d444154u /* "MDAT" */
#define MIMIC__MAGIC_STUDENT 0x4d535455u /* "MSTU" */
#define MIMIC__MAGIC_TRAINER 0x4d545241u /* "MTRA" */
#define MIMIC__MAGIC_ARRAY 0x4d415252u   /* "MARR" */
#define MIMIC__MAGIC_META 0x4d4d4554u    /* "MMET" */
#define MIMIC__MAGIC_NPY_WRITER 0x4e505957u /* "NPYW" */
#define MIMIC__MAGIC_MANIFEST_WRITER 0x4d4d4657u /* "MMFW" */
#define MIMIC__MAGIC_DEAD 0xdeadbeefu

/* A handle's magic word against `want`: MIMIC_OK, or MIMIC_ERR_MISUSE naming `arg` and
 * `kind` ("dataset") for NULL, freed and wrong-typed handles. */
int mimic__handle_check(const void *h, uint32_t magic, uint32_t want, const char *arg,
                        const char *kind);

/* ---- files (fileio.c) --------------------------------------------------------------- */

/* A read-only mapping of a whole file (or, for empty files, no mapping). */
typedef struct mimic__map {
    const uint8_t *data;
    size_t size;
} mimic__map;

int mimic__map_file(const char *path, mimic__map *out); /* MIMIC_ERR_IO with message */
void mimic__unmap(mimic__map *m);
bool mimic__file_exists(const char *path);
/* The file's identity (device, inode): two paths to one file have the same; false when it
 * cannot be stat'ed. */
bool mimic__file_id(const char *path, uint64_t id[2]);

/* A reference-counted owner of bytes: a file mapping or an aligned copy. Arrays and the
 * datasets made from them share one, so either can be freed first. */
typedef struct mimic__blob mimic__blob;

int mimic__blob_map(const char *path, mimic__blob **out);
int mimic__blob_copy(const void *data, size_t n, const char *name, mimic__blob **out);
const uint8_t *mimic__blob_data(const mimic__blob *b);
size_t mimic__blob_size(const mimic__blob *b);
void mimic__blob_retain(mimic__blob *b);
void mimic__blob_release(mimic__blob *b); /* NULL is a no-op */

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
/* Overwrite n bytes at `offset` of what was written (a header fixed at the end). */
int mimic__atomic_pwrite(mimic__atomic_file *f, const void *data, size_t n, uint64_t offset);
int mimic__atomic_commit(mimic__atomic_file *f); /* frees f's strings in every case */
void mimic__atomic_abort(mimic__atomic_file *f);

/* ---- byte order ------------------------------------------------------------------------ */

/* True on little-endian hosts; a constant after optimization. */
static inline bool mimic__host_le(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}
static inline uint32_t mimic__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mimic__le64(const uint8_t *p)
{
    return (uint64_t)mimic__le32(p) | (uint64_t)mimic__le32(p + 4) << 32;
}
static inline uint32_t mimic__be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint32_t mimic__bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* ---- float16 (half.c) ---------------------------------------------------------------- */

/* n IEEE binary16 values (as uint16 bits) widened to float32, exactly: F16C where the CPU has
 * it, else the portable path (the two give the same bits; both are exposed for the tests and
 * benchmarks that compare them). */
void mimic__f16_to_f32(const uint16_t *src, float *dst, size_t n);
void mimic__f16_to_f32_portable(const uint16_t *src, float *dst, size_t n);
void mimic__f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n);
bool mimic__f16c_available(void); /* cpu.c */
/* One float32 rounded to binary16 (nearest, ties to even; overflow to inf). */
uint16_t mimic__f32_to_f16(float f);
/* Whether binary16 bits are a finite number. */
static inline bool mimic__f16_finite(uint16_t h)
{
    return (h & 0x7c00u) != 0x7c00u;
}

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

/* ---- small helpers (util.c) ------------------------------------------------------------ */

/* Index of the largest of x[0..n) (n >= 1), the lowest on ties. */
size_t mimic__argmax(const float *x, size_t n);

/* Wall-clock seconds (monotonic). */
double mimic__now(void);

/* Decimal text of v into out (at least 21 bytes). */
void mimic__u64_to_str(uint64_t v, char out[24]);

/* Strict unsigned decimal: digits only, no sign or space, no overflow. */
bool mimic__parse_u64(const char *s, uint64_t *out);
/* Strict double: the whole string is one number (strtod's syntax), finite or not. */
bool mimic__parse_double(const char *s, double *out);

/* Whether `name` is a word of `list`, a space-separated list of names (NULL or "" lists
 * none): the options a loss, optimizer or schedule reads. */
bool mimic__name_in(const char *list, const char *name);

#endif /* MIMIC_LIB_COMMON_H */
