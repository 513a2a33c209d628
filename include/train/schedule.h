/* schedule: the learning rate of every training step.
 *
 * A schedule is one of the rows of schedule.c's table, written as
 * --lr-schedule takes it, and an optional linear warmup. Each follows
 * PyTorch's definition, with t the 0-based step, T the run's total steps
 * (epochs x batches per epoch) and lr the base rate (--lr):
 *   constant   lr
 *   step:E:G   lr G^floor(t / (E batches per epoch))          (StepLR)
 *   cosine     lr (1 + cos(pi t / T)) / 2, eta_min 0         (CosineAnnealingLR)
 *   onecycle   OneCycleLR with max_lr lr, total_steps T, pct_start 0.3,
 *              cosine annealing, div_factor 25, final_div_factor 1e4
 * With --warmup N the first N steps take lr (t + 1) / N; the schedule then
 * starts at step N as if training began there, over the T - N steps left
 * (PyTorch's SequentialLR of LinearLR(1/N, 1, N - 1) and the schedule,
 * milestone N). The rate is a function of the step alone, so a resumed run
 * continues it exactly. Computed in double, handed to the device in float. */
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include <stddef.h>

#include "util/cnn_error.h"

typedef struct schedule_kind schedule_kind;

/* Zeroed, the constant rate without warmup. */
typedef struct {
    const schedule_kind *kind;
    long every;    /* step:E:G: E, epochs between changes */
    double gamma;  /* step:E:G: G */
    long warmup;   /* steps of linear warmup; 0: none */
} schedule;

/* Reads --lr-schedule's text ("constant", "step:E:G", "cosine",
 * "onecycle") into s, keeping s->warmup. A bad text is CNN_ERR_INPUT naming
 * the forms. */
cnn_status schedule_parse(const char *text, schedule *s, cnn_error *err);

/* The text schedule_parse reads back to s (without the warmup). */
void schedule_text(const schedule *s, char *buf, size_t size);

/* Whether the rate depends on the run's total steps (cosine, onecycle), so
 * a resumed run must keep the epochs it was planned for. */
int schedule_needs_total(const schedule *s);

/* The rate of step t (0-based) of a run of `total` steps whose epochs are
 * `per_epoch` steps each, from the base rate lr. */
double schedule_rate(const schedule *s, double lr, long t, long per_epoch, long total);

#endif
