/* rng.cl: the counter-based random stream, one source for both sides: the
 * kernels are built with it, and src/util/rng.c compiles this same file as
 * C, so a mask a kernel draws is the mask the reference draws.
 *
 * Stream `key`, position `counter`: rng_bits(key, i) is the i-th output of
 * splitmix64 seeded with key, computed without the ones before it, so any
 * work-item (or a resumed run) can start anywhere. Written in the subset
 * OpenCL C 1.2 and C11 share; ulong is 64 bits in both. */

/* splitmix64's step: a bijective mix of 64 bits. */
ulong rng_mix(ulong x)
{
    x += 0x9e3779b97f4a7c15UL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
    return x ^ (x >> 31);
}

/* A sub-stream of `parent`, told apart by `field` (a step, a layer...). */
ulong rng_key(ulong parent, ulong field)
{
    return rng_mix(parent ^ rng_mix(field));
}

ulong rng_bits(ulong key, ulong counter)
{
    return rng_mix(key + counter * 0x9e3779b97f4a7c15UL);
}

/* Uniform in [0, 1) with 24 bits: exact in float, the same on every
 * device. */
float rng_uniform_float(ulong key, ulong counter)
{
    return (float)(rng_bits(key, counter) >> 40) * (1.0f / 16777216.0f);
}
