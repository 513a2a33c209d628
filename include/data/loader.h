/* loader: streams shuffled batches from a data set's files on disk.
 *
 * A background thread reads the next batches into a small ring of host
 * buffers while the caller computes on the current one. Host memory is the
 * ring's, whatever the data set's size. Each epoch visits the first `limit`
 * samples once each, in the order shuffle_at(seed, epoch) gives; the last
 * batch of an epoch may be partial (it is trained, not dropped). Samples
 * come from a split of any format (dataset.h), read one record at a time.
 *
 * Use: loader_open, then per epoch loader_start(epoch, first_batch) and
 * loader_next/loader_release until loader_next yields NULL. */
#ifndef LOADER_H
#define LOADER_H

#include <stdint.h>

#include "util/cnn_error.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/normalize.h"

typedef struct {
    float *images;    /* (count, c, h, w) of the split's shape, in [0, 1]
                         unless normalised (loader_set_norm) */
    int32_t *labels;  /* count */
    int count;        /* samples here: the batch's, or this process's share */
    int total;        /* samples in the whole batch: batch size, or fewer last */
    int first;        /* the first sample's place in the whole batch */
    long index;       /* batch number within the epoch */
} loader_batch;

typedef struct loader loader;

/* `limit` 0 means every sample of the split; `shuffle` 0 keeps file order
 * (for evaluation). `slots` is the ring's size (at least 2). */
cnn_status loader_open(loader **out, const dataset_split *split, int batch,
                       uint64_t limit, uint64_t seed, int shuffle, int slots,
                       cnn_error *err);

/* Data-parallel training splits each batch of `total` samples into `parts`
 * slices; slice i is samples loader_slice(total, i, parts) up to
 * loader_slice(total, i + 1, parts): as even as can be, in order. */
int loader_slice(int total, int i, int parts);

/* Makes l read only slices first .. first + n - 1 of every batch (this
 * process's share) instead of the whole batch. Before loader_start; a bad
 * range is CNN_ERR_INPUT. */
cnn_status loader_set_share(loader *l, int first, int n, int parts, cnn_error *err);

/* Makes l normalise every sample it loads with n (normalize.h), as the
 * data a network was trained on was; n's channels must be the split's.
 * Before loader_start. */
cnn_status loader_set_norm(loader *l, const norm_stats *n, cnn_error *err);

/* Makes l transform every image it reads (training only): sample r of
 * epoch e with the draws of augment_key(seed, e, r), r its index in the
 * split. Before loader_start. */
void loader_set_augment(loader *l, const augment *a);

/* Samples per epoch and batches per epoch. */
uint64_t loader_samples(const loader *l);
long loader_batches(const loader *l);

/* Begins streaming epoch `epoch` from batch `first_batch` (0, or where a
 * resumed run left off). Any epoch still streaming is stopped first. */
cnn_status loader_start(loader *l, uint64_t epoch, long first_batch,
                        cnn_error *err);

/* The next batch, waiting for it if needed; *out is NULL at the end of the
 * epoch. The batch stays valid until loader_release. A read failure in the
 * background thread is reported here. */
cnn_status loader_next(loader *l, loader_batch **out, cnn_error *err);
void loader_release(loader *l, loader_batch *b);

void loader_close(loader *l);

#endif
