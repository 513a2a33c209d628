/* holdout.c: the validation split (see holdout.h). */
#include "data/holdout.h"

#include <math.h>

dataset_split holdout_range(const dataset_split *s, uint64_t first, uint64_t count)
{
    dataset_split out = {.shape = s->shape, .count = count};
    for (int k = 0; k < s->nparts && count; k++) {
        dataset_part p = s->part[k];
        if (first >= p.count) {
            first -= p.count;
            continue;
        }
        uint64_t n = p.count - first < count ? p.count - first : count;
        p.images.offset += (off_t)(first * p.images.stride);
        p.labels.offset += (off_t)(first * p.labels.stride);
        p.count = n;
        out.part[out.nparts++] = p;
        count -= n;
        first = 0;
    }
    return out;
}

cnn_status holdout_divide(const dataset_split *all, uint64_t kept, double fraction,
                          dataset_split *train, dataset_split *held, cnn_error *err)
{
    /* Keras: split_at = int(n * (1 - validation_split)) */
    uint64_t fit = (uint64_t)floor((double)kept * (1.0 - fraction));
    if (fit == 0 || fit == kept)
        return cnn_fail(err, CNN_ERR_INPUT, "--validation-split %g of %llu samples "
                        "leaves %llu for training and %llu for validation; each side "
                        "needs one at least (change the fraction or --limit)",
                        fraction, (unsigned long long)kept, (unsigned long long)fit,
                        (unsigned long long)(kept - fit));
    *train = holdout_range(all, 0, fit);
    *held = holdout_range(all, fit, kept - fit);
    return CNN_OK;
}
