/*
 * The `mimic` command-line tool: shared declarations.
 *
 * Exit statuses: 0 success, 1 runtime error (a file or library error: the message names the
 * file and the problem), 2 usage error (unknown or repeated flag, missing required flag, bad
 * value, a flag the other options make meaningless), 130 training cancelled by Ctrl-C
 * (SIGINT; --out is then left untouched).
 *
 * The flags of `mimic train` that set a training or student option come from the library's
 * option tables (include/mimic/options.h): their names, types, bounds, defaults and help are
 * the library's, and the library parses and checks their values. The tool adds only what is
 * its own (files, --image, --quiet).
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
    OPT_FLAG,       /* int, set to 1 */
    OPT_STR,        /* const char * */
    OPT_POS_U64,    /* uint64_t > 0 */
    OPT_POS_DOUBLE, /* finite double > 0 */
    OPT_TRAIN,      /* a mimic_train_options field: dest is the struct, index its table row */
    OPT_STUDENT     /* a mimic_student_options field: likewise */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name; /* "--epochs" */
    cli_opt_kind kind;
    void *dest;
    const char *metavar; /* "E" */
    const char *def;     /* default as shown in --help ("required", "none", "10"), or NULL */
    const char *help;
    size_t index; /* OPT_TRAIN / OPT_STUDENT: the library's table row */
    int seen;     /* set by the parser */
} cli_opt;

/* The library's options that have a CLI flag, appended to opts (capacity cap) with `dest`
 * the struct they set; returns how many were added. */
size_t cli_train_opts(cli_opt *opts, size_t cap, mimic_train_options *dest);
size_t cli_student_opts(cli_opt *opts, size_t cap, mimic_student_options *dest);

/* Parse argv[0..argc) (the words after the subcommand) against `opts`. Handles --help /
 * -h (prints help, returns 0 with *help_shown = 1). A flag given twice is a usage error.
 * Returns CLI_EXIT_OK or CLI_EXIT_USAGE (message printed). `usage` is the one-line synopsis,
 * `about` a paragraph under it. */
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
/* Library error: "mimic CMD: what: <mimic_last_error()>" (or the status text), with the
 * library's option names ("options.learning_rate") written as the tool's flags ("--lr"). */
int cli_lib_error(const char *cmd, const char *what, int status);
/* A library message with its option names written as flags, into buf. */
const char *cli_translate(const char *msg, char *buf, size_t cap);
/* Check before any work that an output file can be written: its directory exists and is
 * writable, the path is not a directory and not one of the `inputs` (n_inputs paths, NULL
 * entries skipped). Returns 0, or CLI_EXIT_RUNTIME after "mimic CMD: FLAG PATH: problem". */
int cli_check_output(const char *cmd, const char *flag, const char *path, const char *const *inputs,
                     size_t n_inputs);
/* Require a flag: CLI_EXIT_USAGE with "missing required option --x" if not seen. */
int cli_require(const char *cmd, const cli_opt *opts, size_t n_opts, const char *name);

/* The name of value v of an enum option of the library ("relu" for the student option
 * "activation"), "?" when unknown. */
const char *cli_choice_name(int student, const char *field, int32_t v);

/* Strict number parsing: the whole string must be consumed; no sign for unsigned; range. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);

/* ---- arrays and datasets from files (data.c, gz.c) ----------------------------------------- */

/* Load a .npy or IDX file, gzipped or not (by content), as a library array. A gzipped file's
 * decompressed bytes are returned in *owned (malloc'ed; the array and every dataset made
 * from it borrow them: free after those), else *owned is NULL. Returns 0, or
 * CLI_EXIT_RUNTIME after printing the error. */
int cli_array_load(const char *cmd, const char *path, mimic_array **out, void **owned);

/* A gzip-compressed .npy or IDX file, decompressed exactly to the size its header declares
 * (the library reads the header), as an array borrowing the bytes in *owned. Returns
 * MIMIC_OK, a MIMIC_* status with the library's message set (err empty), or a negative
 * status with the problem in err. */
int cli_gunzip_array(const char *path, mimic_array **out, void **owned, char *err, size_t errlen);

/* Decompress gzip bytes buf[0, len) of the .npy or IDX file `name` into a malloc'ed buffer of
 * exactly the size its header declares (*size). Returns MIMIC_OK, a MIMIC_* status with the
 * library's message set (err empty), or a negative status with the problem in err. */
int cli_gunzip(const uint8_t *buf, size_t len, const char *name, uint8_t **out, size_t *size,
               char *err, size_t errlen);

typedef struct cli_data cli_data;

/* Where a dataset comes from: a manifest, or array files (inputs, and logits and/or labels). */
typedef struct cli_source {
    const char *inputs, *logits, *labels;
    const char *manifest;
} cli_source;

/* The file to name in messages about the source's rows (the manifest or the inputs). */
const char *cli_source_name(const cli_source *src);

/* Load a dataset for training or evaluation. n_classes: 0 = from the logits' columns, else
 * from the labels (max + 1), or the given value. Returns 0, or CLI_EXIT_RUNTIME after printing
 * the error. */
int cli_data_load(const char *cmd, const cli_source *src, size_t n_classes, cli_data **out);
const mimic_dataset *cli_data_dataset(const cli_data *d);
/* The inputs' image height and width when the files say (IDX images, image-shaped .npy);
 * 0 otherwise. */
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

/* ---- `mpirun -np N mimic train`: one rank of a data-parallel run (dist.c) ------------------ */

typedef struct cli_dist {
    int active;     /* a rank of an MPI job: MPI is initialized and `coll` is its collectives */
    int mpi;        /* MPI_Init was called (cli_dist_end finalizes) */
    int rank, size; /* 0 of 1 when not active */
    mimic_collective coll;
    char msg[1024]; /* while active: this rank's last error message (cli_capture_errors) */
} cli_dist;

/* Become a rank when an MPI launcher started this process (its environment says so) and the
 * tool was built with MPI; else stay one process (d->active = 0). A rank prints no errors
 * itself (they are kept in d->msg) and only rank 0 writes to stdout. Returns CLI_EXIT_OK or
 * CLI_EXIT_RUNTIME (printed). */
int cli_dist_begin(const char *cmd, cli_dist *d);
/* Every rank passes its exit status (0 = fine) and gets the lowest failing rank's; rank 0
 * prints that rank's message as "mimic CMD: rank R of N: message". One process: `code`. */
int cli_dist_agree(const char *cmd, cli_dist *d, int code);
/* An outcome every rank already shares (e.g. mimic_train's status): rank 0 prints its
 * message, no communication. One process: `code`. */
int cli_dist_report(const char *cmd, cli_dist *d, int code);
/* MPI_Finalize when cli_dist_begin initialized MPI. */
void cli_dist_end(cli_dist *d);
/* Keep the messages of cli_error, cli_usage_error and cli_lib_error in buf (the last one,
 * without the "mimic CMD: " prefix) instead of printing them; NULL prints again. */
void cli_capture_errors(char *buf, size_t cap);

/* blas_cpu.c: OpenBLAS core fix-up (see there). */
const char *cli_blas_core(void);
void cli_fix_blas_core(char **argv);
/* --threads N: OpenBLAS's thread count for the rest of the process (no-op for 0 or another
 * BLAS). */
void cli_set_blas_threads(uint64_t n);

#endif
