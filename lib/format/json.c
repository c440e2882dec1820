/*
 * A strict JSON reader for untrusted bytes: a cursor over a buffer, used by the .safetensors
 * header parser and the dataset manifests. Strings with every escape (\uXXXX surrogate
 * pairs, no \u0000) and valid UTF-8 only, non-negative integers without leading zeros or
 * fractions, bounded nesting; every read is checked against the end of the buffer. Messages:
 * "NAME: WHAT, byte N: problem".
 */
#include "format/format.h"

int mimic__json_fail(mimic__json *j, const char *what)
{
    return mimic__error(MIMIC_ERR_FORMAT, "%s: %s, byte %zu: %s", j->name, j->what,
                        (size_t)(j->p - j->start), what);
}

void mimic__json_ws(mimic__json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

int mimic__json_expect(mimic__json *j, char c, const char *what)
{
    mimic__json_ws(j);
    if (j->p >= j->end || *j->p != (uint8_t)c)
        return mimic__json_fail(j, what);
    j->p++;
    return MIMIC_OK;
}

/* Peek the next non-space byte (0 at the end). */
int mimic__json_peek(mimic__json *j)
{
    mimic__json_ws(j);
    return j->p < j->end ? *j->p : 0;
}

static int hex4(mimic__json *j, uint32_t *v)
{
    if (j->end - j->p < 4)
        return mimic__json_fail(j, "truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = *j->p++;
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return mimic__json_fail(j, "bad hex digit in \\u escape");
        *v = *v << 4 | d;
    }
    return MIMIC_OK;
}

static size_t utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
static size_t utf8_valid(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1fu;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0fu;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string; decoded (NUL-terminated) into the pool on the second pass, *out pointing at
 * it. The decoded form plus its NUL never exceeds the encoded form with its quotes. */
int mimic__json_string(mimic__json *j, char *dst, size_t *len_out, const char *what)
{
    int rc = mimic__json_expect(j, '"', what);
    if (rc != MIMIC_OK)
        return rc;
    size_t len = 0;
    for (;;) {
        if (j->p >= j->end)
            return mimic__json_fail(j, "unterminated string");
        uint8_t c = *j->p;
        uint8_t enc[4];
        size_t n;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20)
            return mimic__json_fail(j, "control character in a string");
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end)
                return mimic__json_fail(j, "unterminated escape");
            c = *j->p++;
            switch (c) {
            case '"':
            case '\\':
            case '/':
                enc[0] = c;
                n = 1;
                break;
            case 'b':
                enc[0] = '\b';
                n = 1;
                break;
            case 'f':
                enc[0] = '\f';
                n = 1;
                break;
            case 'n':
                enc[0] = '\n';
                n = 1;
                break;
            case 'r':
                enc[0] = '\r';
                n = 1;
                break;
            case 't':
                enc[0] = '\t';
                n = 1;
                break;
            case 'u': {
                uint32_t cp;
                if ((rc = hex4(j, &cp)) != MIMIC_OK)
                    return rc;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return mimic__json_fail(j, "lone low surrogate in \\u escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                        return mimic__json_fail(j, "high surrogate without a low surrogate");
                    j->p += 2;
                    if ((rc = hex4(j, &lo)) != MIMIC_OK)
                        return rc;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return mimic__json_fail(j, "high surrogate without a low surrogate");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0)
                    return mimic__json_fail(j, "\\u0000 in a string");
                n = utf8_encode(cp, enc);
                break;
            }
            default: j->p--; return mimic__json_fail(j, "invalid escape in a string");
            }
        } else {
            n = utf8_valid(j->p, j->end);
            if (!n)
                return mimic__json_fail(j, "invalid UTF-8 in a string");
            memcpy(enc, j->p, n);
            j->p += n;
        }
        if (dst)
            memcpy(dst + len, enc, n);
        for (size_t i = 0; i < n && len + i < sizeof j->last - 1; i++)
            j->last[len + i] = (char)enc[i];
        len += n;
    }
    j->last[len < sizeof j->last - 1 ? len : sizeof j->last - 1] = '\0';
    if (dst)
        dst[len] = '\0';
    if (len_out)
        *len_out = len;
    return MIMIC_OK;
}

int mimic__json_string_eq(mimic__json *j, const char *want, bool *eq)
{
    const uint8_t *q = j->p;
    int rc = mimic__json_string(j, NULL, NULL, "expected a string");
    if (rc != MIMIC_OK)
        return rc;
    /* The wanted strings are plain ASCII without escapes: compare the raw bytes. */
    while (q < j->p && *q != '"')
        q++;
    size_t n = strlen(want);
    *eq = (size_t)(j->p - q) == n + 2 && !memcmp(q + 1, want, n);
    return MIMIC_OK;
}

int mimic__json_uint(mimic__json *j, uint64_t *v)
{
    mimic__json_ws(j);
    if (j->p >= j->end)
        return mimic__json_fail(j, "expected an integer");
    if (*j->p == '-')
        return mimic__json_fail(j, "negative integer");
    if (*j->p < '0' || *j->p > '9')
        return mimic__json_fail(j, "expected an integer");
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9')
        return mimic__json_fail(j, "integer with a leading zero");
    uint64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        uint64_t d = (uint64_t)(*j->p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return mimic__json_fail(j, "integer overflows 64 bits");
        x = x * 10 + d;
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return mimic__json_fail(j, "expected an integer, not a fraction or exponent");
    *v = x;
    return MIMIC_OK;
}

int mimic__json_skip(mimic__json *j, int depth)
{
    if (depth > 32)
        return mimic__json_fail(j, "nested too deeply");
    int c = mimic__json_peek(j);
    if (c == '"')
        return mimic__json_string(j, NULL, NULL, "expected a string");
    if (c == '{' || c == '[') {
        const char close = c == '{' ? '}' : ']';
        j->p++;
        if (mimic__json_peek(j) == close) {
            j->p++;
            return MIMIC_OK;
        }
        for (;;) {
            int rc;
            if (c == '{' &&
                ((rc = mimic__json_string(j, NULL, NULL, "expected a key")) != MIMIC_OK ||
                 (rc = mimic__json_expect(j, ':', "expected ':'")) != MIMIC_OK))
                return rc;
            if ((rc = mimic__json_skip(j, depth + 1)) != MIMIC_OK)
                return rc;
            int d = mimic__json_peek(j);
            if (d == close) {
                j->p++;
                return MIMIC_OK;
            }
            if (d != ',')
                return mimic__json_fail(j,
                                        c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            j->p++;
        }
    }
    /* numbers, true, false, null: a run of their characters */
    const uint8_t *start = j->p;
    while (j->p < j->end &&
           ((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == '+' || *j->p == '.' ||
            *j->p == 'e' || *j->p == 'E' || (*j->p >= 'a' && *j->p <= 'z')))
        j->p++;
    size_t n = (size_t)(j->p - start);
    if (n == 0 || ((start[0] < '0' || start[0] > '9') && start[0] != '-' &&
                   !(n == 4 && (!memcmp(start, "true", 4) || !memcmp(start, "null", 4))) &&
                   !(n == 5 && !memcmp(start, "false", 5)))) {
        j->p = start;
        return mimic__json_fail(j, "expected a value");
    }
    return MIMIC_OK;
}

bool mimic__json_null(mimic__json *j)
{
    mimic__json_ws(j);
    if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4) &&
        (j->end - j->p == 4 || !(j->p[4] >= 'a' && j->p[4] <= 'z'))) {
        j->p += 4;
        return true;
    }
    return false;
}

/* ---- writing -------------------------------------------------------------------------------- */

size_t mimic__json_quote(char *dst, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s);
    size_t n = 0;
#define PUT(c)                                                                                   \
    do {                                                                                         \
        if (dst)                                                                                 \
            dst[n] = (char)(c);                                                                  \
        n++;                                                                                     \
    } while (0)
    PUT('"');
    while (p < end) {
        uint8_t c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT(c);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
            p++;
        } else {
            size_t k = utf8_valid(p, end);
            if (!k)
                return SIZE_MAX;
            for (size_t i = 0; i < k; i++)
                PUT(p[i]);
            p += k;
        }
    }
    PUT('"');
#undef PUT
    if (dst)
        dst[n] = '\0';
    return n;
}
