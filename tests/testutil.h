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

/* Read a whole file into a malloc'ed buffer; *n gets its size. NULL if it cannot be read. */
void *tu_read_file(const char *path, size_t *n);

/* Run a Python snippet with the Python that has NumPy (MIMIC_PYTHON); returns its exit
 * status (0 = success). The script text is passed with -c; argv[1..] are `args`. */
int tu_python(const char *script, const char *const *args, size_t n_args);

/* Fill with uniform values in [lo, hi) from a small deterministic generator. */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* Run a suite and return the number of failures (for main). */
int tu_run_suite(Suite *s);

#endif
