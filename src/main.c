/* The `mimic` command-line tool: subcommand dispatch, --version and --help. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"train", cmd_train,
     "train a student on teacher logits (l2), by distillation (kd) or on labels"},
    {"eval", cmd_eval,
     "evaluate a student (or precomputed logits) against teacher logits and labels"},
    {"predict", cmd_predict, "write a student's logits (and classes) for inputs to .npy"},
    {"info", cmd_info, "show a student's architecture, parameter count and metadata"},
    {"export", cmd_export, "export a student to ONNX"},
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: mimic <command> [options]\n       mimic --version | --help\n\n"
        "Mimic learning: train a shallow, wide student to regress on a deep teacher's logits.\n\n"
        "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nInputs are NumPy .npy files or IDX files (MNIST family, gzipped or not).\n"
               "Run 'mimic <command> --help' for the options of a command.\n"
               "Exit status: 0 success, 1 error, 2 usage error, 130 interrupted (Ctrl-C).\n");
}

int main(int argc, char **argv)
{
    cli_fix_blas_core(argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0 || strcmp(c, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(c, "--version") == 0 || strcmp(c, "-V") == 0) {
        const char *core = cli_blas_core();
        printf("mimic %s (libmimic %s; BLAS: %s%s)\n", MIMIC_VERSION_STRING, mimic_version_string(),
               core ? "OpenBLAS, core " : "CBLAS", core ? core : "");
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(c, commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "mimic: unknown command '%s'\nTry 'mimic --help' for the list of commands.\n",
            c);
    return CLI_EXIT_USAGE;
}
