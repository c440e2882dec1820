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
    const char *model = NULL, *preds = NULL, *inputs = NULL, *logits = NULL, *labels = NULL;
    double T = 1.0;
    int json = 0;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", "required unless --predictions",
         "student to evaluate (.safetensors)", 0, 0},
        {"--predictions", OPT_STR, &preds, "FILE", "none",
         "evaluate precomputed logits (rows x classes .npy, e.g. the teacher's own or mimic "
         "predict's output) instead of a model",
         0, 0},
        {"--inputs", OPT_STR, &inputs, "FILE", "required with --model", "inputs (.npy or IDX)", 0,
         0},
        {"--logits", OPT_STR, &logits, "FILE", "none", "teacher logits (for agreement, L2, KL)", 0,
         0},
        {"--labels", OPT_STR, &labels, "FILE", "none", "labels (for accuracy, hard CE)", 0, 0},
        {"--temperature", OPT_POS_DOUBLE, &T, "T", "1", "temperature of the KL metric", 0, 0},
        {"--json", OPT_FLAG, &json, NULL, "off",
         "print JSON: rows, accuracy, agreement, logit_l2, logit_rmse, kl, hard_ce (null if not "
         "computable)",
         0, 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(
        cmd, argc, argv, opts, n_opts,
        "(--model M --inputs X | --predictions P) [--logits Z] [--labels Y] [--temperature T] "
        "[--json]",
        "Evaluate a student (or precomputed logits) against teacher logits and/or labels.\n"
        "Accuracy and hard CE need --labels; agreement, logit L2/RMSE and KL need --logits.",
        &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if (!!model == !!preds)
        return cli_usage_error(cmd, "give exactly one of --model and --predictions");
    if (model && !inputs)
        return cli_usage_error(cmd, "missing required option --inputs");
    if (preds && inputs)
        return cli_usage_error(cmd, "--inputs is not used with --predictions");
    if (!logits && !labels)
        return cli_usage_error(cmd, "nothing to compare with: give --logits and/or --labels");

    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    m.rows = 0;
    m.logit_l2 = m.logit_rmse = m.kl = m.hard_ce = m.accuracy = m.agreement = NAN;
    if (preds) {
        if ((rc = eval_predictions(cmd, preds, logits, labels, T, &m)) != CLI_EXIT_OK)
            return rc;
    } else {
        mimic_student *s = NULL;
        cli_data *d = NULL;
        if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
            return rc;
        mimic_student_options so;
        mimic_student_options_init(&so, sizeof so);
        mimic_student_get_options(s, &so);
        rc = cli_data_load(cmd, inputs, logits, labels, so.n_classes, &d);
        if (rc == CLI_EXIT_OK) {
            const mimic_dataset *ds = cli_data_dataset(d);
            if (mimic_dataset_n_inputs(ds) != so.n_inputs) {
                rc = cli_error(cmd, "%s: %zu features per row, but %s expects %zu", inputs,
                               mimic_dataset_n_inputs(ds), model, so.n_inputs);
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

int cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict";
    const char *model = NULL, *inputs = NULL, *out = NULL, *classes = NULL;
    uint64_t chunk = 4096;
    int quiet = 0;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, "FILE", "required", "student (.safetensors)", 0, 0},
        {"--inputs", OPT_STR, &inputs, "FILE", "required", "inputs (.npy or IDX)", 0, 0},
        {"--out", OPT_STR, &out, "FILE", "required", "logits, rows x classes float32 .npy", 0, 0},
        {"--classes", OPT_STR, &classes, "FILE", "none", "predicted classes, int32 .npy", 0, 0},
        {"--chunk", OPT_POS_U64, &chunk, "N", "4096", "rows per forward pass (bounds memory)", 0,
         0},
        {"--quiet", OPT_FLAG, &quiet, NULL, "off", "print nothing but errors", 0, 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(
        cmd, argc, argv, opts, n_opts,
        "--model M --inputs X --out logits.npy [--classes classes.npy]",
        "Write the student's logits (and optionally its predicted classes) for every input row.",
        &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    const char *required[] = {"--model", "--inputs", "--out"};
    for (size_t i = 0; i < 3; i++)
        if ((rc = cli_require(cmd, opts, n_opts, required[i])) != CLI_EXIT_OK)
            return rc;

    const char *const ins[] = {model, inputs};
    if ((rc = cli_check_output(cmd, "--out", out, ins, 2)) != CLI_EXIT_OK ||
        (classes && (rc = cli_check_output(cmd, "--classes", classes, ins, 2)) != CLI_EXIT_OK))
        return rc;
    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    mimic_array *x = NULL;
    void *owned = NULL;
    float *logits = NULL, *buf = NULL;
    int32_t *cls = NULL;
    if ((rc = cli_array_load(cmd, inputs, &x, &owned)) != CLI_EXIT_OK) {
        mimic_student_free(s);
        return rc;
    }
    size_t N = mimic_array_rows(x), D = so.n_inputs, C = so.n_classes;
    size_t ch = chunk < N ? (size_t)chunk : N;
    if (mimic_array_ndim(x) != 2 || mimic_array_cols(x) != D) {
        rc = cli_error(cmd, "%s: %zu features per row, but %s expects %zu", inputs,
                       mimic_array_ndim(x) == 2 ? mimic_array_cols(x) : 0, model, D);
        goto done;
    }
    if (N > SIZE_MAX / sizeof(float) / C || ch > SIZE_MAX / sizeof(float) / D) {
        rc = cli_error(cmd, "%s: too many rows", inputs);
        goto done;
    }
    logits = malloc(N * C * sizeof *logits);
    buf = malloc(ch * D * sizeof *buf);
    cls = classes ? malloc(N * sizeof *cls) : NULL;
    if (!logits || !buf || (classes && !cls)) {
        rc = cli_error(cmd, "out of memory for %zu rows", N);
        goto done;
    }
    for (size_t r = 0; r < N; r += ch) {
        size_t n = N - r < ch ? N - r : ch;
        mimic_array_to_f32(x, r, n, buf);
        int st = mimic_student_forward(s, buf, n, logits + r * C);
        if (st != MIMIC_OK) {
            rc = cli_lib_error(cmd, "forward pass failed", st);
            goto done;
        }
    }
    for (size_t r = 0; cls && r < N; r++) { /* the top class of each row, lowest on ties */
        const float *row = logits + r * C;
        size_t best = 0;
        for (size_t j = 1; j < C; j++)
            best = row[j] > row[best] ? j : best;
        cls[r] = (int32_t)best;
    }
    int st = mimic_npy_save(out, logits, MIMIC_DTYPE_F32, N, C);
    if (st == MIMIC_OK && cls)
        st = mimic_npy_save(classes, cls, MIMIC_DTYPE_I32, N, 0);
    rc = st == MIMIC_OK ? CLI_EXIT_OK : cli_lib_error(cmd, NULL, st);
    if (rc == CLI_EXIT_OK && !quiet)
        fprintf(stderr, "wrote %s: %zu x %zu float32 logits%s%s%s\n", out, N, C,
                classes ? " and " : "", classes ? classes : "", classes ? ": int32 classes" : "");
done:
    free(logits);
    free(buf);
    free(cls);
    mimic_array_free(x);
    free(owned);
    mimic_student_free(s);
    return rc;
}
