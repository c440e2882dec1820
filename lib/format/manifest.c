/*
 * Dataset manifests: a small JSON file that lists the shards of one dataset.
 *
 *     {
 *       "format": "mimic-manifest",
 *       "version": 1,
 *       "rows": 131072,
 *       "shards": [
 *         {"inputs": "shard-00000.inputs.npy", "logits": "shard-00000.logits.npy", "rows": 65536},
 *         {"inputs": "shard-00001.inputs.npy", "logits": "shard-00001.logits.npy", "rows": 65536}
 *       ]
 *     }
 *
 * Per shard: "inputs" (required), "logits" and "labels" (a path or null/absent), "rows"
 * (optional; checked against the files). Top level: "format" and "version" (required),
 * "shards" (at least one), "rows" (optional total, checked), "metadata" (any value, ignored:
 * for the tool that made the set). Any other key is an error, so a misspelt "label" is not
 * silently dropped. Paths are kept as written; the model layer resolves them.
 *
 * The parser reads untrusted bytes through the strict JSON cursor (json.c) and is fuzzed
 * (tests/fuzz/fuzz_manifest.c); the formatter writes what it reads.
 */
#include <stdarg.h>
#include <stdio.h>

#include "format/format.h"

#define FORMAT_NAME "mimic-manifest"
#define VERSION 1

typedef struct parser {
    mimic__json j;
    mimic__manifest *m; /* NULL on the counting pass */
    char *pool;         /* decoded strings (filling pass) */
    size_t pool_used;
    size_t n_shards;
} parser;

static int fail(parser *ps, const char *fmt, ...) MIMIC__PRINTF(2, 3);

static int fail(parser *ps, const char *fmt, ...)
{
    char problem[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    return mimic__json_fail(&ps->j, problem);
}

/* The next key, as its index in keys[0..n), or -1 (j->last holds it for messages). */
static int key_index(parser *ps, const char *const *keys, int n, int *k)
{
    const uint8_t *at = ps->j.p;
    int rc = mimic__json_string(&ps->j, NULL, NULL, "expected a key");
    *k = -1;
    for (int c = 0; rc == MIMIC_OK && c < n; c++) {
        ps->j.p = at;
        bool eq = false;
        mimic__json_string_eq(&ps->j, keys[c], &eq);
        if (eq)
            *k = c;
    }
    return rc;
}

/* A non-empty path string into the pool (or just checked, when counting). */
static int path_string(parser *ps, const char **out, const char *key, size_t shard)
{
    char *dst = ps->m ? ps->pool + ps->pool_used : NULL;
    size_t len = 0;
    int rc = mimic__json_string(&ps->j, dst, &len, "expected a path string or null");
    if (rc != MIMIC_OK)
        return rc;
    if (len == 0)
        return fail(ps, "shard %zu: \"%s\" is an empty path", shard, key);
    if (dst) {
        *out = dst;
        ps->pool_used += len + 1;
    }
    return MIMIC_OK;
}

static int shard_object(parser *ps, size_t i)
{
    mimic__manifest_shard s;
    memset(&s, 0, sizeof s);
    bool seen[4] = {false, false, false, false};
    static const char *const keys[4] = {"inputs", "logits", "labels", "rows"};
    int rc = mimic__json_expect(&ps->j, '{', "expected a shard object {\"inputs\": ...}");
    if (rc != MIMIC_OK)
        return rc;
    if (mimic__json_peek(&ps->j) == '}') {
        ps->j.p++;
        return fail(ps, "shard %zu: empty object (it needs \"inputs\")", i);
    }
    for (;;) {
        int k;
        if ((rc = key_index(ps, keys, 4, &k)) != MIMIC_OK)
            return rc;
        if (k < 0)
            return fail(ps,
                        "shard %zu: unknown key \"%s\" (a shard has inputs, logits, labels and "
                        "rows)",
                        i, ps->j.last);
        if (seen[k])
            return fail(ps, "shard %zu: duplicate key \"%s\"", i, keys[k]);
        seen[k] = true;
        if ((rc = mimic__json_expect(&ps->j, ':', "expected ':'")) != MIMIC_OK)
            return rc;
        if (k == 3) {
            rc = mimic__json_uint(&ps->j, &s.rows);
            s.has_rows = true;
            if (rc == MIMIC_OK && s.rows == 0)
                rc = fail(ps, "shard %zu: \"rows\" is 0", i);
        } else if (k > 0 && mimic__json_null(&ps->j)) {
            rc = MIMIC_OK;
        } else {
            const char **slot = k == 0 ? &s.inputs : k == 1 ? &s.logits : &s.labels;
            rc = path_string(ps, slot, keys[k], i);
        }
        if (rc != MIMIC_OK)
            return rc;
        int d = mimic__json_peek(&ps->j);
        if (d == '}') {
            ps->j.p++;
            break;
        }
        if ((rc = mimic__json_expect(&ps->j, ',', "expected ',' or '}'")) != MIMIC_OK)
            return rc;
    }
    if (!seen[0])
        return fail(ps, "shard %zu: no \"inputs\" path", i);
    if (ps->m)
        ps->m->shards[i] = s;
    return MIMIC_OK;
}

static int shards_array(parser *ps)
{
    int rc = mimic__json_expect(&ps->j, '[', "\"shards\" must be an array");
    if (rc != MIMIC_OK)
        return rc;
    size_t n = 0;
    if (mimic__json_peek(&ps->j) == ']') {
        ps->j.p++;
        return mimic__json_fail(&ps->j, "\"shards\" is empty (a dataset needs at least one)");
    }
    for (;;) {
        if ((rc = shard_object(ps, n)) != MIMIC_OK)
            return rc;
        n++;
        if (mimic__json_peek(&ps->j) == ']') {
            ps->j.p++;
            break;
        }
        if ((rc = mimic__json_expect(&ps->j, ',', "expected ',' or ']'")) != MIMIC_OK)
            return rc;
    }
    ps->n_shards = n;
    return MIMIC_OK;
}

static int top_level(parser *ps)
{
    static const char *const keys[5] = {"format", "version", "shards", "rows", "metadata"};
    bool seen[5] = {false, false, false, false, false};
    int rc = mimic__json_expect(&ps->j, '{', "expected '{' (a manifest is a JSON object)");
    if (rc != MIMIC_OK)
        return rc;
    if (mimic__json_peek(&ps->j) != '}') {
        for (;;) {
            int k;
            if ((rc = key_index(ps, keys, 5, &k)) != MIMIC_OK)
                return rc;
            if (k < 0)
                return fail(ps,
                            "unknown key \"%s\" (a manifest has format, version, shards, rows "
                            "and metadata)",
                            ps->j.last);
            if (seen[k])
                return fail(ps, "duplicate key \"%s\"", keys[k]);
            seen[k] = true;
            if ((rc = mimic__json_expect(&ps->j, ':', "expected ':'")) != MIMIC_OK)
                return rc;
            uint64_t v = 0;
            bool is_format = false;
            switch (k) {
            case 0:
                rc = mimic__json_string_eq(&ps->j, FORMAT_NAME, &is_format);
                if (rc == MIMIC_OK && !is_format)
                    rc = fail(ps, "\"format\" is \"%s\", not \"" FORMAT_NAME "\"", ps->j.last);
                break;
            case 1:
                rc = mimic__json_uint(&ps->j, &v);
                if (rc == MIMIC_OK && v != VERSION) {
                    char n[24];
                    snprintf(n, sizeof n, "%llu", (unsigned long long)v);
                    return mimic__error(MIMIC_ERR_VERSION,
                                        "%s: manifest version %s; this library reads version %d",
                                        ps->j.name, n, VERSION);
                }
                break;
            case 2: rc = shards_array(ps); break;
            case 3:
                rc = mimic__json_uint(&ps->j, &v);
                if (ps->m) {
                    ps->m->has_rows = true;
                    ps->m->rows = v;
                }
                break;
            default: rc = mimic__json_skip(&ps->j, 1); break;
            }
            if (rc != MIMIC_OK)
                return rc;
            if (mimic__json_peek(&ps->j) == '}')
                break;
            if ((rc = mimic__json_expect(&ps->j, ',', "expected ',' or '}'")) != MIMIC_OK)
                return rc;
        }
    }
    ps->j.p++;
    mimic__json_ws(&ps->j);
    if (ps->j.p != ps->j.end)
        return mimic__json_fail(&ps->j, "unexpected bytes after the manifest's object");
    const char *missing = !seen[0] ? "format" : !seen[1] ? "version" : !seen[2] ? "shards" : NULL;
    if (missing)
        return fail(ps, "no \"%s\" key", missing);
    return MIMIC_OK;
}

static void reset(parser *ps, const uint8_t *buf, size_t len, const char *name)
{
    ps->j = (mimic__json){buf, buf, buf + len, name, "manifest", ""};
    ps->pool_used = 0;
    ps->n_shards = 0;
}

int mimic__manifest_parse(const uint8_t *buf, size_t len, const char *name, mimic__manifest *out)
{
    memset(out, 0, sizeof *out);
    parser ps;
    memset(&ps, 0, sizeof ps);
    reset(&ps, buf, len, name);
    int rc = top_level(&ps); /* pass 1: validate and count */
    if (rc != MIMIC_OK)
        return rc;
    /* decoded strings with their NULs never exceed the encoded ones with their quotes */
    out->pool = mimic__malloc(len + 1);
    out->shards = mimic__calloc(ps.n_shards, sizeof *out->shards);
    if (!out->pool || !out->shards) {
        mimic__manifest_free(out);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory for a manifest of %zu shards", name,
                            ps.n_shards);
    }
    reset(&ps, buf, len, name);
    ps.m = out;
    ps.pool = out->pool;
    rc = top_level(&ps); /* pass 2: fill */
    if (rc != MIMIC_OK) {
        mimic__manifest_free(out);
        return rc;
    }
    out->n_shards = ps.n_shards;
    return MIMIC_OK;
}

void mimic__manifest_free(mimic__manifest *m)
{
    mimic__free(m->pool);
    mimic__free(m->shards);
    memset(m, 0, sizeof *m);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Append to a growing text; false when out of memory. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool bad;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->bad)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *q = mimic__malloc(cap);
        if (!q) {
            t->bad = true;
            return;
        }
        if (t->len)
            memcpy(q, t->p, t->len);
        mimic__free(t->p);
        t->p = q;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static bool put_path(text *t, const char *key, const char *path)
{
    char head[32];
    snprintf(head, sizeof head, ", \"%s\": ", key);
    puts_(t, head);
    size_t n = mimic__json_quote(NULL, path);
    if (n == SIZE_MAX)
        return false;
    char *q = mimic__malloc(n + 1);
    if (!q) {
        t->bad = true;
        return true;
    }
    mimic__json_quote(q, path);
    put(t, q, n);
    mimic__free(q);
    return true;
}

int mimic__manifest_format(const mimic__manifest *m, const char *name, char **out, size_t *len)
{
    text t = {NULL, 0, 0, false};
    char num[64];
    puts_(&t, "{\n  \"format\": \"" FORMAT_NAME "\",\n  \"version\": 1,\n");
    if (m->has_rows) {
        snprintf(num, sizeof num, "  \"rows\": %llu,\n", (unsigned long long)m->rows);
        puts_(&t, num);
    }
    puts_(&t, "  \"shards\": [\n");
    for (size_t i = 0; i < m->n_shards; i++) {
        const mimic__manifest_shard *s = &m->shards[i];
        puts_(&t, "    {");
        /* "inputs" first, without the leading comma */
        size_t n = mimic__json_quote(NULL, s->inputs);
        if (n == SIZE_MAX) {
            mimic__free(t.p);
            return mimic__error(MIMIC_ERR_INVALID, "%s: shard %zu: path \"%s\" is not UTF-8", name,
                                i, s->inputs);
        }
        puts_(&t, "\"inputs\": ");
        char *q = mimic__malloc(n + 1);
        if (q) {
            mimic__json_quote(q, s->inputs);
            put(&t, q, n);
            mimic__free(q);
        } else {
            t.bad = true;
        }
        const char *bad = NULL;
        if (s->logits && !put_path(&t, "logits", s->logits))
            bad = s->logits;
        if (!bad && s->labels && !put_path(&t, "labels", s->labels))
            bad = s->labels;
        if (bad) {
            mimic__free(t.p);
            return mimic__error(MIMIC_ERR_INVALID, "%s: shard %zu: path \"%s\" is not UTF-8", name,
                                i, bad);
        }
        if (s->has_rows) {
            snprintf(num, sizeof num, ", \"rows\": %llu", (unsigned long long)s->rows);
            puts_(&t, num);
        }
        puts_(&t, i + 1 < m->n_shards ? "},\n" : "}\n");
    }
    puts_(&t, "  ]\n}\n");
    if (t.bad) {
        mimic__free(t.p);
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory writing the manifest", name);
    }
    *out = t.p;
    *len = t.len;
    return MIMIC_OK;
}
