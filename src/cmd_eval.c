/* `mimic eval` and `mimic predict`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_load_model(const char *cmd, const char *path, mimic_student **out)
{
    int st = mimic_student_load(out, path);
    if (st != MIMIC_OK) {
        const char *msg = mimic_last_error();
        /* The library's messages start with the path; add it only when they do not. */
        if (msg && strncmp(msg, path, strlen(path)) == 0)
            return cli_error(cmd, "%s", msg);
        return cli_lib_error(cmd, path, st);
    }
    return CLI_EXIT_OK;
}

/* --threads N of eval and predict: the student's own threads and OpenBLAS's (0: unset). */
static int use_threads(const char *cmd, mimic_student *s, uint64_t threads)
{
    if (!threads)
        return CLI_EXIT_OK;
    cli_set_blas_threads(threads);
    int st = mimic_student_set_threads(s, (size_t)threads);
    return st == MIMIC_OK ? CLI_EXIT_OK : cli_lib_error(cmd, "--threads", st);
}

#define THREADS_HELP "threads: the student's own (small batches, the output layer) and OpenBLAS's"

/* A 2-D float array of logits (predictions or teacher logits) as float32. */
static int load_logits(const char *cmd, const char *path, mimic_array **a, void **owned,
                       float **out)
{
    int rc = cli_array_load(cmd, path, a, owned);
    if (rc != CLI_EXIT_OK)
        return rc;
    size_t rows = mimic_array_rows(*a), cols = mimic_array_cols(*a);
    if (mimic_array_ndim(*a) != 2 || cols < 2)
        return cli_error(cmd, "%s: logits must be rows x classes (2-D, at least 2 columns)", path);
    if (rows > SIZE_MAX / sizeof(float) / cols || !(*out = malloc(rows * cols * sizeof(float))))
        return cli_error(cmd, "%s: out of memory for %zu x %zu logits", path, rows, cols);
    mimic_array_to_f32(*a, 0, rows, *out);
    return CLI_EXIT_OK;
}

/* Metrics of precomputed logits P (e.g. the teacher's own, or `mimic predict` output)
 * against labels and/or teacher logits: the library's evaluation. */
static int eval_predictions(const char *cmd, const char *ppath, const char *zpath,
                            const char *ypath, double T, mimic_metrics *m)
{
    mimic_array *pa = NULL, *za = NULL, *ya = NULL;
    void *po = NULL, *zo = NULL, *yo = NULL;
    float *P = NULL, *Z = NULL;
    int32_t *Y = NULL;
    int rc = load_logits(cmd, ppath, &pa, &po, &P);
    size_t N = mimic_array_rows(pa), C = mimic_array_cols(pa);
    if (rc == CLI_EXIT_OK && zpath) {
        rc = load_logits(cmd, zpath, &za, &zo, &Z);
        if (rc == CLI_EXIT_OK && (mimic_array_rows(za) != N || mimic_array_cols(za) != C))
            rc = cli_error(cmd, "%s: %zu x %zu, but %s is %zu x %zu", zpath, mimic_array_rows(za),
                           mimic_array_cols(za), ppath, N, C);
    }
    if (rc == CLI_EXIT_OK && ypath) {
        rc = cli_array_load(cmd, ypath, &ya, &yo);
        if (rc == CLI_EXIT_OK && mimic_array_rows(ya) != N)
            rc = cli_error(cmd, "%s: %zu labels, but %s has %zu rows", ypath, mimic_array_rows(ya),
                           ppath, N);
        if (rc == CLI_EXIT_OK && !(Y = malloc(N * sizeof *Y)))
            rc = cli_error(cmd, "out of memory");
        int st;
        if (rc == CLI_EXIT_OK && (st = mimic_array_to_labels(ya, C, Y)) != MIMIC_OK)
            rc = cli_lib_error(cmd, NULL, st);
    }
    if (rc == CLI_EXIT_OK) {
        int st = mimic_evaluate_logits(P, Z, Y, N, C, T, m);
        if (st != MIMIC_OK)
            rc = cli_lib_error(cmd, ppath, st);
    }
    free(P);
    free(Z);
    free(Y);
    mimic_array_free(pa);
    mimic_array_free(za);
    mimic_array_free(ya);
    free(po);
    free(zo);
    free(yo);
    return rc;
}

static void json_num(const char *key, double v, int last)
{
    if (isfinite(v))
        printf("  \"%s\": %.9g%s\n", key, v, last ? "" : ",");
    else
        printf("  \"%s\": null%s\n", key, last ? "" : ",");
}

static void plain_row(const char *label, double v, int percent)
{
    if (!isfinite(v))
        printf("  %-18s %s\n", label, "-");
    else if (percent)
        printf("  %-18s %.2f%%\n", label, 100 * v);
    else
        printf("  %-18s %.6g\n", label, v);
}

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    const char *model = NULL, *preds = NULL;
    cli_source src = {NULL, NULL, NULL, NULL};
    double T = 1.0;
    int json = 0;
    uint64_t threads = 0;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", "required unless --predictions",
         "student to evaluate (.safetensors)", 0, 0},
        {"--predictions", OPT_STR, &preds, "FILE", "none",
         "evaluate precomputed logits (rows x classes .npy, e.g. the teacher's own or mimic "
         "predict's output) instead of a model",
         0, 0},
        {"--inputs", OPT_STR, &src.inputs, "FILE", "required with --model (or --manifest)",
         "inputs (.npy or IDX)", 0, 0},
        {"--logits", OPT_STR, &src.logits, "FILE", "none", "teacher logits (for agreement, L2, KL)",
         0, 0},
        {"--labels", OPT_STR, &src.labels, "FILE", "none", "labels (for accuracy, hard CE)", 0, 0},
        {"--manifest", OPT_STR, &src.manifest, "FILE", "none",
         "a sharded dataset (manifest) instead of --inputs/--logits/--labels", 0, 0},
        {"--temperature", OPT_POS_DOUBLE, &T, "T", "1", "temperature of the KL metric", 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "off",
         "print JSON: rows, accuracy, agreement, logit_l2, logit_rmse, kl, hard_ce (null if not "
         "computable)",
         0, 0},
        {"--threads", OPT_POS_U64, &threads, "N", "1", THREADS_HELP, 0, 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(
        cmd, argc, argv, opts, n_opts,
        "(--model M (--inputs X | --manifest F) | --predictions P) [--logits Z] [--labels Y] "
        "[--temperature T] [--json] [--threads N]",
        "Evaluate a student (or precomputed logits) against teacher logits and/or labels.\n"
        "Accuracy and hard CE need --labels; agreement, logit L2/RMSE and KL need --logits.",
        &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if (!!model == !!preds)
        return cli_usage_error(cmd, "give exactly one of --model and --predictions");
    if (src.manifest && (src.inputs || src.logits || src.labels))
        return cli_usage_error(cmd, "--manifest names the files: drop --%s",
                               src.inputs ? "inputs" : src.logits ? "logits" : "labels");
    if (preds && src.manifest)
        return cli_usage_error(cmd, "--manifest is not used with --predictions");
    if (model && !src.inputs && !src.manifest)
        return cli_usage_error(cmd, "missing required option --inputs (or --manifest)");
    if (preds && src.inputs)
        return cli_usage_error(cmd, "--inputs is not used with --predictions");
    if (preds && threads)
        return cli_usage_error(cmd, "--threads is not used with --predictions");
    if (!src.manifest && !src.logits && !src.labels)
        return cli_usage_error(cmd, "nothing to compare with: give --logits and/or --labels");

    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    m.rows = 0;
    m.logit_l2 = m.logit_rmse = m.kl = m.hard_ce = m.accuracy = m.agreement = NAN;
    if (preds) {
        if ((rc = eval_predictions(cmd, preds, src.logits, src.labels, T, &m)) != CLI_EXIT_OK)
            return rc;
    } else {
        mimic_student *s = NULL;
        cli_data *d = NULL;
        if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
            return rc;
        mimic_student_options so;
        mimic_student_options_init(&so, sizeof so);
        mimic_student_get_options(s, &so);
        rc = use_threads(cmd, s, threads);
        if (rc == CLI_EXIT_OK)
            rc = cli_data_load(cmd, &src, so.n_classes, &d);
        if (rc == CLI_EXIT_OK) {
            const mimic_dataset *ds = cli_data_dataset(d);
            if (mimic_dataset_n_inputs(ds) != so.n_inputs) {
                rc = cli_error(cmd, "%s: %zu features per row, but %s expects %zu",
                               cli_source_name(&src), mimic_dataset_n_inputs(ds), model,
                               so.n_inputs);
            } else {
                int st = mimic_evaluate(s, ds, T, &m);
                if (st != MIMIC_OK)
                    rc = cli_lib_error(cmd, "evaluation failed", st);
            }
        }
        cli_data_free(d);
        mimic_student_free(s);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    if (json) {
        printf("{\n  \"rows\": %zu,\n", m.rows);
        json_num("accuracy", m.accuracy, 0);
        json_num("agreement", m.agreement, 0);
        json_num("logit_l2", m.logit_l2, 0);
        json_num("logit_rmse", m.logit_rmse, 0);
        json_num("kl", m.kl, 0);
        json_num("hard_ce", m.hard_ce, 1);
        printf("}\n");
    } else {
        char kl[32];
        snprintf(kl, sizeof kl, "KL (T=%g)", T);
        printf("%s on %zu rows:\n", model ? model : preds, m.rows);
        plain_row("accuracy", m.accuracy, 1);
        plain_row("agreement", m.agreement, 1);
        plain_row("logit L2", m.logit_l2, 0);
        plain_row("logit RMSE", m.logit_rmse, 0);
        plain_row(kl, m.kl, 0);
        plain_row("hard CE", m.hard_ce, 0);
    }
    if (fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return CLI_EXIT_OK;
}

/* The top class of a row of logits, the lowest on ties. */
static size_t top_class(const float *row, size_t C)
{
    size_t best = 0;
    for (size_t j = 1; j < C; j++)
        best = row[j] > row[best] ? j : best;
    return best;
}

/* Where predict reads its rows: an array file, or a manifest's dataset. */
typedef struct row_source {
    mimic_array *x;
    void *owned;
    cli_data *d;
} row_source;

static int rows_f32(const row_source *r, size_t first, size_t n, float *out)
{
    return r->x ? mimic_array_to_f32(r->x, first, n, out)
                : mimic_dataset_get_inputs(cli_data_dataset(r->d), first, n, out);
}

/* Logits (and classes) a chunk at a time into .npy writers: memory is bounded by --chunk, and
 * the outputs appear (renamed into place) only when complete. */
static int predict_rows(const char *cmd, mimic_student *s, const row_source *r, size_t N,
                        size_t D, size_t C, size_t ch, const char *out, const char *classes)
{
    int rc = CLI_EXIT_OK, st;
    float *logits = malloc(ch * C * sizeof *logits);
    float *buf = malloc(ch * D * sizeof *buf);
    int32_t *cls = classes ? malloc(ch * sizeof *cls) : NULL;
    mimic_npy_writer *wz = NULL, *wy = NULL;
    if (!logits || !buf || (classes && !cls)) {
        rc = cli_error(cmd, "out of memory for chunks of %zu rows", ch);
        goto done;
    }
    st = mimic_npy_writer_open(&wz, out, MIMIC_DTYPE_F32, &C, 1);
    if (st == MIMIC_OK && classes)
        st = mimic_npy_writer_open(&wy, classes, MIMIC_DTYPE_I32, NULL, 0);
    for (size_t first = 0; st == MIMIC_OK && first < N; first += ch) {
        size_t n = N - first < ch ? N - first : ch;
        st = rows_f32(r, first, n, buf);
        if (st == MIMIC_OK)
            st = mimic_student_forward(s, buf, n, logits);
        for (size_t i = 0; st == MIMIC_OK && cls && i < n; i++) /* the top class, lowest on ties */
            cls[i] = (int32_t)top_class(logits + i * C, C);
        if (st == MIMIC_OK)
            st = mimic_npy_writer_append(wz, logits, n);
        if (st == MIMIC_OK && wy)
            st = mimic_npy_writer_append(wy, cls, n);
    }
    if (st == MIMIC_OK) {
        st = mimic_npy_writer_close(wz);
        wz = NULL;
    }
    if (st == MIMIC_OK && wy) {
        st = mimic_npy_writer_close(wy);
        wy = NULL;
    }
    if (st != MIMIC_OK)
        rc = cli_lib_error(cmd, NULL, st);
done:
    mimic_npy_writer_abort(wz);
    mimic_npy_writer_abort(wy);
    free(logits);
    free(buf);
    free(cls);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict";
    const char *model = NULL, *inputs = NULL, *manifest = NULL, *out = NULL, *classes = NULL;
    uint64_t chunk = 4096, threads = 0;
    int quiet = 0;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", "required", "student (.safetensors)", 0, 0},
        {"--inputs", OPT_STR, &inputs, "FILE", "required (or --manifest)", "inputs (.npy or IDX)",
         0, 0},
        {"--manifest", OPT_STR, &manifest, "FILE", "none",
         "the inputs of a sharded dataset (manifest) instead of --inputs", 0, 0},
        {"--out", OPT_STR, &out, "FILE", "required", "logits, rows x classes float32 .npy", 0, 0},
        {"--classes", OPT_STR, &classes, "FILE", "none", "predicted classes, int32 .npy", 0, 0},
        {"--chunk", OPT_POS_U64, &chunk, "N", "4096", "rows per forward pass (bounds memory)", 0,
         0},
        {"--threads", OPT_POS_U64, &threads, "N", "1", THREADS_HELP, 0, 0},
        {"--quiet", OPT_FLAG, &quiet, NULL, "off", "print nothing but errors", 0, 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(
        cmd, argc, argv, opts, n_opts,
        "--model M (--inputs X | --manifest F) --out logits.npy [--classes classes.npy] "
        "[--threads N]",
        "Write the student's logits (and optionally its predicted classes) for every input row.",
        &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    const char *required[] = {"--model", "--out"};
    for (size_t i = 0; i < 2; i++)
        if ((rc = cli_require(cmd, opts, n_opts, required[i])) != CLI_EXIT_OK)
            return rc;
    if (!!inputs == !!manifest)
        return cli_usage_error(cmd, inputs ? "give one of --inputs and --manifest, not both"
                                           : "missing required option --inputs (or --manifest)");

    const char *const ins[] = {model, inputs, manifest};
    if ((rc = cli_check_output(cmd, "--out", out, ins, 3)) != CLI_EXIT_OK ||
        (classes && (rc = cli_check_output(cmd, "--classes", classes, ins, 3)) != CLI_EXIT_OK))
        return rc;
    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    row_source r = {NULL, NULL, NULL};
    size_t N = 0, cols = 0;
    const char *src = inputs ? inputs : manifest;
    rc = use_threads(cmd, s, threads);
    if (rc == CLI_EXIT_OK && inputs) {
        rc = cli_array_load(cmd, inputs, &r.x, &r.owned);
        N = rc ? 0 : mimic_array_rows(r.x);
        cols = rc ? 0 : mimic_array_cols(r.x);
    } else if (rc == CLI_EXIT_OK) {
        const cli_source from = {NULL, NULL, NULL, manifest};
        rc = cli_data_load(cmd, &from, 0, &r.d);
        N = rc ? 0 : mimic_dataset_rows(cli_data_dataset(r.d));
        cols = rc ? 0 : mimic_dataset_n_inputs(cli_data_dataset(r.d));
    }
    size_t D = so.n_inputs, C = so.n_classes;
    size_t ch = chunk < N ? (size_t)chunk : N;
    if (rc == CLI_EXIT_OK && (cols != D || (r.x && mimic_array_ndim(r.x) != 2)))
        rc = cli_error(cmd, "%s: %zu features per row, but %s expects %zu", src, cols, model, D);
    if (rc == CLI_EXIT_OK && (ch > SIZE_MAX / sizeof(float) / C || ch > SIZE_MAX / sizeof(float) / D))
        rc = cli_error(cmd, "%s: --chunk %llu is too large", src, (unsigned long long)chunk);
    if (rc == CLI_EXIT_OK)
        rc = predict_rows(cmd, s, &r, N, D, C, ch ? ch : 1, out, classes);
    if (rc == CLI_EXIT_OK && !quiet)
        fprintf(stderr, "wrote %s: %zu x %zu float32 logits%s%s%s\n", out, N, C,
                classes ? " and " : "", classes ? classes : "", classes ? ": int32 classes" : "");
    mimic_array_free(r.x);
    free(r.owned);
    cli_data_free(r.d);
    mimic_student_free(s);
    return rc;
}
