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
