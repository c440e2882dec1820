/* Shared by the fuzz targets: contract checks that end the process like a crash, so
 * libFuzzer (and the plain replay driver under ctest) report them. */
#ifndef MIMIC_FUZZ_COMMON_H
#define MIMIC_FUZZ_COMMON_H

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
