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
    void *owned[3]; /* decompressed bytes the dataset borrows */
};

const mimic_dataset *cli_data_dataset(const cli_data *d)
{
    return d ? d->ds : NULL;
}

void cli_data_image_shape(const cli_data *d, uint64_t *height, uint64_t *width)
{
    size_t h = 0, w = 0;
    mimic_dataset_image_shape(d->ds, &h, &w);
    *height = h;
    *width = w;
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

const char *cli_source_name(const cli_source *src)
{
    return src->manifest ? src->manifest : src->inputs;
}

int cli_data_load(const char *cmd, const cli_source *src, size_t n_classes, cli_data **out)
{
    *out = NULL;
    cli_data *d = calloc(1, sizeof *d);
    if (!d)
        return cli_error(cmd, "out of memory");
    int rc = CLI_EXIT_OK;
    if (src->manifest) {
        int st = mimic_dataset_load_manifest(&d->ds, src->manifest);
        if (st == MIMIC_OK && n_classes && mimic_dataset_n_classes(d->ds) != n_classes)
            rc = cli_error(cmd, "%s: %zu classes, but %zu are expected", src->manifest,
                           mimic_dataset_n_classes(d->ds), n_classes);
        else if (st != MIMIC_OK)
            rc = cli_lib_error(cmd, NULL, st);
    } else {
        const char *paths[3] = {src->inputs, src->logits, src->labels};
        mimic_array *a[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3 && rc == CLI_EXIT_OK; i++)
            if (paths[i])
                rc = cli_array_load(cmd, paths[i], &a[i], &d->owned[i]);
        if (rc == CLI_EXIT_OK) {
            int st = mimic_dataset_from_arrays(&d->ds, a[0], a[1], a[2], n_classes);
            if (st != MIMIC_OK)
                rc = cli_lib_error(cmd, NULL, st);
        }
        for (int i = 0; i < 3; i++)
            mimic_array_free(a[i]);
    }
    if (rc != CLI_EXIT_OK) {
        cli_data_free(d);
        return rc;
    }
    *out = d;
    return CLI_EXIT_OK;
}
