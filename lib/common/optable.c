/* Option tables: defaults, checks, text parsing and introspection from one description of
 * each options struct (see mimic__opt in common.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"

static void *field(void *opts, const mimic__opt *o)
{
    return (char *)opts + o->offset;
}

static const void *cfield(const void *opts, const mimic__opt *o)
{
    return (const char *)opts + o->offset;
}

static int32_t get_i32(const void *opts, const mimic__opt *o)
{
    int32_t v;
    memcpy(&v, cfield(opts, o), sizeof v);
    return v;
}

static uint64_t get_u64(const void *opts, const mimic__opt *o)
{
    if (o->type == MIMIC_OPTION_SIZE) {
        size_t v;
        memcpy(&v, cfield(opts, o), sizeof v);
        return (uint64_t)v;
    }
    uint64_t v;
    memcpy(&v, cfield(opts, o), sizeof v);
    return v;
}

static double get_dbl(const void *opts, const mimic__opt *o)
{
    double v;
    memcpy(&v, cfield(opts, o), sizeof v);
    return v;
}

double mimic__opt_number(const mimic__opt *o, const void *opts)
{
    switch (o->type) {
    case MIMIC_OPTION_BOOL:
    case MIMIC_OPTION_ENUM:
    case MIMIC_OPTION_INT32: return (double)get_i32(opts, o);
    case MIMIC_OPTION_UINT64:
    case MIMIC_OPTION_SIZE: return (double)get_u64(opts, o);
    case MIMIC_OPTION_DOUBLE: return get_dbl(opts, o);
    default: return NAN;
    }
}

static void put_number(void *opts, const mimic__opt *o, double v)
{
    switch (o->type) {
    case MIMIC_OPTION_BOOL:
    case MIMIC_OPTION_ENUM:
    case MIMIC_OPTION_INT32: {
        int32_t x = (int32_t)v;
        memcpy(field(opts, o), &x, sizeof x);
        break;
    }
    case MIMIC_OPTION_UINT64: {
        uint64_t x = (uint64_t)v;
        memcpy(field(opts, o), &x, sizeof x);
        break;
    }
    case MIMIC_OPTION_SIZE: {
        size_t x = (size_t)v;
        memcpy(field(opts, o), &x, sizeof x);
        break;
    }
    case MIMIC_OPTION_DOUBLE:
        memcpy(field(opts, o), &v, sizeof v);
        break;
    default:
        break;
    }
}

size_t mimic__opt_count(const mimic__optable *t)
{
    size_t n = 0;
    for (size_t g = 0; g < t->n_groups; g++)
        n += t->groups[g]->n;
    return n;
}

const mimic__opt *mimic__opt_at(const mimic__optable *t, size_t i, const char **heading)
{
    for (size_t g = 0; g < t->n_groups; g++) {
        if (i < t->groups[g]->n) {
            if (heading)
                *heading = t->groups[g]->heading;
            return &t->groups[g]->rows[i];
        }
        i -= t->groups[g]->n;
    }
    return NULL;
}

void mimic__opt_defaults(const mimic__optable *t, void *dst, size_t size)
{
    memset(dst, 0, size);
    for (size_t g = 0; g < t->n_groups; g++)
        for (size_t i = 0; i < t->groups[g]->n; i++)
            put_number(dst, &t->groups[g]->rows[i], t->groups[g]->rows[i].def);
}

const char *mimic__opt_applies_to(char *buf, size_t cap, const char *field, const char *owner,
                                  const char *current,
                                  const char *(*owner_choice)(size_t, int32_t *),
                                  bool (*reads)(int32_t value, const char *field))
{
    char users[128];
    size_t used = 0;
    int32_t v;
    const char *name;
    users[0] = '\0';
    for (size_t k = 0; (name = owner_choice(k, &v)) != NULL; k++)
        if (reads(v, field)) {
            int w = snprintf(users + used, sizeof users - used, "%s%s", used ? " or " : "", name);
            if (w < 0 || (size_t)w >= sizeof users - used)
                break;
            used += (size_t)w;
        }
    snprintf(buf, cap, "it applies to options.%s %s, and options.%s is %s", owner, users, owner,
             current);
    return buf;
}

const char *mimic__opt_choice_name(const mimic__opt *o, int32_t v)
{
    int32_t cv;
    const char *name;
    for (size_t k = 0; o->choice && (name = o->choice(k, &cv)) != NULL; k++)
        if (cv == v)
            return name;
    return "?";
}

static size_t n_choices(const mimic__opt *o)
{
    int32_t v;
    size_t k = 0;
    while (o->choice && o->choice(k, &v))
        k++;
    return k;
}

/* "in [0, 1)", "finite and >= 0", "> 0" ... */
static void range_text(const mimic__opt *o, char *buf, size_t cap)
{
    const bool lo = isfinite(o->min), hi = isfinite(o->max);
    const bool lo_x = o->bounds & MIMIC__OPT_MIN_EXCL, hi_x = o->bounds & MIMIC__OPT_MAX_EXCL;
    const bool is_dbl = o->type == MIMIC_OPTION_DOUBLE;
    if (lo && hi)
        snprintf(buf, cap, "in %c%g, %g%c", lo_x ? '(' : '[', o->min, o->max, hi_x ? ')' : ']');
    else if (lo && !is_dbl && !lo_x && o->min == 1)
        snprintf(buf, cap, "> 0");
    else if (lo)
        snprintf(buf, cap, "%s%s %g", is_dbl ? "finite and " : "", lo_x ? ">" : ">=", o->min);
    else if (hi)
        snprintf(buf, cap, "%s%s %g", is_dbl ? "finite and " : "", hi_x ? "<" : "<=", o->max);
    else
        snprintf(buf, cap, "finite");
}

static bool in_range(const mimic__opt *o, double v)
{
    if (o->type == MIMIC_OPTION_DOUBLE && !isfinite(v))
        return false;
    if (o->bounds & MIMIC__OPT_MIN_EXCL ? !(v > o->min) : !(v >= o->min))
        return false;
    if (o->bounds & MIMIC__OPT_MAX_EXCL ? !(v < o->max) : !(v <= o->max))
        return false;
    return true;
}

int mimic__opt_check(const mimic__optable *t, const mimic__opt *o, const void *opts)
{
    char range[96], value[48];
    switch (o->type) {
    case MIMIC_OPTION_BOOL: {
        int32_t v = get_i32(opts, o);
        if (v != 0 && v != 1)
            return mimic__error(MIMIC_ERR_INVALID, "%s.%s: must be 0 or 1, not %d", t->what,
                                o->name, (int)v);
        return MIMIC_OK;
    }
    case MIMIC_OPTION_ENUM: {
        int32_t v = get_i32(opts, o);
        if (strcmp(mimic__opt_choice_name(o, v), "?") == 0)
            return mimic__error(MIMIC_ERR_INVALID, "%s.%s: %d is not a %s* value", t->what,
                                o->name, (int)v, o->enum_prefix ? o->enum_prefix : "known ");
        return MIMIC_OK;
    }
    case MIMIC_OPTION_INT32:
    case MIMIC_OPTION_UINT64:
    case MIMIC_OPTION_SIZE:
    case MIMIC_OPTION_DOUBLE: {
        double v = mimic__opt_number(o, opts);
        if (in_range(o, v))
            return MIMIC_OK;
        range_text(o, range, sizeof range);
        if (o->type == MIMIC_OPTION_DOUBLE)
            snprintf(value, sizeof value, "%g", v);
        else if (o->type == MIMIC_OPTION_INT32)
            snprintf(value, sizeof value, "%d", (int)get_i32(opts, o));
        else
            snprintf(value, sizeof value, "%" PRIu64, get_u64(opts, o));
        return mimic__error(MIMIC_ERR_INVALID, "%s.%s: must be %s%s%s%s, not %s", t->what,
                            o->name, range, o->note ? " (" : "", o->note ? o->note : "",
                            o->note ? ")" : "", value);
    }
    default:
        return MIMIC_OK;
    }
}

int mimic__opt_validate(const mimic__optable *t, const void *opts)
{
    const mimic__opt *o;
    for (size_t i = 0; (o = mimic__opt_at(t, i, NULL)) != NULL; i++) {
        int rc = mimic__opt_check(t, o, opts);
        if (rc != MIMIC_OK)
            return rc;
    }
    return MIMIC_OK;
}

const mimic__opt *mimic__opt_find(const mimic__optable *t, const char *name)
{
    if (!name) {
        mimic__error(MIMIC_ERR_INVALID, "%s: option name is NULL", t->what);
        return NULL;
    }
    const mimic__opt *o;
    for (size_t i = 0; (o = mimic__opt_at(t, i, NULL)) != NULL; i++)
        if (strcmp(o->name, name) == 0 || (o->flag && strcmp(o->flag, name) == 0))
            return o;
    char known[1024];
    size_t used = 0;
    known[0] = '\0';
    for (size_t i = 0; (o = mimic__opt_at(t, i, NULL)) != NULL && used + 2 < sizeof known; i++) {
        int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", o->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    mimic__error(MIMIC_ERR_INVALID, "%s: no option \"%.64s\" (known: %s)", t->what, name, known);
    return NULL;
}

static bool parse_bool(const char *s, int32_t *v)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *v = 1;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *v = 0;
            return true;
        }
    }
    return false;
}

static bool parse_i64(const char *s, int64_t *v)
{
    uint64_t u;
    if (*s == '-') {
        if (!mimic__parse_u64(s + 1, &u) || u > (uint64_t)INT64_MAX + 1)
            return false;
        *v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        return true;
    }
    if (!mimic__parse_u64(s, &u) || u > INT64_MAX)
        return false;
    *v = (int64_t)u;
    return true;
}

/* The text as the field's type; MIMIC_ERR_INVALID naming the field when it does not parse. */
static int parse_text(const mimic__optable *t, const mimic__opt *o, const char *text,
                      void *opts)
{
    int64_t i;
    uint64_t u;
    double d;
    int32_t v;
    switch (o->type) {
    case MIMIC_OPTION_BOOL:
        if (!parse_bool(text, &v))
            return mimic__error(MIMIC_ERR_INVALID, "%s.%s: expected 0 or 1, got '%.64s'",
                                t->what, o->name, text);
        put_number(opts, o, v);
        return MIMIC_OK;
    case MIMIC_OPTION_ENUM: {
        const char *name;
        for (size_t k = 0; (name = o->choice(k, &v)) != NULL; k++)
            if (strcmp(name, text) == 0) {
                put_number(opts, o, v);
                return MIMIC_OK;
            }
        if (parse_i64(text, &i) && i >= INT32_MIN && i <= INT32_MAX) {
            put_number(opts, o, (double)i);
            return MIMIC_OK;
        }
        char names[256];
        size_t used = 0;
        names[0] = '\0';
        for (size_t k = 0; (name = o->choice(k, &v)) != NULL && used + 2 < sizeof names; k++) {
            int w = snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "", name);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return mimic__error(MIMIC_ERR_INVALID, "%s.%s: expected one of %s, got '%.64s'",
                            t->what, o->name, names, text);
    }
    case MIMIC_OPTION_INT32:
        if (!parse_i64(text, &i) || i < INT32_MIN || i > INT32_MAX)
            return mimic__error(MIMIC_ERR_INVALID, "%s.%s: expected an integer, got '%.64s'",
                                t->what, o->name, text);
        put_number(opts, o, (double)i);
        return MIMIC_OK;
    case MIMIC_OPTION_UINT64:
    case MIMIC_OPTION_SIZE:
        if (!mimic__parse_u64(text, &u) || (o->type == MIMIC_OPTION_SIZE && u > SIZE_MAX))
            return mimic__error(MIMIC_ERR_INVALID,
                                "%s.%s: expected a non-negative integer, got '%.64s'", t->what,
                                o->name, text);
        if (o->type == MIMIC_OPTION_SIZE) {
            size_t x = (size_t)u;
            memcpy(field(opts, o), &x, sizeof x);
        } else {
            memcpy(field(opts, o), &u, sizeof u);
        }
        return MIMIC_OK;
    case MIMIC_OPTION_DOUBLE:
        if (!mimic__parse_double(text, &d))
            return mimic__error(MIMIC_ERR_INVALID, "%s.%s: expected a number, got '%.64s'",
                                t->what, o->name, text);
        put_number(opts, o, d);
        return MIMIC_OK;
    case MIMIC_OPTION_STRING:
        memcpy(field(opts, o), &text, sizeof text);
        return MIMIC_OK;
    default:
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s.%s: is a pointer (a handle or callback) and cannot be set from "
                            "text",
                            t->what, o->name);
    }
}

int mimic__opt_index(const mimic__optable *t, const char *name, size_t *index)
{
    const mimic__opt *o = mimic__opt_find(t, name);
    if (!o)
        return MIMIC_ERR_INVALID;
    for (size_t i = 0; index && mimic__opt_at(t, i, NULL); i++)
        if (mimic__opt_at(t, i, NULL) == o)
            *index = i;
    return MIMIC_OK;
}

int mimic__opt_set(const mimic__optable *t, void *opts, const char *name, const char *text)
{
    if (!opts)
        return mimic__error(MIMIC_ERR_INVALID, "%s: the options struct is NULL", t->what);
    const mimic__opt *o = mimic__opt_find(t, name);
    if (!o)
        return MIMIC_ERR_INVALID;
    if (!text)
        return mimic__error(MIMIC_ERR_INVALID, "%s.%s: value is NULL", t->what, o->name);
    unsigned char saved[16];
    memcpy(saved, field(opts, o), o->size);
    int rc = parse_text(t, o, text, opts);
    if (rc == MIMIC_OK)
        rc = mimic__opt_check(t, o, opts);
    if (rc != MIMIC_OK)
        memcpy(field(opts, o), saved, o->size);
    return rc;
}

int mimic__opt_info(const mimic__optable *t, size_t i, void *out)
{
    int rc = mimic__struct_check_out(out, "option info", "setting out->struct_size");
    if (rc != MIMIC_OK)
        return rc;
    const char *heading = NULL;
    const mimic__opt *o = mimic__opt_at(t, i, &heading);
    if (!o)
        return mimic__error(MIMIC_ERR_RANGE, "%s: option index %zu, there are %zu", t->what, i,
                            mimic__opt_count(t));
    mimic_option_info info;
    memset(&info, 0, sizeof info);
    info.name = o->name;
    info.type = o->type;
    info.since = o->since ? o->since : 10000;
    info.group = heading;
    info.offset = o->offset;
    info.size = o->size;
    const bool number = o->type != MIMIC_OPTION_STRING && o->type != MIMIC_OPTION_POINTER;
    info.default_value = number ? o->def : NAN;
    info.min = o->min;
    info.max = o->max;
    info.min_exclusive = (o->bounds & MIMIC__OPT_MIN_EXCL) != 0;
    info.max_exclusive = (o->bounds & MIMIC__OPT_MAX_EXCL) != 0;
    info.shapes_run = (o->flags & MIMIC__OPT_SHAPES_RUN) != 0;
    info.n_choices = n_choices(o);
    info.cli_flag = o->flag;
    info.metavar = o->metavar;
    info.help = o->help;
    info.default_text = o->default_text;
    size_t theirs;
    memcpy(&theirs, out, sizeof theirs);
    mimic__struct_copy_out(out, theirs, &info, sizeof info);
    return MIMIC_OK;
}

int mimic__opt_choice(const mimic__optable *t, size_t i, size_t k, const char **name,
                      int32_t *value)
{
    if (!name || !value)
        return mimic__error(MIMIC_ERR_INVALID, "%s: name and value must not be NULL", t->what);
    const mimic__opt *o = mimic__opt_at(t, i, NULL);
    if (!o)
        return mimic__error(MIMIC_ERR_RANGE, "%s: option index %zu, there are %zu", t->what, i,
                            mimic__opt_count(t));
    const char *n = o->choice ? o->choice(k, value) : NULL;
    if (!n)
        return mimic__error(MIMIC_ERR_RANGE, "%s.%s: no choice %zu (it has %zu)", t->what,
                            o->name, k, n_choices(o));
    *name = n;
    return MIMIC_OK;
}

void mimic__opt_ident(const mimic__opt *o, const void *opts, char *buf, size_t cap)
{
    if (o->ident) {
        o->ident(opts, buf, cap);
        return;
    }
    switch (o->type) {
    case MIMIC_OPTION_DOUBLE:
        snprintf(buf, cap, "%.17g", get_dbl(opts, o)); /* round-trips exactly through strtod */
        break;
    case MIMIC_OPTION_UINT64:
    case MIMIC_OPTION_SIZE:
        snprintf(buf, cap, "%" PRIu64, get_u64(opts, o));
        break;
    default:
        snprintf(buf, cap, "%" PRIu64, (uint64_t)get_i32(opts, o));
        break;
    }
}
