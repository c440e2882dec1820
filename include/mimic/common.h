/*
 * libmimic: common definitions (version, status codes, errors, export macro).
 *
 * Every fallible libmimic call returns an int: MIMIC_OK (0) on success, a negative
 * MIMIC_ERR_* code on failure. On failure the calling thread's last-error message
 * (mimic_last_error) says what went wrong and where. Status values are part of the
 * ABI: they are appended, never renumbered or reused.
 */
#ifndef MIMIC_COMMON_H
#define MIMIC_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* CMake reads the version from these three lines: keep their shape. */
#define MIMIC_VERSION_MAJOR 1
#define MIMIC_VERSION_MINOR 3
#define MIMIC_VERSION_PATCH 0

#define MIMIC__STR2(x) #x
#define MIMIC__STR(x) MIMIC__STR2(x)
/* "MAJOR.MINOR.PATCH", e.g. "1.3.0" */
#define MIMIC_VERSION_STRING \
    MIMIC__STR(MIMIC_VERSION_MAJOR) "." MIMIC__STR(MIMIC_VERSION_MINOR) "." MIMIC__STR(MIMIC_VERSION_PATCH)
/* major * 10000 + minor * 100 + patch, e.g. 10300 for 1.3.0 */
#define MIMIC_VERSION_NUMBER \
    (MIMIC_VERSION_MAJOR * 10000 + MIMIC_VERSION_MINOR * 100 + MIMIC_VERSION_PATCH)

#if defined(MIMIC_STATIC)
#define MIMIC_API
#elif defined(_WIN32)
#if defined(MIMIC_BUILDING)
#define MIMIC_API __declspec(dllexport)
#else
#define MIMIC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define MIMIC_API __attribute__((visibility("default")))
#else
#define MIMIC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. Explicit values; appended, never reused. */
enum mimic_status {
    MIMIC_OK = 0,
    MIMIC_ERR_INVALID = -1,     /* an argument is invalid (NULL pointer, bad enum, zero size) */
    MIMIC_ERR_RANGE = -2,       /* a value is outside its allowed range (label, row index) */
    MIMIC_ERR_SHAPE = -3,       /* shapes of arguments or files disagree */
    MIMIC_ERR_NOMEM = -4,       /* an allocation failed */
    MIMIC_ERR_IO = -5,          /* a file could not be opened, read, written or renamed */
    MIMIC_ERR_FORMAT = -6,      /* a file or buffer is malformed */
    MIMIC_ERR_VERSION = -7,     /* a file or struct comes from an unsupported version */
    MIMIC_ERR_NUMERIC = -8,     /* NaN/Inf in data, or training diverged */
    MIMIC_ERR_CANCELLED = -9,   /* the progress callback asked to stop */
    MIMIC_ERR_UNSUPPORTED = -10, /* valid but not supported (dtype, rank, byte order) */
    MIMIC_ERR_MISUSE = -11,     /* NULL, freed or wrong-typed handle; call out of order */
    MIMIC_ERR_INTERNAL = -12    /* a bug in libmimic; please report it */
};

/* Element types of arrays crossing the API (int32_t in structs and calls). */
enum mimic_dtype {
    MIMIC_DTYPE_F32 = 1, /* float, IEEE-754 binary32 */
    MIMIC_DTYPE_U8 = 2,  /* uint8_t */
    MIMIC_DTYPE_I32 = 3, /* int32_t */
    MIMIC_DTYPE_F64 = 4, /* double (arrays read from files; since 1.3) */
    MIMIC_DTYPE_I64 = 5, /* int64_t (arrays read from files; since 1.3) */
    MIMIC_DTYPE_F16 = 6, /* IEEE-754 binary16 as uint16_t bits (teacher logits, student weights;
                            since 1.3) */
    MIMIC_DTYPE_I8 = 7   /* int8_t (student weights; since 1.3) */
};

/* Static English text for a status code ("invalid argument", ...). Never NULL: unknown
 * codes give "unknown status". Thread-safe. */
MIMIC_API const char *mimic_status_str(int status);

/* The calling thread's message for its most recent failed libmimic call, naming the file
 * or argument and the problem, e.g. "z.npy: 99 rows, but x.npy has 100". Never NULL ("" if
 * no call failed yet on this thread). The text lives in a thread-local buffer that stays
 * valid until the thread's next failing libmimic call. Successful calls leave it as is. */
MIMIC_API const char *mimic_last_error(void);

/* The library's version at run time, as the macros above ("1.3.0" and 10300). Compare with the macros to detect
 * a header/library mismatch. */
MIMIC_API const char *mimic_version_string(void);
MIMIC_API int mimic_version_number(void);

/* float32 <-> IEEE binary16 (NumPy float16) bits, n values, e.g. to store teacher logits as
 * MIMIC_DTYPE_F16: narrowing rounds to nearest, ties to even, as NumPy's astype does
 * (overflow gives infinity: a teacher logit beyond 65504 does not fit); widening is exact.
 * Since 1.3. */
MIMIC_API void mimic_f32_to_f16(const float *src, uint16_t *dst, size_t n);
MIMIC_API void mimic_f16_to_f32(const uint16_t *src, float *dst, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_COMMON_H */
