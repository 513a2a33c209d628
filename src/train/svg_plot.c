/* svg_plot.c: see svg_plot.h. Drawn by hand: the picture is small and fixed,
 * and a plotting library would be a dependency for three panels of lines. */
#include "train/svg_plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/atomic_file.h"

/* Layout in SVG user units (pixels at 100%). */
enum {
    HEIGHT = 460,
    PANEL_WIDTH = 500,
    PLOT_LEFT = 82,      /* from the panel's left edge: tick labels, y label */
    PLOT_RIGHT = 22,     /* from the panel's right edge */
    PLOT_TOP = 96,
    PLOT_BOTTOM = HEIGHT - 64,
};

static const char train_colour[] = "#1f77b4";
static const char val_colour[] = "#e8710a";

/* What a panel draws: the first two have a training and a validation
 * series, the rate one series. */
typedef enum { PANEL_LOSS, PANEL_ACCURACY, PANEL_RATE } panel_kind;

static const char *const panel_ids[] = {"loss", "accuracy", "lr"};
static const char *const panel_titles[] = {"Loss", "Accuracy", "Learning rate"};

/* A linear axis: the data range [lo, hi] drawn onto pixels [p0, p1], with
 * ticks every `step` from `first` to `last`, labelled with `decimals`. */
typedef struct {
    double lo, hi, p0, p1;
    double step, first, last;
    int decimals;
} axis;

static double axis_map(const axis *a, double v)
{
    return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

/* 1, 2 or 5 times a power of ten, near range / ticks. */
static double nice_step(double range, int ticks)
{
    double raw = range / ticks;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int step_decimals(double step)
{
    return step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

/* Epochs: integer ticks within the logged epochs, a little padding so the
 * end markers sit inside the frame. */
static axis epoch_axis(const metrics_row *rows, int count, double p0, double p1)
{
    double first = rows[0].epoch, last = rows[count - 1].epoch;
    axis a = {.p0 = p0, .p1 = p1, .decimals = 0};
    if (first == last) {
        a.lo = first - 1;
        a.hi = first + 1;
        a.step = 1;
        a.first = a.last = first;
        return a;
    }
    double pad = (last - first) * 0.03;
    a.lo = first - pad;
    a.hi = last + pad;
    a.step = fmax(1, nice_step(last - first, 8));
    a.first = ceil(first / a.step) * a.step;
    a.last = floor(last / a.step) * a.step;
    return a;
}

/* A value axis spanning [min, max] out to the ticks around it; `unit` keeps
 * it within [0, 1] when the data is (accuracies). */
static axis value_axis(double min, double max, int unit, double p0, double p1)
{
    if (!(min <= max)) { /* no finite value at all */
        min = 0;
        max = 1;
    }
    if (max - min < 1e-9 * fmax(1, fabs(max))) {
        double pad = max != 0 ? fabs(max) * 0.05 : 0.5;
        min -= pad;
        max += pad;
    }
    /* A margin, so that a value on a tick line stays off the frame. */
    double margin = (max - min) * 0.04;
    min -= margin;
    max += margin;
    axis a = {.p0 = p0, .p1 = p1};
    a.step = nice_step(max - min, 5);
    a.lo = floor(min / a.step + 1e-9) * a.step;
    a.hi = ceil(max / a.step - 1e-9) * a.step;
    if (min + margin >= 0 && a.lo < 0)
        a.lo = 0;
    if (unit && max - margin <= 1 && a.hi > 1)
        a.hi = 1;
    a.first = a.lo;
    a.last = a.hi;
    a.decimals = step_decimals(a.step);
    return a;
}

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one (or is a
 * character XML 1.0 forbids: surrogates, U+FFFE, U+FFFF). */
static int utf8_length(const unsigned char *s)
{
    int n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
          : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F) ||
        (s[0] == 0xEF && s[1] == 0xBF && s[2] >= 0xBE))
        return 0;
    return n;
}

/* Writes text as XML character data: markup characters escaped, control
 * characters and invalid UTF-8 replaced by U+FFFD. */
static void put_text(FILE *f, const char *text)
{
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        int n;
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (*s < 0x80 && *s >= 0x20) {
                fputc(*s, f);
            } else if (*s >= 0x80 && (n = utf8_length(s))) {
                fwrite(s, 1, (size_t)n, f);
                s += n;
                continue;
            } else {
                fputs("\xEF\xBF\xBD", f);
            }
        }
        s++;
    }
}

static double metric(const metrics_row *r, panel_kind kind, int validation)
{
    switch (kind) {
    case PANEL_LOSS: return validation ? r->val_loss : r->loss;
    case PANEL_ACCURACY: return validation ? r->val_accuracy : r->accuracy;
    default: return r->lr;
    }
}

static void grid_and_ticks(FILE *f, const axis *x, const axis *y)
{
    fputs("<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n", f);
    for (double v = y->first; v <= y->last + y->step * 1e-6; v += y->step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                x->p0, axis_map(y, v), x->p1, axis_map(y, v));
    for (double v = x->first; v <= x->last + 1e-6; v += x->step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                axis_map(x, v), y->p1, axis_map(x, v), y->p0);
    fputs("</g>\n<g stroke=\"#444\" stroke-width=\"1\">\n", f);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            x->p0, y->p0, x->p1, y->p0);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            x->p0, y->p0, x->p0, y->p1);
    for (double v = y->first; v <= y->last + y->step * 1e-6; v += y->step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                x->p0 - 5, axis_map(y, v), x->p0, axis_map(y, v));
    for (double v = x->first; v <= x->last + 1e-6; v += x->step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                axis_map(x, v), y->p0, axis_map(x, v), y->p0 + 5);
    fputs("</g>\n<g font-size=\"12\" fill=\"#333\">\n", f);
    for (double v = y->first; v <= y->last + y->step * 1e-6; v += y->step)
        /* + 0.0 turns a rounding -0 into 0 */
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n",
                x->p0 - 8, axis_map(y, v) + 4, y->decimals,
                fabs(v) < y->step * 1e-6 ? 0.0 : v);
    for (double v = x->first; v <= x->last + 1e-6; v += x->step)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n",
                axis_map(x, v), y->p0 + 20, v);
    fputs("</g>\n", f);
}

/* One series: polylines through the finite values (broken where a value is
 * not finite), then a marker on each, filled for training and hollow for
 * validation so the two differ without colour too. */
static void series(FILE *f, const metrics_row *rows, int count, panel_kind kind,
                   int validation, const axis *x, const axis *y)
{
    const char *colour = validation ? val_colour : train_colour;
    const char *name = validation ? "validation" : "train";
    const char *dash = validation ? " stroke-dasharray=\"7 4\"" : "";
    double r = count <= 30 ? 3.5 : count <= 60 ? 2.6 : 1.8;
    int in_line = 0;
    for (int i = 0; i < count; i++) {
        double v = metric(&rows[i], kind, validation);
        if (!isfinite(v)) {
            if (in_line)
                fputs("\"/>\n", f);
            in_line = 0;
            continue;
        }
        if (!in_line)
            fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" "
                    "stroke-width=\"2\" stroke-linejoin=\"round\"%s points=\"",
                    name, colour, dash);
        fprintf(f, "%s%.1f,%.1f", in_line ? " " : "", axis_map(x, rows[i].epoch),
                axis_map(y, v));
        in_line = 1;
    }
    if (in_line)
        fputs("\"/>\n", f);
    fprintf(f, "<g fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\">\n",
            validation ? "white" : colour, colour);
    for (int i = 0; i < count; i++) {
        double v = metric(&rows[i], kind, validation);
        if (isfinite(v))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n",
                    axis_map(x, rows[i].epoch), axis_map(y, v), r);
    }
    fputs("</g>\n", f);
}

static void legend_entry(FILE *f, double x, double y, int validation)
{
    const char *colour = validation ? val_colour : train_colour;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\"%s/>\n", x, y, x + 30, y, colour,
            validation ? " stroke-dasharray=\"7 4\"" : "");
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" stroke=\"%s\" "
            "stroke-width=\"1.5\"/>\n", x + 15, y, validation ? "white" : colour,
            colour);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#333\">%s</text>\n",
            x + 36, y + 4, validation ? "validation" : "train");
}

/* Panel `kind` at place `at` from the left. */
static void panel(FILE *f, const metrics_row *rows, int count, panel_kind kind, int at)
{
    const char *name = panel_ids[kind];
    int two = kind != PANEL_RATE;
    double left = at * PANEL_WIDTH + PLOT_LEFT;
    double right = (at + 1) * PANEL_WIDTH - PLOT_RIGHT;
    double min = INFINITY, max = -INFINITY;
    for (int i = 0; i < count; i++)
        for (int validation = 0; validation <= two; validation++) {
            double v = metric(&rows[i], kind, validation);
            if (isfinite(v)) {
                min = fmin(min, v);
                max = fmax(max, v);
            }
        }
    axis x = epoch_axis(rows, count, left, right);
    axis y = value_axis(min, max, kind == PANEL_ACCURACY, PLOT_BOTTOM, PLOT_TOP);

    fprintf(f, "<g id=\"%s-panel\">\n", name);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"15\" font-weight=\"bold\" "
            "fill=\"#222\">%s</text>\n", left, PLOT_TOP - 22, panel_titles[kind]);
    if (two) {
        legend_entry(f, right - 190, PLOT_TOP - 26, 0);
        legend_entry(f, right - 108, PLOT_TOP - 26, 1);
    }
    grid_and_ticks(f, &x, &y);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"13\" fill=\"#222\" "
            "text-anchor=\"middle\">epoch</text>\n", (left + right) / 2,
            PLOT_BOTTOM + 44);
    fprintf(f, "<text transform=\"translate(%.1f,%d) rotate(-90)\" font-size=\"13\" "
            "fill=\"#222\" text-anchor=\"middle\">%s</text>\n",
            left - 60, (PLOT_TOP + PLOT_BOTTOM) / 2, kind == PANEL_RATE ? "rate at the "
            "epoch's end" : name);
    series(f, rows, count, kind, 0, &x, &y);
    if (two)
        series(f, rows, count, kind, 1, &x, &y);
    fputs("</g>\n", f);
}

cnn_status svg_plot_write(const char *path, const metrics_row *rows, int count,
                          const char *title, cnn_error *err)
{
    if (count < 1 || !rows)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: no epochs to plot", path);
    atomic_file a;
    cnn_status s = atomic_file_open(&a, path, err);
    if (s)
        return s;
    /* The rate's panel when the log has one (an older log does not). */
    int panels = 2;
    for (int i = 0; i < count && panels == 2; i++)
        panels += isfinite(rows[i].lr) != 0;
    const int width = panels * PANEL_WIDTH;
    FILE *f = a.f;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, "
            "sans-serif\">\n", width, HEIGHT, width, HEIGHT);
    fputs("<title>", f);
    put_text(f, title);
    fputs("</title>\n", f);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, HEIGHT);
    fprintf(f, "<text x=\"%d\" y=\"34\" font-size=\"19\" font-weight=\"bold\" "
            "fill=\"#111\" text-anchor=\"middle\">", width / 2);
    put_text(f, title);
    fputs("</text>\n", f);
    for (int k = 0; k < panels; k++)
        panel(f, rows, count, (panel_kind)k, k);
    fputs("</svg>\n", f);
    return atomic_file_commit(&a, err);
}
