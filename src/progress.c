/* Progress display, CSV log and Ctrl-C handling for training (see progress.h). */
#include "progress.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t sigint_flag;
static struct sigaction old_sigint;
static int sigint_installed;

static void on_sigint(int sig)
{
    (void)sig;
    sigint_flag = 1;
}

void cli_sigint_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C terminates at once */
    if (sigaction(SIGINT, &sa, &old_sigint) == 0)
        sigint_installed = 1;
}

void cli_sigint_restore(void)
{
    if (sigint_installed)
        sigaction(SIGINT, &old_sigint, NULL);
    sigint_installed = 0;
}

int cli_sigint_seen(void)
{
    return sigint_flag != 0;
}

/* The loss's evaluation criterion on the validation set, as the library reports it. */
static double valid_loss(const mimic_progress *pr)
{
    if (!pr->has_validation ||
        pr->struct_size < offsetof(mimic_progress, validation_loss) + sizeof pr->validation_loss)
        return NAN;
    return pr->validation_loss;
}

void cli_progress_log_header(cli_progress *p)
{
    if (p->log)
        fprintf(p->log,
                "epoch,step,lr,train_loss,valid_logit_l2,valid_kl,valid_hard_ce,valid_accuracy,"
                "valid_agreement,elapsed_s,examples_per_s,valid_loss\n");
}

/* A CSV number, empty for NaN (pandas and spreadsheets read empty as missing). */
static void csv_num(FILE *f, double v, int last)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    fputc(last ? '\n' : ',', f);
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%lu:%02lu", t / 60, t % 60);
}

void cli_progress_end(cli_progress *p)
{
    if (p->bar_drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->bar_drawn = 0;
    }
}

static void draw_bar(cli_progress *p, const mimic_progress *pr)
{
    uint64_t spe = pr->steps_per_epoch ? pr->steps_per_epoch : 1;
    uint64_t in_epoch = pr->step ? (pr->step - 1) % spe + 1 : 0;
    double frac = (double)in_epoch / (double)spe;
    uint64_t total = p->epochs * spe;
    double remaining = total > pr->step ? (double)(total - pr->step) * (double)p->batch : 0;
    double eta = pr->examples_per_s > 0 ? remaining / pr->examples_per_s : NAN;
    char eta_s[32];
    fmt_duration(eta_s, sizeof eta_s, eta);
    char bar[21];
    int full = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < full ? '#' : '.';
    bar[20] = '\0';
    fprintf(stderr, "\r\033[Kepoch %llu/%llu [%s] %3.0f%%  %.0f ex/s  ETA %s  loss %.4g",
            (unsigned long long)pr->epoch, (unsigned long long)p->epochs, bar, frac * 100,
            pr->examples_per_s, eta_s, pr->train_loss);
    fflush(stderr);
    p->bar_drawn = 1;
}

static void epoch_line(cli_progress *p, const mimic_progress *pr)
{
    cli_progress_end(p);
    fprintf(stderr, "epoch %llu/%llu  loss %.5g", (unsigned long long)pr->epoch,
            (unsigned long long)p->epochs, pr->train_loss);
    if (pr->has_validation) {
        const mimic_metrics *v = &pr->validation;
        double vl = valid_loss(pr);
        if (isfinite(vl))
            fprintf(stderr, "  valid %s %.5g", p->criterion, vl);
        if (isfinite(v->accuracy))
            fprintf(stderr, "  valid acc %.2f%%", 100 * v->accuracy);
        if (isfinite(v->agreement))
            fprintf(stderr, "  agreement %.2f%%", 100 * v->agreement);
    }
    if (isfinite(pr->train.accuracy))
        fprintf(stderr, "  train acc %.2f%%", 100 * pr->train.accuracy);
    fprintf(stderr, "  lr %.3g  %.1f s  %.0f ex/s\n", pr->learning_rate, pr->elapsed_s,
            pr->examples_per_s);
    fflush(stderr);
}

static void record(cli_progress *p, const mimic_progress *pr)
{
    if (p->n_rec == p->cap_rec) {
        size_t cap = p->cap_rec ? 2 * p->cap_rec : 64;
        svg_epoch *r = realloc(p->rec, cap * sizeof *r);
        if (!r)
            return; /* the plot then misses epochs; training goes on */
        p->rec = r;
        p->cap_rec = cap;
    }
    svg_epoch *e = &p->rec[p->n_rec++];
    e->epoch = (double)pr->epoch;
    e->train_loss = pr->train_loss;
    e->valid_loss = valid_loss(pr);
    e->valid_accuracy = pr->has_validation ? pr->validation.accuracy : NAN;
    e->valid_agreement = pr->has_validation ? pr->validation.agreement : NAN;
    e->train_accuracy = pr->train.accuracy;
}

int cli_progress_cb(const mimic_progress *pr, void *user_data)
{
    cli_progress *p = user_data;
    if (pr->epoch_end) {
        record(p, pr);
        if (p->log) {
            const mimic_metrics *v = &pr->validation;
            int hv = pr->has_validation;
            fprintf(p->log, "%llu,%llu,", (unsigned long long)pr->epoch,
                    (unsigned long long)pr->step);
            csv_num(p->log, pr->learning_rate, 0);
            csv_num(p->log, pr->train_loss, 0);
            csv_num(p->log, hv ? v->logit_l2 : NAN, 0);
            csv_num(p->log, hv ? v->kl : NAN, 0);
            csv_num(p->log, hv ? v->hard_ce : NAN, 0);
            csv_num(p->log, hv ? v->accuracy : NAN, 0);
            csv_num(p->log, hv ? v->agreement : NAN, 0);
            csv_num(p->log, pr->elapsed_s, 0);
            csv_num(p->log, pr->examples_per_s, 0);
            csv_num(p->log, valid_loss(pr), 1);
            if (fflush(p->log) != 0 || ferror(p->log))
                p->io_error = 1;
        }
        if (!p->quiet)
            epoch_line(p, pr);
    } else if (!p->quiet && p->tty) {
        draw_bar(p, pr);
    }
    return cli_sigint_seen() ? 1 : 0;
}

void cli_progress_free(cli_progress *p)
{
    free(p->rec);
    p->rec = NULL;
    p->n_rec = p->cap_rec = 0;
}
