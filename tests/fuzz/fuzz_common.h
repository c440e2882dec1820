/* Shared by the fuzz targets: contract checks that end the process like a crash, so
 * libFuzzer (and the plain replay driver under ctest) report them. */
#ifndef MIMIC_FUZZ_COMMON_H
#define MIMIC_FUZZ_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimic.h"

#define FUZZ_CHECK(cond, ...)                                                         \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: contract violated: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* A failed call returns a known negative status and leaves a non-empty message. */
static inline void fuzz_check_failure(int rc, const char *call)
{
    FUZZ_CHECK(rc < 0 && rc >= MIMIC_ERR_INTERNAL, "%s returned unknown status %d", call, rc);
    FUZZ_CHECK(rc != MIMIC_ERR_INTERNAL, "%s: internal error: %s", call, mimic_last_error());
    FUZZ_CHECK(mimic_last_error()[0] != '\0', "%s failed (%d) without a message", call, rc);
}

/* Every row of an accepted dataset read back through the public getters (an overread is a
 * sanitizer report): logits finite, labels class indices. */
static inline void fuzz_check_dataset(const mimic_dataset *d)
{
    size_t rows = mimic_dataset_rows(d), D = mimic_dataset_n_inputs(d),
           C = mimic_dataset_n_classes(d);
    FUZZ_CHECK(rows > 0 && D > 0 && C >= 1, "empty dataset accepted (%zu x %zu, %zu classes)",
               rows, D, C);
    FUZZ_CHECK(mimic_dataset_input_dtype(d) == MIMIC_DTYPE_F32 ||
                   mimic_dataset_input_dtype(d) == MIMIC_DTYPE_U8,
               "input dtype %d", (int)mimic_dataset_input_dtype(d));
    /* logits rows only where there are logits: a labels-only dataset's class count is its
     * largest label + 1, which the input does not bound (C logits a row are in the input) */
    float *x = malloc(D * sizeof *x);
    float *z = mimic_dataset_has_logits(d) ? malloc(C * sizeof *z) : NULL;
    FUZZ_CHECK(x && (z || !mimic_dataset_has_logits(d)), "harness out of memory");
    for (size_t r = 0; r < rows; r++) {
        FUZZ_CHECK(mimic_dataset_get_inputs(d, r, 1, x) == MIMIC_OK, "row %zu: %s", r,
                   mimic_last_error());
        if (mimic_dataset_has_logits(d)) {
            FUZZ_CHECK(mimic_dataset_get_logits(d, r, 1, z) == MIMIC_OK, "row %zu", r);
            for (size_t c = 0; c < C; c++)
                FUZZ_CHECK(isfinite(z[c]), "non-finite logit at row %zu accepted", r);
        }
        if (mimic_dataset_has_labels(d)) {
            int32_t y = -1;
            FUZZ_CHECK(mimic_dataset_get_labels(d, r, 1, &y) == MIMIC_OK, "row %zu", r);
            FUZZ_CHECK(y >= 0 && (size_t)y < C, "label at row %zu out of range", r);
        }
    }
    free(x);
    free(z);
}

/* Sanitizer defaults for the fuzz and replay binaries: a huge allocation request that the
 * library makes on purpose-built input must come back as NULL (the library then reports
 * MIMIC_ERR_NOMEM), not abort the process. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MIMIC_FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MIMIC_FUZZ_ASAN 1
#endif
#ifdef MIMIC_FUZZ_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

#endif
