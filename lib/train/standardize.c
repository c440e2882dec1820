/* Statistics over a training set: per-feature input mean/scale and per-class target
 * mean/std, in double, streaming row by row (mapped data is read once, in order). One
 * process uses Welford's update; ranks that each read a part of the rows add up shifted sums
 * instead (mimic__input_sums, mimic__target_sums), which an all-reduce can combine. */
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

/* The input normalization of a feature with mean mu and standard deviation sd. */
static void input_norm(double mu, double sd, double std_floor, float *mean, float *scale)
{
    *mean = (float)mu;
    *scale = (float)(1.0 / (sd > std_floor ? sd : std_floor));
}

/* The target statistics of a class. A class whose logit never varies: its normalized target
 * is 0, the fold gives the bias `mean`; scale 1 keeps the map invertible. Below ~1e-30 a
 * float would lose it. */
static void target_norm(double mu, double sd, float *mean, float *std)
{
    *mean = (float)mu;
    *std = sd > 1e-20 && (float)sd > 0 ? (float)sd : 1.0f;
}

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
    for (size_t j = 0; j < D; j++)
        input_norm(mu[j], sqrt(m2[j] / (double)d->rows), std_floor, &mean[j], &scale[j]);
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
    for (size_t j = 0; j < C; j++)
        target_norm(mu[j], sqrt(m2[j] / (double)d->rows), &mean[j], &std[j]);
    mimic__free(mu);
    return MIMIC_OK;
}

/* ---- shifted sums, for ranks that each read part of the rows ------------------------------ */

/* Per column, sums of (x - k) and (x - k)^2 with k = row 0's values: the shift keeps the
 * sums of squares well conditioned (features with a large mean), and for uint8 inputs every
 * term is an integer, so the sums are exact whatever the split and order. */
#define SHIFTED_ROW(name, T)                                                                       \
    static void name(double *s1, double *s2, const T *row, const T *k, size_t D)                   \
    {                                                                                              \
        for (size_t j = 0; j < D; j++) {                                                           \
            double x = (double)row[j] - (double)k[j];                                              \
            s1[j] += x;                                                                            \
            s2[j] += x * x;                                                                        \
        }                                                                                          \
    }
SHIFTED_ROW(shifted_row, float)
SHIFTED_ROW(shifted_row_u8, uint8_t)

void mimic__input_sums(const mimic_dataset *d, uint64_t first, uint64_t end, double *sums)
{
    size_t D = d->n_inputs;
    const void *k = mimic__input_row(d, 0);
    for (uint64_t r = first; r < end; r++) {
        const void *row = mimic__input_row(d, r);
        if (d->input_dtype == MIMIC_DTYPE_U8)
            shifted_row_u8(sums, sums + D, row, k, D);
        else
            shifted_row(sums, sums + D, row, k, D);
    }
}

/* Mean and standard deviation of column j from the sums over all n rows, shifted by k. */
static void shifted_stats(const double *sums, size_t D, size_t j, double n, double k, double *mu,
                          double *sd)
{
    double m1 = sums[j] / n, var = sums[D + j] / n - m1 * m1;
    *mu = k + m1;
    *sd = sqrt(var > 0 ? var : 0);
}

void mimic__input_finish(const mimic_dataset *d, double std_floor, const double *sums, float *mean,
                         float *scale)
{
    size_t D = d->n_inputs;
    const void *k = mimic__input_row(d, 0);
    for (size_t j = 0; j < D; j++) {
        double kj = d->input_dtype == MIMIC_DTYPE_U8 ? (double)((const uint8_t *)k)[j]
                                                     : (double)((const float *)k)[j];
        double mu, sd;
        shifted_stats(sums, D, j, (double)d->rows, kj, &mu, &sd);
        input_norm(mu, sd, std_floor, &mean[j], &scale[j]);
    }
}

int mimic__target_sums(const mimic_dataset *d, uint64_t first, uint64_t end, double *sums)
{
    size_t C = d->n_classes;
    float *row = mimic__falloc(2 * C, 1);
    if (!row)
        return mimic__error(MIMIC_ERR_NOMEM, "target statistics: out of memory");
    float *k = row + C;
    mimic__logits_row(d, 0, k);
    for (uint64_t r = first; r < end; r++) {
        mimic__logits_row(d, r, row);
        shifted_row(sums, sums + C, row, k, C);
    }
    mimic__free(row);
    return MIMIC_OK;
}

void mimic__target_finish(const mimic_dataset *d, const double *sums, float *mean, float *std)
{
    size_t C = d->n_classes;
    mimic__logits_row(d, 0, mean); /* the shift, overwritten column by column */
    for (size_t j = 0; j < C; j++) {
        double mu, sd;
        shifted_stats(sums, C, j, (double)d->rows, (double)mean[j], &mu, &sd);
        target_norm(mu, sd, &mean[j], &std[j]);
    }
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
