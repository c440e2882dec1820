/* Training options, metrics and report structs: defaults and validation. */
#include <math.h>
#include <string.h>

#include "train_internal.h"

/* Write the library's `full` defaults into a caller struct of `struct_size` bytes: only
 * that many bytes are touched; a tail the library does not know is zeroed. */
static void write_versioned(void *dst, size_t struct_size, void *full, size_t ours)
{
    if (!dst || struct_size < sizeof(size_t))
        return;
    memcpy(full, &struct_size, sizeof struct_size);
    memset(dst, 0, struct_size);
    memcpy(dst, full, struct_size < ours ? struct_size : ours);
}

void mimic_train_options_init(mimic_train_options *o, size_t struct_size)
{
    mimic_train_options d;
    memset(&d, 0, sizeof d);
    d.loss = MIMIC_LOSS_L2;
    d.optimizer = MIMIC_OPTIMIZER_ADAM;
    d.schedule = MIMIC_SCHEDULE_COSINE;
    d.target_norm = MIMIC_TARGET_AUTO;
    d.epochs = 10;
    d.batch_size = 128;
    d.learning_rate = 0; /* mimic_train_default_learning_rate(optimizer, loss) */
    d.momentum = 0.9;
    d.temperature = 4.0;
    d.step_gamma = 0.1;
    d.step_epochs = 10;
    d.adam_beta1 = 0.9;
    d.adam_beta2 = 0.999;
    d.adam_eps = 1e-8;
    d.std_floor = 0.1;
    d.checkpoint_every = 1;
    write_versioned(o, struct_size, &d, sizeof d);
}

double mimic_train_default_learning_rate(int32_t optimizer, int32_t loss)
{
    if (loss < MIMIC_LOSS_L2 || loss > MIMIC_LOSS_LABELS)
        return NAN;
    switch (optimizer) {
    case MIMIC_OPTIMIZER_SGD:
        return loss == MIMIC_LOSS_L2 ? 0.001 : 0.05;
    case MIMIC_OPTIMIZER_ADAM:
    case MIMIC_OPTIMIZER_ADAMW:
        return 0.001;
    default:
        return NAN;
    }
}

void mimic__train_options_resolve(mimic_train_options *o)
{
    if (o->learning_rate == 0)
        o->learning_rate = mimic_train_default_learning_rate(o->optimizer, o->loss);
    if (o->target_norm == MIMIC_TARGET_AUTO)
        o->target_norm = o->loss == MIMIC_LOSS_L2 ? MIMIC_TARGET_STANDARDIZE : MIMIC_TARGET_NONE;
}

void mimic_metrics_init(mimic_metrics *m, size_t struct_size)
{
    mimic_metrics d;
    memset(&d, 0, sizeof d);
    d.logit_l2 = d.logit_rmse = d.kl = d.hard_ce = d.accuracy = d.agreement = NAN;
    write_versioned(m, struct_size, &d, sizeof d);
}

void mimic_train_report_init(mimic_train_report *r, size_t struct_size)
{
    mimic_train_report d;
    memset(&d, 0, sizeof d);
    d.final_train_loss = d.best_validation_loss = d.elapsed_s = d.examples_per_s = NAN;
    write_versioned(r, struct_size, &d, sizeof d);
}

#define BAD(field, ...) mimic__error(MIMIC_ERR_INVALID, "options." field ": " __VA_ARGS__)

static int check_enums(const mimic_train_options *o)
{
    if (o->loss < MIMIC_LOSS_L2 || o->loss > MIMIC_LOSS_LABELS)
        return BAD("loss", "%d is not a MIMIC_LOSS_* value", (int)o->loss);
    if (o->optimizer < MIMIC_OPTIMIZER_SGD || o->optimizer > MIMIC_OPTIMIZER_ADAMW)
        return BAD("optimizer", "%d is not a MIMIC_OPTIMIZER_* value", (int)o->optimizer);
    if (o->schedule < MIMIC_SCHEDULE_CONSTANT || o->schedule > MIMIC_SCHEDULE_STEP)
        return BAD("schedule", "%d is not a MIMIC_SCHEDULE_* value", (int)o->schedule);
    if (o->nesterov != 0 && o->nesterov != 1)
        return BAD("nesterov", "must be 0 or 1, not %d", (int)o->nesterov);
    if (o->nesterov && (o->optimizer != MIMIC_OPTIMIZER_SGD || !(o->momentum > 0)))
        return BAD("nesterov", "needs the SGD optimizer with momentum > 0");
    if (o->standardize != 0 && o->standardize != 1)
        return BAD("standardize", "must be 0 or 1, not %d", (int)o->standardize);
    if (o->target_norm < MIMIC_TARGET_NONE || o->target_norm > MIMIC_TARGET_AUTO)
        return BAD("target_norm", "%d is not a MIMIC_TARGET_* value", (int)o->target_norm);
    if ((o->target_norm == MIMIC_TARGET_CENTER || o->target_norm == MIMIC_TARGET_STANDARDIZE) &&
        o->loss != MIMIC_LOSS_L2)
        return BAD("target_norm", "CENTER and STANDARDIZE apply to the L2 loss only");
    if (o->threads < 0)
        return BAD("threads", "must be >= 0, not %d", (int)o->threads);
    if (o->eval_train != 0 && o->eval_train != 1)
        return BAD("eval_train", "must be 0 or 1, not %d", (int)o->eval_train);
    if (o->resume != 0 && o->resume != 1)
        return BAD("resume", "must be 0 or 1, not %d", (int)o->resume);
    return MIMIC_OK;
}

static int check_numbers(const mimic_train_options *o)
{
    if (o->epochs == 0)
        return BAD("epochs", "must be > 0");
    if (o->batch_size == 0)
        return BAD("batch_size", "must be > 0");
    if (!isfinite(o->learning_rate) || o->learning_rate < 0)
        return BAD("learning_rate", "must be finite and >= 0 (0 = the default), not %g",
                   o->learning_rate);
    if (!(o->momentum >= 0 && o->momentum < 1))
        return BAD("momentum", "must be in [0, 1), not %g", o->momentum);
    if (!isfinite(o->weight_decay) || o->weight_decay < 0)
        return BAD("weight_decay", "must be finite and >= 0, not %g", o->weight_decay);
    if (!isfinite(o->temperature) || o->temperature <= 0)
        return BAD("temperature", "must be finite and > 0, not %g", o->temperature);
    if (!(o->hard_weight >= 0 && o->hard_weight <= 1))
        return BAD("hard_weight", "must be in [0, 1], not %g", o->hard_weight);
    if (!isfinite(o->clip_norm) || o->clip_norm < 0)
        return BAD("clip_norm", "must be finite and >= 0 (0 = off), not %g", o->clip_norm);
    if (!isfinite(o->warmup_epochs) || o->warmup_epochs < 0)
        return BAD("warmup_epochs", "must be finite and >= 0, not %g", o->warmup_epochs);
    if (!isfinite(o->step_gamma) || o->step_gamma <= 0)
        return BAD("step_gamma", "must be finite and > 0, not %g", o->step_gamma);
    if (o->step_epochs == 0)
        return BAD("step_epochs", "must be > 0");
    if (!(o->adam_beta1 >= 0 && o->adam_beta1 < 1))
        return BAD("adam_beta1", "must be in [0, 1), not %g", o->adam_beta1);
    if (!(o->adam_beta2 >= 0 && o->adam_beta2 < 1))
        return BAD("adam_beta2", "must be in [0, 1), not %g", o->adam_beta2);
    if (!isfinite(o->adam_eps) || o->adam_eps <= 0)
        return BAD("adam_eps", "must be finite and > 0, not %g", o->adam_eps);
    if (!isfinite(o->std_floor) || o->std_floor <= 0)
        return BAD("std_floor", "must be finite and > 0, not %g", o->std_floor);
    if (o->patience > 0 && !o->validation)
        return BAD("patience", "early stopping needs options.validation");
    if (o->checkpoint_path && !*o->checkpoint_path)
        return BAD("checkpoint_path", "is empty (use NULL for no checkpoints)");
    if (o->checkpoint_path && o->checkpoint_every == 0)
        return BAD("checkpoint_every", "must be > 0 when checkpoint_path is set");
    if (o->resume && !o->checkpoint_path)
        return BAD("resume", "needs options.checkpoint_path");
    if (!(o->dropout >= 0 && o->dropout < 1))
        return BAD("dropout", "must be in [0, 1), not %g", o->dropout);
    if (!(o->flip >= 0 && o->flip <= 1))
        return BAD("flip", "must be in [0, 1], not %g", o->flip);
    return MIMIC_OK;
}

/* The image shape against the student's inputs, when augmentation needs it. */
static int check_image(const mimic_train_options *o, size_t D)
{
    if (!(o->flip > 0) && o->shift == 0)
        return MIMIC_OK;
    const char *what = o->flip > 0 ? "flip" : "shift";
    if (o->image_height == 0 || o->image_width == 0)
        return mimic__error(MIMIC_ERR_INVALID,
                            "options.%s needs the image shape: set options.image_height and "
                            "options.image_width", what);
    uint64_t H = o->image_height, W = o->image_width;
    if (H > D || W > D || H > D / W || D % (H * W) != 0)
        return BAD("image_height", "%llu x %llu (image_height x image_width) does not divide the "
                   "student's %zu inputs into whole images", (unsigned long long)H,
                   (unsigned long long)W, D);
    if (o->shift >= (H < W ? H : W) || o->shift > 32767)
        return BAD("shift", "must be below the image's smaller side (%llu) and 32768, not %llu",
                   (unsigned long long)(H < W ? H : W), (unsigned long long)o->shift);
    return MIMIC_OK;
}

/* What the loss needs from a dataset: `what` names it in messages. */
static int check_data(const mimic_train_options *o, const mimic_student *s, const mimic_dataset *d,
                      const char *what, int is_train)
{
    if (d->n_inputs != s->L.D || d->n_classes != s->L.C)
        return mimic__error(MIMIC_ERR_SHAPE,
                            "%s: %zu inputs x %zu classes, but the student has %zu x %zu", what,
                            d->n_inputs, d->n_classes, s->L.D, s->L.C);
    const char *loss = o->loss == MIMIC_LOSS_L2 ? "L2" : o->loss == MIMIC_LOSS_KD ? "KD" : "LABELS";
    if (o->loss != MIMIC_LOSS_LABELS && !d->logits)
        return mimic__error(MIMIC_ERR_INVALID, "%s: the %s loss needs teacher logits, the dataset has none",
                            what, loss);
    if (!d->labels && (o->loss == MIMIC_LOSS_LABELS ||
                       (is_train && o->loss == MIMIC_LOSS_KD && o->hard_weight > 0)))
        return mimic__error(MIMIC_ERR_INVALID, "%s: the %s loss%s needs labels, the dataset has none",
                            what, loss, o->loss == MIMIC_LOSS_KD ? " with hard_weight > 0" : "");
    return MIMIC_OK;
}

int mimic__train_options_validate(const mimic_train_options *o, const mimic_student *s,
                                  const mimic_dataset *train)
{
    int rc = check_enums(o);
    if (rc == MIMIC_OK)
        rc = check_numbers(o);
    if (rc == MIMIC_OK && o->dropout > 0) {
        uint64_t rows = o->batch_size < train->rows ? o->batch_size : train->rows;
        if (rows > UINT32_MAX / s->L.H)
            rc = BAD("dropout", "needs batch rows x hidden units < 2^32 (here %llu x %zu)",
                     (unsigned long long)rows, s->L.H);
    }
    if (rc == MIMIC_OK)
        rc = check_image(o, s->L.D);
    if (rc == MIMIC_OK)
        rc = check_data(o, s, train, "train", 1);
    if (rc == MIMIC_OK && o->validation) {
        rc = mimic__dataset_check(o->validation, "options.validation");
        if (rc == MIMIC_OK)
            rc = check_data(o, s, o->validation, "options.validation", 0);
    }
    return rc;
}
