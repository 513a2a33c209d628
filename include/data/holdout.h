/* holdout: the validation split — the last part of a training split held
 * out, before any shuffling, as Keras's validation_split does.
 *
 * Of the first `kept` samples (those --limit keeps), the first
 * floor(kept * (1 - fraction)) train and the rest are held out: Keras's
 * count. Each side is a split of its own (the same files, a range of their
 * records), so the loader streams either as it streams a whole split. */
#ifndef HOLDOUT_H
#define HOLDOUT_H

#include <stdint.h>

#include "data/dataset.h"
#include "util/cnn_error.h"

/* Samples first .. first + count - 1 of s, as a split; the range must lie
 * within s. */
dataset_split holdout_range(const dataset_split *s, uint64_t first, uint64_t count);

/* Divides the first `kept` (at most all->count) samples of all into *train and *held by
 * `fraction` in (0, 1). A side left with no sample is CNN_ERR_INPUT naming
 * both counts. */
cnn_status holdout_divide(const dataset_split *all, uint64_t kept, double fraction,
                          dataset_split *train, dataset_split *held, cnn_error *err);

#endif
