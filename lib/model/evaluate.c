/* Metrics of a student on a dataset, in chunks through one workspace. */
#include <math.h>
#include <string.h>

#include "model/model.h"

/* Add rows of logits s compared with teacher rows t (NULL: none) and labels y (NULL). */
static void accumulate(mimic__eval_sums *a, const float *logits, const float *t, const int32_t *y,
                       size_t rows, size_t C, double T, int center)
{
    for (size_t r = 0; r < rows; r++) {
        const float *s = logits + r * C;
        size_t ks = mimic__argmax(s, C);
        if (t) {
            const float *tr = t + r * C;
            double off = 0;
            if (center) {
                for (size_t j = 0; j < C; j++)
                    off += tr[j];
                off /= (double)C;
            }
            for (size_t j = 0; j < C; j++) {
                double e = (double)s[j] - ((double)tr[j] - off);
                a->sq += e * e;
            }
            a->kl += mimic__kd_row(s, tr, C, T, 0, NULL) / (T * T);
            a->agree += ks == mimic__argmax(tr, C);
        }
        if (y) {
            size_t label = (size_t)y[r];
            a->ce += mimic__ce_row(s, label, C);
            a->correct += ks == label;
        }
    }
}

static void finish(const mimic__eval_sums *a, size_t rows, size_t C, bool logits, bool labels,
                   mimic_metrics *out)
{
    double N = (double)rows;
    out->rows = rows;
    out->logit_l2 = out->logit_rmse = out->kl = out->hard_ce = out->accuracy = out->agreement = NAN;
    if (logits) {
        out->logit_l2 = a->sq / (2 * N);
        out->logit_rmse = sqrt(a->sq / (N * (double)C));
        out->kl = a->kl / N;
        out->agreement = a->agree / N;
    }
    if (labels) {
        out->hard_ce = a->ce / N;
        out->accuracy = a->correct / N;
    }
}

void mimic__evaluate_sums(const mimic_student *s, const mimic_dataset *d, double temperature,
                          int center, uint64_t begin, uint64_t end, size_t chunk,
                          const mimic__eval_ws *w, mimic__pool *pool, mimic__eval_sums *a)
{
    const mimic__layout *L = &s->L;
    const size_t C = d->n_classes;
    for (uint64_t first = begin; first < end; first += chunk) {
        size_t n = end - first < chunk ? (size_t)(end - first) : chunk;
        for (size_t r = 0; r < n;) { /* the chunk's rows, a shard's run at a time */
            size_t m = (size_t)mimic__dataset_span(d, first + r, n - r);
            mimic__normalize_rows(s->in_mean, s->in_scale, L->D, mimic__input_row(d, first + r),
                                  d->input_dtype, m, w->x + r * L->D);
            r += m;
        }
        for (size_t r = 0; d->logits_dtype && r < n; r++)
            mimic__logits_row(d, first + r, w->t + r * C);
        for (size_t r = 0; d->labels_dtype && r < n; r++)
            w->y[r] = mimic__label_at(d, first + r);
        const float *logits = mimic__student_infer(s, w->x, n, w->ws, w->gemm_ws, pool);
        accumulate(a, logits, d->logits_dtype ? w->t : NULL, d->labels_dtype ? w->y : NULL, n, C,
                   temperature, center);
    }
}

void mimic__evaluate_finish(const mimic__eval_sums *a, const mimic_dataset *d, mimic_metrics *out)
{
    finish(a, d->rows, d->n_classes, d->logits_dtype != 0, d->labels_dtype != 0, out);
}

void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, const mimic__eval_ws *w, mimic__pool *pool,
                        mimic_metrics *out)
{
    mimic__eval_sums a = {0, 0, 0, 0, 0};
    mimic__evaluate_sums(s, d, temperature, center, 0, d->rows, chunk, w, pool, &a);
    mimic__evaluate_finish(&a, d, out);
}

int mimic__eval_ws_alloc(mimic__eval_ws *w, const mimic__layout *L, size_t chunk)
{
    memset(w, 0, sizeof *w);
    w->x = mimic__falloc(chunk, L->D);
    w->ws = mimic__falloc(mimic__student_ws_floats(L, chunk), 1);
    w->t = mimic__falloc(chunk, L->C);
    w->y = mimic__calloc(chunk, sizeof(int32_t));
    w->gemm_ws = mimic__falloc(mimic__infer_ws_floats(L, chunk), 1);
    if (w->x && w->ws && w->t && w->y && w->gemm_ws)
        return MIMIC_OK;
    mimic__eval_ws_free(w);
    return mimic__error(MIMIC_ERR_NOMEM, "evaluation: out of memory for a %zu-row workspace",
                        chunk);
}

void mimic__eval_ws_free(mimic__eval_ws *w)
{
    mimic__free(w->x);
    mimic__free(w->ws);
    mimic__free(w->t);
    mimic__free(w->y);
    mimic__free(w->gemm_ws);
    memset(w, 0, sizeof *w);
}

void mimic_metrics_init(mimic_metrics *m, size_t struct_size)
{
    mimic_metrics d;
    memset(&d, 0, sizeof d);
    d.logit_l2 = d.logit_rmse = d.kl = d.hard_ce = d.accuracy = d.agreement = NAN;
    mimic__struct_copy_out(m, struct_size, &d, sizeof d);
}

static int check_temperature(double temperature)
{
    if (!isfinite(temperature) || temperature <= 0)
        return mimic__error(MIMIC_ERR_INVALID, "temperature: must be finite and > 0, not %g",
                            temperature);
    return MIMIC_OK;
}

int mimic_evaluate_logits(const float *logits, const float *teacher, const int32_t *labels,
                          size_t rows, size_t classes, double temperature, mimic_metrics *out)
{
    static const char fn[] = "mimic_evaluate_logits";
    int rc = mimic__struct_check_out(out, fn, "mimic_metrics_init");
    if (rc == MIMIC_OK)
        rc = check_temperature(temperature);
    if (rc != MIMIC_OK)
        return rc;
    if (!logits || (!teacher && !labels))
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: logits and at least one of teacher_logits and labels are needed",
                            fn);
    size_t n;
    if (rows == 0 || classes == 0 || !mimic__mul_ok(rows, classes, &n))
        return mimic__error(MIMIC_ERR_INVALID, "%s: %zu rows x %zu classes", fn, rows, classes);
    /* the loss routines check finiteness and labels, with messages naming row and column */
    double ignored;
    rc = teacher ? mimic_loss_logit_l2(logits, teacher, rows, classes, &ignored, NULL) : MIMIC_OK;
    if (rc == MIMIC_OK && labels)
        rc = mimic_loss_hard_ce(logits, labels, rows, classes, &ignored, NULL);
    if (rc != MIMIC_OK)
        return rc;
    mimic__eval_sums a = {0, 0, 0, 0, 0};
    accumulate(&a, logits, teacher, labels, rows, classes, temperature, 0);
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    finish(&a, rows, classes, teacher != NULL, labels != NULL, &m);
    mimic__struct_copy_out(out, out->struct_size, &m, sizeof m);
    return MIMIC_OK;
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
    if ((rc = check_temperature(temperature)) != MIMIC_OK)
        return rc;
    if (d->n_inputs != s->L.D || d->n_classes != s->L.C)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "dataset: %zu inputs x %zu classes, but the student has %zu x %zu",
                            d->n_inputs, d->n_classes, s->L.D, s->L.C);
    size_t chunk = d->rows < EVAL_CHUNK ? d->rows : EVAL_CHUNK;
    mimic__eval_ws w;
    if ((rc = mimic__eval_ws_alloc(&w, &s->L, chunk)) != MIMIC_OK)
        return rc;
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    mimic__evaluate_ws(s, d, temperature, 0, chunk, &w, s->pool, &m);
    mimic__eval_ws_free(&w);
    mimic__struct_copy_out(out, out->struct_size, &m, sizeof m);
    return MIMIC_OK;
}
