/* stopping: which epoch had the lowest val_loss, and when to stop for it —
 * Keras's EarlyStopping(patience=P, min_delta=0) and the record behind
 * ModelCheckpoint(save_best_only=True).
 *
 * An epoch improves when its val_loss is below every earlier one (strictly;
 * a NaN never improves). The record is part of the training state: a
 * checkpoint holds it, so a resumed run stops where an uninterrupted one
 * would. */
#ifndef STOPPING_H
#define STOPPING_H

typedef struct {
    int patience;       /* epochs without improvement that stop; 0: never */
    double best_loss;   /* the lowest val_loss so far; INFINITY before any */
    long best_epoch;    /* its epoch, 1-based; 0 before any */
    long since_best;    /* epochs since it */
} stopping;

/* No epoch seen yet. */
void stopping_init(stopping *s, int patience);

/* Takes epoch `epoch`'s val_loss; returns 1 when it is the new best. */
int stopping_take(stopping *s, long epoch, double val_loss);

/* Whether the patience has run out. */
int stopping_due(const stopping *s);

#endif
