/* pool: 2x2 max-pooling with stride 2 ('valid', as Keras MaxPool2D): an odd
 * last row or column of the input is dropped, so 11 -> 5.
 *
 * The functions only enqueue work on the layer's queue and need no scratch.
 * The backward pass recomputes the winner of each window from x rather than
 * keeping an index buffer; ties go to the first maximum in row-major window
 * order, in the kernels and in the reference alike. */
#ifndef POOL_H
#define POOL_H

#include "clrt.h"

typedef struct {
    const clrt *rt;
    int c, h, w;
    int oh, ow; /* h / 2, w / 2 */
    cl_kernel forward, backward;
} pool_layer;

/* A layer for inputs of c channels of h x w (h, w >= 2). Bad shapes are
 * CNN_ERR_INPUT. On failure nothing needs releasing. */
cnn_status pool_create(pool_layer *l, const clrt *rt, int c, int h, int w,
                       cnn_error *err);
void pool_release(pool_layer *l);

/* y = the maximum of each 2x2 window.
 * x is (N, C, H, W), y is (N, C, H/2, W/2). */
cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err);

/* dx = dy at each window's winner, 0 elsewhere (also 0 on a dropped row or
 * column); dx is overwritten. x and dx are (N, C, H, W), dy is
 * (N, C, H/2, W/2). */
cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err);

#endif
