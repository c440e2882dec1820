/*
 * Fuzz target: the option tables' text interface (include/mimic/options.h), the way the CLI
 * and the bindings use it: names that may be field names, CLI flags or garbage, and values
 * as text.
 *
 * Input: lines ('\n'); the first byte of a line picks the call, the rest is NAME=VALUE (no
 * '=': the value is NULL; a NUL byte ends the C string where it stands):
 *   'T' mimic_train_option_set        'S' mimic_student_option_set
 *   'U' mimic_train_option_check_used (NAME only)
 *   'F' mimic_train_option_find / mimic_student_option_find, then _info and every _choice
 *       of the field found
 *   'I' _info and _choice by number: byte 1 = table (even: train) and byte 2 = the
 *       struct_size handed to _info (mod its size + 9), then the index in decimal
 *   other: the whole line as 'T'
 * After the lines, a student is created from the student options and a trainer from the
 * train options on a tiny dataset of the student's shape (a few steps, no epoch end, so
 * no checkpoint is written whatever checkpoint_path says).
 *
 * Oracle: no sanitizer report, and
 *   - a failed set returns MIMIC_ERR_INVALID with a non-empty message (naming the field as
 *     "options.<name>" / "student_options.<name>" when the name is known) and leaves the
 *     struct byte-for-byte unchanged;
 *   - a successful set changes only that field's bytes; then every field holds a value its
 *     _info allows (within min/max, 0/1 for a BOOL, one of the choices for an ENUM), a
 *     STRING holds the caller's very pointer, and setting the value again from its printed
 *     text gives the same bytes;
 *   - leading white space is never accepted in a number;
 *   - find agrees with the table (field name or CLI flag), _info copies out only
 *     struct_size bytes, every choice named by _choice sets its field to its value;
 *   - check_used answers MIMIC_OK or MIMIC_ERR_INVALID ("... has no effect: ...");
 *   - student and trainer creation from fields that all pass their checks fail only on
 *     rules that tie fields together or sizes (documented statuses).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One of the two tables, through the public calls. */
typedef struct table {
    const char *what; /* "options", "student_options" */
    size_t struct_size;
    size_t (*count)(void);
    int (*info)(size_t, mimic_option_info *);
    int (*choice)(size_t, size_t, const char **, int32_t *);
    int (*find)(const char *, size_t *);
    int (*set)(void *, const char *, const char *);
} table;

static int train_set(void *o, const char *n, const char *v)
{
    return mimic_train_option_set(o, n, v);
}

static int student_set(void *o, const char *n, const char *v)
{
    return mimic_student_option_set(o, n, v);
}

static const table *tables(int student)
{
    static table t[2];
    if (!t[0].what) {
        t[0] = (table){"options",
                       sizeof(mimic_train_options),
                       mimic_train_option_count,
                       mimic_train_option_info,
                       mimic_train_option_choice,
                       mimic_train_option_find,
                       train_set};
        t[1] = (table){"student_options",
                       sizeof(mimic_student_options),
                       mimic_student_option_count,
                       mimic_student_option_info,
                       mimic_student_option_choice,
                       mimic_student_option_find,
                       student_set};
    }
    return &t[student ? 1 : 0];
}

/* Field i's description: read once per table (the tables are static), checked then. */
static void get_info(const table *t, size_t i, mimic_option_info *info)
{
    enum { MAX_ROWS = 128 };
    static mimic_option_info cache[2][MAX_ROWS];
    static size_t cached[2];
    const int st = t->struct_size == sizeof(mimic_student_options);
    if (!cached[st]) {
        size_t n = t->count();
        FUZZ_CHECK(n > 0 && n <= MAX_ROWS, "%s: %zu fields", t->what, n);
        for (size_t k = 0; k < n; k++) {
            mimic_option_info *c = &cache[st][k];
            memset(c, 0, sizeof *c);
            c->struct_size = sizeof *c;
            FUZZ_CHECK(t->info(k, c) == MIMIC_OK, "%s info %zu: %s", t->what, k,
                       mimic_last_error());
            FUZZ_CHECK(c->name && *c->name && c->help, "%s info %zu: strings", t->what, k);
            FUZZ_CHECK(c->offset + c->size <= t->struct_size && c->size > 0 && c->size <= 16,
                       "%s.%s: offset %zu size %zu", t->what, c->name, c->offset, c->size);
        }
        cached[st] = n;
    }
    FUZZ_CHECK(i < cached[st], "%s: field %zu of %zu", t->what, i, cached[st]);
    *info = cache[st][i];
}

/* The field's value printed as text that sets it again: "" when it has none (a pointer). */
static void print_value(const table *t, size_t i, const mimic_option_info *info, const void *opts,
                        char *buf, size_t cap)
{
    const char *p = (const char *)opts + info->offset;
    int32_t i32;
    uint64_t u64;
    size_t sz;
    double d;
    buf[0] = '\0';
    switch (info->type) {
    case MIMIC_OPTION_BOOL:
    case MIMIC_OPTION_INT32:
        memcpy(&i32, p, sizeof i32);
        snprintf(buf, cap, "%" PRId32, i32);
        break;
    case MIMIC_OPTION_ENUM: {
        memcpy(&i32, p, sizeof i32);
        const char *name;
        int32_t v;
        for (size_t k = 0; t->choice(i, k, &name, &v) == MIMIC_OK; k++)
            if (v == i32) {
                snprintf(buf, cap, "%s", name);
                return;
            }
        FUZZ_CHECK(0, "%s.%s: %d is none of its choices", t->what, info->name, (int)i32);
        break;
    }
    case MIMIC_OPTION_UINT64:
        memcpy(&u64, p, sizeof u64);
        snprintf(buf, cap, "%" PRIu64, u64);
        break;
    case MIMIC_OPTION_SIZE:
        memcpy(&sz, p, sizeof sz);
        snprintf(buf, cap, "%zu", sz);
        break;
    case MIMIC_OPTION_DOUBLE:
        memcpy(&d, p, sizeof d);
        snprintf(buf, cap, "%.17g", d);
        break;
    default: break;
    }
}

/* The field's value, as a number, against the bounds _info reports. */
static void check_bounds(const table *t, const mimic_option_info *info, const void *opts)
{
    const char *p = (const char *)opts + info->offset;
    double v;
    int32_t i32;
    uint64_t u64;
    size_t sz;
    switch (info->type) {
    case MIMIC_OPTION_BOOL:
        memcpy(&i32, p, sizeof i32);
        FUZZ_CHECK(i32 == 0 || i32 == 1, "%s.%s = %d", t->what, info->name, (int)i32);
        return;
    case MIMIC_OPTION_INT32:
        memcpy(&i32, p, sizeof i32);
        v = i32;
        break;
    case MIMIC_OPTION_UINT64:
        memcpy(&u64, p, sizeof u64);
        v = (double)u64;
        break;
    case MIMIC_OPTION_SIZE:
        memcpy(&sz, p, sizeof sz);
        v = (double)sz;
        break;
    case MIMIC_OPTION_DOUBLE:
        memcpy(&v, p, sizeof v);
        FUZZ_CHECK(isfinite(v), "%s.%s = %g", t->what, info->name, v);
        break;
    default: return;
    }
    FUZZ_CHECK(info->min_exclusive ? v > info->min : v >= info->min, "%s.%s = %.17g below %g",
               t->what, info->name, v, info->min);
    FUZZ_CHECK(info->max_exclusive ? v < info->max : v <= info->max, "%s.%s = %.17g above %g",
               t->what, info->name, v, info->max);
}

/* Every field's value is one its _info allows: in bounds, 0/1, one of the choices. */
static void check_fields(const table *t, const void *opts)
{
    char text[64];
    for (size_t i = 0; i < t->count(); i++) {
        mimic_option_info info;
        get_info(t, i, &info);
        if (info.type == MIMIC_OPTION_ENUM)
            print_value(t, i, &info, opts, text, sizeof text); /* checks it is a choice */
        else
            check_bounds(t, &info, opts);
    }
}

static bool is_number_type(int32_t type)
{
    return type == MIMIC_OPTION_INT32 || type == MIMIC_OPTION_UINT64 || type == MIMIC_OPTION_SIZE ||
           type == MIMIC_OPTION_DOUBLE;
}

/* find: the row whose field name or flag is `name`, as the table has it. */
static int find_row(const table *t, const char *name, size_t *index)
{
    size_t idx = SIZE_MAX;
    int rc = t->find(name, &idx);
    size_t want = SIZE_MAX;
    for (size_t i = 0; name && i < t->count(); i++) {
        mimic_option_info info;
        get_info(t, i, &info);
        if (strcmp(info.name, name) == 0 || (info.cli_flag && strcmp(info.cli_flag, name) == 0)) {
            want = i;
            break;
        }
    }
    if (rc == MIMIC_OK) {
        FUZZ_CHECK(idx == want, "%s find(\"%s\") = %zu, the table says %zu", t->what, name, idx,
                   want);
    } else {
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID && want == SIZE_MAX, "%s find(\"%s\"): %d", t->what,
                   name ? name : "(null)", rc);
        fuzz_check_failure(rc, "find");
        FUZZ_CHECK(idx == SIZE_MAX, "find wrote the index on failure");
    }
    *index = idx;
    return rc;
}

static void do_set(const table *t, void *opts, const char *name, const char *value)
{
    const size_t n = t->struct_size;
    uint8_t before[512];
    FUZZ_CHECK(n <= sizeof before, "struct too large for the harness");
    memcpy(before, opts, n);
    size_t idx;
    int found = find_row(t, name, &idx);
    int rc = t->set(opts, name, value);
    if (rc != MIMIC_OK) {
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID, "%s set(\"%s\"): status %d", t->what,
                   name ? name : "(null)", rc);
        fuzz_check_failure(rc, "set");
        FUZZ_CHECK(memcmp(before, opts, n) == 0, "%s: a failed set of \"%s\" changed the struct",
                   t->what, name ? name : "(null)");
        if (found == MIMIC_OK) {
            mimic_option_info info;
            get_info(t, idx, &info);
            char prefix[96];
            snprintf(prefix, sizeof prefix, "%s.%s", t->what, info.name);
            FUZZ_CHECK(strncmp(mimic_last_error(), prefix, strlen(prefix)) == 0,
                       "message does not name %s: %s", prefix, mimic_last_error());
        }
        return;
    }
    FUZZ_CHECK(found == MIMIC_OK && value != NULL, "%s set(\"%s\") of no field succeeded", t->what,
               name ? name : "(null)");
    mimic_option_info info;
    get_info(t, idx, &info);
    FUZZ_CHECK(info.type != MIMIC_OPTION_POINTER, "%s.%s: a pointer set from text", t->what,
               info.name);
    for (size_t b = 0; b < n; b++)
        FUZZ_CHECK((b >= info.offset && b < info.offset + info.size) ||
                       ((const uint8_t *)opts)[b] == before[b],
                   "%s set of %s changed byte %zu outside the field", t->what, info.name, b);
    if (is_number_type(info.type) || info.type == MIMIC_OPTION_BOOL)
        FUZZ_CHECK(!isspace((unsigned char)value[0]),
                   "%s.%s: \"%s\" with leading white space accepted", t->what, info.name, value);
    check_fields(t, opts); /* this one, and the others still */
    if (info.type == MIMIC_OPTION_STRING) {
        const char *got;
        memcpy(&got, (const char *)opts + info.offset, sizeof got);
        FUZZ_CHECK(got == value, "%s.%s: the string is not the caller's", t->what, info.name);
        return;
    }
    /* the value printed and set again gives the same bytes */
    char text[64];
    print_value(t, idx, &info, opts, text, sizeof text);
    uint8_t again[512];
    memcpy(again, before, n);
    int rc2 = t->set(again, info.name, text);
    FUZZ_CHECK(rc2 == MIMIC_OK && memcmp(again, opts, n) == 0,
               "%s.%s: \"%s\" read back as \"%s\" does not set the same value (%d: %s)", t->what,
               info.name, value, text, rc2, rc2 ? mimic_last_error() : "");
}

static void do_check_used(const mimic_train_options *o, const char *name)
{
    size_t idx;
    int found = find_row(tables(0), name, &idx);
    int rc = mimic_train_option_check_used(o, name);
    if (rc == MIMIC_OK) {
        FUZZ_CHECK(found == MIMIC_OK, "check_used(\"%s\") of no field", name ? name : "(null)");
        return;
    }
    FUZZ_CHECK(rc == MIMIC_ERR_INVALID, "check_used: status %d", rc);
    fuzz_check_failure(rc, "mimic_train_option_check_used");
    if (found == MIMIC_OK) {
        mimic_option_info info;
        get_info(tables(0), idx, &info);
        char prefix[96];
        snprintf(prefix, sizeof prefix, "options.%s has no effect: ", info.name);
        FUZZ_CHECK(strncmp(mimic_last_error(), prefix, strlen(prefix)) == 0,
                   "check_used(\"%s\"): %s", name, mimic_last_error());
    }
}

/* _info into a struct of `ss` bytes, and every choice of field i, each set on a copy. */
static void do_info(const table *t, size_t i, size_t ss, const void *opts)
{
    union {
        mimic_option_info info;
        uint8_t bytes[sizeof(mimic_option_info) + 16];
    } u;
    memset(&u, 0xA5, sizeof u);
    memcpy(&u.info.struct_size, &ss, sizeof ss);
    int rc = t->info(i, &u.info);
    if (ss < sizeof(size_t)) {
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID, "info with struct_size %zu: %d", ss, rc);
    } else if (i >= t->count()) {
        FUZZ_CHECK(rc == MIMIC_ERR_RANGE, "info %zu of %zu: %d", i, t->count(), rc);
    } else {
        FUZZ_CHECK(rc == MIMIC_OK, "info %zu: %s", i, mimic_last_error());
        size_t got;
        memcpy(&got, &u.info.struct_size, sizeof got);
        FUZZ_CHECK(got == ss, "info rewrote struct_size %zu as %zu", ss, got);
    }
    if (rc != MIMIC_OK)
        fuzz_check_failure(rc, "info");
    size_t first = rc == MIMIC_OK ? ss : sizeof(size_t);
    for (size_t b = first; b < sizeof u.bytes; b++)
        FUZZ_CHECK(u.bytes[b] == 0xA5, "info (struct_size %zu, rc %d) wrote byte %zu", ss, rc, b);
    if (i >= t->count())
        return;
    mimic_option_info info;
    get_info(t, i, &info);
    size_t k = 0;
    for (;; k++) {
        const char *name = NULL;
        int32_t v = 0;
        rc = t->choice(i, k, &name, &v);
        if (rc != MIMIC_OK) {
            FUZZ_CHECK(rc == MIMIC_ERR_RANGE, "choice %zu: %d", k, rc);
            fuzz_check_failure(rc, "choice");
            break;
        }
        FUZZ_CHECK(info.type == MIMIC_OPTION_ENUM && name && *name, "%s.%s: choice %zu", t->what,
                   info.name, k);
        uint8_t copy[512];
        memcpy(copy, opts, t->struct_size);
        FUZZ_CHECK(t->set(copy, info.name, name) == MIMIC_OK, "%s.%s = %s: %s", t->what, info.name,
                   name, mimic_last_error());
        int32_t got;
        memcpy(&got, copy + info.offset, sizeof got);
        FUZZ_CHECK(got == v, "%s.%s = %s gives %d, not %d", t->what, info.name, name, (int)got,
                   (int)v);
    }
    FUZZ_CHECK(k == info.n_choices, "%s.%s: %zu choices, info says %zu", t->what, info.name, k,
               info.n_choices);
    const char *name;
    int32_t v;
    FUZZ_CHECK(t->choice(i, k, NULL, &v) == MIMIC_ERR_INVALID &&
                   t->choice(i, 0, &name, NULL) == MIMIC_ERR_INVALID,
               "choice with NULL outputs");
}

/* ---- the structs in use ---------------------------------------------------------------- */

enum { ROWS = 8 };

static void create_all(const mimic_student_options *so, const mimic_train_options *to)
{
    mimic__layout L;
    int lrc = mimic__layout_init(&L, so->n_inputs, so->n_hidden, so->n_bottleneck, so->n_classes);
    mimic_student *s = NULL;
    if (lrc == MIMIC_OK && (L.n_params > (1u << 14) || so->n_inputs > 1024 || so->n_classes > 1024))
        return; /* a legitimate size, too large to be worth the time (options fuzzes sizes) */
    int rc = mimic_student_create(&s, so);
    if (rc != MIMIC_OK) {
        /* every field passes its check: only the sizes together can fail */
        FUZZ_CHECK(rc == MIMIC_ERR_RANGE || rc == MIMIC_ERR_NOMEM, "student_create: %d: %s", rc,
                   mimic_last_error());
        fuzz_check_failure(rc, "mimic_student_create");
        return;
    }
    FUZZ_CHECK(lrc == MIMIC_OK, "a student with sizes the layout refuses");
    const size_t D = so->n_inputs, C = so->n_classes;
    float *x = calloc(ROWS * D, sizeof *x), *z = calloc(ROWS * C, sizeof *z);
    int32_t y[ROWS];
    FUZZ_CHECK(x && z, "harness out of memory");
    for (size_t i = 0; i < ROWS * D; i++)
        x[i] = (float)(i % 7) * 0.25f;
    for (size_t i = 0; i < ROWS * C; i++)
        z[i] = (float)(i % 5) - 2.0f;
    for (int i = 0; i < ROWS; i++)
        y[i] = (int32_t)((size_t)i % C);
    mimic_dataset *d = NULL;
    FUZZ_CHECK(mimic_dataset_create(&d, x, MIMIC_DTYPE_F32, z, y, ROWS, D, C) == MIMIC_OK, "%s",
               mimic_last_error());
    mimic_trainer *t = NULL;
    rc = mimic_trainer_create(&t, s, d, to);
    if (rc != MIMIC_OK) {
        /* only the rules that tie fields together are left to fail */
        FUZZ_CHECK(rc == MIMIC_ERR_INVALID || rc == MIMIC_ERR_NOMEM, "trainer_create: %d: %s", rc,
                   mimic_last_error());
        fuzz_check_failure(rc, "mimic_trainer_create");
        FUZZ_CHECK(rc != MIMIC_ERR_INVALID || strncmp(mimic_last_error(), "options.", 8) == 0,
                   "trainer_create: message does not name an option: %s", mimic_last_error());
    } else {
        for (int i = 0; i < 2; i++) {
            double loss;
            rc = mimic_trainer_step(t, &loss);
            if (rc != MIMIC_OK) {
                fuzz_check_failure(rc, "mimic_trainer_step");
                break;
            }
        }
        mimic_trainer_free(t);
    }
    mimic_dataset_free(d);
    free(x);
    free(z);
    mimic_student_free(s);
}

/* ---- the target -------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0; /* lines are names and values: longer inputs add nothing */
    /* A NUL-terminated copy whose lines become the names and values (strings set into the
     * struct borrow them, so it lives until the struct is done with). */
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "harness out of memory");
    if (size) /* an empty input may come as NULL */
        memcpy(text, data, size);
    text[size] = '\0';

    mimic_train_options to;
    mimic_train_options_init(&to, sizeof to);
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    /* a small valid student to start from, through the setter itself */
    FUZZ_CHECK(mimic_student_option_set(&so, "n_inputs", "4") == MIMIC_OK &&
                   mimic_student_option_set(&so, "--hidden", "3") == MIMIC_OK &&
                   mimic_student_option_set(&so, "n_classes", "3") == MIMIC_OK,
               "%s", mimic_last_error());
    mimic_train_option_set(&to, "epochs", "2");
    mimic_train_option_set(&to, "--batch", "4");

    char *line = text, *end = text + size;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl)
            *nl = '\0';
        char op = line[0];
        char *rest = line + (op ? 1 : 0);
        if (op != 'T' && op != 'S' && op != 'U' && op != 'F' && op != 'I') {
            op = 'T';
            rest = line;
        }
        char *eq = strchr(rest, '=');
        const char *value = NULL;
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        }
        switch (op) {
        case 'T': do_set(tables(0), &to, rest, value); break;
        case 'S': do_set(tables(1), &so, rest, value); break;
        case 'U': do_check_used(&to, rest); break;
        case 'F':
            for (int st = 0; st < 2; st++) {
                size_t idx;
                if (find_row(tables(st), rest, &idx) == MIMIC_OK)
                    do_info(tables(st), idx, sizeof(mimic_option_info),
                            st ? (const void *)&so : (const void *)&to);
            }
            break;
        default: { /* 'I' */
            int st = rest[0] & 1;
            size_t ss = rest[0] ? (unsigned char)rest[1] % (sizeof(mimic_option_info) + 9) : 0;
            const char *num = rest[0] && rest[1] ? rest + 2 : "";
            uint64_t idx = 0;
            for (const char *p = num; *p >= '0' && *p <= '9' && idx < ((uint64_t)1 << 60); p++)
                idx = idx * 10 + (uint64_t)(*p - '0');
            do_info(tables(st), (size_t)idx, ss, st ? (const void *)&so : (const void *)&to);
            break;
        }
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    /* The NULL-struct and NULL-name paths, once per input (cheap). */
    FUZZ_CHECK(mimic_train_option_set(NULL, "epochs", "1") == MIMIC_ERR_INVALID &&
                   mimic_student_option_set(NULL, "seed", "1") == MIMIC_ERR_INVALID &&
                   mimic_train_option_check_used(NULL, "epochs") == MIMIC_ERR_INVALID,
               "NULL struct accepted");
    create_all(&so, &to);
    free(text);
    return 0;
}
