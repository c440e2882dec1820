/*
 * libmimic: softmax-versus-logit loss routines.
 *
 * Pure functions on caller buffers; thread-safe. Over a batch of N = rows rows with
 * student logits s, teacher logits t and labels y (all row-major, rows x classes):
 *
 *   logit L2 (Ba & Caruana): L = 1/(2N) sum_n ||s_n - t_n||^2
 *                            dL/ds = (s - t) / N
 *   softmax CE at temperature T (Hinton):
 *                            L = T^2/N sum_n KL(softmax(t_n/T) || softmax(s_n/T))
 *                            dL/ds = T/N (softmax(s/T) - softmax(t/T))
 *                            Reported as KL (not cross-entropy), so a perfect mimic scores 0.
 *   hard-label CE:           L = 1/N sum_n -log softmax(s_n)[y_n]
 *                            dL/ds = (softmax(s) - onehot(y)) / N
 *
 * Why logits: softmax is shift-invariant (softmax([-10,0,10]) == softmax([10,20,30])), so
 * probabilities discard what the teacher knows about the offset; against a peaked target,
 * cross-entropy's gradient is dominated by the top class, while logit regression weighs all
 * classes equally. As T grows, T^2 * dL_soft/ds tends to the L2 gradient for zero-mean logits.
 *
 * Numerics: log-sum-exp with max subtraction, sums accumulated in double; stable for logits
 * of magnitude 1e4. Non-finite inputs give MIMIC_ERR_NUMERIC (the message names row and
 * column), never a silent NaN. grad_out_or_NULL (rows x classes) is written only on success;
 * gradient entries below 2^-100 in magnitude are written as 0 and probabilities below FLT_MIN
 * as 0 (subnormal floats would slow every later matrix product several times).
 * Errors: MIMIC_ERR_INVALID (NULL pointer, rows or classes 0, temperature <= 0 or not
 * finite), MIMIC_ERR_RANGE (label outside [0, classes)), MIMIC_ERR_NUMERIC.
 */
#ifndef MIMIC_LOSS_H
#define MIMIC_LOSS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

MIMIC_API int mimic_loss_logit_l2(const float *student_logits, const float *teacher_logits,
                                  size_t rows, size_t classes, double *loss_out,
                                  float *grad_out_or_NULL);

MIMIC_API int mimic_loss_softmax_ce(const float *student_logits, const float *teacher_logits,
                                    size_t rows, size_t classes, double temperature,
                                    double *loss_out, float *grad_out_or_NULL);

MIMIC_API int mimic_loss_hard_ce(const float *student_logits, const int32_t *labels, size_t rows,
                                 size_t classes, double *loss_out, float *grad_out_or_NULL);

/* probs_out[n] = softmax(logits[n] / temperature), rows x classes. probs_out may equal
 * logits (in place). Errors as above. */
MIMIC_API int mimic_softmax(const float *logits, size_t rows, size_t classes, double temperature,
                            float *probs_out);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_LOSS_H */
