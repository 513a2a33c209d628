/* shuffle.c: a memoryless seeded permutation (see shuffle.h). */
#include "data/shuffle.h"

#include "util/rng.h"

void shuffle_init(shuffle *s, uint64_t seed, uint64_t epoch, uint64_t n)
{
    s->n = n;
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < n)
        bits++;
    bits += bits & 1;
    s->half_bits = bits / 2;
    uint64_t k = rng_mix(rng_mix(seed) ^ epoch);
    for (int r = 0; r < 6; r++)
        s->keys[r] = k = rng_mix(k + (uint64_t)r);
}

static uint64_t feistel(const shuffle *s, uint64_t x)
{
    uint64_t mask = (1ull << s->half_bits) - 1;
    uint64_t left = x >> s->half_bits, right = x & mask;
    for (int r = 0; r < 6; r++) {
        uint64_t next = left ^ (rng_mix(right ^ s->keys[r]) & mask);
        left = right;
        right = next;
    }
    return left << s->half_bits | right;
}

uint64_t shuffle_at(const shuffle *s, uint64_t position)
{
    /* The Feistel network permutes [0, 2^bits) with 2^bits < 4n, so walking
     * the cycle until it lands inside [0, n) takes a few steps on average and
     * keeps the map a bijection on [0, n). */
    uint64_t x = position;
    do
        x = feistel(s, x);
    while (x >= s->n);
    return x;
}
