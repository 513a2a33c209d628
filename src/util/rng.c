/* rng.c: the host side of rng.h, compiled from kernels/rng.cl itself. */
#include "util/rng.h"

#define ulong uint64_t
#include "kernels/rng.cl"
#undef ulong

double rng_uniform(uint64_t key, uint64_t counter)
{
    return (double)(rng_bits(key, counter) >> 11) * (1.0 / 9007199254740992.0);
}
