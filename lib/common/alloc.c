/* The one allocation wrapper of the library, with a per-thread failure-injection hook. */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static _Thread_local uint64_t alloc_count; /* allocations since the last hook call */
static _Thread_local uint64_t fail_at;     /* 0 = never fail */

uint64_t mimic__alloc_fail_at(uint64_t n)
{
    uint64_t made = alloc_count;
    alloc_count = 0;
    fail_at = n;
    return made;
}

static bool injected_failure(void)
{
    alloc_count++;
    return fail_at != 0 && alloc_count >= fail_at;
}

void *mimic__malloc(size_t n)
{
    if (injected_failure())
        return NULL;
    return malloc(n ? n : 1);
}

void *mimic__calloc(size_t count, size_t size)
{
    size_t total;
    if (!mimic__mul_ok(count, size, &total) || injected_failure())
        return NULL;
    return calloc(total ? total : 1, 1);
}

void *mimic__aligned_alloc(size_t n)
{
    const size_t align = 64;
    size_t rounded;
    if (!mimic__add_ok(n ? n : 1, align - 1, &rounded) || injected_failure())
        return NULL;
    rounded &= ~(align - 1);
    return aligned_alloc(align, rounded);
}

float *mimic__falloc(size_t a, size_t b)
{
    size_t n, bytes;
    if (!mimic__mul_ok(a, b, &n) || !mimic__mul_ok(n, sizeof(float), &bytes))
        return NULL;
    return mimic__aligned_alloc(bytes);
}

void mimic__free(void *p)
{
    free(p);
}

char *mimic__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mimic__malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}
