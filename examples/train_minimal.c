/*
 * train_minimal: the whole libmimic flow in one page: load a transfer set, train a shallow
 * student by regression on the teacher's logits (Ba & Caruana's mimic learning), evaluate
 * it, save it.
 *
 * Usage: train_minimal INPUTS.npy LOGITS.npy LABELS.npy OUT.safetensors [EPOCHS]
 *   INPUTS.npy  rows x features, float32/float64/uint8
 *   LOGITS.npy  rows x classes teacher logits, float32
 *   LABELS.npy  rows int labels (used only for the reported accuracy)
 *   EPOCHS      default 5
 * Prints the metrics on the training data; exits 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mimic.h>

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s INPUTS.npy LOGITS.npy LABELS.npy OUT.safetensors [EPOCHS]\n", argv[0]);
        return 2;
    }
    mimic_dataset *data = NULL;
    mimic_student *student = NULL;
    int st = mimic_dataset_load_npy(&data, argv[1], argv[2], argv[3]);

    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = mimic_dataset_n_inputs(data);
    so.n_classes = mimic_dataset_n_classes(data);
    so.n_hidden = 1024;
    so.n_bottleneck = 64; /* linear bottleneck: faster learning, fewer parameters */
    if (st == MIMIC_OK)
        st = mimic_student_create(&student, &so);

    mimic_train_options to;
    mimic_train_options_init(&to, sizeof to);
    to.loss = MIMIC_LOSS_L2; /* regress on the logits, not on softmax probabilities */
    to.standardize = 1;      /* per-feature input mean/scale, stored in the student */
    /* everything else at its default: Adam at 0.001, cosine schedule, batch 128, teacher
     * logits standardized per class while training (undone in the saved student) */
    to.epochs = argc > 5 ? strtoull(argv[5], NULL, 10) : 5;
    if (st == MIMIC_OK)
        st = mimic_train(student, data, &to, NULL);

    mimic_metrics m;
    mimic_metrics_init(&m, sizeof m);
    if (st == MIMIC_OK)
        st = mimic_evaluate(student, data, 1.0, &m);
    if (st == MIMIC_OK)
        st = mimic_student_save(student, argv[4]);
    if (st == MIMIC_OK)
        printf("rows %zu  accuracy %.4f  agreement %.4f  logit_rmse %.4f  kl %.5f\n", m.rows, m.accuracy,
               m.agreement, m.logit_rmse, m.kl);
    else
        fprintf(stderr, "train_minimal: %s\n", mimic_last_error());
    mimic_student_free(student);
    mimic_dataset_free(data);
    return st == MIMIC_OK ? 0 : 1;
}
