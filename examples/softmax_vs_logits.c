/*
 * Why libmimic regresses on logits: a numeric tour for newcomers.
 *
 * Ba & Caruana ("Do Deep Nets Really Need to be Deep?", 2014) train the shallow student by
 * L2 regression on the teacher's logits instead of cross-entropy on its probabilities. This
 * program shows the two reasons with numbers, using only the public API.
 *
 * Build against an installed libmimic:  cc softmax_vs_logits.c $(pkg-config --libs mimic)
 */
#include <math.h>
#include <stdio.h>

#include <mimic.h>

#define NC 10

static int check(int rc, const char *what)
{
    if (rc != MIMIC_OK)
        fprintf(stderr, "%s failed: %s (%s)\n", what, mimic_status_str(rc), mimic_last_error());
    return rc;
}

static void print_row(const char *label, const float *v, int n)
{
    printf("  %-22s", label);
    for (int j = 0; j < n; j++)
        printf(" %10.6f", v[j]);
    printf("\n");
}

/* Share of the gradient's squared norm that falls on class `top`. */
static double top_share(const float *g, int n, int top)
{
    double all = 0;
    for (int j = 0; j < n; j++)
        all += (double)g[j] * g[j];
    return all > 0 ? (double)g[top] * g[top] / all : 0.0;
}

int main(void)
{
    printf("libmimic %s: softmax probabilities vs. logits\n\n", mimic_version_string());

    /* 1. Softmax is shift-invariant. */
    const float a[3] = {-10, 0, 10}, b[3] = {10, 20, 30};
    float pa[3], pb[3];
    double l2, kl;
    if (check(mimic_softmax(a, 1, 3, 1.0, pa), "softmax") ||
        check(mimic_softmax(b, 1, 3, 1.0, pb), "softmax") ||
        check(mimic_loss_logit_l2(a, b, 1, 3, &l2, NULL), "logit L2") ||
        check(mimic_loss_softmax_ce(a, b, 1, 3, 1.0, &kl, NULL), "softmax CE"))
        return 1;
    printf("1. Two teachers' logits that differ by a constant offset of 20:\n");
    print_row("logits A", a, 3);
    print_row("logits B", b, 3);
    print_row("softmax(A)", pa, 3);
    print_row("softmax(B)", pb, 3);
    printf("  KL(softmax(B) || softmax(A)) = %g: as probabilities they are identical.\n", kl);
    printf("  logit L2 loss 1/2 ||A - B||^2 = %g (distance %.2f): regression on logits still\n"
           "  sees what the teacher 'said' about the offset, which probabilities throw away.\n\n",
           l2, sqrt(2.0 * l2));

    /* 2. Against a peaked target, cross-entropy is dominated by the top class. */
    float t[NC] = {10, 2, 1, 0, 0, -1, -1, -2, -2, -3}, s[NC], gce[NC], gl2[NC], pt[NC];
    for (int j = 0; j < NC; j++)
        s[j] = t[j] + (j == 0 ? -1.0f : 1.0f); /* off by 1 on every class */
    if (check(mimic_softmax(t, 1, NC, 1.0, pt), "softmax") ||
        check(mimic_loss_softmax_ce(s, t, 1, NC, 1.0, &kl, gce), "softmax CE") ||
        check(mimic_loss_logit_l2(s, t, 1, NC, &l2, gl2), "logit L2"))
        return 1;
    printf("2. A confident teacher (top class p = %.4f) and a student whose logits are off\n"
           "   by 1 on every class. Gradient of each loss w.r.t. the student's logits:\n",
           (double)pt[0]);
    printf("  %-22s", "class");
    for (int j = 0; j < NC; j++)
        printf(" %10d", j);
    printf("\n");
    print_row("teacher logits", t, NC);
    print_row("teacher softmax", pt, NC);
    print_row("CE (KL, T=1) grad", gce, NC);
    print_row("logit L2 grad", gl2, NC);
    printf("  Share of the gradient (squared norm) on the top class:\n"
           "    cross-entropy %5.1f%%   logit L2 %5.1f%%\n",
           100 * top_share(gce, NC, 0), 100 * top_share(gl2, NC, 0));
    printf("  Under cross-entropy the small classes - the teacher's 'dark knowledge' about\n"
           "  which wrong answers are plausible - get gradients of ~%.0e and barely train;\n"
           "  logit regression weighs every class's error equally.\n\n",
           fabs((double)gce[9]));

    /* 3. Hinton's temperature moves CE towards logit matching. */
    printf("3. Raising the temperature T spreads the soft targets; as T grows the soft loss's\n"
           "   gradient (times the number of classes) approaches the logit-L2 gradient:\n");
    const double temps[4] = {1, 10, 100, 1000};
    for (int i = 0; i < 4; i++) {
        float g[NC];
        double loss, num = 0, den = 0, mt = 0, ms = 0;
        float tz[NC], sz[NC];
        for (int j = 0; j < NC; j++) {
            mt += t[j] / (double)NC;
            ms += s[j] / (double)NC;
        }
        for (int j = 0; j < NC; j++) { /* the limit holds for zero-mean logits */
            tz[j] = (float)(t[j] - mt);
            sz[j] = (float)(s[j] - ms);
        }
        if (check(mimic_loss_softmax_ce(sz, tz, 1, NC, temps[i], &loss, g), "softmax CE") ||
            check(mimic_loss_logit_l2(sz, tz, 1, NC, &l2, gl2), "logit L2"))
            return 1;
        for (int j = 0; j < NC; j++) {
            num += (NC * (double)g[j] - gl2[j]) * (NC * (double)g[j] - gl2[j]);
            den += (double)gl2[j] * gl2[j];
        }
        printf("  T = %5.0f: relative difference %.4f\n", temps[i], sqrt(num / den));
    }
    printf("\nlibmimic's default loss is therefore the logit L2 (MIMIC_LOSS_L2); distillation\n"
           "(MIMIC_LOSS_KD) and hard labels (MIMIC_LOSS_LABELS) are there to compare.\n");
    return 0;
}
