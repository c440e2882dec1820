/*
 * Training options: the table of mimic_train_options (one row per field: type, default,
 * bounds, version, checkpoint identity, CLI flag and help), and from it the defaults, the
 * checks, the introspection calls (include/mimic/options.h) and the rules that tie fields
 * together. The rows live beside the code that reads them, in groups (the loss's in
 * model/loss.c, the optimizer's in optimizer.c, ...); this file lists the groups. Adding an
 * option: a field at the end of mimic_train_options (train.h), a row beside the code that
 * reads it, a test.
 */
#include <math.h>
#include <stdio.h>

#include "train/train.h"

/* ---- the table: the groups of rows, each defined beside the code that reads them -------- */

static const mimic__opt_group *const groups[] = {
    &mimic__loss_options,       &mimic__optimizer_options,  &mimic__schedule_options,
    &mimic__input_options,      &mimic__augment_options,    &mimic__run_options,
    &mimic__checkpoint_options, &mimic__collective_options,
};

static const mimic__optable train_table = {"options", groups, MIMIC__ARRAY_LEN(groups)};

const mimic__optable *mimic__train_optable(void)
{
    return &train_table;
}

/* ---- public: defaults, introspection ------------------------------------------------------ */

void mimic_train_options_init(mimic_train_options *o, size_t struct_size)
{
    mimic_train_options d;
    mimic__opt_defaults(&train_table, &d, sizeof d);
    mimic__struct_copy_out(o, struct_size, &d, sizeof d);
}

size_t mimic_train_options_size(void)
{
    return sizeof(mimic_train_options);
}

size_t mimic_train_option_count(void)
{
    return mimic__opt_count(&train_table);
}

int mimic_train_option_info(size_t index, mimic_option_info *out)
{
    return mimic__opt_info(&train_table, index, out);
}

int mimic_train_option_choice(size_t index, size_t k, const char **name, int32_t *value)
{
    return mimic__opt_choice(&train_table, index, k, name, value);
}

int mimic_train_option_find(const char *name, size_t *index)
{
    return mimic__opt_index(&train_table, name, index);
}

int mimic_train_option_set(mimic_train_options *o, const char *name, const char *value)
{
    return mimic__opt_set(&train_table, o, name, value);
}

int mimic_train_option_check_used(const mimic_train_options *o, const char *name)
{
    if (!o)
        return mimic__error(MIMIC_ERR_INVALID, "options: the options struct is NULL");
    const mimic__opt *row = mimic__opt_find(&train_table, name);
    if (!row)
        return MIMIC_ERR_INVALID;
    mimic_train_options full;
    int rc = mimic__struct_copy_in(&full, sizeof full, o, "train options");
    if (rc != MIMIC_OK)
        return rc;
    char why[256];
    const char *reason = row->unused ? row->unused(&full, why, sizeof why) : NULL;
    if (reason)
        return mimic__error(MIMIC_ERR_INVALID, "options.%s has no effect: %s", row->name, reason);
    return MIMIC_OK;
}

double mimic_train_default_learning_rate(int32_t optimizer, int32_t loss)
{
    const mimic__loss *l = mimic__loss_get(loss);
    const mimic__optimizer *o = mimic__optimizer_get(optimizer);
    if (!l || !o)
        return NAN;
    return o->lr > 0 ? o->lr : l->sgd_lr;
}

const char *mimic_train_criterion(int32_t loss)
{
    const mimic__loss *l = mimic__loss_get(loss);
    return l ? l->criterion : NULL;
}

int mimic_train_data_needs(const mimic_train_options *o, int32_t *logits, int32_t *labels,
                           int32_t *valid_labels)
{
    mimic_train_options full;
    mimic_train_options_init(&full, sizeof full);
    int rc = mimic__struct_copy_in(&full, sizeof full, o, "train options");
    if (rc == MIMIC_OK)
        rc = mimic__opt_check(&train_table, mimic__opt_find(&train_table, "loss"), &full);
    if (rc != MIMIC_OK)
        return rc;
    const mimic__loss *l = mimic__loss_get(full.loss);
    if (logits)
        *logits = (l->needs & MIMIC__NEEDS_LOGITS) != 0;
    if (labels)
        *labels = mimic__loss_needs_labels(l, full.hard_weight);
    if (valid_labels)
        *valid_labels = (l->needs & MIMIC__NEEDS_LABELS) != 0;
    return MIMIC_OK;
}

void mimic__train_options_resolve(mimic_train_options *o)
{
    if (o->learning_rate == 0)
        o->learning_rate = mimic_train_default_learning_rate(o->optimizer, o->loss);
    if (o->target_norm == MIMIC_TARGET_AUTO)
        o->target_norm = mimic__loss_get(o->loss)->auto_target_norm;
}

void mimic_train_report_init(mimic_train_report *r, size_t struct_size)
{
    mimic_train_report d;
    memset(&d, 0, sizeof d);
    d.final_train_loss = d.best_validation_loss = d.elapsed_s = d.examples_per_s = NAN;
    mimic__struct_copy_out(r, struct_size, &d, sizeof d);
}

/* ---- rules that tie fields together -------------------------------------------------------- */

#define BAD(field, ...) mimic__error(MIMIC_ERR_INVALID, "options." field ": " __VA_ARGS__)

static int check_rules(const mimic_train_options *o)
{
    const mimic__optimizer *opt = mimic__optimizer_get(o->optimizer);
    const mimic__loss *loss = mimic__loss_get(o->loss);
    if (o->nesterov && (!mimic__name_in(opt->options, "nesterov") || !(o->momentum > 0)))
        return BAD("nesterov", "needs the SGD optimizer with momentum > 0");
    if ((o->target_norm == MIMIC_TARGET_CENTER || o->target_norm == MIMIC_TARGET_STANDARDIZE) &&
        !mimic__name_in(loss->options, "target_norm"))
        return BAD("target_norm", "center and standardize apply to losses that regress on the "
                   "teacher's logits, not to options.loss %s", loss->name);
    if (o->patience > 0 && !o->validation)
        return BAD("patience", "early stopping needs options.validation");
    if (o->checkpoint_path && !*o->checkpoint_path)
        return BAD("checkpoint_path", "is an empty string (leave it unset for no checkpoints)");
    if (o->checkpoint_path && o->checkpoint_every == 0)
        return BAD("checkpoint_every", "must be > 0 when options.checkpoint_path is set");
    if (o->resume && !o->checkpoint_path)
        return BAD("resume", "needs options.checkpoint_path");
    if (o->collective && o->grad_reduce)
        return BAD("grad_reduce", "set options.collective or options.grad_reduce, not both (the "
                                  "collective sums the gradients itself)");
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
                            "options.image_width",
                            what);
    uint64_t H = o->image_height, W = o->image_width;
    if (H > D || W > D || H > D / W || D % (H * W) != 0)
        return BAD("image_height",
                   "%llu x %llu (image_height x image_width) does not divide the "
                   "student's %zu inputs into whole images",
                   (unsigned long long)H, (unsigned long long)W, D);
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
    const mimic__loss *l = mimic__loss_get(o->loss);
    if ((l->needs & MIMIC__NEEDS_LOGITS) && !d->logits_dtype)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: the %s loss needs teacher logits, the dataset has none", what,
                            l->name);
    /* labels for the hard-label part of a mixed loss are needed to train, not to validate */
    bool labels = is_train ? mimic__loss_needs_labels(l, o->hard_weight)
                           : (l->needs & MIMIC__NEEDS_LABELS) != 0;
    if (labels && !d->labels_dtype)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: the %s loss%s needs labels, the dataset has none", what, l->name,
                            (l->needs & MIMIC__NEEDS_LABELS) ? "" : " with hard_weight > 0");
    return MIMIC_OK;
}

int mimic__train_options_validate(const mimic_train_options *o, const mimic_student *s,
                                  const mimic_dataset *train)
{
    int rc = mimic__opt_validate(&train_table, o);
    if (rc == MIMIC_OK)
        rc = check_rules(o);
    mimic_collective c;
    if (rc == MIMIC_OK && o->collective)
        rc = mimic__coll_copy(&c, o->collective, "options.collective");
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
