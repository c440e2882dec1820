/*
 * Internals of the trainer, shared by train.c, train_options.c, schedule.c, optimizer.c,
 * standardize.c, evaluate.c and checkpoint.c only (not part of lib/internal.h: nothing
 * outside training needs them).
 */
#ifndef MIMIC_TRAIN_INTERNAL_H
#define MIMIC_TRAIN_INTERNAL_H

#include "internal.h"

/* ---- options (train_options.c) ------------------------------------------------------- */

/* Replace the "default" values of validated options (learning_rate 0, target_norm AUTO) by
 * what they stand for; the trainer keeps the resolved copy (checkpoints store it). */
void mimic__train_options_resolve(mimic_train_options *o);
/* Check every field of `o` (already copied to our layout) against the student, the
 * training set and the validation set; the message names the field. */
int mimic__train_options_validate(const mimic_train_options *o, const mimic_student *s,
                                  const mimic_dataset *train);

/* ---- learning-rate schedule (schedule.c) --------------------------------------------- */

/* The learning rate of the optimizer step with 0-based global index `t` (steps done before
 * it), with `spe` steps per epoch; includes the warm-up factor. */
double mimic__lr_at(const mimic_train_options *o, uint64_t t, uint64_t spe);

/* ---- optimizer (optimizer.c) ----------------------------------------------------------- */

/* sqrt(sum g^2) in double. */
double mimic__grad_norm(const float *g, size_t n);

/* One update over the flat parameter array: reads p_in, g (scaled by gscale), the state
 * m (momentum / Adam first moment) and v (Adam second moment, NULL for SGD); writes p_out
 * (which may not alias p_in) and the state. `t1` is the 1-based step number (Adam bias
 * correction). Returns false when a new parameter is not finite. */
bool mimic__optimizer_update(const mimic_train_options *o, double lr, uint64_t t1,
                             const float *p_in, float *p_out, const float *g, float gscale,
                             float *m, float *v, size_t n);

/* ---- statistics over a dataset (standardize.c) ----------------------------------------- */

/* Per-feature mean and scale = 1 / max(std, std_floor) over all rows (population std),
 * in double, streaming row by row (u8 or f32). mean/scale: D floats. */
int mimic__input_stats(const mimic_dataset *d, double std_floor, float *mean, float *scale);

/* Per-class mean and std of the teacher logits (std 0 is replaced by 1). */
int mimic__target_stats(const mimic_dataset *d, float *mean, float *std);

/* ---- evaluation (evaluate.c) ------------------------------------------------------------ */

/* Metrics of `s` on `d` in chunks of `chunk` rows, with caller workspaces x (chunk x D,
 * aligned) and ws (mimic__student_ws_floats(chunk) floats). center = 1 compares the logits
 * with row-centered teacher logits (target_norm CENTER). Allocates nothing. */
void mimic__evaluate_ws(const mimic_student *s, const mimic_dataset *d, double temperature,
                        int center, size_t chunk, float *x, float *ws, mimic_metrics *out);

/* ---- image augmentation (augment.c) ------------------------------------------------------ */

/* One training step's augmentation draws (options.flip, options.shift). */
typedef struct mimic__augment {
    size_t C, H, W;            /* image shape: C x H x W = the inputs of a row */
    uint64_t flip_threshold;   /* a row is mirrored when 32 random bits < this: round(p 2^32) */
    uint32_t shift;            /* dy, dx uniform in [-shift, shift] */
    uint64_t key;              /* the step's key */
} mimic__augment;

/* Set up step `step`'s draws; returns 0 (and nothing to do) when the options augment
 * nothing. Needs validated options. */
int mimic__augment_init(mimic__augment *a, const mimic_train_options *o, size_t D,
                        uint64_t step);
/* What batch row `row` gets: mirror or not, and the shift (all 0: the row as it is). A
 * pure function of (seed, step, row), so a resumed run draws the same. */
void mimic__augment_draw(const mimic__augment *a, size_t row, int *flip, int *dy, int *dx);
/* dst = the C x H x W image src (u8 or f32, channel-first rows of W values) shifted by
 * (dy, dx) (positive = down / right; uncovered pixels 0, pixels pushed past the border
 * dropped), then mirrored left-right if `flip`. src and dst must not overlap. */
void mimic__augment_image(const void *src, void *dst, int32_t dtype, size_t C, size_t H,
                          size_t W, int flip, int dy, int dx);

/* ---- the trainer (train.c) --------------------------------------------------------------- */

struct mimic_trainer {
    uint32_t magic;
    mimic_student *s;
    const mimic_dataset *train;
    mimic_train_options o;
    mimic__layout L;
    int32_t act;
    size_t rows, batch;      /* batch = min(batch_size, rows) */
    uint64_t spe;            /* steps per epoch */

    /* parameters in training space (target_norm STANDARDIZE: normalized output layer),
     * double-buffered: the optimizer writes p[cur ^ 1] from p[cur], and the buffers are
     * swapped only when the result is finite, so p[cur] always holds the last good weights */
    float *p[2];
    int cur;
    int prev_valid; /* p[cur ^ 1] holds the weights of the previous step (their loss was finite) */
    float *grads, *m, *v;    /* v only for Adam/AdamW */
    float *best;             /* best weights (early stopping), training space, or NULL */
    float *x, *ws, *dlogits, *dl2, *dz, *tbuf;
    void *aug_row;           /* one raw input row (augmentation), or NULL */
    int32_t *ybuf;
    uint64_t *perm;
    float *tmean, *tstd;     /* target_norm STANDARDIZE: per-class stats, else NULL */

    /* position */
    mimic__rng rng, rng_epoch; /* current, and at the start of the current epoch's shuffle */
    int started;             /* the current epoch's permutation is drawn */
    int end_pending;         /* an epoch ended by steps, its end processing not done yet */
    int failed;              /* diverged: the trainer refuses further work */
    int finished;            /* all epochs done, or stopped early */
    uint64_t pos;            /* steps done in the current epoch */
    uint64_t epochs_done, steps_done;
    double epoch_loss_sum;   /* sum of loss * rows over the current epoch */
    uint64_t epoch_rows;
    double last_lr;
    double last_epoch_loss;  /* mean loss of the last completed epoch */

    /* early stopping */
    double best_loss;        /* NaN until the first validation */
    uint64_t best_epoch, bad_epochs;
    int stopped_early;
    int has_best;            /* `best` holds a snapshot */
    uint64_t holds_epoch;    /* epoch whose weights the student holds */

    /* timing of this session (not checkpointed) */
    double t_start, epoch_t_start;
    uint64_t examples_run;
};

/* Copy the training-space weights `src` into the student, folding the target
 * normalization into the output layer. */
void mimic__trainer_sync(mimic_trainer *t, const float *src);

/* Draw the current epoch's order: Fisher-Yates over the identity from t->rng, after saving
 * the RNG state in t->rng_epoch. */
void mimic__trainer_shuffle(mimic_trainer *t);

/* Wall-clock seconds (monotonic). */
double mimic__now(void);

#endif /* MIMIC_TRAIN_INTERNAL_H */
