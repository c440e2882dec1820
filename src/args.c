/* Option parsing, strict numbers, error messages and help text for the CLI. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1; /* no sign, no leading space, not empty */
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!s || *s == '\0' || *s == ' ' || *s == '\t' || *s == '\n')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "mimic%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'mimic %s%s--help' for more information.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_EXIT_USAGE;
}

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_RUNTIME;
}

int cli_lib_error(const char *cmd, const char *what, int status)
{
    const char *msg = mimic_last_error();
    if (!msg || !*msg)
        msg = mimic_status_str(status);
    if (what && *what)
        return cli_error(cmd, "%s: %s", what, msg);
    return cli_error(cmd, "%s", msg);
}

const cli_opt *cli_find(const cli_opt *opts, size_t n_opts, const char *name)
{
    for (size_t i = 0; i < n_opts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

int cli_seen(const cli_opt *opts, size_t n_opts, const char *name)
{
    const cli_opt *o = cli_find(opts, n_opts, name);
    return o ? o->seen : 0;
}

int cli_require(const char *cmd, const cli_opt *opts, size_t n_opts, const char *name)
{
    if (cli_seen(opts, n_opts, name))
        return CLI_EXIT_OK;
    return cli_usage_error(cmd, "missing required option %s", name);
}

static void choices_text(const cli_opt *o, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; o->choices[i]; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? "|" : "", o->choices[i]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static int set_value(const char *cmd, cli_opt *o, const char *v)
{
    uint64_t u;
    double d;
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case OPT_STR:
        if (!*v)
            return cli_usage_error(cmd, "%s: expected a value, got an empty string", o->name);
        *(const char **)o->dest = v;
        return 0;
    case OPT_U64:
        if (cli_parse_u64(v, &u) != 0)
            return cli_usage_error(cmd, "%s: expected a non-negative integer, got '%s'", o->name, v);
        *(uint64_t *)o->dest = u;
        return 0;
    case OPT_POS_U64:
        if (cli_parse_u64(v, &u) != 0 || u == 0)
            return cli_usage_error(cmd, "%s: expected a positive integer, got '%s'", o->name, v);
        *(uint64_t *)o->dest = u;
        return 0;
    case OPT_I32_POS:
        if (cli_parse_u64(v, &u) != 0 || u == 0 || u > INT32_MAX)
            return cli_usage_error(cmd, "%s: expected a positive integer, got '%s'", o->name, v);
        *(int32_t *)o->dest = (int32_t)u;
        return 0;
    case OPT_DOUBLE:
        if (cli_parse_double(v, &d) != 0)
            return cli_usage_error(cmd, "%s: expected a number, got '%s'", o->name, v);
        *(double *)o->dest = d;
        return 0;
    case OPT_POS_DOUBLE:
        if (cli_parse_double(v, &d) != 0 || !(d > 0))
            return cli_usage_error(cmd, "%s: expected a positive number, got '%s'", o->name, v);
        *(double *)o->dest = d;
        return 0;
    case OPT_NONNEG_DOUBLE:
        if (cli_parse_double(v, &d) != 0 || d < 0)
            return cli_usage_error(cmd, "%s: expected a non-negative number, got '%s'", o->name, v);
        *(double *)o->dest = d;
        return 0;
    case OPT_UNIT_DOUBLE:
        if (cli_parse_double(v, &d) != 0 || d < 0 || d > 1)
            return cli_usage_error(cmd, "%s: expected a number in [0, 1], got '%s'", o->name, v);
        *(double *)o->dest = d;
        return 0;
    case OPT_CHOICE:
        for (size_t i = 0; o->choices[i]; i++) {
            if (strcmp(o->choices[i], v) == 0) {
                *(int32_t *)o->dest = o->values[i];
                return 0;
            }
        }
        {
            char c[256];
            choices_text(o, c, sizeof c);
            return cli_usage_error(cmd, "%s: expected one of %s, got '%s'", o->name, c, v);
        }
    }
    return cli_usage_error(cmd, "%s: internal error: unknown option kind", o->name);
}

int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, size_t n_opts,
              const char *usage, const char *about, int *help_shown)
{
    *help_shown = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd, opts, n_opts, usage, about);
            *help_shown = 1;
            return CLI_EXIT_OK;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return cli_usage_error(cmd, "unexpected argument '%s' (options start with --)", a);
        const char *eq = strchr(a, '=');
        char name[64];
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name)
            return cli_usage_error(cmd, "unknown option '%.40s...'", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        cli_opt *o = (cli_opt *)cli_find(opts, n_opts, name);
        if (!o)
            return cli_usage_error(cmd, "unknown option '%s'", name);
        const char *v = NULL;
        if (o->kind == OPT_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "%s: takes no value", name);
        } else if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "%s: missing value", name);
            v = argv[++i];
        }
        int rc = set_value(cmd, o, v);
        if (rc != 0)
            return rc;
        o->seen = 1;
    }
    return CLI_EXIT_OK;
}

void cli_print_help(const char *cmd, const cli_opt *opts, size_t n_opts, const char *usage,
                    const char *about)
{
    printf("Usage: mimic %s %s\n", cmd, usage);
    if (about && *about)
        printf("\n%s\n", about);
    printf("\nOptions:\n");
    for (size_t i = 0; i < n_opts; i++) {
        const cli_opt *o = &opts[i];
        char left[96];
        if (o->kind == OPT_FLAG) {
            snprintf(left, sizeof left, "%s", o->name);
        } else if (o->kind == OPT_CHOICE) {
            char c[80];
            choices_text(o, c, sizeof c);
            snprintf(left, sizeof left, "%s %s", o->name, c);
        } else {
            snprintf(left, sizeof left, "%s %s", o->name, o->metavar ? o->metavar : "X");
        }
        if (strlen(left) > 26)
            printf("  %s\n  %-26s  %s", left, "", o->help);
        else
            printf("  %-26s  %s", left, o->help);
        if (o->def && strncmp(o->def, "required", 8) == 0)
            printf(" [%s]", o->def);
        else if (o->def && *o->def)
            printf(" [default: %s]", o->def);
        printf("\n");
    }
    printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
}
