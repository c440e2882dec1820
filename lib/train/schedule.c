/* Learning-rate schedules as descriptors, evaluated per optimizer step, with linear warm-up.
 * Adding a schedule: a row in `schedules`, its MIMIC_SCHEDULE_* value in train.h, a test. */
#include <math.h>

#include "train/train.h"

static double constant_factor(const mimic_train_options *o, uint64_t t, uint64_t spe)
{
    (void)o;
    (void)t;
    (void)spe;
    return 1.0;
}

/* PyTorch's CosineAnnealingLR(T_max = total steps) stepped per iteration: the first step uses
 * the full rate; the rate would reach 0 at step `total`, just after the last one. */
static double cosine_factor(const mimic_train_options *o, uint64_t t, uint64_t spe)
{
    double total = (double)o->epochs * (double)spe;
    double progress = (double)t / total;
    if (progress > 1)
        progress = 1;
    return 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

static double step_factor(const mimic_train_options *o, uint64_t t, uint64_t spe)
{
    uint64_t epoch = t / spe; /* 0-based epoch of this step */
    return pow(o->step_gamma, (double)(epoch / o->step_epochs));
}

static const mimic__schedule schedules[] = {
    {MIMIC_SCHEDULE_CONSTANT, "constant", false, "", constant_factor},
    {MIMIC_SCHEDULE_COSINE, "cosine", true, "", cosine_factor},
    {MIMIC_SCHEDULE_STEP, "step", false, "step_gamma step_epochs", step_factor},
};

const mimic__schedule *mimic__schedule_get(int32_t id)
{
    for (size_t i = 0; i < MIMIC__ARRAY_LEN(schedules); i++)
        if (schedules[i].id == id)
            return &schedules[i];
    return NULL;
}

const char *mimic__schedule_choice(size_t k, int32_t *value)
{
    if (k >= MIMIC__ARRAY_LEN(schedules))
        return NULL;
    *value = schedules[k].id;
    return schedules[k].name;
}

double mimic__lr_at(const mimic_train_options *o, uint64_t t, uint64_t spe)
{
    double lr = o->learning_rate * mimic__schedule_get(o->schedule)->factor(o, t, spe);
    double warm = o->warmup_epochs * (double)spe; /* warm-up length in steps */
    if (warm > 0 && (double)t + 1 < warm)
        lr *= ((double)t + 1) / warm;
    return lr;
}

/* ---- the schedule's options: rows of the mimic_train_options table ----------------------- */

static bool schedule_reads(int32_t value, const char *field)
{
    const mimic__schedule *s = mimic__schedule_get(value);
    return s && mimic__name_in(s->options, field);
}

/* A field that only some schedules read (step_gamma, step_epochs). */
static const char *unused_by_schedule(const void *p, const char *field, char *buf, size_t cap)
{
    const mimic_train_options *o = p;
    const mimic__schedule *s = mimic__schedule_get(o->schedule);
    if (!s || schedule_reads(o->schedule, field))
        return NULL;
    return mimic__opt_applies_to(buf, cap, field, "schedule", s->name, mimic__schedule_choice,
                                 schedule_reads);
}

MIMIC__UNUSED_BY(unused_by_schedule, step_gamma)
MIMIC__UNUSED_BY(unused_by_schedule, step_epochs)

static const mimic__opt schedule_rows[] = {
    {MIMIC__TRAIN_ROW(learning_rate, DOUBLE), MIMIC__SHAPES_RUN, MIMIC__GE(0), .flag = "--lr",
     .metavar = "LR", .help = "learning rate", .note = "0 = the default",
     .default_text = "0 (the optimizer's and loss's default)"},
    {MIMIC__TRAIN_ROW(schedule, ENUM), MIMIC__SHAPES_RUN, MIMIC__ANY, .def = MIMIC_SCHEDULE_COSINE,
     .flag = "--schedule", .help = "how the rate changes, per step (cosine: down to 0 at the end)",
     .choice = mimic__schedule_choice, .enum_prefix = "MIMIC_SCHEDULE_"},
    {MIMIC__TRAIN_ROW(warmup_epochs, DOUBLE), MIMIC__SHAPES_RUN, MIMIC__GE(0), .flag = "--warmup",
     .metavar = "E", .help = "linear warm-up of the rate, in (fractional) epochs"},
    {MIMIC__TRAIN_ROW(step_gamma, DOUBLE), MIMIC__SHAPES_RUN, .def = 0.1, MIMIC__GT(0),
     .flag = "--step-gamma", .metavar = "G", .help = "step schedule: factor",
     .unused = unused_step_gamma},
    {MIMIC__TRAIN_ROW(step_epochs, UINT64), MIMIC__SHAPES_RUN, .def = 10, MIMIC__GE(1),
     .flag = "--step-epochs", .metavar = "N", .help = "step schedule: period in epochs",
     .unused = unused_step_epochs},
};

const mimic__opt_group mimic__schedule_options = {"learning rate", schedule_rows,
                                                  MIMIC__ARRAY_LEN(schedule_rows)};
