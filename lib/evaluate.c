/* Metrics of a student on a dataset, in chunks through one workspace. */
#include <math.h>
#include <string.h>

#include "train_internal.h"

/* Running sums over rows (double). */
typedef struct sums {
    double sq, kl, ce;
    size_t correct, agree;
} sums;

static size_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

/* log sum_j exp(x_j * inv_t), with max subtraction */
static double lse(const float *x, size_t n, double inv_t, double max)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += exp(((double)x[j] - max) * inv_t);
    return max * inv_t + log(s);
}

/* KL(softmax(t/T) || softmax(s/T)) for one row. */
static double kl_row(const float *s, const float *t, size_t C, double inv_t)
{
    double ms = s[argmax(s, C)], mt = t[argmax(t, C)];
    double ls = lse(s, C, inv_t, ms), lt = lse(t, C, inv_t, mt);
    double kl = 0;
    for (size_t j = 0; j < C; j++) {
        double logpt = t[j] * inv_t - lt;
        double pt = exp(logpt);
        if (pt > 0)
            kl += pt * (logpt - (s[j] * inv_t - ls));
    }
    return kl;
}

static void accumulate(sums *a, const float *logits, const mimic_dataset *d, size_t first,
                       size_t rows, double inv_t, int center)
{
    size_t C = d->n_classes;
    for (size_t r = 0; r < rows; r++) {
        const float *s = logits + r * C;
        size_t ks = argmax(s, C);
        if (d->logits) {
            const float *t = d->logits + (first + r) * C;
            double off = 0;
            if (center) {
                for (size_t j = 0; j < C; j++)
                    off += t[j];
                off /= (double)C;
            }
            for (size_t j = 0; j < C; j++) {
                double e = (double)s[j] - ((double)t[j] - off);
                a->sq += e * e;
            }
            a->kl += kl_row(s, t, C, inv_t);
            a->agree += ks == argmax(t, C);
        }
        if (d->labels) {
            size_t y = (size_t)d->labels[first + r];
            a->ce += lse(s, C, 1.0, s[ks]) - s[y];
            a->correct += ks == y;
        }
    }
}

void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, float *x, float *ws, mimic_metrics *out)
{
    const mimic__layout *L = &s->L;
    size_t in_size = d->input_dtype == MIMIC_DTYPE_U8 ? 1 : sizeof(float);
    sums a = {0, 0, 0, 0, 0};
    for (size_t first = 0; first < d->rows; first += chunk) {
        size_t n = d->rows - first < chunk ? d->rows - first : chunk;
        mimic__normalize_rows(s->in_mean, s->in_scale, L->D,
                              (const char *)d->inputs + first * L->D * in_size, d->input_dtype, n,
                              x);
        float *z, *h, *logits;
        mimic__student_forward_ws(L, s->opts.activation, s->params, x, n, NULL, ws, &z, &h, &logits);
        accumulate(&a, logits, d, first, n, 1.0 / temperature, center);
    }
    double N = (double)d->rows;
    out->rows = d->rows;
    out->logit_l2 = out->logit_rmse = out->kl = out->hard_ce = out->accuracy = out->agreement = NAN;
    if (d->logits) {
        out->logit_l2 = a.sq / (2 * N);
        out->logit_rmse = sqrt(a.sq / (N * (double)d->n_classes));
        out->kl = a.kl / N;
        out->agreement = (double)a.agree / N;
    }
    if (d->labels) {
        out->hard_ce = a.ce / N;
        out->accuracy = (double)a.correct / N;
    }
}

/* Rows per chunk: big enough for efficient sgemm, small enough to bound the workspace. */
#define EVAL_CHUNK 256

int mimic_evaluate(const mimic_student *s, const mimic_dataset *d, double temperature,
                   mimic_metrics *out)
{
    int rc = mimic__student_check(s, "student");
    if (rc == MIMIC_OK)
        rc = mimic__dataset_check(d, "dataset");
    if (rc != MIMIC_OK)
        return rc;
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_evaluate: out is NULL");
    if (out->struct_size < sizeof(size_t))
        return mimic__error(MIMIC_ERR_INVALID,
                            "mimic_evaluate: out->struct_size %zu is too small (call "
                            "mimic_metrics_init first)",
                            out->struct_size);
    if (!isfinite(temperature) || temperature <= 0)
        return mimic__error(MIMIC_ERR_INVALID, "temperature: must be finite and > 0, not %g",
                            temperature);
    if (d->n_inputs != s->L.D || d->n_classes != s->L.C)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "dataset: %zu inputs x %zu classes, but the student has %zu x %zu",
                            d->n_inputs, d->n_classes, s->L.D, s->L.C);
    size_t chunk = d->rows < EVAL_CHUNK ? d->rows : EVAL_CHUNK;
    float *x = mimic__aligned_alloc(chunk * s->L.D * sizeof(float));
    float *ws = mimic__aligned_alloc(mimic__student_ws_floats(&s->L, chunk) * sizeof(float));
    if (!x || !ws) {
        mimic__free(x);
        mimic__free(ws);
        return mimic__error(MIMIC_ERR_NOMEM, "mimic_evaluate: out of memory for a %zu-row workspace",
                            chunk);
    }
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    mimic__evaluate_ws(s, d, temperature, 0, chunk, x, ws, &m);
    mimic__free(x);
    mimic__free(ws);
    size_t n = out->struct_size < sizeof m ? out->struct_size : sizeof m;
    m.struct_size = out->struct_size;
    memcpy(out, &m, n);
    return MIMIC_OK;
}
