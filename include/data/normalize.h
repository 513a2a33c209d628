/* normalize: per-channel input statistics of a training set (`train
 * --normalize`), and applying them to inputs.
 *
 * A pixel x of channel c, a byte scaled to [0, 1] as the loader and pnm.h
 * give it, becomes (x - mean[c]) / std[c], in float, in that order, so
 * tools/torch-eval.py reproduces it to the bit. mean and std are the mean
 * and the population standard deviation (divided by N, not N - 1) of every
 * pixel of channel c over the first `limit` training samples, the samples
 * training uses. A constant channel (std 0) keeps std 1: it is only
 * shifted, never divided by zero. Without statistics (channels 0) inputs
 * stay x exactly. */
#ifndef NORMALIZE_H
#define NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "util/cnn_error.h"
#include "data/dataset.h"

/* IDX images have one channel, CIFAR-10's and PPMs three. */
#define NORM_MAX_CHANNELS 3

typedef struct {
    int channels; /* 0: no normalisation */
    float mean[NORM_MAX_CHANNELS], std[NORM_MAX_CHANNELS];
} norm_stats;

/* One streaming pass over the first `limit` samples of split (0: all):
 * a count of every byte value per channel, from which the mean and the
 * variance follow in double, exactly but for the final rounding. A read
 * failure is CNN_ERR_INPUT naming the file. */
cnn_status norm_compute(const dataset_split *split, uint64_t limit, norm_stats *out,
                        cnn_error *err);

/* norm_compute's result, from the cache folder (cache.h) when an entry for
 * these files and this limit is there (*cached 1), else computed and
 * stored there (*cached 0). The entry is named after the hash of what the
 * statistics depend on: the sample count and shape, and each images file's
 * identity (real path, device, inode, size, modification and change times)
 * rather than its bytes, since hashing the bytes would read the whole data
 * again, as the pass itself does. Rewriting a file changes its change time,
 * which no tool can set back, so a changed file is never served stale
 * statistics. An unreadable or damaged entry is computed again; failing to
 * store one is no error (the cache is only a saving). */
cnn_status norm_cached(const dataset_split *split, uint64_t limit, norm_stats *out,
                       int *cached, cnn_error *err);

/* Scales n pixel bytes to [0, 1], x / 255 in float: how every sample read
 * from a data set enters the network (the loader, cnn_cl_predict_bytes). */
void norm_scale(const unsigned char *bytes, size_t n, float *out);

/* Normalises one sample in place: `n->channels` planes of `plane` pixels
 * each. Nothing changes when n->channels is 0. */
void norm_apply(const norm_stats *n, float *x, size_t plane);

/* The values v[0 .. channels - 1] as "a,b,c", each printed so that it reads
 * back as the same float (%.9g): the form of the checkpoint's metadata. */
void norm_format(const float *v, int channels, char *out, size_t size);

/* Reads norm_format's text of exactly `channels` finite values into v;
 * -1 when it is not that. */
int norm_parse(const char *text, int channels, float *v);

#endif
