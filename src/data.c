/* Building training/evaluation datasets from .npy and IDX files. */
#include <stdlib.h>
#include <string.h>

#include "arrays.h"
#include "cli.h"

struct cli_data {
    mimic_dataset *ds;
    cli_array inputs, logits; /* borrowed by ds when it wraps them */
    int32_t *labels;
};

const mimic_dataset *cli_data_dataset(const cli_data *d)
{
    return d ? d->ds : NULL;
}

void cli_data_image_shape(const cli_data *d, uint64_t *height, uint64_t *width)
{
    *height = d->inputs.image_h;
    *width = d->inputs.image_w;
}

void cli_data_free(cli_data *d)
{
    if (!d)
        return;
    mimic_dataset_free(d->ds);
    cli_array_free(&d->inputs);
    cli_array_free(&d->logits);
    free(d->labels);
    free(d);
}

static int check_classes(const char *cmd, const char *logits, size_t have, size_t want)
{
    if (want && have != want)
        return cli_error(cmd, "%s: %zu columns of logits, but %zu classes are expected", logits, have, want);
    return CLI_EXIT_OK;
}

/* All .npy with teacher logits: the library's loader (memory-mapped, validated). */
static int load_with_library(const char *cmd, const char *inputs, const char *logits, const char *labels,
                             size_t n_classes, cli_data *d)
{
    int st = mimic_dataset_load_npy(&d->ds, inputs, logits, labels);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, NULL, st);
    return check_classes(cmd, logits, mimic_dataset_n_classes(d->ds), n_classes);
}

static int load_arrays(const char *cmd, const char *inputs, const char *logits, const char *labels,
                       size_t n_classes, cli_data *d)
{
    char err[512];
    if (cli_array_load(inputs, &d->inputs, err, sizeof err) != 0)
        return cli_error(cmd, "%s", err);
    cli_array *in = &d->inputs;
    if (in->ndim != 2)
        return cli_error(cmd, "%s: inputs must be 2-D (rows x features) or IDX images, got a 1-D array",
                         inputs);
    int32_t dtype = MIMIC_DTYPE_U8;
    const void *xin = in->data;
    if (in->elem != CLI_U8) {
        const float *f;
        if (cli_array_as_f32(in, inputs, &f, err, sizeof err) != 0)
            return cli_error(cmd, "%s", err);
        dtype = MIMIC_DTYPE_F32;
        xin = f;
    }
    const float *z = NULL;
    if (logits) {
        if (cli_array_load(logits, &d->logits, err, sizeof err) != 0)
            return cli_error(cmd, "%s", err);
        if (d->logits.ndim != 2)
            return cli_error(cmd, "%s: teacher logits must be 2-D (rows x classes)", logits);
        if (d->logits.rows != in->rows)
            return cli_error(cmd, "%s: %zu rows, but %s has %zu", logits, d->logits.rows, inputs, in->rows);
        if (check_classes(cmd, logits, d->logits.cols, n_classes) != CLI_EXIT_OK)
            return CLI_EXIT_RUNTIME;
        n_classes = d->logits.cols;
        if (cli_array_as_f32(&d->logits, logits, &z, err, sizeof err) != 0)
            return cli_error(cmd, "%s", err);
    }
    if (labels) {
        cli_array la;
        if (cli_array_load(labels, &la, err, sizeof err) != 0)
            return cli_error(cmd, "%s", err);
        int rc = CLI_EXIT_OK;
        if (la.rows != in->rows)
            rc = cli_error(cmd, "%s: %zu labels, but %s has %zu rows", labels, la.rows, inputs, in->rows);
        else if (cli_array_labels(&la, labels, n_classes, &d->labels, err, sizeof err) != 0)
            rc = cli_error(cmd, "%s", err);
        cli_array_free(&la);
        if (rc != CLI_EXIT_OK)
            return rc;
        if (n_classes == 0) {
            n_classes = cli_labels_max_plus_one(d->labels, in->rows);
            if (n_classes < 2)
                n_classes = 2;
        }
    }
    int st = mimic_dataset_wrap(&d->ds, xin, dtype, z, d->labels, in->rows, in->cols, n_classes);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, inputs, st);
    return CLI_EXIT_OK;
}

int cli_data_load(const char *cmd, const char *inputs, const char *logits, const char *labels,
                  size_t n_classes, cli_data **out)
{
    *out = NULL;
    cli_data *d = calloc(1, sizeof *d);
    if (!d)
        return cli_error(cmd, "out of memory");
    int rc;
    if (logits && cli_file_is_npy(inputs) && cli_file_is_npy(logits) && (!labels || cli_file_is_npy(labels)))
        rc = load_with_library(cmd, inputs, logits, labels, n_classes, d);
    else
        rc = load_arrays(cmd, inputs, logits, labels, n_classes, d);
    if (rc != CLI_EXIT_OK) {
        cli_data_free(d);
        return rc;
    }
    *out = d;
    return CLI_EXIT_OK;
}
