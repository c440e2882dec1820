/*
 * The `mimic` command-line tool: shared declarations.
 *
 * Exit statuses: 0 success, 1 runtime error (a file or library error: the message names the
 * file and the problem), 2 usage error (unknown flag, missing required flag, bad value),
 * 130 training cancelled by Ctrl-C (SIGINT; --out is then left untouched).
 */
#ifndef MIMIC_CLI_H
#define MIMIC_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <mimic.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_RUNTIME 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_CANCELLED 130

/* ---- option tables (args.c) ------------------------------------------------------------ */

typedef enum cli_opt_kind {
    OPT_FLAG,     /* int, set to 1 */
    OPT_STR,      /* const char * */
    OPT_U64,      /* uint64_t >= 0 */
    OPT_POS_U64,  /* uint64_t > 0 */
    OPT_DOUBLE,   /* any finite double */
    OPT_POS_DOUBLE, /* finite double > 0 */
    OPT_NONNEG_DOUBLE, /* finite double >= 0 */
    OPT_UNIT_DOUBLE, /* finite double in [0, 1] */
    OPT_CHOICE,   /* int32_t from choices/values */
    OPT_I32_POS   /* int32_t > 0 */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name;            /* "--epochs" */
    cli_opt_kind kind;
    void *dest;
    const char *const *choices;  /* OPT_CHOICE: names, NULL-terminated */
    const int32_t *values;       /* OPT_CHOICE: the value of each name */
    const char *metavar;         /* "E" */
    const char *def;             /* default as shown in --help ("required", "none", "10") */
    const char *help;
    int seen;                    /* set by the parser */
} cli_opt;

/* Parse argv[0..argc) (the words after the subcommand) against `opts`. Handles --help /
 * -h (prints help, returns 0 with *help_shown = 1). Returns CLI_EXIT_OK or CLI_EXIT_USAGE
 * (message printed). `usage` is the one-line synopsis, `about` a paragraph under it. */
int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, size_t n_opts,
              const char *usage, const char *about, int *help_shown);
void cli_print_help(const char *cmd, const cli_opt *opts, size_t n_opts, const char *usage,
                    const char *about);
const cli_opt *cli_find(const cli_opt *opts, size_t n_opts, const char *name);
int cli_seen(const cli_opt *opts, size_t n_opts, const char *name);
/* Usage error naming the command: prints "mimic CMD: message" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runtime error: prints "mimic CMD: message" and returns CLI_EXIT_RUNTIME. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Library error: "mimic CMD: what: <mimic_last_error()>" (or the status text). */
int cli_lib_error(const char *cmd, const char *what, int status);
/* Require a flag: CLI_EXIT_USAGE with "missing required option --x" if not seen. */
int cli_require(const char *cmd, const cli_opt *opts, size_t n_opts, const char *name);

/* Strict number parsing: the whole string must be consumed; no sign for unsigned; range. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);

/* ---- datasets from files (data.c) -------------------------------------------------------- */

typedef struct cli_data cli_data;

/* Load a dataset for training or evaluation. inputs required; logits and labels optional
 * (at least one). n_classes: 0 = from the logits' columns, else from the labels (max + 1),
 * or the given value. Returns 0, or CLI_EXIT_RUNTIME after printing the error. */
int cli_data_load(const char *cmd, const char *inputs, const char *logits, const char *labels,
                  size_t n_classes, cli_data **out);
const mimic_dataset *cli_data_dataset(const cli_data *d);
/* The inputs' image height and width when the file says (IDX images); 0 otherwise. */
void cli_data_image_shape(const cli_data *d, uint64_t *height, uint64_t *width);
void cli_data_free(cli_data *d);

/* ---- subcommands -------------------------------------------------------------------------- */

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Load a model, printing "mimic CMD: PATH: problem" on failure. */
int cli_load_model(const char *cmd, const char *path, mimic_student **out);

/* blas_cpu.c: OpenBLAS core fix-up (see there). */
const char *cli_blas_core(void);
void cli_fix_blas_core(char **argv);

#endif
