/* stopping.c: the best epoch and early stopping (see stopping.h). */
#include "train/stopping.h"

#include <math.h>

void stopping_init(stopping *s, int patience)
{
    *s = (stopping){.patience = patience, .best_loss = INFINITY};
}

int stopping_take(stopping *s, long epoch, double val_loss)
{
    if (val_loss < s->best_loss) {
        s->best_loss = val_loss;
        s->best_epoch = epoch;
        s->since_best = 0;
        return 1;
    }
    s->since_best++;
    return 0;
}

int stopping_due(const stopping *s)
{
    return s->patience > 0 && s->since_best >= s->patience;
}
