/*
 * libmimic internals, layer 4 of 4: training (lib/train/).
 *
 * The options table (options.c), learning-rate schedules (schedule.c) and optimizers
 * (optimizer.c) as descriptors, image augmentation (augment.c), dataset statistics
 * (standardize.c), the run state and checkpoints (checkpoint.c) and the trainer
 * (trainer.c). The trainer's struct is private to trainer.c: checkpoint.c sees a run through
 * mimic__ckpt_view. Includes model/model.h (and through it the lower layers).
 */
#ifndef MIMIC_LIB_TRAIN_H
#define MIMIC_LIB_TRAIN_H

#include "model/model.h"

/* ---- options (options.c) ------------------------------------------------------------- */

/* The table of mimic_train_options (see mimic__opt in common/common.h), assembled in
 * options.c from the groups of rows defined beside the code that reads them. */
const mimic__optable *mimic__train_optable(void);
extern const mimic__opt_group mimic__optimizer_options; /* optimizer.c */
extern const mimic__opt_group mimic__schedule_options;  /* schedule.c */
extern const mimic__opt_group mimic__input_options;     /* standardize.c */
extern const mimic__opt_group mimic__augment_options;   /* augment.c */
extern const mimic__opt_group mimic__run_options;       /* trainer.c */
extern const mimic__opt_group mimic__checkpoint_options; /* trainer.c */
extern const mimic__opt_group mimic__collective_options; /* distributed.c */

/* Replace the "default" values of validated options (learning_rate 0, target_norm AUTO) by
 * what they stand for; the trainer keeps the resolved copy (checkpoints store it). */
void mimic__train_options_resolve(mimic_train_options *o);
/* Check every field of `o` (already copied to our layout) against the student, the
 * training set and the validation set; the message names the field. */
int mimic__train_options_validate(const mimic_train_options *o, const mimic_student *s,
                                  const mimic_dataset *train);

/* ---- learning-rate schedules (schedule.c) ---------------------------------------------- */

typedef struct mimic__schedule {
    int32_t id;               /* MIMIC_SCHEDULE_* */
    const char *name;         /* "cosine" */
    bool needs_total;         /* depends on epochs x steps per epoch: a resume must keep
                                 options.epochs (part of a checkpoint's identity) */
    const char *options;      /* the options it reads, space-separated */
    /* the rate's factor at 0-based global step t with spe steps per epoch */
    double (*factor)(const mimic_train_options *o, uint64_t t, uint64_t spe);
} mimic__schedule;

const mimic__schedule *mimic__schedule_get(int32_t id);
const char *mimic__schedule_choice(size_t k, int32_t *value);

/* The learning rate of the optimizer step with 0-based global index `t` (steps done before
 * it), with `spe` steps per epoch; includes the warm-up factor. */
double mimic__lr_at(const mimic_train_options *o, uint64_t t, uint64_t spe);

/* ---- optimizers (optimizer.c) ------------------------------------------------------------ */

#define MIMIC__MAX_OPT_STATE 2

typedef struct mimic__optimizer {
    int32_t id;               /* MIMIC_OPTIMIZER_* */
    const char *name;         /* "adam" */
    double lr;                /* default learning rate; 0 = the loss's sgd_lr (the step
                                 scales with the gradient) */
    size_t n_state;           /* state vectors of n_params floats (zeroed at creation) */
    const char *state_keys[MIMIC__MAX_OPT_STATE]; /* their checkpoint tensor names */
    const char *options;      /* the options it reads, space-separated */
    /* One update over the flat parameter array: reads p_in, g (scaled by gscale) and the
     * state; writes p_out (which may not alias p_in) and the state. t1 is the 1-based step
     * number. Returns false when a new parameter is not finite. */
    bool (*update)(const mimic_train_options *o, double lr, uint64_t t1, const float *p_in,
                   float *p_out, const float *g, float gscale, float *const *state, size_t n);
} mimic__optimizer;

const mimic__optimizer *mimic__optimizer_get(int32_t id);
const char *mimic__optimizer_choice(size_t k, int32_t *value);

/* opt->update over the n parameters, split by parameter ranges over `pool` (NULL: the
 * calling thread; every range runs the update, with its flush-to-zero bits, on the thread
 * that claims it): the same bits for every pool. With `copy`, p_out is also copied there,
 * block by block while it is in cache. False when a new parameter is not finite (then
 * `copy` holds a mix of old and new values). */
bool mimic__optimizer_run(const mimic__optimizer *opt, const mimic_train_options *o, double lr,
                          uint64_t t1, const float *p_in, float *p_out, const float *g,
                          float gscale, float *const *state, size_t n, float *copy,
                          mimic__pool *pool);

/* sqrt(sum g^2) in double: partial sums of a fixed number of parameter ranges (whatever the
 * pool, NULL: the calling thread), added in order, so every pool gives the same bits. */
double mimic__grad_norm(const float *g, size_t n, mimic__pool *pool);

/* ---- statistics over a dataset (standardize.c) ----------------------------------------- */

/* Per-feature mean and scale = 1 / max(std, std_floor) over all rows (population std),
 * in double, streaming row by row (u8 or f32). mean/scale: D floats. */
int mimic__input_stats(const mimic_dataset *d, double std_floor, float *mean, float *scale);

/* Per-class mean and std of the teacher logits (std 0 is replaced by 1). */
int mimic__target_stats(const mimic_dataset *d, float *mean, float *std);

/* The same statistics from parts of the rows, for ranks that each read some of them: a
 * rank adds the sums of rows [first, end) to `sums` (2 D or 2 C doubles, zeroed by the
 * caller), the ranks' sums are added up (an all-reduce), and _finish turns the sums over all
 * rows into what mimic__input_stats and mimic__target_stats give, up to rounding (the sums
 * are of values shifted by row 0's; exact for uint8 inputs, whatever the split). */
void mimic__input_sums(const mimic_dataset *d, uint64_t first, uint64_t end, double *sums);
void mimic__input_finish(const mimic_dataset *d, double std_floor, const double *sums, float *mean,
                         float *scale);
int mimic__target_sums(const mimic_dataset *d, uint64_t first, uint64_t end, double *sums);
void mimic__target_finish(const mimic_dataset *d, const double *sums, float *mean, float *std);

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

/* ---- the run state and checkpoints (checkpoint.c) ----------------------------------------- */

/* Where a run stands: everything besides the tensors that a checkpoint restores. */
typedef struct mimic__train_state {
    mimic__rng rng, rng_epoch; /* current, and at the start of the current epoch's shuffle */
    int started;               /* the current epoch's permutation is drawn */
    int end_pending;           /* an epoch ended by steps, its end processing not done yet */
    int finished;              /* all epochs done, or stopped early */
    uint64_t pos;              /* steps done in the current epoch */
    uint64_t epochs_done, steps_done;
    double epoch_loss_sum;     /* sum of loss * rows over the current epoch */
    uint64_t epoch_rows;
    double last_lr;
    double last_epoch_loss;    /* mean loss of the last completed epoch */
    /* early stopping */
    double best_loss;          /* NaN until the first validation */
    uint64_t best_epoch, bad_epochs;
    int stopped_early;
    int has_best;              /* the best weights are held */
    uint64_t holds_epoch;      /* epoch whose weights the student holds */
} mimic__train_state;

/* A run as a checkpoint sees it: its identity (resolved options, architecture, data) and
 * the buffers it saves and restores. */
typedef struct mimic__ckpt_view {
    const mimic_train_options *o;     /* resolved */
    const mimic__layout *L;
    int32_t activation;
    const mimic_dataset *train;
    uint64_t spe;                     /* steps per epoch */
    const mimic__optimizer *opt;
    float *params;                    /* training-space weights */
    float *const *opt_state;          /* opt->n_state vectors */
    float *best;                      /* best weights (NULL without early stopping) */
    const float *in_mean, *in_scale;  /* the student's input normalization, or NULL */
    const float *tmean, *tstd;        /* target statistics, or NULL */
    const mimic__train_state *st;
} mimic__ckpt_view;

int mimic__checkpoint_write(const char *path, const mimic__ckpt_view *v);
/* The run's identity, what a resume compares (every key, sparse ones too): fn(key, value,
 * ctx) for each, in order. Errors: MIMIC_ERR_NOMEM. */
int mimic__run_identity(const mimic__ckpt_view *v,
                        void (*fn)(const char *key, const char *value, void *ctx), void *ctx);

/* A checkpoint read and checked against a run: identity, shapes, consistency. The pointers
 * point into `file` until mimic__checkpoint_close. */
typedef struct mimic__ckpt {
    mimic__st_file file;
    mimic__train_state st;
    const float *params;
    const float *opt_state[MIMIC__MAX_OPT_STATE];
    const float *best;                /* NULL when the checkpoint holds none */
    const float *in_mean, *in_scale;  /* NULL when none */
} mimic__ckpt;

/* Read `path` for the run `v` (its buffers are not touched). Errors as
 * mimic_trainer_load_checkpoint documents. */
int mimic__checkpoint_read(const char *path, const mimic__ckpt_view *v, mimic__ckpt *out);
void mimic__checkpoint_close(mimic__ckpt *c);

/* ---- data-parallel training (distributed.c) -------------------------------------------- */

#define MIMIC__COLL_MSG 512   /* bytes of a failing rank's message that the others get */
#define MIMIC__COLL_SLOT 6    /* floats a rank appends to a step's gradient all-reduce */
#define MIMIC__COLL_IDENT 128 /* doubles: the count and hashes of a run's identity entries */

/* Check *src (the caller's struct; `what` names it in messages) and copy it to *dst. */
int mimic__coll_copy(mimic_collective *dst, const mimic_collective *src, const char *what);
/* This rank's part [first, first + count) of n rows: [r n / N, (r + 1) n / N). */
void mimic__coll_share(const mimic_collective *c, uint64_t n, uint64_t *first, uint64_t *count);
/* The all-reduces, and broadcasts from rank 0 through them; MIMIC_ERR_IO on a failure. */
int mimic__coll_sum_f32(const mimic_collective *c, float *buf, size_t n);
int mimic__coll_sum_f64(const mimic_collective *c, double *buf, size_t n);
int mimic__coll_bcast_f32(const mimic_collective *c, float *buf, size_t n);
int mimic__coll_bcast_f64(const mimic_collective *c, double *buf, size_t n);
/* mimic_collective_agree on a checked collective. */
int mimic__coll_agree(const mimic_collective *c, int status, const char *message);
/* Every rank learned that rank `root` failed with `status`: root's `message` goes to every
 * rank, and each returns `status` with "rank R of N: <message>" as its error. */
int mimic__coll_fail(const mimic_collective *c, int root, int status, const char *message);
/* A step's slot of this rank: its status, whether its loss was not finite, its loss (exact). */
void mimic__coll_slot_put(float *slot, int status, int loss_bad, double loss);
/* The all-reduced slots of every rank: the lowest failing rank (its *status and *loss_bad),
 * or -1 and the ranks' losses added in rank order into *loss. */
int mimic__coll_slots_read(const mimic_collective *c, const float *slots, int *status,
                           int *loss_bad, double *loss);
/* MIMIC_ERR_INVALID (naming the first entry that differs) unless this rank's run has rank
 * 0's identity: options, student, data, as a checkpoint records them, and the options the
 * ranks act on together (epochs, eval_train, resume). Not agreed: the caller agrees. */
int mimic__coll_same_run(const mimic_collective *c, const mimic__ckpt_view *v);
/* MIMIC_ERR_INVALID unless the n weights p are rank 0's, bit for bit. Not agreed. */
int mimic__coll_same_weights(const mimic_collective *c, const float *p, size_t n, uint64_t epoch);

/* ---- the order of an epoch's rows (order.c) ------------------------------------------- */

/* Up to this many rows an epoch's order is a shuffled table (8 bytes a row); above, a keyed
 * permutation computed on demand (no memory per row). */
#define MIMIC__ORDER_TABLE_ROWS (1ull << 20)

typedef struct mimic__order {
    uint64_t rows;
    uint64_t *table;   /* rows entries, or NULL: the keyed permutation */
    uint64_t keys[6];  /* its round keys */
    unsigned half;     /* bits of each half of its domain */
} mimic__order;

int mimic__order_init(mimic__order *o, uint64_t rows);
void mimic__order_free(mimic__order *o);
/* A new order from r (the draws depend only on the row count). */
void mimic__order_draw(mimic__order *o, mimic__rng *r);
/* Position i of the order: the row an epoch visits i-th. */
uint64_t mimic__order_at(const mimic__order *o, uint64_t i);
/* Positions [first, first + n): a pointer into the table, or buf (n entries) filled. */
const uint64_t *mimic__order_batch(const mimic__order *o, uint64_t first, size_t n,
                                   uint64_t *buf);
/* Replays the draws of an order of `rows` rows from rng_epoch: true when they end at rng. */
bool mimic__order_consistent(uint64_t rows, const mimic__rng *rng_epoch, const mimic__rng *rng);

#endif /* MIMIC_LIB_TRAIN_H */
