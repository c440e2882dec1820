/* `mimic eval` and `mimic predict`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrays.h"
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

static size_t argmax(const float *row, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* Metrics of precomputed logits P (e.g. the teacher's own, or `mimic predict` output)
 * against labels and/or teacher logits, through the library's loss routines. */
static int eval_predictions(const char *cmd, const char *ppath, const char *zpath, const char *ypath, double T,
                            mimic_metrics *m)
{
    char err[512];
    cli_array pa, za, ya;
    memset(&za, 0, sizeof za);
    memset(&ya, 0, sizeof ya);
    const float *P, *Z = NULL;
    int32_t *Y = NULL;
    int rc = CLI_EXIT_RUNTIME;
    if (cli_array_load(ppath, &pa, err, sizeof err) != 0)
        return cli_error(cmd, "%s", err);
    if (pa.ndim != 2 || pa.cols < 2) {
        rc = cli_error(cmd, "%s: predictions must be rows x classes logits (2-D, at least 2 columns)", ppath);
        goto done;
    }
    if (cli_array_as_f32(&pa, ppath, &P, err, sizeof err) != 0) {
        rc = cli_error(cmd, "%s", err);
        goto done;
    }
    size_t N = pa.rows, C = pa.cols;
    if (zpath) {
        if (cli_array_load(zpath, &za, err, sizeof err) != 0 || cli_array_as_f32(&za, zpath, &Z, err, sizeof err) != 0) {
            rc = cli_error(cmd, "%s", err);
            goto done;
        }
        if (za.rows != N || za.cols != C || za.ndim != 2) {
            rc = cli_error(cmd, "%s: %zu x %zu, but %s is %zu x %zu", zpath, za.rows, za.cols, ppath, N, C);
            goto done;
        }
    }
    if (ypath) {
        if (cli_array_load(ypath, &ya, err, sizeof err) != 0) {
            rc = cli_error(cmd, "%s", err);
            goto done;
        }
        if (ya.rows != N) {
            rc = cli_error(cmd, "%s: %zu labels, but %s has %zu rows", ypath, ya.rows, ppath, N);
            goto done;
        }
        if (cli_array_labels(&ya, ypath, C, &Y, err, sizeof err) != 0) {
            rc = cli_error(cmd, "%s", err);
            goto done;
        }
    }
    m->rows = N;
    int st;
    if (Y) {
        if ((st = mimic_loss_hard_ce(P, Y, N, C, &m->hard_ce, NULL)) != MIMIC_OK) {
            rc = cli_lib_error(cmd, ppath, st);
            goto done;
        }
        size_t hit = 0;
        for (size_t i = 0; i < N; i++)
            hit += argmax(P + i * C, C) == (size_t)Y[i];
        m->accuracy = (double)hit / (double)N;
    }
    if (Z) {
        double kl_scaled;
        if ((st = mimic_loss_logit_l2(P, Z, N, C, &m->logit_l2, NULL)) != MIMIC_OK ||
            (st = mimic_loss_softmax_ce(P, Z, N, C, T, &kl_scaled, NULL)) != MIMIC_OK) {
            rc = cli_lib_error(cmd, ppath, st);
            goto done;
        }
        m->logit_rmse = sqrt(2 * m->logit_l2 / (double)C);
        m->kl = kl_scaled / (T * T); /* the loss is T^2 KL; the metric is KL */
        size_t same = 0;
        for (size_t i = 0; i < N; i++)
            same += argmax(P + i * C, C) == argmax(Z + i * C, C);
        m->agreement = (double)same / (double)N;
    }
    rc = CLI_EXIT_OK;
done:
    free(Y);
    cli_array_free(&pa);
    cli_array_free(&za);
    cli_array_free(&ya);
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
        {"--model", OPT_STR, &model, NULL, NULL, "FILE", "required unless --predictions",
         "student to evaluate (.safetensors)", 0},
        {"--predictions", OPT_STR, &preds, NULL, NULL, "FILE", "none",
         "evaluate precomputed logits (rows x classes .npy, e.g. the teacher's own or mimic predict's "
         "output) instead of a model", 0},
        {"--inputs", OPT_STR, &inputs, NULL, NULL, "FILE", "required with --model", "inputs (.npy or IDX)", 0},
        {"--logits", OPT_STR, &logits, NULL, NULL, "FILE", "none", "teacher logits (for agreement, L2, KL)", 0},
        {"--labels", OPT_STR, &labels, NULL, NULL, "FILE", "none", "labels (for accuracy, hard CE)", 0},
        {"--temperature", OPT_POS_DOUBLE, &T, NULL, NULL, "T", "1", "temperature of the KL metric", 0},
        {"--json", OPT_FLAG, &json, NULL, NULL, NULL, "off",
         "print JSON: rows, accuracy, agreement, logit_l2, logit_rmse, kl, hard_ce (null if not computable)", 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, n_opts,
                       "(--model M --inputs X | --predictions P) [--logits Z] [--labels Y] [--temperature T] [--json]",
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

/* Convert rows [r0, r0 + n) of a 2-D array to float32 into dst (n x cols). */
static void rows_to_f32(const cli_array *a, size_t r0, size_t n, float *dst)
{
    size_t cols = a->cols, off = r0 * cols, cnt = n * cols;
    for (size_t i = 0; i < cnt; i++) {
        switch (a->elem) {
        case CLI_U8: dst[i] = ((const uint8_t *)a->data)[off + i]; break;
        case CLI_I32: dst[i] = (float)((const int32_t *)a->data)[off + i]; break;
        case CLI_F32: dst[i] = ((const float *)a->data)[off + i]; break;
        case CLI_I64: {
            int64_t v;
            memcpy(&v, (const unsigned char *)a->data + (off + i) * 8, sizeof v);
            dst[i] = (float)v;
            break;
        }
        default: {
            double v;
            memcpy(&v, (const unsigned char *)a->data + (off + i) * 8, sizeof v);
            dst[i] = (float)v;
        }
        }
    }
}

int cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict";
    const char *model = NULL, *inputs = NULL, *out = NULL, *classes = NULL;
    uint64_t chunk = 4096;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, NULL, NULL, "FILE", "required", "student (.safetensors)", 0},
        {"--inputs", OPT_STR, &inputs, NULL, NULL, "FILE", "required", "inputs (.npy or IDX)", 0},
        {"--out", OPT_STR, &out, NULL, NULL, "FILE", "required", "logits, rows x classes float32 .npy", 0},
        {"--classes", OPT_STR, &classes, NULL, NULL, "FILE", "none", "predicted classes, int32 .npy", 0},
        {"--chunk", OPT_POS_U64, &chunk, NULL, NULL, "N", "4096", "rows per forward pass (bounds memory)", 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, n_opts, "--model M --inputs X --out logits.npy [--classes classes.npy]",
                       "Write the student's logits (and optionally its predicted classes) for every input row.",
                       &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    const char *required[] = {"--model", "--inputs", "--out"};
    for (size_t i = 0; i < 3; i++)
        if ((rc = cli_require(cmd, opts, n_opts, required[i])) != CLI_EXIT_OK)
            return rc;

    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    char err[512];
    cli_array x;
    float *logits = NULL, *buf = NULL;
    int32_t *cls = NULL;
    if (cli_array_load(inputs, &x, err, sizeof err) != 0) {
        mimic_student_free(s);
        return cli_error(cmd, "%s", err);
    }
    size_t N = x.rows, D = so.n_inputs, C = so.n_classes;
    size_t ch = chunk < N ? (size_t)chunk : N;
    if (x.ndim != 2 || x.cols != D) {
        rc = cli_error(cmd, "%s: %zu features per row, but %s expects %zu", inputs, x.ndim == 2 ? x.cols : 0, model,
                       D);
        goto done;
    }
    if (N > SIZE_MAX / sizeof(float) / C || ch > SIZE_MAX / sizeof(float) / D) {
        rc = cli_error(cmd, "%s: too many rows", inputs);
        goto done;
    }
    logits = malloc(N * C * sizeof *logits);
    buf = x.elem == CLI_F32 ? NULL : malloc(ch * D * sizeof *buf);
    cls = classes ? malloc(N * sizeof *cls) : NULL;
    if (!logits || (x.elem != CLI_F32 && !buf) || (classes && !cls)) {
        rc = cli_error(cmd, "out of memory for %zu rows", N);
        goto done;
    }
    for (size_t r = 0; r < N; r += ch) {
        size_t n = N - r < ch ? N - r : ch;
        const float *xin;
        if (x.elem == CLI_F32) {
            xin = (const float *)x.data + r * D;
        } else {
            rows_to_f32(&x, r, n, buf);
            xin = buf;
        }
        int st = mimic_student_forward(s, xin, n, logits + r * C);
        if (st != MIMIC_OK) {
            rc = cli_lib_error(cmd, "forward pass failed", st);
            goto done;
        }
        if (cls)
            for (size_t i = 0; i < n; i++)
                cls[r + i] = (int32_t)argmax(logits + (r + i) * C, C);
    }
    int st = mimic_npy_save(out, logits, MIMIC_DTYPE_F32, N, C);
    if (st == MIMIC_OK && cls)
        st = mimic_npy_save(classes, cls, MIMIC_DTYPE_I32, N, 0);
    rc = st == MIMIC_OK ? CLI_EXIT_OK : cli_lib_error(cmd, NULL, st);
done:
    free(logits);
    free(buf);
    free(cls);
    cli_array_free(&x);
    mimic_student_free(s);
    return rc;
}
