/* Statistics over a training set: per-feature input mean/scale and per-class target
 * mean/std, in double, streaming row by row (mapped data is read once, in order). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/train.h"

/* Welford's update per column (stable for f32 features with a large mean), for one element
 * type: a row of D values of type T. */
#define WELFORD_ROW(name, T)                                                                   \
    static void name(double *mean, double *m2, size_t n, const T *row, size_t D)               \
    {                                                                                          \
        double inv = 1.0 / (double)n;                                                          \
        for (size_t j = 0; j < D; j++) {                                                       \
            double x = row[j];                                                                 \
            double d = x - mean[j];                                                            \
            mean[j] += d * inv;                                                                \
            m2[j] += d * (x - mean[j]);                                                        \
        }                                                                                      \
    }
WELFORD_ROW(welford_row, float)
WELFORD_ROW(welford_row_u8, uint8_t)

static double *alloc_stats(size_t D)
{
    double *buf = mimic__calloc(D, 2 * sizeof(double));
    if (!buf)
        mimic__error(MIMIC_ERR_NOMEM, "standardize: out of memory for %zu features", D);
    return buf;
}

int mimic__input_stats(const mimic_dataset *d, double std_floor, float *mean, float *scale)
{
    size_t D = d->n_inputs;
    double *mu = alloc_stats(D);
    if (!mu)
        return MIMIC_ERR_NOMEM;
    double *m2 = mu + D;
    for (uint64_t r = 0; r < d->rows; r++) {
        const void *row = mimic__input_row(d, r);
        if (d->input_dtype == MIMIC_DTYPE_U8)
            welford_row_u8(mu, m2, r + 1, row, D);
        else
            welford_row(mu, m2, r + 1, row, D);
    }
    for (size_t j = 0; j < D; j++) {
        double sd = sqrt(m2[j] / (double)d->rows);
        mean[j] = (float)mu[j];
        scale[j] = (float)(1.0 / (sd > std_floor ? sd : std_floor));
    }
    mimic__free(mu);
    return MIMIC_OK;
}

int mimic__target_stats(const mimic_dataset *d, float *mean, float *std)
{
    size_t C = d->n_classes;
    double *mu = alloc_stats(C);
    if (!mu)
        return MIMIC_ERR_NOMEM;
    double *m2 = mu + C;
    float *row = mimic__falloc(C, 1);
    if (!row) {
        mimic__free(mu);
        return mimic__error(MIMIC_ERR_NOMEM, "target statistics: out of memory");
    }
    for (uint64_t r = 0; r < d->rows; r++) {
        mimic__logits_row(d, r, row);
        welford_row(mu, m2, r + 1, row, C);
    }
    mimic__free(row);
    for (size_t j = 0; j < C; j++) {
        double sd = sqrt(m2[j] / (double)d->rows);
        /* a class whose logit never varies: its normalized target is 0, the fold gives the
         * bias `mean`; scale 1 keeps the map invertible. Below ~1e-30 a float would lose it. */
        mean[j] = (float)mu[j];
        std[j] = sd > 1e-20 && (float)sd > 0 ? (float)sd : 1.0f;
    }
    mimic__free(mu);
    return MIMIC_OK;
}

/* ---- options: rows of the mimic_train_options table -------------------------------------- */

static const char *unused_std_floor(const void *p, char *buf, size_t cap)
{
    if (((const mimic_train_options *)p)->standardize)
        return NULL;
    snprintf(buf, cap, "it applies when options.standardize is set");
    return buf;
}

static const mimic__opt input_rows[] = {
    {MIMIC__TRAIN_ROW(standardize, BOOL), MIMIC__SHAPES_RUN, MIMIC__IN(0, 1),
     .flag = "--standardize",
     .help = "fit per-feature input mean and scale on the training data and store them in "
             "the student"},
    {MIMIC__TRAIN_ROW(std_floor, DOUBLE), MIMIC__SHAPES_RUN, .def = 0.1, MIMIC__GT(0),
     .flag = "--std-floor", .metavar = "S",
     .help = "standardize: scale = 1 / max(std, S), in input units", .unused = unused_std_floor},
};

const mimic__opt_group mimic__input_options = {"inputs", input_rows, MIMIC__ARRAY_LEN(input_rows)};
