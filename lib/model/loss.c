/*
 * Loss routines: logit L2 (Ba & Caruana), softmax KL at temperature T (Hinton), hard-label
 * cross-entropy, and softmax. Exact definitions in include/mimic/loss.h.
 *
 * Every routine validates all of its inputs (arguments, finiteness, labels) before it writes
 * anything, so a failing call leaves the gradient buffer untouched; the computing pass then
 * cannot fail. Log-sum-exp subtracts the row maximum; exponentials and sums run in double.
 * Rows with at most SCRATCH classes keep their exponentials on the stack (one exp per
 * element); wider rows recompute them when writing the gradient.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "model/model.h"

/* Probabilities below FLT_MIN in magnitude are stored as 0, not as subnormal floats. */
static inline float ftz(double v)
{
    return fabs(v) < (double)FLT_MIN ? 0.0f : (float)v;
}

/* Gradient entries below MIMIC__GRAD_FLUSH (2^-100, about 8e-31) in magnitude are stored as 0.
 * A confident softmax gives wrong-class probabilities like 1e-37; the backward pass then
 * multiplies the gradient by two weight matrices, and products that fall below float's
 * normal range (subnormals) make every later sgemm several times slower. Measured on a
 * late-training hard-label epoch (784-256b-4096-10, SkylakeX kernels): flushing only below
 * FLT_MIN left it at 7.9k examples/s against 15k for a fresh student; flushing at 2^-100
 * gives it back. An update of lr * 2^-100 changes no float weight above 2^-70 or so, so the
 * trajectory is that of exact arithmetic to well under float rounding. */
#define MIMIC__GRAD_FLUSH 0x1p-100
static inline float flush_grad(double v)
{
    return fabs(v) < MIMIC__GRAD_FLUSH ? 0.0f : (float)v;
}

#define SCRATCH 256
/* Temperatures outside this range could overflow the gradient (T/N) or T^2 * KL. */
#define T_MIN 1e-30
#define T_MAX 1e30

static int check_args(const void *a, const char *a_name, const void *b, const char *b_name,
                      size_t rows, size_t classes, const void *out, const char *out_name,
                      const char *fn)
{
    size_t n;
    if (!a)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s is NULL", fn, a_name);
    if (!b)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s is NULL", fn, b_name);
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "%s: %s is NULL", fn, out_name);
    if (rows == 0 || classes == 0)
        return mimic__error(MIMIC_ERR_INVALID, "%s: rows (%zu) and classes (%zu) must be > 0", fn,
                            rows, classes);
    if (!mimic__mul_ok(rows, classes, &n) || n > SIZE_MAX / sizeof(float))
        return mimic__error(MIMIC_ERR_INVALID, "%s: rows %zu x classes %zu overflows", fn, rows,
                            classes);
    return MIMIC_OK;
}

static int check_temperature(double t, const char *fn)
{
    if (!(t >= T_MIN && t <= T_MAX)) /* also rejects NaN */
        return mimic__error(MIMIC_ERR_INVALID, "%s: temperature %g must be finite and in [%g, %g]",
                            fn, t, T_MIN, T_MAX);
    return MIMIC_OK;
}

/* Scan for NaN/Inf in blocks (the block test vectorizes); locate the first bad element only
 * when a block has one. */
static int check_finite(const float *a, size_t rows, size_t cols, const char *what, const char *fn)
{
    size_t n = rows * cols;
    for (size_t i0 = 0; i0 < n; i0 += 1024) {
        size_t i1 = n - i0 < 1024 ? n : i0 + 1024;
        uint32_t bad = 0;
        for (size_t i = i0; i < i1; i++) {
            uint32_t u;
            memcpy(&u, &a[i], sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (!bad)
            continue;
        for (size_t i = i0; i < i1; i++)
            if (!isfinite(a[i]))
                return mimic__error(MIMIC_ERR_NUMERIC,
                                    "%s: %s has a non-finite value (%g) at row %zu, column %zu", fn,
                                    what, (double)a[i], i / cols, i % cols);
    }
    return MIMIC_OK;
}

/* The arguments of a loss between student and teacher logits: pointers, sizes, finiteness,
 * and the temperature when the loss has one (has_t). */
static int check_pair(const float *s, const float *t, size_t rows, size_t classes,
                      const double *loss_out, bool has_t, double temperature, const char *fn)
{
    int rc = check_args(s, "student_logits", t, "teacher_logits", rows, classes, loss_out,
                        "loss_out", fn);
    if (rc == MIMIC_OK && has_t)
        rc = check_temperature(temperature, fn);
    if (rc == MIMIC_OK)
        rc = check_finite(s, rows, classes, "student_logits", fn);
    if (rc == MIMIC_OK)
        rc = check_finite(t, rows, classes, "teacher_logits", fn);
    return rc;
}

static float row_max(const float *x, size_t n)
{
    float m = x[0];
    for (size_t j = 1; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return m;
}

/* The losses below divide their sums by `norm` rows: the rows given for the public routines,
 * the whole global batch for a rank that holds only part of it (mimic__loss_args.norm_rows),
 * so that the ranks' gradients add up to the whole batch's, row for row the same floats. */
static int logit_l2(const float *s, const float *t, size_t rows, size_t classes, size_t norm,
                    double *loss_out, float *g, const char *fn)
{
    int rc = check_pair(s, t, rows, classes, loss_out, false, 0, fn);
    if (rc != MIMIC_OK)
        return rc;
    const size_t n = rows * classes;
    const double inv_n = 1.0 / (double)norm;
    /* (s - t) / N fits a float whenever N >= 2 (|s - t| <= 2 FLT_MAX); check N = 1. */
    if (g && norm == 1)
        for (size_t j = 0; j < n; j++)
            if (fabs((double)s[j] - (double)t[j]) > FLT_MAX)
                return mimic__error(MIMIC_ERR_NUMERIC,
                                    "%s: gradient overflows float at row 0, column %zu", fn, j);
    double acc0 = 0, acc1 = 0;
    size_t j = 0;
    if (g) {
        for (; j + 1 < n; j += 2) {
            double d0 = (double)s[j] - (double)t[j];
            double d1 = (double)s[j + 1] - (double)t[j + 1];
            acc0 += d0 * d0;
            acc1 += d1 * d1;
            g[j] = flush_grad(d0 * inv_n);
            g[j + 1] = flush_grad(d1 * inv_n);
        }
        for (; j < n; j++) {
            double d = (double)s[j] - (double)t[j];
            acc0 += d * d;
            g[j] = flush_grad(d * inv_n);
        }
    } else {
        for (; j + 1 < n; j += 2) {
            double d0 = (double)s[j] - (double)t[j];
            double d1 = (double)s[j + 1] - (double)t[j + 1];
            acc0 += d0 * d0;
            acc1 += d1 * d1;
        }
        for (; j < n; j++) {
            double d = (double)s[j] - (double)t[j];
            acc0 += d * d;
        }
    }
    *loss_out = 0.5 * (acc0 + acc1) * inv_n;
    return MIMIC_OK;
}

int mimic_loss_logit_l2(const float *student_logits, const float *teacher_logits, size_t rows,
                        size_t classes, double *loss_out, float *grad_out_or_NULL)
{
    return logit_l2(student_logits, teacher_logits, rows, classes, rows, loss_out, grad_out_or_NULL,
                    "mimic_loss_logit_l2");
}

/* One row of the softmax KL: returns T^2 KL(softmax(t/T) || softmax(s/T)); writes
 * scale * (softmax(s/T) - softmax(t/T)) into g when g is not NULL. */
double mimic__kd_row(const float *s, const float *t, size_t C, double T, double scale, float *g)
{
    const double ms = row_max(s, C), mt = row_max(t, C);
    const double inv_t = 1.0 / T;
    double es_buf[SCRATCH], et_buf[SCRATCH];
    const bool keep = C <= SCRATCH;
    double ss = 0, st = 0, a = 0;
    for (size_t j = 0; j < C; j++) {
        const double ds = (double)s[j] - ms, dt = (double)t[j] - mt;
        const double es = exp(ds * inv_t), et = exp(dt * inv_t);
        ss += es;
        st += et;
        a += et * (dt - ds); /* raw units: bounded, and 0 * finite when et underflows */
        if (keep) {
            es_buf[j] = es;
            et_buf[j] = et;
        }
    }
    /* KL = sum p_t (log p_t - log p_s) = (a / T) / st - log st + log ss; times T^2. */
    const double loss = T * (a / st) + T * T * (log(ss) - log(st));
    if (g) {
        const double cs = scale / ss, ct = scale / st;
        if (keep) {
            for (size_t j = 0; j < C; j++)
                g[j] = flush_grad(cs * es_buf[j] - ct * et_buf[j]);
        } else {
            for (size_t j = 0; j < C; j++) {
                const double es = exp(((double)s[j] - ms) * inv_t);
                const double et = exp(((double)t[j] - mt) * inv_t);
                g[j] = flush_grad(cs * es - ct * et);
            }
        }
    }
    return loss;
}

static int softmax_ce(const float *s, const float *t, size_t rows, size_t classes, size_t norm,
                      double temperature, double *loss_out, float *grad, const char *fn)
{
    int rc = check_pair(s, t, rows, classes, loss_out, true, temperature, fn);
    if (rc != MIMIC_OK)
        return rc;
    const double scale = temperature / (double)norm;
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        float *g = grad ? grad + r * classes : NULL;
        total += mimic__kd_row(s + r * classes, t + r * classes, classes, temperature, scale, g);
    }
    /* KL >= 0; rounding can leave a tiny negative value for a near-perfect mimic. */
    total /= (double)norm;
    *loss_out = total > 0 ? total : 0.0;
    return MIMIC_OK;
}

int mimic_loss_softmax_ce(const float *student_logits, const float *teacher_logits, size_t rows,
                          size_t classes, double temperature, double *loss_out,
                          float *grad_out_or_NULL)
{
    return softmax_ce(student_logits, teacher_logits, rows, classes, rows, temperature, loss_out,
                      grad_out_or_NULL, "mimic_loss_softmax_ce");
}

/* One row of the hard-label cross-entropy: returns -log softmax(x)[y]; writes
 * scale * (softmax(x) - onehot(y)) into g when g is not NULL. */
static double ce_row(const float *x, size_t y, size_t C, double scale, float *g)
{
    double e_buf[SCRATCH];
    const bool keep = C <= SCRATCH;
    const double m = row_max(x, C);
    double sum = 0;
    for (size_t j = 0; j < C; j++) {
        const double e = exp((double)x[j] - m);
        sum += e;
        if (keep)
            e_buf[j] = e;
    }
    if (g) {
        const double c = scale / sum;
        for (size_t j = 0; j < C; j++) {
            const double e = keep ? e_buf[j] : exp((double)x[j] - m);
            g[j] = flush_grad(c * e - (j == y ? scale : 0.0));
        }
    }
    return log(sum) - ((double)x[y] - m);
}

double mimic__ce_row(const float *s, size_t y, size_t C)
{
    return ce_row(s, y, C, 0, NULL);
}

static int hard_ce(const float *s, const int32_t *labels, size_t rows, size_t classes, size_t norm,
                   double *loss_out, float *grad_out_or_NULL, const char *fn)
{
    int rc =
        check_args(s, "student_logits", labels, "labels", rows, classes, loss_out, "loss_out", fn);
    if (rc == MIMIC_OK)
        for (size_t r = 0; r < rows; r++)
            if (labels[r] < 0 || (uint64_t)labels[r] >= (uint64_t)classes) {
                rc = mimic__error(MIMIC_ERR_RANGE, "%s: label %d at row %zu is outside [0, %zu)",
                                  fn, (int)labels[r], r, classes);
                break;
            }
    if (rc == MIMIC_OK)
        rc = check_finite(s, rows, classes, "student_logits", fn);
    if (rc != MIMIC_OK)
        return rc;
    const double inv_n = 1.0 / (double)norm;
    double total = 0;
    for (size_t r = 0; r < rows; r++)
        total += ce_row(s + r * classes, (size_t)labels[r], classes, inv_n,
                        grad_out_or_NULL ? grad_out_or_NULL + r * classes : NULL);
    *loss_out = total * inv_n;
    return MIMIC_OK;
}

int mimic_loss_hard_ce(const float *student_logits, const int32_t *labels, size_t rows,
                       size_t classes, double *loss_out, float *grad_out_or_NULL)
{
    return hard_ce(student_logits, labels, rows, classes, rows, loss_out, grad_out_or_NULL,
                   "mimic_loss_hard_ce");
}

int mimic_softmax(const float *logits, size_t rows, size_t classes, double temperature,
                  float *probs_out)
{
    static const char fn[] = "mimic_softmax";
    int rc = check_args(logits, "logits", probs_out, "probs_out", rows, classes, probs_out,
                        "probs_out", fn);
    if (rc == MIMIC_OK)
        rc = check_temperature(temperature, fn);
    if (rc == MIMIC_OK)
        rc = check_finite(logits, rows, classes, "logits", fn);
    if (rc != MIMIC_OK)
        return rc;
    const double inv_t = 1.0 / temperature;
    double e_buf[SCRATCH];
    const bool keep = classes <= SCRATCH;
    for (size_t r = 0; r < rows; r++) {
        const float *x = logits + r * classes;
        float *p = probs_out + r * classes; /* may be x: each element is read before written */
        const double m = row_max(x, classes);
        double sum = 0;
        if (keep) {
            for (size_t j = 0; j < classes; j++) {
                e_buf[j] = exp(((double)x[j] - m) * inv_t);
                sum += e_buf[j];
            }
            const double c = 1.0 / sum;
            for (size_t j = 0; j < classes; j++)
                p[j] = ftz(e_buf[j] * c);
            continue;
        }
        for (size_t j = 0; j < classes; j++) {
            const double e = exp(((double)x[j] - m) * inv_t);
            sum += e;
            p[j] = (float)e;
        }
        const double c = 1.0 / sum;
        for (size_t j = 0; j < classes; j++)
            p[j] = ftz((double)p[j] * c);
    }
    return MIMIC_OK;
}

/* ---- the losses as descriptors ------------------------------------------------------------ */

/* The divisor of a batch function's sums: the global batch's rows (0: the rows given). */
static size_t norm_rows(const mimic__loss_args *a)
{
    return a->norm_rows ? a->norm_rows : a->rows;
}

static int l2_batch(const mimic__loss_args *a, double *loss, float *grad)
{
    return logit_l2(a->logits, a->targets, a->rows, a->classes, norm_rows(a), loss, grad,
                    "mimic_loss_logit_l2");
}

/* Softmax KL at temperature T, mixed with the hard-label loss by hard_weight a:
 * (1 - a) T^2 KL + a CE, and the gradients likewise. */
static int kd_batch(const mimic__loss_args *a, double *loss, float *grad)
{
    const double T = a->o->temperature, hard_weight = a->o->hard_weight;
    int rc = softmax_ce(a->logits, a->targets, a->rows, a->classes, norm_rows(a), T, loss, grad,
                        "mimic_loss_softmax_ce");
    if (rc != MIMIC_OK || !(hard_weight > 0))
        return rc;
    double hard;
    rc = hard_ce(a->logits, a->labels, a->rows, a->classes, norm_rows(a), &hard,
                 grad ? a->scratch : NULL, "mimic_loss_hard_ce");
    if (rc != MIMIC_OK)
        return rc;
    if (grad) {
        float w = (float)hard_weight, v = 1.0f - w;
        for (size_t i = 0; i < a->rows * a->classes; i++)
            grad[i] = v * grad[i] + w * a->scratch[i];
    }
    *loss = (1.0 - hard_weight) * *loss + hard_weight * hard;
    return MIMIC_OK;
}

static int labels_batch(const mimic__loss_args *a, double *loss, float *grad)
{
    return hard_ce(a->logits, a->labels, a->rows, a->classes, norm_rows(a), loss, grad,
                   "mimic_loss_hard_ce");
}

static double logit_l2_of(const mimic_metrics *m)
{
    return m->logit_l2;
}

static double kl_of(const mimic_metrics *m)
{
    return m->kl;
}

static double hard_ce_of(const mimic_metrics *m)
{
    return m->hard_ce;
}

/* In MIMIC_LOSS_* order. Default SGD rates: the softmax losses have bounded gradients
 * (0.05); L2's grows with the logit error (teacher logits often span 15 or more), so it
 * needs a small one. */
static const mimic__loss losses[] = {
    {MIMIC_LOSS_L2, "l2", "logit L2", "1/(2N) sum ||s - t||^2", MIMIC__NEEDS_LOGITS, "target_norm",
     MIMIC_TARGET_STANDARDIZE, 0.001, l2_batch, "logit_l2", logit_l2_of},
    {MIMIC_LOSS_KD, "kd", "distillation", "(1-a) T^2 KL(p_t/T || p_s/T) + a CE",
     MIMIC__NEEDS_LOGITS | MIMIC__LABELS_IF_HARD, "temperature hard_weight", MIMIC_TARGET_NONE,
     0.05, kd_batch, "kl", kl_of},
    {MIMIC_LOSS_LABELS, "labels", "cross-entropy", "-log p_s[y]", MIMIC__NEEDS_LABELS, "",
     MIMIC_TARGET_NONE, 0.05, labels_batch, "hard_ce", hard_ce_of},
};

const mimic__loss *mimic__loss_get(int32_t id)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(losses); i++)
        if (losses[i].id == id)
            return &losses[i];
    return NULL;
}

const mimic__loss *mimic__loss_all(size_t *n)
{
    *n = MIMIC__ARRAY_LEN(losses);
    return losses;
}

bool mimic__loss_needs_labels(const mimic__loss *l, double hard_weight)
{
    return (l->needs & MIMIC__NEEDS_LABELS) ||
           ((l->needs & MIMIC__LABELS_IF_HARD) && hard_weight > 0);
}

/* ---- the loss's options: rows of the mimic_train_options table --------------------------- */

static const char *loss_choice(size_t k, int32_t *v)
{
    if (k >= MIMIC__ARRAY_LEN(losses))
        return NULL;
    *v = losses[k].id;
    return losses[k].name;
}

static const char *target_norm_choice(size_t k, int32_t *v)
{
    static const struct {
        const char *name;
        int32_t value;
    } norms[] = {{"none", MIMIC_TARGET_NONE},
                 {"center", MIMIC_TARGET_CENTER},
                 {"standardize", MIMIC_TARGET_STANDARDIZE},
                 {"auto", MIMIC_TARGET_AUTO}};
    if (k >= MIMIC__ARRAY_LEN(norms))
        return NULL;
    *v = norms[k].value;
    return norms[k].name;
}

/* Whether the loss with id `value` names `field` among the options it reads. */
static bool loss_reads(int32_t value, const char *field)
{
    const mimic__loss *l = mimic__loss_get(value);
    return l && mimic__name_in(l->options, field);
}

/* A field that only some losses read (temperature, target_norm, ...). */
static const char *unused_by_loss(const void *p, const char *field, char *buf, size_t cap)
{
    const mimic_train_options *o = p;
    const mimic__loss *l = mimic__loss_get(o->loss);
    if (!l || loss_reads(o->loss, field))
        return NULL;
    return mimic__opt_applies_to(buf, cap, field, "loss", l->name, loss_choice, loss_reads);
}

MIMIC__UNUSED_BY(unused_by_loss, target_norm)
MIMIC__UNUSED_BY(unused_by_loss, temperature)
MIMIC__UNUSED_BY(unused_by_loss, hard_weight)

static const mimic__opt loss_rows[] = {
    {MIMIC__TRAIN_ROW(loss, ENUM), MIMIC__SHAPES_RUN, MIMIC__ANY, .def = MIMIC_LOSS_L2,
     .flag = "--loss",
     .help = "what the student learns from (each loss: MIMIC_LOSS_* in include/mimic/train.h)",
     .choice = loss_choice, .enum_prefix = "MIMIC_LOSS_"},
    {MIMIC__TRAIN_ROW(target_norm, ENUM), MIMIC__SHAPES_RUN, MIMIC__ANY,
     .def = MIMIC_TARGET_AUTO, .flag = "--target-norm",
     .help = "normalize the teacher's logits while training (undone in the saved student)",
     .default_text = "auto (the loss's own choice)", .choice = target_norm_choice,
     .enum_prefix = "MIMIC_TARGET_", .unused = unused_target_norm},
    {MIMIC__TRAIN_ROW(temperature, DOUBLE), MIMIC__SHAPES_RUN, .def = 4, MIMIC__GT(0),
     .flag = "--temperature", .metavar = "T", .help = "distillation temperature",
     .unused = unused_temperature},
    {MIMIC__TRAIN_ROW(hard_weight, DOUBLE), MIMIC__SHAPES_RUN, MIMIC__IN(0, 1),
     .flag = "--hard-weight", .metavar = "A",
     .help = "weight of the hard-label loss in distillation, (1-A) soft + A hard",
     .unused = unused_hard_weight},
};

const mimic__opt_group mimic__loss_options = {"loss", loss_rows, MIMIC__ARRAY_LEN(loss_rows)};
