/* pool: max-pooling over P x P windows at stride S, 'valid' as Keras
 * MaxPooling2D: OH = (H - P) / S + 1, rows and columns past the last whole
 * window are dropped (pool2 takes 11 -> 5), and the same for the width.
 *
 * The functions only enqueue work on the layer's queue and need no scratch.
 * The backward pass recomputes the winner of each window from x rather than
 * keeping an index buffer; ties go to the first maximum in row-major window
 * order, in the kernels and in the reference alike. */
#ifndef POOL_H
#define POOL_H

#include "nn/layer.h"
#include "runtime/clrt.h"
#include "tune/tuner.h"

typedef struct {
    const clrt *rt;
    int max_batch, c, h, w;
    int p, s;   /* window size and stride */
    int oh, ow; /* (h - p) / s + 1, (w - p) / s + 1 */
    cl_kernel forward, backward;
    size_t wg;  /* the GPU kernels' work-group size; 0: the others */
} pool_layer;

/* The 2x2 stride-2 layers' tuner site ("<name>.windows", kind "pool"):
 * "rows", a row of windows per work-item with 8-wide vectors (for CPUs),
 * or "gpu" (TUNE_NOT_CPU), one window per work-item over a flat range in
 * work-groups of the row's tiles[0] (0 for "rows"). Both pick the same
 * winners and write the same bits (key "pool"). Other windows have one
 * kernel pair, one output (input) per work-item, and no site. */
extern const tune_variant pool_variants[];
extern const int pool_variant_count;

/* A layer for batches of up to max_batch inputs of c channels of h x w,
 * with p x p windows at stride s (p <= h, p <= w), as pool_variants[variant]
 * (which 2x2 stride-2 kernels; ignored for other windows). Bad shapes are
 * CNN_ERR_INPUT. On failure nothing needs releasing. */
cnn_status pool_create(pool_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int p, int s, int variant, cnn_error *err);
void pool_release(pool_layer *l);

/* y = the maximum of each window.
 * x is (N, C, H, W), y is (N, C, OH, OW), N <= max_batch. */
cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err);

/* dx = the sum of dy over the windows an input wins (windows overlap when
 * s < p), 0 for an input that wins none; dx is overwritten.
 * x and dx are (N, C, H, W), dy is (N, C, OH, OW). */
cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err);

/* Shared with average pooling (avgpool.c), which keeps the same state.
 * pool_create_kernels: pool_create with the kernels `forward` and
 * `backward`, its messages naming `what`. pool_launch: enqueues k over an
 * NDRange of (cols, rows, N * C), the work-group size left to the
 * runtime. */
cnn_status pool_create_kernels(pool_layer *l, const clrt *rt, const char *what,
                               const char *forward, const char *backward,
                               int max_batch, int c, int h, int w, int p,
                               int s, cnn_error *err);
cnn_status pool_launch(const pool_layer *l, cl_kernel k, int n, int cols,
                       int rows, cnn_error *err);
/* The two rows' onnx: the node `op` ("MaxPool", "AveragePool") over l's
 * window and stride, without padding, whose floor of the output size is
 * the rows'. */
cnn_status pool_onnx(const arch_layer *l, onnx_layer_io *io, const char *op,
                     cnn_error *err);

#endif
