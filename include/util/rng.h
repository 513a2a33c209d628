/* rng: the one counter-based random-number module. Weight initialisation,
 * the data shuffle and dropout all draw from it, each from its own stream
 * (rng_key), so a value depends only on its key and position: repeated and
 * resumed runs draw the same numbers. The functions are those of
 * kernels/rng.cl, which the kernels use word for word. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

/* splitmix64's mixing step. */
uint64_t rng_mix(uint64_t x);

/* The sub-stream of `parent` named by `field`. */
uint64_t rng_key(uint64_t parent, uint64_t field);

/* 64 random bits at position `counter` of stream `key`. */
uint64_t rng_bits(uint64_t key, uint64_t counter);

/* Uniform in [0, 1): 24 bits as a float (what kernels draw), or 53 bits as
 * a double. */
float rng_uniform_float(uint64_t key, uint64_t counter);
double rng_uniform(uint64_t key, uint64_t counter);

#endif
