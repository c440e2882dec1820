/* Metrics of a student on a dataset, in chunks through one workspace. */
#include <math.h>
#include <string.h>

#include "model/model.h"

/* Running sums over rows (double). */
typedef struct sums {
    double sq, kl, ce;
    size_t correct, agree;
} sums;

static void accumulate(sums *a, const float *logits, const mimic_dataset *d, size_t first,
                       size_t rows, double T, int center)
{
    size_t C = d->n_classes;
    for (size_t r = 0; r < rows; r++) {
        const float *s = logits + r * C;
        size_t ks = mimic__argmax(s, C);
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
            a->kl += mimic__kd_row(s, t, C, T, 0, NULL) / (T * T);
            a->agree += ks == mimic__argmax(t, C);
        }
        if (d->labels) {
            size_t y = (size_t)d->labels[first + r];
            a->ce += mimic__ce_row(s, y, C);
            a->correct += ks == y;
        }
    }
}

void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, float *x, float *ws, mimic_metrics *out)
{
    const mimic__layout *L = &s->L;
    sums a = {0, 0, 0, 0, 0};
    for (size_t first = 0; first < d->rows; first += chunk) {
        size_t n = d->rows - first < chunk ? d->rows - first : chunk;
        const char *raw = (const char *)d->inputs + first * mimic__dataset_row_bytes(d);
        mimic__normalize_rows(s->in_mean, s->in_scale, L->D, raw, d->input_dtype, n, x);
        float *z, *h, *logits;
        mimic__student_forward_ws(L, s->opts.activation, s->params, x, n, NULL, ws, &z, &h,
                                  &logits);
        accumulate(&a, logits, d, first, n, temperature, center);
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
    if (rc == MIMIC_OK)
        rc = mimic__struct_check_out(out, "mimic_evaluate", "mimic_metrics_init");
    if (rc != MIMIC_OK)
        return rc;
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
        return mimic__error(MIMIC_ERR_NOMEM,
                            "mimic_evaluate: out of memory for a %zu-row workspace", chunk);
    }
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    mimic__evaluate_ws(s, d, temperature, 0, chunk, x, ws, &m);
    mimic__free(x);
    mimic__free(ws);
    mimic__struct_copy_out(out, out->struct_size, &m, sizeof m);
    return MIMIC_OK;
}
