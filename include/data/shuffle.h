/* shuffle: the order in which an epoch visits samples.
 *
 * A seeded pseudo-random permutation of [0, n) that needs no memory and can
 * be entered at any position: shuffle_at(s, i) is the sample at position i
 * of epoch `epoch`. It depends on (seed, epoch, n) alone, so a resumed run
 * continues the exact order. Built from a 6-round Feistel network over the
 * smallest even bit width covering n, with cycle walking into [0, n). */
#ifndef SHUFFLE_H
#define SHUFFLE_H

#include <stdint.h>

typedef struct {
    uint64_t n;
    unsigned half_bits;
    uint64_t keys[6];
} shuffle;

void shuffle_init(shuffle *s, uint64_t seed, uint64_t epoch, uint64_t n);
uint64_t shuffle_at(const shuffle *s, uint64_t position);

#endif
