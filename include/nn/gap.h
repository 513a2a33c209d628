/* gap: global average pooling, as Keras GlobalAveragePooling2D: each
 * channel's H x W plane becomes its mean, so (N, C, H, W) -> (N, C), a flat
 * output a dense layer can take without a flatten.
 *
 * The functions only enqueue work on the layer's queue and need no
 * scratch. Results are deterministic: fixed summation orders, no atomics. */
#ifndef GAP_H
#define GAP_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

typedef struct {
    const clrt *rt;
    int max_batch, c, h, w;
    cl_kernel forward, backward;
    size_t local; /* the GPU forward's work-group size; 0: the other's */
} gap_layer;

/* The forward's tuner site ("<name>.forward", kind "gap"): "plane", one
 * work-item per plane summing it in order (for CPUs), or "gpu"
 * (TUNE_NOT_CPU), one work-group of 64 (the row's tiles[0]) per plane
 * summing in a tree (so their keys differ). The backward is one work-item
 * per element either way. */
extern const tune_variant gap_variants[];
extern const int gap_variant_count;

/* A layer for batches of up to max_batch inputs of c channels of h x w, as
 * gap_variants[variant]. Bad shapes are CNN_ERR_INPUT. On failure nothing
 * needs releasing. */
cnn_status gap_create(gap_layer *l, const clrt *rt, int max_batch, int c,
                      int h, int w, int variant, cnn_error *err);
void gap_release(gap_layer *l);

/* y = the mean of each plane.
 * x is (N, C, H, W), y is (N, C), N <= max_batch. */
cnn_status gap_forward(const gap_layer *l, int n, cl_mem x, cl_mem y,
                       cnn_error *err);

/* dx = dy / (h * w) over each plane; dx is overwritten.
 * dy is (N, C), dx is (N, C, H, W). */
cnn_status gap_backward(const gap_layer *l, int n, cl_mem dy, cl_mem dx,
                        cnn_error *err);

#endif
