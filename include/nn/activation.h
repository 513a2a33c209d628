/* activation: ReLU as a layer of its own, for where it is not fused into the
 * layer before it. Elementwise, so any shape: x, y, dy, dx are flat arrays
 * of `count` floats. The functions only enqueue work and need no scratch. */
#ifndef ACTIVATION_H
#define ACTIVATION_H

#include "runtime/clrt.h"

typedef struct {
    const clrt *rt;
    cl_kernel forward, backward;
    size_t local; /* both kernels' work-group size */
} relu_layer;

/* On failure nothing needs releasing. */
cnn_status relu_create(relu_layer *l, const clrt *rt, cnn_error *err);
void relu_release(relu_layer *l);

/* y = max(x, 0). x and y are (count). */
cnn_status relu_forward(const relu_layer *l, size_t count, cl_mem x, cl_mem y,
                        cnn_error *err);

/* dx = dy where the forward output y > 0, else 0; dx is overwritten.
 * y, dy and dx are (count). */
cnn_status relu_backward(const relu_layer *l, size_t count, cl_mem y,
                         cl_mem dy, cl_mem dx, cnn_error *err);

#endif
