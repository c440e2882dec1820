/*
 * Training progress for `mimic train`: the terminal progress bar, the per-epoch lines, the
 * --log CSV, the per-epoch records for --plot, and Ctrl-C cancellation.
 */
#ifndef MIMIC_CLI_PROGRESS_H
#define MIMIC_CLI_PROGRESS_H

#include <stdio.h>

#include "cli.h"
#include "svg.h"

typedef struct cli_progress {
    /* set by the caller */
    int quiet;
    int tty;         /* stderr is a terminal: draw a bar */
    uint64_t epochs; /* planned epochs */
    uint64_t batch;
    const char *criterion; /* what the validation loss is (mimic_train_criterion: "kl") */
    FILE *log;             /* --log CSV or NULL */
    /* filled while training */
    svg_epoch *rec;
    size_t n_rec, cap_rec;
    int bar_drawn;
    int io_error; /* writing the CSV failed */
} cli_progress;

/* Install the SIGINT handler (a flag; a second Ctrl-C kills as usual) / restore. */
void cli_sigint_install(void);
void cli_sigint_restore(void);
int cli_sigint_seen(void);

/* Write the CSV header. */
void cli_progress_log_header(cli_progress *p);

/* The mimic_progress_fn: user_data is a cli_progress. Returns nonzero after Ctrl-C. */
int cli_progress_cb(const mimic_progress *pr, void *user_data);

/* Clear a partly drawn bar (before printing anything else). */
void cli_progress_end(cli_progress *p);

void cli_progress_free(cli_progress *p);

#endif
