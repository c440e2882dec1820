/*
 * libmimic: evaluation of a student, or of any logits, against teacher logits and labels.
 *
 * One definition of every metric (the loss routines' row functions): the trainer's
 * validation, mimic_evaluate and mimic_evaluate_logits report the same numbers for the same
 * logits.
 */
#ifndef MIMIC_EVALUATE_H
#define MIMIC_EVALUATE_H

#include "common.h"
#include "dataset.h"
#include "student.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metrics of logits on rows of teacher logits and/or labels. A metric that cannot be
 * computed (no labels, no teacher logits) is NaN.
 *
 * Frozen layout: mimic_progress embeds this struct by value, so it never grows (a field
 * appended here would move mimic_progress's later fields under callers built against an
 * older header; the ABI check refuses it). New metrics go into mimic_progress and the
 * functions' own structs instead. struct_size is still set and checked like every versioned
 * struct's. */
typedef struct mimic_metrics {
    size_t struct_size;
    size_t rows;
    double logit_l2;   /* 1/(2N) sum ||s - t||^2, as the L2 loss */
    double logit_rmse; /* sqrt(mean over all N*C entries of (s - t)^2) */
    double kl;         /* 1/N sum KL(softmax(t/T) || softmax(s/T)) at the given T */
    double hard_ce;    /* mean -log softmax(s)[y] (needs labels) */
    double accuracy;   /* share of rows with argmax(s) == y (needs labels) */
    double agreement;  /* share of rows with argmax(s) == argmax(t) (needs logits) */
} mimic_metrics;

/* Fill with NaN metrics and rows 0 (struct_size = the caller's sizeof). */
MIMIC_API void mimic_metrics_init(mimic_metrics *m, size_t struct_size);

/* Evaluate `s` on `d` (rows must match the student's D and C). temperature is used for KL.
 * out->struct_size must be set. Allocates a workspace of 256 rows. The logits are those of
 * mimic_student_forward on chunks of 256 rows, with the student's threads
 * (mimic_student_set_threads). (The trainer's validation and eval_train metrics run its
 * forward pass, through BLAS, and may differ from these in the last digits.) Thread-safe on
 * a shared const student and dataset. Errors: MIMIC_ERR_MISUSE, MIMIC_ERR_SHAPE,
 * MIMIC_ERR_INVALID, MIMIC_ERR_NOMEM. */
MIMIC_API int mimic_evaluate(const mimic_student *s, const mimic_dataset *d, double temperature,
                             mimic_metrics *out);

/* Metrics of given logits (rows x classes, e.g. a teacher's own or another model's
 * predictions) against teacher logits and/or labels (either may be NULL, not both). No
 * allocation. Errors: MIMIC_ERR_INVALID (NULL buffers, zero sizes, temperature),
 * MIMIC_ERR_NUMERIC (non-finite logits: row and column), MIMIC_ERR_RANGE (label: row). */
MIMIC_API int mimic_evaluate_logits(const float *logits, const float *teacher_logits_or_NULL,
                                    const int32_t *labels_or_NULL, size_t rows, size_t classes,
                                    double temperature, mimic_metrics *out);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_EVALUATE_H */
