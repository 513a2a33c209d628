/* conv: 2-D convolution layer, stride 1, 'valid' padding, square kernels of
 * any size, any channel counts, with ReLU fused as an option.
 *
 * The functions only enqueue work on rt's queue. conv_create builds the
 * kernels and allocates the scratch a batch of up to max_batch needs; the
 * caller's buffers (which may be sub-buffers) keep PyTorch layouts. Results
 * are deterministic: no atomics, fixed summation orders. */
#ifndef CONV_H
#define CONV_H

#include "clrt.h"

typedef struct {
    const clrt *rt;
    int max_batch, c, h, w, oc, k, relu;
    int oh, ow; /* output size: h - k + 1, w - k + 1 */
    int splits; /* batch chunks of the weight-gradient reduction */
    cl_kernel pack, forward, dz, backward_weights, backward_weights_sum;
    cl_mem wf;   /* forward weights, packed (OCpad/16, C, K, K, 16) */
    cl_mem wb;   /* backward-data weights, flipped (Cpad/16, OC, K, K, 16) */
    cl_mem dzt;  /* dz as (N*OH*OW, OCpad) */
    cl_mem dzp;  /* dz zero-padded by K-1, (N, OC, OH+2K-2, OW+2K-2) */
    cl_mem part; /* gradient partial sums (splits, CKKpad + 1, OCpad) */
} conv_layer;

/* Shapes: input (N, c, h, w) with N <= max_batch, weights (oc, c, k, k),
 * output (N, oc, h-k+1, w-k+1); relu fuses max(., 0) into the forward.
 * Bad shapes are CNN_ERR_INPUT. On failure nothing needs releasing. */
cnn_status conv_create(conv_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int oc, int k, int relu, cnn_error *err);
void conv_release(conv_layer *l);

/* y = conv(x, w) + b, then max(y, 0) if the layer has relu.
 * x is (N, C, H, W), w is (OC, C, K, K), b is (OC) or NULL for no bias,
 * y is (N, OC, OH, OW). */
cnn_status conv_forward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                        cl_mem b, cl_mem y, cnn_error *err);

/* Gradients from dy, the gradient w.r.t. the layer's output y (after the
 * ReLU when fused). With relu, the mask is applied here, fused into the
 * passes that read dy: dz = dy where y > 0, else 0; y is only read then.
 * dx (N, C, H, W) is skipped when NULL (a first layer needs none);
 * dw (OC, C, K, K) and db (OC) are overwritten. x is (N, C, H, W),
 * w is (OC, C, K, K), y and dy are (N, OC, OH, OW); dy is not modified. */
cnn_status conv_backward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                         cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw, cl_mem db,
                         cnn_error *err);

#endif
