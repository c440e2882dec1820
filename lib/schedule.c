/* Learning-rate schedules with linear warm-up, evaluated per optimizer step. */
#include <math.h>

#include "train_internal.h"

double mimic__lr_at(const mimic_train_options *o, uint64_t t, uint64_t spe)
{
    double lr = o->learning_rate;
    if (o->schedule == MIMIC_SCHEDULE_COSINE) {
        /* PyTorch's CosineAnnealingLR(T_max = total steps) stepped per iteration: the first
         * step uses the full rate; the rate would reach 0 at step `total`, just after the
         * last one. */
        double total = (double)o->epochs * (double)spe;
        double progress = (double)t / total;
        if (progress > 1)
            progress = 1;
        lr *= 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
    } else if (o->schedule == MIMIC_SCHEDULE_STEP) {
        uint64_t epoch = t / spe; /* 0-based epoch of this step */
        lr *= pow(o->step_gamma, (double)(epoch / o->step_epochs));
    }
    double warm = o->warmup_epochs * (double)spe; /* warm-up length in steps */
    if (warm > 0 && (double)t + 1 < warm)
        lr *= ((double)t + 1) / warm;
    return lr;
}
