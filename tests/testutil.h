/* Helpers shared by the Check suites. */
#ifndef MIMIC_TESTUTIL_H
#define MIMIC_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh path under the suite's temporary directory ($MIMIC_TEST_TMP, created on demand,
 * else /tmp): "<dir>/<name>". Returned in a static rotating buffer (8 slots). */
const char *tu_path(const char *name);

/* Write `n` bytes to `path`; ck_abort on failure. */
void tu_write_file(const char *path, const void *data, size_t n);

/* Write a little-endian .npy file (format 1.0) with dtype `descr` ("<f8") and shape
 * (rows, cols), or (rows,) when cols = 0, holding `n` bytes of data; ck_abort on failure.
 * For the dtypes mimic_npy_save does not write. */
void tu_write_npy(const char *path, const char *descr, size_t rows, size_t cols,
                  const void *data, size_t n);

/* Read a whole file into a malloc'ed buffer; *n gets its size. NULL if it cannot be read. */
void *tu_read_file(const char *path, size_t *n);

/* Run a Python snippet with the Python that has NumPy (MIMIC_PYTHON); returns its exit
 * status (0 = success). The script text is passed with -c; argv[1..] are `args`. */
int tu_python(const char *script, const char *const *args, size_t n_args);

/* Whether MIMIC_PYTHON exists and imports every module in `modules` (space-separated, e.g.
 * "numpy onnx"). When it does not, prints "SKIP <test>: ..." to stderr and returns 0: the
 * C suites run where Python, NumPy or onnx are missing, skipping only the cross-checks that
 * need them. The answer is cached per process and module list. */
int tu_have_python(const char *modules, const char *test);

/* At the top of a test that calls tu_python: skip (pass, with the message) without them. */
#define TU_NEEDS_PYTHON(modules)                                                              \
    do {                                                                                      \
        if (!tu_have_python(modules, __func__))                                               \
            return;                                                                           \
    } while (0)

/* Fill with uniform values in [lo, hi) from a small deterministic generator. */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* A dataset's arrays from row 0, as stored (tests poke at single-shard datasets): inputs,
 * float32 teacher logits (NULL without, or when stored as float16), labels as stored. */
#define TU_INPUTS(d) ((const void *)mimic__input_row((d), 0))
#define TU_LOGITS(d) ((d)->logits_dtype ? mimic__logits_f32((d), 0) : (const float *)NULL)
#define TU_LABELS(d) ((d)->labels_dtype ? (const int32_t *)mimic__labels_stored((d), 0) : (const int32_t *)NULL)

/* A fresh student (mimic_student_create, seeded; ck_abort on failure): D inputs, a
 * bottleneck of k (0: none), H hidden units of activation `act`, C classes. */
struct mimic_student *tu_student(size_t D, size_t k, size_t H, size_t C, int32_t act,
                                 uint64_t seed);

/* Store a random input normalization (mean in [-1, 1), scale in [0.5, 2)) in a student of D
 * inputs. */
void tu_set_norm(struct mimic_student *s, size_t D, uint64_t seed);

/* mimic_student_load(path) must fail with `code`, leave its out-parameter NULL, and say
 * `needle` and the path in its message; `what` names the case in failures. */
void tu_expect_load_error(const char *path, int code, const char *what, const char *needle);

/* Run a suite and return the number of failures (for main). */
int tu_run_suite(Suite *s);

#endif
