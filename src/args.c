/* Option parsing, strict numbers, error messages and help text for the CLI. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Where errors go instead of stderr (a rank of `mpirun mimic train`: dist.c), or NULL. */
static char *capture;
static size_t capture_cap;

void cli_capture_errors(char *buf, size_t cap)
{
    capture = buf;
    capture_cap = cap;
    if (buf && cap)
        buf[0] = '\0';
}

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
    if (capture) {
        vsnprintf(capture, capture_cap, fmt, ap);
        return;
    }
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
    if (!capture)
        fprintf(stderr, "Try 'mimic %s%s--help' for more information.\n", cmd ? cmd : "",
                cmd ? " " : "");
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

/* The flag of a library option field, for messages: its own, or the tool's flag that sets
 * it (--image sets both image fields; validation data comes from --valid-inputs). */
static const char *flag_of(int student, const char *field)
{
    static const struct {
        const char *field, *flag;
    } own[] = {{"image_height", "--image"},
               {"image_width", "--image"},
               {"validation", "--valid-inputs"},
               {"n_inputs", "--inputs"},
               {"n_classes", "--n-classes"}};
    size_t i;
    mimic_option_info info;
    info.struct_size = sizeof info;
    int rc = student ? mimic_student_option_find(field, &i) : mimic_train_option_find(field, &i);
    if (rc == MIMIC_OK)
        rc = student ? mimic_student_option_info(i, &info) : mimic_train_option_info(i, &info);
    if (rc == MIMIC_OK && info.cli_flag)
        return info.cli_flag;
    for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
        if (strcmp(own[k].field, field) == 0)
            return own[k].flag;
    return NULL;
}

const char *cli_translate(const char *msg, char *buf, size_t cap)
{
    static const char *const prefixes[] = {"student_options.", "options."};
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = msg; *p && used + 1 < cap;) {
        int matched = 0;
        for (int k = 0; k < 2 && !matched; k++) {
            size_t pl = strlen(prefixes[k]);
            int at_word = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
            if (!at_word || strncmp(p, prefixes[k], pl) != 0)
                continue;
            char field[64];
            size_t n = 0;
            while ((isalnum((unsigned char)p[pl + n]) || p[pl + n] == '_') &&
                   n + 1 < sizeof field) {
                field[n] = p[pl + n];
                n++;
            }
            field[n] = '\0';
            const char *flag = n ? flag_of(k == 0, field) : NULL;
            if (!flag)
                continue;
            int w = snprintf(buf + used, cap - used, "%s", flag);
            if (w < 0)
                return buf;
            used = used + (size_t)w < cap ? used + (size_t)w : cap - 1;
            p += pl + n;
            matched = 1;
        }
        if (!matched)
            buf[used++] = *p++;
        buf[used] = '\0';
    }
    return buf;
}

int cli_lib_error(const char *cmd, const char *what, int status)
{
    const char *msg = mimic_last_error();
    if (!msg || !*msg)
        msg = mimic_status_str(status);
    char text[1024];
    cli_translate(msg, text, sizeof text);
    /* the library's messages about a file start with its path: say it once */
    if (what && *what && strncmp(text, what, strlen(what)) != 0)
        return cli_error(cmd, "%s: %s", what, text);
    return cli_error(cmd, "%s", text);
}

int cli_check_output(const char *cmd, const char *flag, const char *path, const char *const *inputs,
                     size_t n_inputs)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cli_error(cmd, "%s %s: is a directory", flag, path);
        for (size_t i = 0; i < n_inputs; i++) {
            struct stat in;
            if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == st.st_dev &&
                in.st_ino == st.st_ino)
                return cli_error(cmd, "%s %s: is also an input file; it would be overwritten", flag,
                                 path);
        }
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0)
        return cli_error(cmd, "%s %s: the directory %s does not exist", flag, path, dir);
    if (!S_ISDIR(st.st_mode))
        return cli_error(cmd, "%s %s: %s is not a directory", flag, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_error(cmd, "%s %s: cannot write in %s: %s", flag, path, dir, strerror(errno));
    return CLI_EXIT_OK;
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

/* The name of value v of an enum option (the loss, the activation), from the library. */
const char *cli_choice_name(int student, const char *field, int32_t v)
{
    size_t i;
    const char *name;
    int32_t cv;
    if ((student ? mimic_student_option_find(field, &i) : mimic_train_option_find(field, &i)) !=
        MIMIC_OK)
        return "?";
    for (size_t k = 0;; k++) {
        int rc = student ? mimic_student_option_choice(i, k, &name, &cv)
                         : mimic_train_option_choice(i, k, &name, &cv);
        if (rc != MIMIC_OK)
            return "?";
        if (cv == v)
            return name;
    }
}

/* The info of a library option. */
static mimic_option_info lib_info(const cli_opt *o)
{
    mimic_option_info info;
    info.struct_size = sizeof info;
    if (o->kind == OPT_TRAIN)
        mimic_train_option_info(o->index, &info);
    else
        mimic_student_option_info(o->index, &info);
    return info;
}

/* "relu|sigmoid|tanh" */
static void choices_text(const cli_opt *o, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    const char *name;
    int32_t v;
    for (size_t k = 0;; k++) {
        int rc = o->kind == OPT_TRAIN ? mimic_train_option_choice(o->index, k, &name, &v)
                                      : mimic_student_option_choice(o->index, k, &name, &v);
        if (rc != MIMIC_OK)
            break;
        int w = snprintf(buf + used, n - used, "%s%s", k ? "|" : "", name);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static int is_bool(const cli_opt *o)
{
    return (o->kind == OPT_TRAIN || o->kind == OPT_STUDENT) &&
           lib_info(o).type == MIMIC_OPTION_BOOL;
}

static size_t lib_opts(cli_opt *opts, size_t cap, void *dest, int student)
{
    size_t n = 0, count = student ? mimic_student_option_count() : mimic_train_option_count();
    for (size_t i = 0; i < count && n < cap; i++) {
        mimic_option_info info;
        info.struct_size = sizeof info;
        if ((student ? mimic_student_option_info(i, &info) : mimic_train_option_info(i, &info)) !=
                MIMIC_OK ||
            !info.cli_flag)
            continue;
        cli_opt *o = &opts[n++];
        memset(o, 0, sizeof *o);
        o->name = info.cli_flag;
        o->kind = student ? OPT_STUDENT : OPT_TRAIN;
        o->dest = dest;
        o->metavar = info.metavar;
        o->help = info.help;
        o->index = i;
    }
    return n;
}

size_t cli_train_opts(cli_opt *opts, size_t cap, mimic_train_options *dest)
{
    return lib_opts(opts, cap, dest, 0);
}

size_t cli_student_opts(cli_opt *opts, size_t cap, mimic_student_options *dest)
{
    return lib_opts(opts, cap, dest, 1);
}

static int set_value(const char *cmd, cli_opt *o, const char *v)
{
    uint64_t u;
    double d;
    switch (o->kind) {
    case OPT_FLAG: *(int *)o->dest = 1; return 0;
    case OPT_STR:
        if (!*v)
            return cli_usage_error(cmd, "%s: expected a value, got an empty string", o->name);
        *(const char **)o->dest = v;
        return 0;
    case OPT_POS_U64:
        if (cli_parse_u64(v, &u) != 0 || u == 0)
            return cli_usage_error(cmd, "%s: expected a positive integer, got '%s'", o->name, v);
        *(uint64_t *)o->dest = u;
        return 0;
    case OPT_POS_DOUBLE:
        if (cli_parse_double(v, &d) != 0 || !(d > 0))
            return cli_usage_error(cmd, "%s: expected a positive number, got '%s'", o->name, v);
        *(double *)o->dest = d;
        return 0;
    case OPT_TRAIN:
    case OPT_STUDENT: {
        const char *field = lib_info(o).name;
        int st = o->kind == OPT_TRAIN ? mimic_train_option_set(o->dest, field, v ? v : "1")
                                      : mimic_student_option_set(o->dest, field, v ? v : "1");
        if (st == MIMIC_OK)
            return 0;
        char text[1024];
        return cli_usage_error(cmd, "%s", cli_translate(mimic_last_error(), text, sizeof text));
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
        if (o->seen)
            return cli_usage_error(cmd, "%s given twice (each option at most once)", name);
        const char *v = NULL;
        if (o->kind == OPT_FLAG || is_bool(o)) {
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

/* The default of a library option as --help shows it: its text, or the value the struct
 * holds before parsing (the library's default, or the tool's where it sets one). */
static void lib_default(const cli_opt *o, char *buf, size_t n)
{
    mimic_option_info info = lib_info(o);
    buf[0] = '\0';
    if (o->def) {
        snprintf(buf, n, "%s", o->def);
        return;
    }
    if (info.default_text) {
        snprintf(buf, n, "%s", info.default_text);
        return;
    }
    const char *field = (const char *)o->dest + info.offset;
    int32_t i32;
    uint64_t u64;
    size_t sz;
    double d;
    switch (info.type) {
    case MIMIC_OPTION_BOOL:
        memcpy(&i32, field, sizeof i32);
        snprintf(buf, n, "%s", i32 ? "on" : "off");
        break;
    case MIMIC_OPTION_ENUM:
        memcpy(&i32, field, sizeof i32);
        snprintf(buf, n, "%s", cli_choice_name(o->kind == OPT_STUDENT, info.name, i32));
        break;
    case MIMIC_OPTION_INT32:
        memcpy(&i32, field, sizeof i32);
        snprintf(buf, n, "%d", (int)i32);
        break;
    case MIMIC_OPTION_UINT64:
        memcpy(&u64, field, sizeof u64);
        snprintf(buf, n, "%llu", (unsigned long long)u64);
        break;
    case MIMIC_OPTION_SIZE:
        memcpy(&sz, field, sizeof sz);
        snprintf(buf, n, "%zu", sz);
        break;
    case MIMIC_OPTION_DOUBLE:
        memcpy(&d, field, sizeof d);
        snprintf(buf, n, "%g", d);
        break;
    default: snprintf(buf, n, "none"); break;
    }
}

void cli_print_help(const char *cmd, const cli_opt *opts, size_t n_opts, const char *usage,
                    const char *about)
{
    printf("Usage: mimic %s %s\n", cmd, usage);
    if (about && *about)
        printf("\n%s\n", about);
    const char *group = NULL;
    printf("\nOptions:\n");
    for (size_t i = 0; i < n_opts; i++) {
        const cli_opt *o = &opts[i];
        const int lib = o->kind == OPT_TRAIN || o->kind == OPT_STUDENT;
        mimic_option_info info;
        if (lib) {
            info = lib_info(o);
            if (info.group && (!group || strcmp(group, info.group) != 0)) {
                group = info.group;
                printf("\nOptions: %s\n", group);
            }
        }
        char left[96], def[160];
        if (o->kind == OPT_FLAG || is_bool(o)) {
            snprintf(left, sizeof left, "%s", o->name);
        } else if (lib && info.type == MIMIC_OPTION_ENUM) {
            char c[80];
            choices_text(o, c, sizeof c);
            snprintf(left, sizeof left, "%s %s", o->name, c);
        } else {
            snprintf(left, sizeof left, "%s %s", o->name, o->metavar ? o->metavar : "X");
        }
        if (lib)
            lib_default(o, def, sizeof def);
        else
            snprintf(def, sizeof def, "%s", o->def ? o->def : "");
        if (strlen(left) > 26)
            printf("  %s\n  %-26s  %s", left, "", o->help);
        else
            printf("  %-26s  %s", left, o->help);
        if (strncmp(def, "required", 8) == 0)
            printf(" [%s]", def);
        else if (*def)
            printf(" [default: %s]", def);
        printf("\n");
    }
    printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
}
