/* ref/dropout.h: plain C reference of inverted dropout, in double. Tests
 * only. x, y, dy, dx are flat arrays of count values (a whole batch).
 * Training keeps element i iff rng_uniform_float(key, i) >= (float)rate,
 * the mask the kernel draws, and scales what it keeps by 1 / (1 - rate);
 * inference (training 0) copies. */
#ifndef REF_DROPOUT_H
#define REF_DROPOUT_H

#include <stdint.h>

void ref_dropout_forward(const double *x, double *y, long count, double rate,
                         uint64_t key, int training);
/* dx from dy through the mask of the forward with the same key. */
void ref_dropout_backward(const double *dy, double *dx, long count,
                          double rate, uint64_t key, int training);

#endif
