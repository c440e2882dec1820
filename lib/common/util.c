/* Small helpers shared by every layer: argmax, time, decimal text, strict parsing, name lists,
 * handle checks. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "common/common.h"

size_t mimic__argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

double mimic__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void mimic__u64_to_str(uint64_t v, char out[24])
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, tmp + i, sizeof tmp - i);
    out[sizeof tmp - i] = '\0';
}

bool mimic__parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

bool mimic__parse_double(const char *s, double *out)
{
    /* strtod skips leading white space (any of isspace's, in the C locale): refuse it all */
    if (!s || !*s || strchr(" \t\n\v\f\r", *s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return false;
    *out = v;
    return true;
}

bool mimic__name_in(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, name, n) == 0)
            return true;
        p += w;
    }
    return false;
}

int mimic__handle_check(const void *h, uint32_t magic, uint32_t want, const char *arg,
                        const char *kind)
{
    if (!h)
        return mimic__error(MIMIC_ERR_MISUSE, "%s: %s handle is NULL", arg, kind);
    if (magic == want)
        return MIMIC_OK;
    if (magic == MIMIC__MAGIC_DEAD)
        return mimic__error(MIMIC_ERR_MISUSE, "%s: %s handle was already freed", arg, kind);
    return mimic__error(MIMIC_ERR_MISUSE,
                        "%s: not a %s handle (bad magic 0x%08x; freed or another kind)", arg,
                        kind, (unsigned)magic);
}
