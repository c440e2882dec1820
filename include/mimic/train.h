/*
 * libmimic: training and evaluation.
 *
 * mimic_train() is the one-call path; the step-wise trainer (mimic_trainer_*) is for users
 * who run their own loop. Both use minibatch gradient descent with one of the optimizers
 * below (MIMIC_OPTIMIZER_*), weight decay, an LR schedule, optional warm-up and global
 * gradient-norm clipping, and shuffle the rows from the options' seed.
 *
 * Determinism: same data + options + seed + BLAS (kernels and thread count) => a
 * bitwise-identical student, whatever options->threads is.
 *
 * Threads: libmimic never changes the BLAS library's thread count (process-wide state that
 * concurrent calls would race on): BLAS runs with the threads the caller gave it
 * (OPENBLAS_NUM_THREADS, openblas_set_num_threads). options->threads = n > 1 gives the run n
 * threads of libmimic's own: n - 1 workers started by mimic_trainer_create (mimic_train) and
 * stopped by mimic_trainer_free (at its end). They run the training step's own passes
 * between the BLAS calls (the batch gather, bias + activation and dropout, the output layer's
 * products, the activation gradient, the bias gradients' column sums, the gradient norm, the
 * optimizer update, the copy into the student; split by rows, columns or parameter ranges)
 * and the forward passes of the validation and eval_train metrics. Idle, they spin briefly,
 * then sleep, so that BLAS's threads have the cores during its calls. 0 or 1 (the default)
 * starts no thread. The student is bitwise the same for every value. (Before 1.3, threads set OpenBLAS's thread count for
 * the duration of the call.)
 * A trainer is one mutable handle: use it from one thread at a time. Independent trainers
 * may run in parallel threads.
 *
 * Data-parallel training over several processes: options.collective
 * (include/mimic/collective.h). Then mimic_train, mimic_trainer_create, _step, _epoch and
 * _load_checkpoint are collective (every rank makes the same calls, in the same order) and
 * return the same status and message on every rank; _save_checkpoint and _get_report are
 * not (any rank may save: every rank holds the same state). Rank 0 alone writes
 * options.checkpoint_path; a resume reads it on every rank (a shared file system).
 */
#ifndef MIMIC_TRAIN_H
#define MIMIC_TRAIN_H

#include "collective.h"
#include "common.h"
#include "dataset.h"
#include "evaluate.h"
#include "student.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loss kinds (int32_t). Their names (the CLI's --loss, Python's loss=) and the options each
 * reads come from the library's table: mimic_train_option_choice on the "loss" row,
 * mimic_train_option_check_used, `mimic train --help`. */
enum mimic_loss_kind {
    MIMIC_LOSS_L2 = 1,    /* regression on teacher logits (Ba & Caruana) */
    MIMIC_LOSS_KD = 2,    /* softmax CE at temperature T (Hinton), mixed with hard labels by hard_weight */
    MIMIC_LOSS_LABELS = 3 /* hard-label cross-entropy only */
};

/* Learning-rate schedules (int32_t). */
enum mimic_schedule {
    MIMIC_SCHEDULE_CONSTANT = 1,
    MIMIC_SCHEDULE_COSINE = 2, /* lr * (1 + cos(pi * t / total)) / 2 per step, t = steps done
                                  before this one, total = epochs * steps_per_epoch: PyTorch's
                                  CosineAnnealingLR(T_max = total) stepped per iteration; the
                                  first step uses lr, the rate reaches 0 just after the last */
    MIMIC_SCHEDULE_STEP = 3    /* lr * step_gamma^(floor(epoch / step_epochs)), epoch 0-based */
};
/* Warm-up (warmup_epochs > 0, W = warmup_epochs * steps_per_epoch steps) multiplies the
 * schedule's rate by min(1, (t + 1) / W). */

/* Optimizers (int32_t). */
enum mimic_optimizer {
    MIMIC_OPTIMIZER_SGD = 1,  /* PyTorch SGD: g += wd p; v = mu v + g; p -= lr v
                                 (Nesterov: p -= lr (g + mu v)) */
    MIMIC_OPTIMIZER_ADAM = 2, /* Adam, bias-corrected; weight decay added to the gradient */
    MIMIC_OPTIMIZER_ADAMW = 3 /* Adam with decoupled weight decay: p *= 1 - lr wd first */
};
/* Weight decay applies to every trainable parameter, biases included (PyTorch's default
 * when all parameters are in one group). Gradient clipping (clip_norm > 0) scales the whole
 * gradient by clip_norm / (norm + 1e-6) when its L2 norm exceeds clip_norm (PyTorch's
 * clip_grad_norm_), before weight decay and momentum. */

/* Teacher-logit normalization (int32_t), for a loss that regresses on the teacher's logits
 * (L2; mimic_train_option_check_used(o, "target_norm") says whether options.loss does).
 * STANDARDIZE: targets (t - mean_c) / std_c with per-class stats of the training set
 *   (computed once at trainer creation; a class with std 0 uses 1). The trainer keeps its
 *   weights in that normalized space and writes the student with the inverse map folded into
 *   the output layer (W' = diag(std) W, b' = std b + mean) whenever it hands the student out
 *   (after every mimic_trainer_step, before callbacks, validation and checkpoints, at the
 *   end, and on every error), so the student always predicts the teacher's original scale
 *   and mimic_evaluate's logit_l2 is on that scale. The student's output layer at creation
 *   is taken as the normalized-space start (a fresh student then starts at the class means);
 *   to continue training a trained student, resume from a checkpoint or use NONE.
 *   progress->train_loss and report->final_train_loss are on the normalized scale.
 * CENTER: targets t - mean(t_n) per row (softmax is shift-invariant, so nothing is folded):
 *   the student predicts centered logits; its kl/agreement/accuracy are unaffected, but
 *   mimic_evaluate's logit_l2 against the raw teacher includes the teacher's row offsets.
 *   The trainer's validation metrics (progress, early stopping) compare with centered
 *   teacher logits. */
enum mimic_target_norm {
    MIMIC_TARGET_NONE = 0,
    MIMIC_TARGET_CENTER = 1,      /* subtract each row's mean (softmax-invariant) */
    MIMIC_TARGET_STANDARDIZE = 2, /* per-class mean and std over the training set */
    MIMIC_TARGET_AUTO = 3         /* the default: the loss's own choice (e.g.
                                     STANDARDIZE for L2, NONE for KD) */
};

/* What the progress callback receives (versioned: read struct_size before new fields). */
typedef struct mimic_progress {
    size_t struct_size;
    uint64_t epoch;          /* 1-based epoch this report belongs to */
    uint64_t step;           /* optimizer steps done since the start of training */
    uint64_t steps_per_epoch;
    int32_t epoch_end;       /* 1 at the end of an epoch, 0 for a mid-epoch report */
    int32_t has_validation;  /* 1 when `validation` holds fresh metrics */
    double train_loss;       /* mean training loss over the epoch so far */
    double learning_rate;    /* current learning rate */
    double elapsed_s;        /* wall-clock seconds since training started */
    double examples_per_s;   /* training throughput over the epoch so far */
    mimic_metrics validation;
    mimic_metrics train;     /* metrics on the training set if options->eval_train, else NaN */
    /* Since 1.3 (check struct_size before reading): */
    double validation_loss;  /* the loss's evaluation criterion on `validation`: what early
                                stopping minimizes, the metric mimic_train_criterion names
                                (e.g. logit_l2 for L2, kl at the temperature for KD); NaN
                                without fresh validation metrics */
    double best_validation_loss; /* the lowest validation_loss so far, NaN before the first */
} mimic_progress;

/* Called after every epoch (after validation and the checkpoint) and, within
 * mimic_trainer_epoch/mimic_train, every progress_every_steps steps (not for a step that ends
 * an epoch: its epoch report follows). The student holds the weights after the last step
 * when it is called. Return 0 to continue, nonzero to stop: training then returns
 * MIMIC_ERR_CANCELLED and the student keeps the weights after the last completed step (not
 * the best ones, even with early stopping). With options.collective it is called on every
 * rank that sets it, with the same values (the metrics and losses are every rank's); a stop
 * on any rank stops every rank: at an epoch's end at once, within an epoch at the next step,
 * before its update (the student then holds the weights after the reported step). */
typedef int (*mimic_progress_fn)(const mimic_progress *progress, void *user_data);

/* Optional gradient reduction hook (e.g. an MPI allreduce that averages `grads` across
 * processes in place). Called once per step with the flat gradient of all trainable
 * parameters. Return 0 on success; nonzero aborts with MIMIC_ERR_CANCELLED. Deprecated since
 * 1.3 in favour of options.collective (include/mimic/collective.h), which also splits the
 * batches, the statistics and the metrics across the ranks and agrees on every stop; with
 * grad_reduce each process trains on its own rows, fits its own statistics and stops alone,
 * as in 1.0. It keeps working as it did; setting both is an error. */
typedef int (*mimic_grad_reduce_fn)(float *grads, size_t n, void *user_data);

typedef struct mimic_train_options {
    size_t struct_size;
    int32_t loss;            /* MIMIC_LOSS_*, default MIMIC_LOSS_L2 */
    int32_t optimizer;       /* MIMIC_OPTIMIZER_*, default ADAM */
    int32_t schedule;        /* MIMIC_SCHEDULE_*, default COSINE */
    int32_t nesterov;        /* 1 = Nesterov momentum (SGD), default 0 */
    int32_t standardize;     /* 1 = fit per-feature input mean and scale = 1 / max(std,
                                std_floor) on the training data (population std, in double,
                                one streaming pass) and store them in the student at trainer
                                creation (replacing any it had); default 0 */
    int32_t target_norm;     /* MIMIC_TARGET_*, default AUTO; CENTER and STANDARDIZE need
                                a loss that regresses on the teacher's logits (above) */
    int32_t threads;         /* threads of libmimic's own for the run, 0 or 1 = none (default);
                                BLAS's threads are the caller's (see "Threads" above) */
    int32_t eval_train;      /* 1 = compute training-set metrics after each epoch */
    uint64_t epochs;         /* default 10 */
    uint64_t batch_size;     /* default 128 */
    double learning_rate;    /* 0 (the default) = mimic_train_default_learning_rate(
                                optimizer, loss) */
    double momentum;         /* SGD momentum, default 0.9 */
    double weight_decay;     /* default 0 */
    double temperature;      /* KD temperature T, > 0, default 4 */
    double hard_weight;      /* KD mix: (1 - a) soft + a hard, default 0 */
    double clip_norm;        /* global gradient-norm clip, 0 = off (default) */
    double warmup_epochs;    /* linear LR warm-up, in (fractional) epochs, default 0 */
    double step_gamma;       /* STEP schedule factor, default 0.1 */
    uint64_t step_epochs;    /* STEP schedule period in epochs, default 10 */
    double adam_beta1;       /* default 0.9 */
    double adam_beta2;       /* default 0.999 */
    double adam_eps;         /* default 1e-8 */
    double std_floor;        /* standardize: scale = 1 / max(std, std_floor), default 0.1
                                (inputs in [0,1]); keeps always-constant features finite */
    uint64_t seed;           /* shuffling seed, default 0 */
    const mimic_dataset *validation; /* optional, borrowed */
    uint64_t patience;       /* early stopping: epochs without validation improvement
                                before stopping, 0 = off; needs `validation`. The criterion
                                is the loss's metric, mimic_train_criterion(loss). When
                                training ends (all epochs or early), the student gets the
                                best epoch's weights */
    mimic_progress_fn progress;      /* optional */
    void *progress_user_data;
    uint64_t progress_every_steps;   /* also report every N steps, 0 = per epoch only */
    const char *checkpoint_path;     /* optional, borrowed */
    uint64_t checkpoint_every;       /* epochs between checkpoints, default 1 */
    int32_t resume;                  /* 1 = mimic_train resumes from checkpoint_path if it
                                        exists. The checkpoint must come from the same options
                                        (those that shape the run; epochs only with COSINE),
                                        student architecture and training data; then the result
                                        is bitwise that of an uninterrupted run (same thread
                                        count). */
    mimic_grad_reduce_fn grad_reduce;
    void *grad_reduce_user_data;
    double dropout;          /* since 1.1: inverted dropout on the hidden activations while
                                training, rate in [0, 1), default 0 (off). Each step zeroes
                                each hidden unit of each row with this probability and scales
                                the kept ones by 1 / (1 - rate); evaluation, validation and
                                the saved student use all units, unscaled. The masks are a
                                function of seed and step (bitwise reproducible, resumable)
                                and cost no memory. Needs min(batch_size, rows) x hidden
                                < 2^32. What it costs and did in our study: docs/STUDY.md. */
    /* Since 1.2: label-preserving augmentation of image inputs. Each training row, as it is
       read, is shifted by (dy, dx) pixels drawn uniformly from [-shift, shift] each (positive
       = down / right; uncovered pixels 0 in input units, pixels pushed past the border
       dropped) and then mirrored left-right with probability `flip`; its teacher logits and
       label stay those of the stored row. That is right for a teacher that is (nearly)
       invariant to these changes, e.g. one trained with random crops and flips: it turns the
       transfer set into many more inputs with (approximate) teacher targets. The draws are a
       function of (seed, step, batch row): reproducible, resumable, no memory. The input
       standardization is fitted on the stored rows. Evaluation never augments. (What flips
       and shifts did in our study: docs/STUDY.md.) */
    uint64_t image_height;   /* inputs are images of C x image_height x image_width values,
                                channel-first (C = inputs / (height x width)), row-major:
                                needed by flip and shift; 0 = not images (default) */
    uint64_t image_width;
    double flip;             /* probability of mirroring a training row left-right, in [0, 1],
                                default 0 */
    uint64_t shift;          /* largest shift in pixels, < min(height, width); default 0 */
    /* Since 1.3: data-parallel training over several processes, through the collectives
       the caller supplies (include/mimic/collective.h says what each rank reads, what is
       summed and how stops are agreed); borrowed. NULL = one process (default). Not
       together with grad_reduce. Checkpoints record the number of ranks: a resume needs the
       same number. */
    const mimic_collective *collective;
} mimic_train_options;

/* What a training run did. */
typedef struct mimic_train_report {
    size_t struct_size;
    uint64_t epochs_run;     /* epochs completed (including resumed ones) */
    uint64_t steps;          /* optimizer steps completed */
    uint64_t best_epoch;     /* epoch whose weights the student holds (validation), else last */
    int32_t stopped_early;   /* 1 when patience ended training */
    double final_train_loss; /* mean training loss of the last epoch */
    double best_validation_loss; /* the early-stopping criterion's best value, NaN if none */
    double elapsed_s;
    double examples_per_s;
} mimic_train_report;

/* Fill `o` with the defaults (see the field comments, or mimic_train_option_info): Adam at
 * the loss's default rate, cosine schedule, batch 128, 10 epochs, L2 targets standardized per
 * class. struct_size = sizeof the caller's struct; only that many bytes are written. Why
 * these defaults: docs/STUDY.md. */
MIMIC_API void mimic_train_options_init(mimic_train_options *o, size_t struct_size);

/* The learning rate that options.learning_rate = 0 stands for: an optimizer whose step size
 * is scale-free brings its own, whatever the loss (ADAM and ADAMW: 0.001); with one whose
 * step scales with the gradient (SGD) it is the loss's: e.g. 0.05 for KD (a softmax loss,
 * bounded gradients), 0.001 for L2 (its gradient grows with the logit error; teacher logits
 * often span 15 or more). NaN for a value that is not a MIMIC_OPTIMIZER_* / MIMIC_LOSS_*
 * pair. */
MIMIC_API double mimic_train_default_learning_rate(int32_t optimizer, int32_t loss);
/* The metric that early stopping minimizes with a loss, and that
 * mimic_progress.validation_loss reports: the name of a mimic_metrics field (e.g. "logit_l2"
 * for MIMIC_LOSS_L2, "kl" for KD); NULL for an unknown loss. */
MIMIC_API const char *mimic_train_criterion(int32_t loss);

/* What a run with options *o needs from its datasets, from the loss: *logits = 1 when the
 * training and validation sets need teacher logits; *labels = 1 when the training set needs
 * labels (the loss reads them, or mixes them in: KD with hard_weight > 0); *valid_labels = 1
 * when a validation set needs labels. Any output may be NULL. Errors: MIMIC_ERR_INVALID (NULL
 * or unusable options; the message names the field). Since 1.3. */
MIMIC_API int mimic_train_data_needs(const mimic_train_options *o, int32_t *logits,
                                     int32_t *labels, int32_t *valid_labels);
MIMIC_API void mimic_train_report_init(mimic_train_report *r, size_t struct_size);

/* Train `s` on `train`. Divergence guard: a non-finite loss, gradient norm (when clipping)
 * or updated weight stops training; the student keeps the weights from before the failing
 * step (the optimizer double-buffers the weights, so this costs no copy).
 * Errors: MIMIC_ERR_MISUSE (bad handles), MIMIC_ERR_INVALID (bad options: the message names
 * the field; or the loss needs labels/logits the dataset lacks), MIMIC_ERR_SHAPE (dataset and
 * student disagree), MIMIC_ERR_NUMERIC
 * (divergence: the student keeps the last good weights; the message names epoch and step),
 * MIMIC_ERR_CANCELLED, MIMIC_ERR_IO / MIMIC_ERR_FORMAT (checkpoint), MIMIC_ERR_NOMEM.
 * report_or_NULL (struct_size set by the caller) is filled also on failure. */
MIMIC_API int mimic_train(mimic_student *s, const mimic_dataset *train, const mimic_train_options *o,
                          mimic_train_report *report_or_NULL);

/* The step-wise trainer. It borrows s, train and the options' pointers until freed.
 * mimic_trainer_create allocates every workspace (nothing is allocated per step), fits
 * `standardize` and the target statistics. After MIMIC_ERR_NUMERIC the trainer refuses
 * further steps, epochs and checkpoints (MIMIC_ERR_MISUSE). */
typedef struct mimic_trainer mimic_trainer;

MIMIC_API int mimic_trainer_create(mimic_trainer **out, mimic_student *s, const mimic_dataset *train,
                                   const mimic_train_options *o);
/* One optimizer step on the next minibatch; *loss_out (optional) gets its loss. The student
 * holds the new weights on return. At the end of an epoch the next step starts a new,
 * reshuffled epoch (skipping that epoch's validation/callback/checkpoint unless
 * mimic_trainer_epoch is called first). No progress callback. MIMIC_ERR_MISUSE once all
 * epochs are done. */
MIMIC_API int mimic_trainer_step(mimic_trainer *t, double *loss_out);
/* Run the rest of the current epoch (or just its end processing when steps ended it), then
 * validation, early stopping, checkpoint and callback as mimic_train does.
 * progress_or_NULL (struct_size set by the caller) receives the epoch's report. */
MIMIC_API int mimic_trainer_epoch(mimic_trainer *t, mimic_progress *progress_or_NULL);
/* Checkpoint (.safetensors, written atomically): training-space weights, optimizer state,
 * best weights, input normalization and target statistics as tensors; RNG state, epoch,
 * step, position in the epoch, loss sums, early-stopping state and the identity of the run
 * (options, architecture, data rows/dtype/fingerprint) as metadata. Loading checks the
 * identity (MIMIC_ERR_INVALID for options, MIMIC_ERR_SHAPE for data or architecture, the
 * message names the key) and the state's consistency (MIMIC_ERR_FORMAT) before changing
 * anything; a failed load leaves the trainer as it was. Mid-epoch checkpoints resume at the
 * same position in the same order. */
MIMIC_API int mimic_trainer_save_checkpoint(const mimic_trainer *t, const char *path);
MIMIC_API int mimic_trainer_load_checkpoint(mimic_trainer *t, const char *path);
/* What the trainer has done so far, as mimic_train reports it (out->struct_size must be
 * set). best_epoch is the epoch whose weights the student holds. Errors: MIMIC_ERR_MISUSE,
 * MIMIC_ERR_INVALID. */
MIMIC_API int mimic_trainer_get_report(const mimic_trainer *t, mimic_train_report *out);
MIMIC_API void mimic_trainer_free(mimic_trainer *t);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_TRAIN_H */
