/*
 * Training options: the table of mimic_train_options (one row per field: type, default,
 * bounds, version, checkpoint identity, CLI flag and help), and from it the defaults, the
 * checks, the introspection calls (include/mimic/options.h) and the rules that tie fields
 * together. Adding an option: a field at the end of mimic_train_options (train.h), a row
 * here, the code that uses it, a test.
 */
#include <math.h>
#include <stdio.h>

#include "train/train.h"

/* ---- choices and "has no effect" rules ------------------------------------------------- */

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

static const char *loss_choice(size_t k, int32_t *v)
{
    size_t n;
    const mimic__loss *all = mimic__loss_all(&n);
    if (k >= n)
        return NULL;
    *v = all[k].id;
    return all[k].name;
}

#define OPTS(p) ((const mimic_train_options *)(p))

/* The options an optimizer or schedule reads: "<name> has no effect: it applies to
 * options.optimizer <those that read it>, and options.optimizer is <current>". */
static const char *unused_by(const char *field, const char *owner, const char *current,
                             const char *(*choice)(size_t, int32_t *),
                             const char *(*options_of)(int32_t), char *buf, size_t cap)
{
    int32_t v;
    const char *name;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = 0; (name = choice(k, &v)) != NULL; k++)
        if (mimic__name_in(options_of(v), field)) {
            int w = snprintf(buf + used, cap - used, "%s%s", used ? " or " : "", name);
            if (w < 0 || (size_t)w >= cap - used)
                break;
            used += (size_t)w;
        }
    char users[128];
    snprintf(users, sizeof users, "%s", buf);
    snprintf(buf, cap, "it applies to options.%s %s, and options.%s is %s", owner, users, owner,
             current);
    return buf;
}

static const char *optimizer_options(int32_t id)
{
    const mimic__optimizer *o = mimic__optimizer_get(id);
    return o ? o->options : "";
}

static const char *schedule_options(int32_t id)
{
    const mimic__schedule *s = mimic__schedule_get(id);
    return s ? s->options : "";
}

/* A field the optimizer reads (momentum, adam_beta1, ...). */
#define OPTIMIZER_FIELD(field)                                                                     \
    static const char *unused_##field(const void *p, char *buf, size_t cap)                        \
    {                                                                                              \
        const mimic__optimizer *o = mimic__optimizer_get(OPTS(p)->optimizer);                      \
        if (!o || mimic__name_in(o->options, #field))                                              \
            return NULL;                                                                           \
        return unused_by(#field, "optimizer", o->name, mimic__optimizer_choice, optimizer_options, \
                         buf, cap);                                                                \
    }
OPTIMIZER_FIELD(momentum)
OPTIMIZER_FIELD(nesterov)
OPTIMIZER_FIELD(adam_beta1)
OPTIMIZER_FIELD(adam_beta2)
OPTIMIZER_FIELD(adam_eps)

/* A field the schedule reads (step_gamma, step_epochs). */
#define SCHEDULE_FIELD(field)                                                                      \
    static const char *unused_##field(const void *p, char *buf, size_t cap)                        \
    {                                                                                              \
        const mimic__schedule *s = mimic__schedule_get(OPTS(p)->schedule);                         \
        if (!s || mimic__name_in(s->options, #field))                                              \
            return NULL;                                                                           \
        return unused_by(#field, "schedule", s->name, mimic__schedule_choice, schedule_options,    \
                         buf, cap);                                                                \
    }
SCHEDULE_FIELD(step_gamma)
SCHEDULE_FIELD(step_epochs)

/* temperature and hard_weight: losses with MIMIC__USES_TEMPERATURE; target_norm: losses
 * with MIMIC__TAKES_TARGET_NORM. */
static const char *unused_loss(const void *p, uint32_t need, char *buf, size_t cap)
{
    const mimic__loss *l = mimic__loss_get(OPTS(p)->loss);
    if (!l || (l->needs & need))
        return NULL;
    size_t n, used = 0;
    const mimic__loss *all = mimic__loss_all(&n);
    char users[64] = "";
    for (size_t i = 0; i < n; i++)
        if (all[i].needs & need) {
            int w = snprintf(users + used, sizeof users - used, "%s%s", used ? " or " : "",
                             all[i].name);
            if (w < 0 || (size_t)w >= sizeof users - used)
                break;
            used += (size_t)w;
        }
    snprintf(buf, cap, "it applies to options.loss %s, and options.loss is %s", users, l->name);
    return buf;
}

static const char *unused_temperature(const void *p, char *buf, size_t cap)
{
    return unused_loss(p, MIMIC__USES_TEMPERATURE, buf, cap);
}

static const char *unused_target_norm(const void *p, char *buf, size_t cap)
{
    return unused_loss(p, MIMIC__TAKES_TARGET_NORM, buf, cap);
}

static const char *unused_std_floor(const void *p, char *buf, size_t cap)
{
    if (OPTS(p)->standardize)
        return NULL;
    snprintf(buf, cap, "it applies when options.standardize is 1");
    return buf;
}

static const char *unused_checkpoint_every(const void *p, char *buf, size_t cap)
{
    if (OPTS(p)->checkpoint_path)
        return NULL;
    snprintf(buf, cap, "it applies when options.checkpoint_path is set");
    return buf;
}

static const char *unused_image(const void *p, char *buf, size_t cap)
{
    if (OPTS(p)->flip > 0 || OPTS(p)->shift > 0)
        return NULL;
    snprintf(buf, cap, "the image shape is used by options.flip and options.shift, and both are 0");
    return buf;
}

/* ---- checkpoint identity of fields that are not their plain value ---------------------- */

/* The cosine schedule depends on the run's total length; the others can be extended. */
static void ident_epochs(const void *p, char *buf, size_t cap)
{
    const mimic__schedule *s = mimic__schedule_get(OPTS(p)->schedule);
    snprintf(buf, cap, "%llu", (unsigned long long)(s && s->needs_total ? OPTS(p)->epochs : 0));
}

static void ident_validation(const void *p, char *buf, size_t cap)
{
    const mimic_dataset *v = OPTS(p)->validation;
    snprintf(buf, cap, "%llu", (unsigned long long)(v ? v->rows : 0));
}

/* ---- the table ---------------------------------------------------------------------------- */

#define TOPT(field, type_, group_)                                                                 \
    .name = #field, .type = MIMIC_OPTION_##type_, .offset = offsetof(mimic_train_options, field),  \
    .size = sizeof(((mimic_train_options *)0)->field), .group = group_
#define IDENT .flags = MIMIC__OPT_SHAPES_RUN
#define LOSS "loss"
#define OPT "optimization"
#define SCHED "learning-rate schedule"
#define DATA "inputs and targets"
#define REG "regularization and augmentation"
#define VALID "validation and early stopping"
#define CKPT "checkpoints"
#define RUN "run"

static const mimic__opt train_opts[] = {
    {TOPT(loss, ENUM, LOSS), IDENT, MIMIC__ANY, .def = MIMIC_LOSS_L2, .flag = "--loss",
     .help = "l2: regression on the teacher's logits; kd: Hinton distillation; labels: hard "
             "labels",
     .choice = loss_choice, .enum_prefix = "MIMIC_LOSS_"},
    {TOPT(optimizer, ENUM, OPT), IDENT, MIMIC__ANY, .def = MIMIC_OPTIMIZER_ADAM,
     .flag = "--optimizer", .help = "optimizer", .choice = mimic__optimizer_choice,
     .enum_prefix = "MIMIC_OPTIMIZER_"},
    {TOPT(schedule, ENUM, SCHED), IDENT, MIMIC__ANY, .def = MIMIC_SCHEDULE_COSINE,
     .flag = "--schedule",
     .help = "learning-rate schedule (per step; cosine decays to 0 over the run)",
     .choice = mimic__schedule_choice, .enum_prefix = "MIMIC_SCHEDULE_"},
    {TOPT(nesterov, BOOL, OPT), IDENT, MIMIC__IN(0, 1), .flag = "--nesterov",
     .help = "Nesterov momentum (sgd)", .unused = unused_nesterov},
    {TOPT(standardize, BOOL, DATA), IDENT, MIMIC__IN(0, 1), .flag = "--standardize",
     .help = "fit per-feature input mean and scale on the training data and store them in "
             "the student"},
    {TOPT(target_norm, ENUM, DATA), IDENT, MIMIC__ANY, .def = MIMIC_TARGET_AUTO,
     .flag = "--target-norm",
     .help = "l2: normalize the teacher's logits while training (undone in the saved student)",
     .default_text = "auto (standardize for l2, none otherwise)", .choice = target_norm_choice,
     .enum_prefix = "MIMIC_TARGET_", .unused = unused_target_norm},
    {TOPT(threads, INT32, RUN), MIMIC__GE(0), .flag = "--threads", .metavar = "N",
     .help = "BLAS threads for the call", .default_text = "0 (leave the BLAS setting as is)"},
    {TOPT(eval_train, BOOL, VALID), MIMIC__IN(0, 1), .flag = "--eval-train",
     .help = "also compute training-set metrics after each epoch"},
    {TOPT(epochs, UINT64, OPT), .def = 10, MIMIC__GE(1), .flag = "--epochs", .metavar = "E",
     .help = "training epochs", IDENT, .ident = ident_epochs},
    {TOPT(batch_size, UINT64, OPT), IDENT, .def = 128, MIMIC__GE(1), .flag = "--batch",
     .metavar = "B", .help = "minibatch size"},
    {TOPT(learning_rate, DOUBLE, OPT), IDENT, MIMIC__GE(0), .flag = "--lr", .metavar = "LR",
     .help = "learning rate", .note = "0 = the default",
     .default_text = "0 (the optimizer's and loss's default)"},
    {TOPT(momentum, DOUBLE, OPT), IDENT, .def = 0.9, MIMIC__IN_HALF(0, 1), .flag = "--momentum",
     .metavar = "M", .help = "SGD momentum", .unused = unused_momentum},
    {TOPT(weight_decay, DOUBLE, REG), IDENT, MIMIC__GE(0), .flag = "--weight-decay", .metavar = "W",
     .help = "weight decay (decoupled with adamw)"},
    {TOPT(temperature, DOUBLE, LOSS), IDENT, .def = 4, MIMIC__GT(0), .flag = "--temperature",
     .metavar = "T", .help = "distillation temperature", .unused = unused_temperature},
    {TOPT(hard_weight, DOUBLE, LOSS), IDENT, MIMIC__IN(0, 1), .flag = "--hard-weight",
     .metavar = "A", .help = "kd: weight of the hard-label loss, (1-A) soft + A hard",
     .unused = unused_temperature},
    {TOPT(clip_norm, DOUBLE, OPT), IDENT, MIMIC__GE(0), .flag = "--clip-norm", .metavar = "C",
     .help = "global gradient-norm clip", .note = "0 = off", .default_text = "0 (off)"},
    {TOPT(warmup_epochs, DOUBLE, SCHED), IDENT, MIMIC__GE(0), .flag = "--warmup", .metavar = "E",
     .help = "linear learning-rate warm-up, in (fractional) epochs"},
    {TOPT(step_gamma, DOUBLE, SCHED), IDENT, .def = 0.1, MIMIC__GT(0), .flag = "--step-gamma",
     .metavar = "G", .help = "step schedule: factor", .unused = unused_step_gamma},
    {TOPT(step_epochs, UINT64, SCHED), IDENT, .def = 10, MIMIC__GE(1), .flag = "--step-epochs",
     .metavar = "N", .help = "step schedule: period in epochs", .unused = unused_step_epochs},
    {TOPT(adam_beta1, DOUBLE, OPT), IDENT, .def = 0.9, MIMIC__IN_HALF(0, 1), .flag = "--adam-beta1",
     .metavar = "B1", .help = "Adam beta1", .unused = unused_adam_beta1},
    {TOPT(adam_beta2, DOUBLE, OPT), IDENT, .def = 0.999, MIMIC__IN_HALF(0, 1),
     .flag = "--adam-beta2", .metavar = "B2", .help = "Adam beta2", .unused = unused_adam_beta2},
    {TOPT(adam_eps, DOUBLE, OPT), IDENT, .def = 1e-8, MIMIC__GT(0), .flag = "--adam-eps",
     .metavar = "EPS", .help = "Adam epsilon", .unused = unused_adam_eps},
    {TOPT(std_floor, DOUBLE, DATA), IDENT, .def = 0.1, MIMIC__GT(0), .flag = "--std-floor",
     .metavar = "S", .help = "standardize: scale = 1 / max(std, S), in input units",
     .unused = unused_std_floor},
    {TOPT(seed, UINT64, RUN), IDENT, MIMIC__GE(0), .flag = "--seed", .metavar = "S",
     .help = "seed for shuffling, dropout and augmentation (the CLI: also the weights)"},
    {TOPT(validation, POINTER, VALID), IDENT, MIMIC__ANY, .ident_key = "opt.validation_rows",
     .ident = ident_validation,
     .help = "validation dataset (borrowed), evaluated after each epoch"},
    {TOPT(patience, UINT64, VALID), IDENT, MIMIC__GE(0), .flag = "--patience", .metavar = "P",
     .help = "stop after P epochs without validation improvement and keep the best weights",
     .default_text = "0 (off)"},
    {TOPT(progress, POINTER, RUN), MIMIC__ANY, .help = "progress callback"},
    {TOPT(progress_user_data, POINTER, RUN), MIMIC__ANY, .help = "passed to the progress callback"},
    {TOPT(progress_every_steps, UINT64, RUN), MIMIC__GE(0), .flag = "--progress-every",
     .metavar = "N", .help = "steps between progress reports within an epoch",
     .default_text = "0 (per epoch only)"},
    {TOPT(checkpoint_path, STRING, CKPT), MIMIC__ANY, .flag = "--checkpoint", .metavar = "FILE",
     .help = "checkpoint file, written atomically", .default_text = "none"},
    {TOPT(checkpoint_every, UINT64, CKPT), .def = 1, MIMIC__GE(0), .flag = "--checkpoint-every",
     .metavar = "N", .help = "epochs between checkpoints", .unused = unused_checkpoint_every},
    {TOPT(resume, BOOL, CKPT), MIMIC__IN(0, 1), .flag = "--resume",
     .help = "resume from the checkpoint when it exists"},
    {TOPT(grad_reduce, POINTER, RUN), MIMIC__ANY,
     .help = "gradient reduction hook (data-parallel training)"},
    {TOPT(grad_reduce_user_data, POINTER, RUN), MIMIC__ANY, .help = "passed to grad_reduce"},
    {TOPT(dropout, DOUBLE, REG), IDENT, .since = 10100, .absent = "0", MIMIC__IN_HALF(0, 1),
     .flag = "--dropout", .metavar = "P", .help = "dropout rate on the hidden units while training",
     .default_text = "0 (off)"},
    {TOPT(image_height, UINT64, REG), IDENT, .since = 10200, .absent = "0", MIMIC__GE(0),
     .help = "image height of the inputs (C x H x W rows), for flip and shift",
     .unused = unused_image},
    {TOPT(image_width, UINT64, REG), IDENT, .since = 10200, .absent = "0", MIMIC__GE(0),
     .help = "image width of the inputs, for flip and shift", .unused = unused_image},
    {TOPT(flip, DOUBLE, REG), IDENT, .since = 10200, .absent = "0", MIMIC__IN(0, 1),
     .flag = "--flip", .metavar = "P",
     .help = "mirror each training image left-right with probability P (targets kept)",
     .default_text = "0 (off)"},
    {TOPT(shift, UINT64, REG), IDENT, .since = 10200, .absent = "0", MIMIC__GE(0),
     .flag = "--shift", .metavar = "N",
     .help = "shift each training image by up to N pixels each way (targets kept)",
     .default_text = "0 (off)"},
};

static const mimic__optable train_table = {"options", train_opts, MIMIC__ARRAY_LEN(train_opts)};

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

size_t mimic_train_option_count(void)
{
    return train_table.n;
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
        !(loss->needs & MIMIC__TAKES_TARGET_NORM))
        return BAD("target_norm", "CENTER and STANDARDIZE apply to the L2 loss only");
    if (o->patience > 0 && !o->validation)
        return BAD("patience", "early stopping needs options.validation");
    if (o->checkpoint_path && !*o->checkpoint_path)
        return BAD("checkpoint_path", "is empty (use NULL for no checkpoints)");
    if (o->checkpoint_path && o->checkpoint_every == 0)
        return BAD("checkpoint_every", "must be > 0 when checkpoint_path is set");
    if (o->resume && !o->checkpoint_path)
        return BAD("resume", "needs options.checkpoint_path");
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
    if ((l->needs & MIMIC__NEEDS_LOGITS) && !d->logits)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: the %s loss needs teacher logits, the dataset has none", what,
                            l->name);
    /* labels for the hard-label part of a mixed loss are needed to train, not to validate */
    bool labels = is_train ? mimic__loss_needs_labels(l, o->hard_weight)
                           : (l->needs & MIMIC__NEEDS_LABELS) != 0;
    if (labels && !d->labels)
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
