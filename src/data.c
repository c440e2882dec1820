/* Arrays and datasets from files for the CLI: .npy and IDX through the library's parsers,
 * gzipped files decompressed here first (gz.c). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_array_load(const char *cmd, const char *path, mimic_array **out, void **owned)
{
    *out = NULL;
    *owned = NULL;
    int32_t kind = MIMIC_FILE_UNKNOWN;
    int st = mimic_file_identify(path, &kind);
    if (st == MIMIC_OK && kind == MIMIC_FILE_GZIP) {
        char err[512];
        st = cli_gunzip_array(path, out, owned, err, sizeof err);
        if (st != MIMIC_OK && *err)
            return cli_error(cmd, "%s: %s", path, err);
    } else if (st == MIMIC_OK) {
        st = mimic_array_load(out, path);
    }
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, NULL, st);
    return CLI_EXIT_OK;
}

struct cli_data {
    mimic_dataset *ds;
    size_t image_h, image_w;
    void *owned[3]; /* decompressed bytes the dataset borrows */
};

const mimic_dataset *cli_data_dataset(const cli_data *d)
{
    return d ? d->ds : NULL;
}

void cli_data_image_shape(const cli_data *d, uint64_t *height, uint64_t *width)
{
    *height = d->image_h;
    *width = d->image_w;
}

void cli_data_free(cli_data *d)
{
    if (!d)
        return;
    mimic_dataset_free(d->ds);
    for (int i = 0; i < 3; i++)
        free(d->owned[i]);
    free(d);
}

int cli_data_load(const char *cmd, const char *inputs, const char *logits, const char *labels,
                  size_t n_classes, cli_data **out)
{
    *out = NULL;
    cli_data *d = calloc(1, sizeof *d);
    if (!d)
        return cli_error(cmd, "out of memory");
    const char *paths[3] = {inputs, logits, labels};
    mimic_array *a[3] = {NULL, NULL, NULL};
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < 3 && rc == CLI_EXIT_OK; i++)
        if (paths[i])
            rc = cli_array_load(cmd, paths[i], &a[i], &d->owned[i]);
    if (rc == CLI_EXIT_OK) {
        int st = mimic_dataset_from_arrays(&d->ds, a[0], a[1], a[2], n_classes);
        if (st != MIMIC_OK)
            rc = cli_lib_error(cmd, NULL, st);
        mimic_array_image_shape(a[0], &d->image_h, &d->image_w);
    }
    for (int i = 0; i < 3; i++)
        mimic_array_free(a[i]);
    if (rc != CLI_EXIT_OK) {
        cli_data_free(d);
        return rc;
    }
    *out = d;
    return CLI_EXIT_OK;
}
