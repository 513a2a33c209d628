/* dropout.c: reference inverted dropout (see ref/dropout.h). */
#include "ref/dropout.h"

#include "util/rng.h"

/* The layer is linear in its input with a diagonal of 0 and 1 / (1 - rate),
 * so the forward and backward are one map. The mask compares with the rate
 * rounded to float, as the kernel does: a draw is a multiple of 2^-24, which
 * may lie between a rate and its float. */
static void mask(const double *in, double *out, long count, double rate,
                 uint64_t key, int training)
{
    for (long i = 0; i < count; i++) {
        if (!training)
            out[i] = in[i];
        else
            out[i] = rng_uniform_float(key, (uint64_t)i) >= (float)rate
                         ? in[i] / (1 - rate)
                         : 0;
    }
}

void ref_dropout_forward(const double *x, double *y, long count, double rate,
                         uint64_t key, int training)
{
    mask(x, y, count, rate, key, training);
}

void ref_dropout_backward(const double *dy, double *dx, long count,
                          double rate, uint64_t key, int training)
{
    mask(dy, dx, count, rate, key, training);
}
