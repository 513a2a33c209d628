/* progress: per-epoch training output as Keras prints it:
 *
 *   Epoch 1/5
 *   1875/1875 [==============================] - 15s 8ms/step - loss: 0.1483
 *   - accuracy: 0.9557 - val_loss: 0.0491 - val_accuracy: 0.9844 - lr: 0.001
 *
 * (one line; lr is the learning rate of the last step). On a terminal the bar redraws in place a few times a second;
 * otherwise only the finished line is printed. Quiet prints nothing (out may
 * then be NULL). */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int tty, quiet;
    long total;          /* batches in the epoch */
    double last_draw;    /* seconds, of the last redraw */
} progress;

void progress_begin(progress *p, FILE *out, int quiet, int epoch, int epochs,
                    long total);

/* Whether a redraw is due at `seconds` into the epoch (so the caller reads
 * running totals only then). */
int progress_due(const progress *p, double seconds);

void progress_update(progress *p, long done, double seconds, double loss,
                     double accuracy, double lr);

/* The finished line, with validation results when val_loss >= 0. */
void progress_end(progress *p, long done, double seconds, double loss,
                  double accuracy, double val_loss, double val_accuracy, double lr);

#endif
