/*
 * Learning curves as a standalone SVG: two panels (loss and accuracy per epoch) with axes,
 * ticks, grid, axis labels and a legend. No dependencies; opens in any browser.
 */
#ifndef MIMIC_CLI_SVG_H
#define MIMIC_CLI_SVG_H

#include <stddef.h>

/* One epoch's values; NaN = not available (that series skips the point). Accuracies are
 * fractions in [0, 1]; they are drawn in percent. */
typedef struct svg_epoch {
    double epoch;
    double train_loss;
    double valid_loss;
    double train_accuracy;
    double valid_accuracy;
    double valid_agreement;
} svg_epoch;

/* Write the plot to `path` (through a temporary file renamed over it). `title` heads the
 * figure, `loss_name` names the loss axis ("logit L2 loss"). Returns 0, or -1 with a
 * message in err. */
int svg_write_curves(const char *path, const char *title, const char *loss_name, const svg_epoch *e,
                     size_t n, char *err, size_t errlen);

#endif
