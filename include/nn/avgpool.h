/* avgpool: average pooling over P x P windows at stride S, 'valid' as Keras
 * AveragePooling2D: OH = (H - P) / S + 1, rows and columns past the last
 * whole window are dropped, and the same for the width.
 *
 * The functions only enqueue work on the layer's queue and need no
 * scratch. Results are deterministic: fixed summation orders, no atomics. */
#ifndef AVGPOOL_H
#define AVGPOOL_H

#include "nn/pool.h"

/* The same state as max-pooling's, with the average-pooling kernels. */
typedef pool_layer avgpool_layer;

/* A layer for batches of up to max_batch inputs of c channels of h x w,
 * with p x p windows at stride s (p <= h, p <= w). Bad shapes are
 * CNN_ERR_INPUT. On failure nothing needs releasing. */
cnn_status avgpool_create(avgpool_layer *l, const clrt *rt, int max_batch,
                          int c, int h, int w, int p, int s, cnn_error *err);
void avgpool_release(avgpool_layer *l);

/* y = the mean of each window.
 * x is (N, C, H, W), y is (N, C, OH, OW), N <= max_batch. */
cnn_status avgpool_forward(const avgpool_layer *l, int n, cl_mem x, cl_mem y,
                           cnn_error *err);

/* dx = the sum of dy / (p * p) over the windows that contain an input (they
 * overlap when s < p), 0 for an input in none; dx is overwritten.
 * dy is (N, C, OH, OW), dx is (N, C, H, W). */
cnn_status avgpool_backward(const avgpool_layer *l, int n, cl_mem dy,
                            cl_mem dx, cnn_error *err);

#endif
