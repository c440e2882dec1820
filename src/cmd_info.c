/* `mimic info` and `mimic export`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* The metadata strings of a .safetensors file, one per line. */
static void print_metadata(const mimic_metadata *m)
{
    size_t n = mimic_metadata_count(m);
    if (n == 0)
        return;
    printf("metadata:\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-22s %s\n", mimic_metadata_key(m, i), mimic_metadata_value(m, i));
}

static const char *dtype_name(int32_t dt);

static int info_student(const char *cmd, const char *path)
{
    mimic_student *s = NULL;
    int rc = cli_load_model(cmd, path, &s);
    if (rc != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    const float *mean;
    size_t r, c;
    int has_norm = mimic_student_tensor(s, "input.mean", &mean, &r, &c) == MIMIC_OK;
    const char *act = cli_choice_name(1, "activation", so.activation);
    printf("model:        %s\n", path);
    if (so.n_bottleneck)
        printf("architecture: %zu inputs -> %zu bottleneck (linear) -> %zu hidden (%s) -> %zu "
               "logits\n",
               so.n_inputs, so.n_bottleneck, so.n_hidden, act, so.n_classes);
    else
        printf("architecture: %zu inputs -> %zu hidden (%s) -> %zu logits\n", so.n_inputs,
               so.n_hidden, act, so.n_classes);
    printf("inputs:       %zu\nbottleneck:   %zu%s\nhidden:       %zu\nclasses:      %zu\n",
           so.n_inputs, so.n_bottleneck, so.n_bottleneck ? "" : " (none)", so.n_hidden,
           so.n_classes);
    printf("activation:   %s\n", act);
    printf("parameters:   %zu\n", mimic_student_num_params(s));
    const int32_t wd = mimic_student_weight_dtype(s);
    printf("weights:      %s%s\n", dtype_name(wd),
           wd == MIMIC_DTYPE_I8    ? " (one scale per output row; activations float32)"
           : wd == MIMIC_DTYPE_F16 ? " (activations float32)"
                                   : "");
    printf("input norm:   %s\n",
           has_norm ? "yes (input.mean, input.scale stored in the model)" : "no");
    mimic_student_free(s);
    mimic_metadata *m = NULL;
    if (mimic_metadata_read(&m, path) == MIMIC_OK)
        print_metadata(m);
    mimic_metadata_free(m);
    return CLI_EXIT_OK;
}

/* A trainer checkpoint: where the run stands, its architecture and data, the options that
 * shape it (with their CLI flags), and its tensors. */
static int info_checkpoint(const char *cmd, const char *path)
{
    mimic_metadata *m = NULL;
    int st = mimic_metadata_read(&m, path);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, NULL, st);
#define GET(k) (mimic_metadata_get(m, k) ? mimic_metadata_get(m, k) : "?")
    printf("checkpoint:   %s (libmimic %s, format %s)\n", path, GET("library_version"),
           GET("format_version"));
    printf("position:     %s epochs done, global step %s, step %s into the epoch%s%s\n",
           GET("epoch"), GET("step"), GET("epoch_position"),
           strcmp(GET("finished"), "1") == 0 ? ", finished" : "",
           strcmp(GET("stopped_early"), "1") == 0 ? " (stopped early)" : "");
    printf("last epoch:   train loss %s, learning rate %s\n", GET("last_epoch_loss"),
           GET("last_lr"));
    if (strcmp(GET("best_loss"), "nan") != 0)
        printf("validation:   best %s at epoch %s\n", GET("best_loss"), GET("best_epoch"));
    const char *k = GET("student.bottleneck");
    printf("architecture: %s inputs -> %s%s%s hidden -> %s logits (activation %s)\n",
           GET("student.inputs"), strcmp(k, "0") ? k : "", strcmp(k, "0") ? " bottleneck -> " : "",
           GET("student.hidden"), GET("student.classes"), GET("student.activation"));
    printf("data:         %s rows, input dtype %s, fingerprint %s\n", GET("data.rows"),
           GET("data.input_dtype"), GET("data.fingerprint"));
    printf("options that shape the run (a resume must use the same):\n");
    for (size_t i = 0; i < mimic_metadata_count(m); i++) {
        const char *key = mimic_metadata_key(m, i);
        if (strncmp(key, "opt.", 4) != 0)
            continue;
        char field[64], text[160];
        snprintf(field, sizeof field, "options.%s", key + 4);
        printf("  %-22s %s\n", cli_translate(field, text, sizeof text), mimic_metadata_value(m, i));
    }
#undef GET
    printf("tensors:\n");
    for (size_t i = 0; i < mimic_metadata_tensor_count(m); i++) {
        const char *name;
        size_t rows, cols;
        mimic_metadata_tensor(m, i, &name, &rows, &cols);
        printf("  %-22s %zu values\n", name, cols ? rows * cols : rows);
    }
    mimic_metadata_free(m);
    return CLI_EXIT_OK;
}

static const char *const DTYPE_NAMES[] = {"?",       "float32", "uint8",   "int32",
                                          "float64", "int64",   "float16", "int8"};

static const char *dtype_name(int32_t dt)
{
    return dt > 0 && dt < (int32_t)(sizeof DTYPE_NAMES / sizeof DTYPE_NAMES[0]) ? DTYPE_NAMES[dt]
                                                                                : "?";
}

static int info_manifest(const char *cmd, const char *path)
{
    const cli_source src = {NULL, NULL, NULL, path};
    cli_data *data = NULL;
    int rc = cli_data_load(cmd, &src, 0, &data);
    if (rc != CLI_EXIT_OK)
        return rc;
    const mimic_dataset *d = cli_data_dataset(data);
    size_t h = 0, w = 0;
    mimic_dataset_image_shape(d, &h, &w);
    printf("manifest:     %s (a dataset in %zu shards)\n", path, mimic_dataset_n_shards(d));
    printf("rows:         %zu\n", mimic_dataset_rows(d));
    if (h)
        printf("inputs:       %zu %s values a row (images of %zu x %zu)\n",
               mimic_dataset_n_inputs(d), dtype_name(mimic_dataset_input_dtype(d)), h, w);
    else
        printf("inputs:       %zu %s values a row\n", mimic_dataset_n_inputs(d),
               dtype_name(mimic_dataset_input_dtype(d)));
    printf("classes:      %zu\n", mimic_dataset_n_classes(d));
    printf("logits:       %s\n", mimic_dataset_has_logits(d)
                                      ? dtype_name(mimic_dataset_logits_dtype(d))
                                      : "none");
    printf("labels:       %s\n", mimic_dataset_has_labels(d) ? "yes" : "none");
    printf("note:         every shard was mapped and checked; use it with --manifest\n");
    cli_data_free(data);
    return CLI_EXIT_OK;
}

static int info_array(const char *cmd, const char *path, int32_t kind)
{
    mimic_array *a = NULL;
    void *owned = NULL;
    int rc = cli_array_load(cmd, path, &a, &owned);
    if (rc != CLI_EXIT_OK)
        return rc;
    int32_t dt = mimic_array_dtype(a);
    size_t h, w;
    mimic_array_image_shape(a, &h, &w);
    printf("array:        %s (%s%s)\n", path, mimic_file_kind_name(kind),
           owned ? ", gzip-compressed" : "");
    printf("dtype:        %s\n", dtype_name(dt));
    if (mimic_array_ndim(a) == 1)
        printf("shape:        %zu\n", mimic_array_rows(a));
    else if (h)
        printf("shape:        %zu x %zu (images of %zu x %zu)\n", mimic_array_rows(a),
               mimic_array_cols(a), h, w);
    else
        printf("shape:        %zu x %zu\n", mimic_array_rows(a), mimic_array_cols(a));
    printf("note:         an array, not a student: use it with --inputs, --logits or --labels\n");
    mimic_array_free(a);
    free(owned);
    return CLI_EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
    const char *cmd = "info";
    const char *model = NULL, *file = NULL;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", NULL, "a student (.safetensors)", 0, 0},
        {"--file", OPT_STR, &file, "FILE", NULL,
         "any file libmimic reads: a student, a trainer checkpoint, a .npy or IDX array (.gz "
         "too), a dataset manifest",
         0, 0},
    };
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, 2, "--model M | --file F",
                       "Describe a file: a student's architecture, parameter count, activation, "
                       "input normalization and\nmetadata; a checkpoint's position, options and "
                       "architecture; an array's dtype and shape; a\nmanifest's shards, rows "
                       "and types.",
                       &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if (!!model == !!file)
        return cli_usage_error(cmd, "give exactly one of --model and --file");
    const char *path = model ? model : file;
    int32_t kind = MIMIC_FILE_UNKNOWN;
    int st = mimic_file_identify(path, &kind);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, NULL, st);
    if (kind == MIMIC_FILE_GZIP) {
        /* the compressed file's contents decide */
        mimic_array *a = NULL;
        void *owned = NULL;
        char err[512];
        st = cli_gunzip_array(path, &a, &owned, err, sizeof err);
        mimic_array_free(a);
        free(owned);
        kind = st == MIMIC_OK ? MIMIC_FILE_IDX : kind;
    }
    switch (kind) {
    case MIMIC_FILE_CHECKPOINT: rc = info_checkpoint(cmd, path); break;
    case MIMIC_FILE_MANIFEST: rc = info_manifest(cmd, path); break;
    case MIMIC_FILE_NPY:
    case MIMIC_FILE_IDX:
    case MIMIC_FILE_GZIP: rc = info_array(cmd, path, kind); break;
    case MIMIC_FILE_STUDENT:
    case MIMIC_FILE_SAFETENSORS: rc = info_student(cmd, path); break;
    default:
        return cli_error(cmd,
                         "%s: this is %s; mimic info describes students, trainer checkpoints, "
                         ".npy or IDX arrays and dataset manifests",
                         path, mimic_file_kind_name(kind));
    }
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return rc;
}

/* --dtype of export: a student weight type by name (float32, float16, int8), or 0. */
static int32_t weight_dtype(const char *name)
{
    static const int32_t ok[] = {MIMIC_DTYPE_F32, MIMIC_DTYPE_F16, MIMIC_DTYPE_I8};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(name, dtype_name(ok[i])) == 0)
            return ok[i];
    return 0;
}

int cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    const char *model = NULL, *onnx = NULL, *out = NULL, *dtype = NULL;
    int quiet = 0;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", "required", "student (.safetensors)", 0, 0},
        {"--onnx", OPT_STR, &onnx, "FILE", "none", "ONNX file to write (opset 13)", 0, 0},
        {"--out", OPT_STR, &out, "FILE", "none", "student file to write (.safetensors)", 0, 0},
        {"--dtype", OPT_STR, &dtype, "float32|float16|int8", "as stored",
         "weights to write: float16, or int8 with a scale per output row (activations stay "
         "float32; mimic_student_quantize)",
         0, 0},
        {"--quiet", OPT_FLAG, &quiet, NULL, "off", "print nothing but errors", 0, 0},
    };
    const size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, n_opts,
                       "--model M [--dtype float16|int8] (--onnx out.onnx | --out "
                       "out.safetensors)...",
                       "Export a student as a self-contained ONNX model: input \"input\" [batch, "
                       "D] (raw inputs; the stored\nnormalization is part of the graph), output "
                       "\"logits\" [batch, C]; and/or as a student file. --dtype converts the "
                       "weights first\n(compact weights stay compact in both files).",
                       &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if ((rc = cli_require(cmd, opts, n_opts, "--model")) != CLI_EXIT_OK)
        return rc;
    if (!onnx && !out)
        return cli_usage_error(cmd, "nothing to write: give --onnx and/or --out");
    const int32_t dt = dtype ? weight_dtype(dtype) : 0;
    if (dtype && !dt)
        return cli_usage_error(cmd, "--dtype '%s': expected float32, float16 or int8", dtype);
    const char *const ins[] = {model};
    if ((onnx && (rc = cli_check_output(cmd, "--onnx", onnx, ins, 1)) != CLI_EXIT_OK) ||
        (out && (rc = cli_check_output(cmd, "--out", out, ins, 1)) != CLI_EXIT_OK))
        return rc;
    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    size_t params = mimic_student_num_params(s);
    int st = dt ? mimic_student_quantize(s, dt) : MIMIC_OK;
    if (st != MIMIC_OK)
        rc = cli_lib_error(cmd, "--dtype", st);
    if (rc == CLI_EXIT_OK && onnx && (st = mimic_student_export_onnx(s, onnx)) != MIMIC_OK)
        rc = cli_lib_error(cmd, onnx, st);
    if (rc == CLI_EXIT_OK && out && (st = mimic_student_save(s, out)) != MIMIC_OK)
        rc = cli_lib_error(cmd, out, st);
    const char *wd = dtype_name(mimic_student_weight_dtype(s));
    mimic_student_free(s);
    if (rc != CLI_EXIT_OK || quiet)
        return rc;
    if (onnx)
        fprintf(stderr,
                "wrote %s: ONNX opset 13, %zu parameters (%s weights), input [batch, %zu] -> "
                "logits [batch, %zu]\n",
                onnx, params, wd, so.n_inputs, so.n_classes);
    if (out)
        fprintf(stderr, "wrote %s: student, %zu parameters (%s weights)\n", out, params, wd);
    return CLI_EXIT_OK;
}
