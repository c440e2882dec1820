/* Shared helpers of the training suites: a learnable synthetic problem (teacher = a fixed
 * random student) and student comparisons. Included by check_train/_checkpoint/_evaluate. */
#ifndef MIMIC_TT_H
#define MIMIC_TT_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "train/train.h"
#include "testutil.h"

typedef struct tt_problem {
    float *x;       /* rows x D */
    uint8_t *x8;    /* rows x D, the same inputs quantized to u8 (x = x8 / 255) */
    float *t;       /* rows x C teacher logits */
    int32_t *y;     /* rows labels = argmax of the teacher */
    size_t rows, D, C;
    mimic_dataset *d; /* f32 inputs, logits and labels (copied) */
} tt_problem;

/* Whether this CPU flushes subnormals with MXCSR's FTZ and DAZ bits, as the optimizer sets
 * them: not on other architectures (the library sets nothing there), and not under valgrind,
 * whose CPU emulation ignores both bits. */
static inline int tt_cpu_flushes_subnormals(void)
{
#if defined(__x86_64__) || defined(__SSE__)
    const unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u);
    volatile float a = 1.5e-38f, b = 0.5f;
    volatile float c = a * b;
    _mm_setcsr(old);
    return c == 0.0f;
#else
    return 0;
#endif
}

/* A student with hidden activation `act` (MIMIC_ACT_*). */
static inline mimic_student *tt_student_act(size_t D, size_t H, size_t k, size_t C, uint64_t seed,
                                            int32_t act)
{
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = D;
    so.n_hidden = H;
    so.n_bottleneck = k;
    so.n_classes = C;
    so.seed = seed;
    so.activation = act;
    /* The training suites' problems and learning rates were sized for unit-scale activations
     * (He/Glorot); the default PyTorch-style init is exercised by the Fashion-MNIST demo. */
    so.init = MIMIC_INIT_HE_GLOROT;
    mimic_student *s = NULL;
    ck_assert_int_eq(mimic_student_create(&s, &so), MIMIC_OK);
    return s;
}

static inline mimic_student *tt_student(size_t D, size_t H, size_t k, size_t C, uint64_t seed)
{
    return tt_student_act(D, H, k, C, seed, MIMIC_ACT_RELU);
}

/* Teacher logits = gain * (a random ReLU net's logits) + offset[c]. */
static inline void tt_problem_make(tt_problem *p, size_t rows, size_t D, size_t C, uint64_t seed,
                                   float gain, float offset)
{
    p->rows = rows;
    p->D = D;
    p->C = C;
    p->x = malloc(rows * D * sizeof(float));
    p->x8 = malloc(rows * D);
    p->t = malloc(rows * C * sizeof(float));
    p->y = malloc(rows * sizeof(int32_t));
    ck_assert(p->x && p->x8 && p->t && p->y);
    tu_fill_uniform(p->x, rows * D, 0.0f, 1.0f, seed);
    for (size_t i = 0; i < rows * D; i++) {
        p->x8[i] = (uint8_t)lrintf(p->x[i] * 255.0f);
        p->x[i] = (float)p->x8[i] / 255.0f;
    }
    mimic_student *teacher = tt_student(D, 24, 0, C, seed + 1000);
    ck_assert_int_eq(mimic_student_forward(teacher, p->x, rows, p->t), MIMIC_OK);
    mimic_student_free(teacher);
    for (size_t r = 0; r < rows; r++) {
        size_t best = 0;
        for (size_t c = 0; c < C; c++) {
            p->t[r * C + c] = gain * p->t[r * C + c] + offset * (float)c;
            if (p->t[r * C + c] > p->t[r * C + best])
                best = c;
        }
        p->y[r] = (int32_t)best;
    }
    ck_assert_int_eq(mimic_dataset_create(&p->d, p->x, MIMIC_DTYPE_F32, p->t, p->y, rows, D, C),
                     MIMIC_OK);
}

static inline void tt_problem_free(tt_problem *p)
{
    mimic_dataset_free(p->d);
    free(p->x);
    free(p->x8);
    free(p->t);
    free(p->y);
    memset(p, 0, sizeof *p);
}

static inline mimic_metrics tt_eval(const mimic_student *s, const mimic_dataset *d, double T)
{
    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    ck_assert_int_eq(mimic_evaluate(s, d, T, &m), MIMIC_OK);
    return m;
}

static inline int tt_all_finite(const mimic_student *s)
{
    for (size_t i = 0; i < s->L.n_params; i++)
        if (!isfinite(s->params[i]))
            return 0;
    return 1;
}

/* Bitwise equality of every tensor (weights and input normalization). */
static inline int tt_same_student(const mimic_student *a, const mimic_student *b)
{
    if (a->L.n_params != b->L.n_params ||
        memcmp(a->params, b->params, a->L.n_params * sizeof(float)) != 0)
        return 0;
    if ((a->in_mean == NULL) != (b->in_mean == NULL))
        return 0;
    if (a->in_mean && (memcmp(a->in_mean, b->in_mean, a->L.D * sizeof(float)) != 0 ||
                       memcmp(a->in_scale, b->in_scale, a->L.D * sizeof(float)) != 0))
        return 0;
    return 1;
}

static inline mimic_train_options tt_options(void)
{
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.epochs = 5;
    o.batch_size = 32;
    o.learning_rate = 0.01;
    o.standardize = 1;
    o.optimizer = MIMIC_OPTIMIZER_SGD;  /* the suites check SGD's and raw targets' arithmetic; */
    o.target_norm = MIMIC_TARGET_NONE; /* other choices are set where tested */
    o.seed = 7;
    return o;
}

#endif
