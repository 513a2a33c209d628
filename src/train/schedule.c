/* schedule.c: the learning-rate schedules (see schedule.h), one row each. */
#include "train/schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct schedule_kind {
    const char *name;
    int needs_total;
    /* The rate at step t of n steps, the schedule's own count. */
    double (*rate)(const schedule *s, double lr, long t, long per_epoch, long n);
};

static double constant_rate(const schedule *s, double lr, long t, long per_epoch, long n)
{
    (void)s, (void)t, (void)per_epoch, (void)n;
    return lr;
}

static double step_rate(const schedule *s, double lr, long t, long per_epoch, long n)
{
    (void)n;
    return lr * pow(s->gamma, (double)(t / (s->every * per_epoch)));
}

static double cosine_rate(const schedule *s, double lr, long t, long per_epoch, long n)
{
    (void)s, (void)per_epoch;
    return lr * (1 + cos(M_PI * (double)t / (double)n)) / 2;
}

/* From `from` at pct 0 to `to` at pct 1 along half a cosine. */
static double anneal(double from, double to, double pct)
{
    return to + (from - to) / 2 * (cos(M_PI * pct) + 1);
}

/* OneCycleLR's two phases, with its step counts in float as it has them. */
static double onecycle_rate(const schedule *s, double lr, long t, long per_epoch, long n)
{
    (void)s, (void)per_epoch;
    double initial = lr / 25, min = initial / 1e4;
    double up_end = 0.3 * (double)n - 1, down_end = (double)n - 1;
    if ((double)t <= up_end) /* up_end > 0 here unless t = 0 = up_end */
        return anneal(initial, lr, up_end > 0 ? (double)t / up_end : 1);
    return anneal(lr, min, ((double)t - up_end) / (down_end - up_end));
}

static const schedule_kind kinds[] = {
    {"constant", 0, constant_rate},
    {"step", 0, step_rate},
    {"cosine", 1, cosine_rate},
    {"onecycle", 1, onecycle_rate},
};
enum { KINDS = sizeof kinds / sizeof kinds[0] };

/* A zeroed schedule is the constant rate. */
static const schedule_kind *kind_of(const schedule *s) { return s->kind ? s->kind : kinds; }

cnn_status schedule_parse(const char *text, schedule *s, cnn_error *err)
{
    static const char forms[] = "constant, step:E:G (multiply by G every E epochs), "
                                "cosine or onecycle";
    const schedule_kind *k = NULL;
    size_t len = strcspn(text, ":");
    for (int i = 0; i < KINDS && !k; i++)
        if (strlen(kinds[i].name) == len && !strncmp(text, kinds[i].name, len))
            k = &kinds[i];
    long every = 0;
    double gamma = 0;
    if (k == &kinds[1]) {
        char *end;
        const char *p = text + len;
        every = *p == ':' ? strtol(p + 1, &end, 10) : 0;
        if (every >= 1 && every <= 100000 && *end == ':') {
            const char *g = end + 1;
            gamma = strtod(g, &end);
            if (end == g || *end || !(gamma > 0) || gamma > 1e6)
                k = NULL;
        } else {
            k = NULL;
        }
    } else if (k && text[len]) {
        k = NULL;
    }
    if (!k)
        return cnn_fail(err, CNN_ERR_INPUT, "--lr-schedule: '%s' is not one of %s (G "
                        "a factor above 0)", text, forms);
    s->kind = k;
    s->every = every;
    s->gamma = gamma;
    return CNN_OK;
}

void schedule_text(const schedule *s, char *buf, size_t size)
{
    if (kind_of(s) == &kinds[1])
        snprintf(buf, size, "step:%ld:%.17g", s->every, s->gamma);
    else
        snprintf(buf, size, "%s", kind_of(s)->name);
}

int schedule_needs_total(const schedule *s) { return kind_of(s)->needs_total; }

double schedule_rate(const schedule *s, double lr, long t, long per_epoch, long total)
{
    if (t < s->warmup)
        return lr * (double)(t + 1) / (double)s->warmup;
    long n = total - s->warmup;
    return kind_of(s)->rate(s, lr, t - s->warmup, per_epoch, n > 0 ? n : 1);
}
