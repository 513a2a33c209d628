/* progress.c: the Keras-style progress bar (see progress.h). */
#include "train/progress.h"

#include <unistd.h>

#define BAR 30
#define REDRAW_SECONDS 0.25

void progress_begin(progress *p, FILE *out, int quiet, int epoch, int epochs,
                    long total)
{
    p->out = out;
    p->quiet = quiet;
    p->tty = !quiet && isatty(fileno(out));
    p->total = total;
    p->last_draw = -1;
    if (!quiet) {
        fprintf(out, "Epoch %d/%d\n", epoch, epochs);
        fflush(out);
    }
}

int progress_due(const progress *p, double seconds)
{
    return !p->quiet && p->tty && seconds - p->last_draw >= REDRAW_SECONDS;
}

static void bar(const progress *p, long done, char *out)
{
    int filled = p->total ? (int)(BAR * done / p->total) : BAR;
    for (int i = 0; i < BAR; i++)
        out[i] = i < filled ? '=' : '.';
    if (filled < BAR && filled > 0)
        out[filled - 1] = '>';
    out[BAR] = '\0';
}

/* "15s 8ms/step" when done, "ETA: 12s" while running, as Keras. */
static void timing(const progress *p, long done, double seconds, int finished,
                   char *out, size_t size)
{
    double per_step = done ? seconds / (double)done : 0;
    if (finished)
        snprintf(out, size, "%.0fs %.0fms/step", seconds, per_step * 1e3);
    else
        snprintf(out, size, "ETA: %.0fs", per_step * (double)(p->total - done));
}

void progress_update(progress *p, long done, double seconds, double loss,
                     double accuracy, double lr)
{
    if (p->quiet || !p->tty)
        return;
    char b[BAR + 1], t[64];
    bar(p, done, b);
    timing(p, done, seconds, 0, t, sizeof t);
    int width = 1;
    for (long n = p->total; n >= 10; n /= 10)
        width++;
    fprintf(p->out, "\r%*ld/%ld [%s] - %s - loss: %.4f - accuracy: %.4f - lr: %.3g\033[K",
            width, done, p->total, b, t, loss, accuracy, lr);
    fflush(p->out);
    p->last_draw = seconds;
}

void progress_end(progress *p, long done, double seconds, double loss,
                  double accuracy, double val_loss, double val_accuracy, double lr)
{
    if (p->quiet)
        return;
    char b[BAR + 1], t[64];
    bar(p, done, b);
    timing(p, done, seconds, 1, t, sizeof t);
    fprintf(p->out, "%s%ld/%ld [%s] - %s - loss: %.4f - accuracy: %.4f", p->tty ? "\r" : "",
            done, p->total, b, t, loss, accuracy);
    if (val_loss >= 0)
        fprintf(p->out, " - val_loss: %.4f - val_accuracy: %.4f", val_loss, val_accuracy);
    fprintf(p->out, " - lr: %.3g%s\n", lr, p->tty ? "\033[K" : "");
    fflush(p->out);
}
