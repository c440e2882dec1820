/* SVG learning curves (see svg.h). */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIG_W 1000
#define FIG_H 440
#define PANEL_W 500
#define PLOT_X 70 /* plot area inside a panel */
#define PLOT_Y 60
#define PLOT_W 400
#define PLOT_H 300

typedef struct series {
    const char *name;
    const char *color;
    const char *dash; /* stroke-dasharray or NULL */
    size_t field;     /* offsetof in svg_epoch */
    double factor;    /* 100 for accuracies */
} series;

static double value(const svg_epoch *e, const series *s)
{
    double v;
    memcpy(&v, (const char *)e + s->field, sizeof v);
    return v * s->factor;
}

/* A "nice" step (1, 2, 2.5 or 5 times a power of ten) for about `target` intervals. */
static double nice_step(double span, int target)
{
    double raw = span / target;
    double p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    double nice = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    return nice * p;
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6)
        snprintf(buf, n, "%.2g", v);
    else
        snprintf(buf, n, "%.*f", decimals, v);
}

typedef struct axis {
    double lo, hi, step;
} axis;

static axis make_axis(double lo, double hi, int target, int integer_steps)
{
    axis a;
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    a.step = nice_step(hi - lo, target);
    if (integer_steps && a.step < 1)
        a.step = 1;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (a.hi <= a.lo)
        a.hi = a.lo + a.step;
    return a;
}

static void panel(FILE *f, int ox, const char *title, const char *ylabel, const svg_epoch *e,
                  size_t n, const series *ss, size_t ns, int clamp_0_100)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    size_t present = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < ns; s++) {
            double v = value(&e[i], &ss[s]);
            if (!isfinite(v))
                continue;
            present++;
            if (e[i].epoch < xmin)
                xmin = e[i].epoch;
            if (e[i].epoch > xmax)
                xmax = e[i].epoch;
            if (v < ymin)
                ymin = v;
            if (v > ymax)
                ymax = v;
        }
    }
    if (!present) {
        xmin = 0;
        xmax = 1;
        ymin = 0;
        ymax = 1;
    }
    if (xmin > 0 && xmin <= 1)
        xmin = 0; /* start the epoch axis at 0 */
    axis ax = make_axis(xmin, xmax, 8, 1);
    if (!clamp_0_100 && ymin > 0 && ymin < 0.25 * ymax)
        ymin = 0; /* losses: show the floor when it is close */
    axis ay = make_axis(ymin, ymax, 6, 0);
    if (clamp_0_100) {
        if (ay.hi > 100)
            ay.hi = 100;
        if (ay.lo < 0)
            ay.lo = 0;
    }
    int px = ox + PLOT_X, py = PLOT_Y;
#define SX(x) (px + ((x)-ax.lo) / (ax.hi - ax.lo) * PLOT_W)
#define SY(y) (py + PLOT_H - ((y)-ay.lo) / (ay.hi - ay.lo) * PLOT_H)

    fprintf(f, "<g class=\"panel\">\n");
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"15\" "
            "font-weight=\"bold\">%s</text>\n",
            px + PLOT_W / 2, py - 22, title);
    fprintf(
        f,
        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fcfcfc\" stroke=\"none\"/>\n",
        px, py, PLOT_W, PLOT_H);
    /* grid and ticks */
    char buf[32];
    for (double t = ax.lo; t <= ax.hi + ax.step * 1e-6; t += ax.step) {
        double x = SX(t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>\n", x,
                py, x, py + PLOT_H);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x,
                py + PLOT_H, x, py + PLOT_H + 5);
        fmt_tick(buf, sizeof buf, t, ax.step);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
                x, py + PLOT_H + 18, buf);
    }
    for (double t = ay.lo; t <= ay.hi + ay.step * 1e-6; t += ay.step) {
        double y = SY(t);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", px,
                y, px + PLOT_W, y);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n", px - 5,
                y, px, y);
        fmt_tick(buf, sizeof buf, t, ay.step);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%s</text>\n",
                px - 8, y + 4, buf);
    }
    /* axes */
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
            px, py + PLOT_H, px + PLOT_W, py + PLOT_H);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
            px, py, px, py + PLOT_H);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">epoch</text>\n",
            px + PLOT_W / 2, py + PLOT_H + 40);
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" "
            "transform=\"rotate(-90 %d %d)\">%s</text>\n",
            ox + 18, py + PLOT_H / 2, ox + 18, py + PLOT_H / 2, ylabel);
    /* series; the legend goes top right for losses (they fall) and bottom right for
     * accuracies (they rise), where the curves usually are not */
    int n_present = 0;
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < n; i++)
            if (isfinite(value(&e[i], &ss[s]))) {
                n_present++;
                break;
            }
    int legend_row = 0;
    int legend_y0 =
        clamp_0_100 ? py + PLOT_H - 10 - 18 * (n_present > 0 ? n_present - 1 : 0) : py + 14;
    for (size_t s = 0; s < ns; s++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            cnt += isfinite(value(&e[i], &ss[s])) != 0;
        if (!cnt)
            continue;
        const char *dash = ss[s].dash ? ss[s].dash : "none";
        /* a path broken at missing points */
        fprintf(f,
                "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\" d=\"",
                ss[s].color, dash);
        int pen = 0;
        for (size_t i = 0; i < n; i++) {
            double v = value(&e[i], &ss[s]);
            if (!isfinite(v)) {
                pen = 0;
                continue;
            }
            fprintf(f, "%s%.1f %.1f ", pen ? "L" : "M", SX(e[i].epoch), SY(v));
            pen = 1;
        }
        fprintf(f, "\"/>\n");
        if (n <= 60) {
            for (size_t i = 0; i < n; i++) {
                double v = value(&e[i], &ss[s]);
                if (isfinite(v))
                    fprintf(f,
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>%s, "
                            "epoch %g: %.4g</title></circle>\n",
                            SX(e[i].epoch), SY(v), ss[s].color, ss[s].name, e[i].epoch, v);
            }
        }
        int lx = px + PLOT_W - 170, ly = legend_y0 + 18 * legend_row++;
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\" "
                "stroke-dasharray=\"%s\"/>\n",
                lx, ly - 4, lx + 22, ly - 4, ss[s].color, dash);
        fprintf(f, "<text class=\"legend\" x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n", lx + 28,
                ly, ss[s].name);
    }
    if (!present)
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">no "
                "data</text>\n",
                px + PLOT_W / 2, py + PLOT_H / 2);
    fprintf(f, "</g>\n");
#undef SX
#undef SY
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Minimal XML escaping for the caller's title text. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int svg_write_curves(const char *path, const char *title, const char *loss_name, const svg_epoch *e,
                     size_t n, char *err, size_t errlen)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return fail(err, errlen, "%s: out of memory", path);
    snprintf(tmp, pl + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int en = errno;
        free(tmp);
        return fail(err, errlen, "%s: cannot write: %s", path, strerror(en));
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d "
            "%d\" "
            "font-family=\"Helvetica, Arial, sans-serif\">\n",
            FIG_W, FIG_H, FIG_W, FIG_H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<title>");
    put_escaped(f, title);
    fprintf(f, "</title>\n<text x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">",
            FIG_W / 2);
    put_escaped(f, title);
    fprintf(f, "</text>\n");

    const series loss[] = {
        {"training loss", "#1f77b4", NULL, offsetof(svg_epoch, train_loss), 1},
        {"validation loss", "#d62728", "6 3", offsetof(svg_epoch, valid_loss), 1},
    };
    const series acc[] = {
        {"training accuracy", "#1f77b4", NULL, offsetof(svg_epoch, train_accuracy), 100},
        {"validation accuracy", "#d62728", "6 3", offsetof(svg_epoch, valid_accuracy), 100},
        {"agreement with teacher", "#2ca02c", "2 3", offsetof(svg_epoch, valid_agreement), 100},
    };
    char ylabel[96];
    snprintf(ylabel, sizeof ylabel, "%s", loss_name);
    panel(f, 0, "Loss", ylabel, e, n, loss, 2, 0);
    panel(f, PANEL_W, "Accuracy", "accuracy (%)", e, n, acc, 3, 1);
    fprintf(f, "</svg>\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        free(tmp);
        return fail(err, errlen, "%s: write failed", path);
    }
    if (rename(tmp, path) != 0) {
        int en = errno;
        unlink(tmp);
        free(tmp);
        return fail(err, errlen, "%s: cannot rename the temporary file into place: %s", path,
                    strerror(en));
    }
    free(tmp);
    return 0;
}
