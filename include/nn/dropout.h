/* dropout: Keras' Dropout(rate), inverted. In training, each element is
 * kept with probability 1 - rate and scaled by 1 / (1 - rate), else set to
 * 0; in inference the layer is the identity. Any shape: a batch is flat,
 * n * size floats.
 *
 * The mask is not stored: element i of the batch (its flat index, from 0)
 * is kept iff rng_uniform_float(key, i) >= rate (rng.h, with the rate as a
 * float), so the backward given the forward's key redraws the same mask,
 * and a step's mask depends only on its key. The functions only enqueue
 * work and need no scratch. */
#ifndef DROPOUT_H
#define DROPOUT_H

#include <stdint.h>

#include "runtime/clrt.h"

typedef struct {
    const clrt *rt;
    int max_batch;
    long size;          /* elements of one sample */
    float rate, scale;  /* scale = 1 / (1 - rate) */
    cl_kernel apply;
} dropout_layer;

/* For batches of up to max_batch samples of `size` elements each, with
 * 0 <= rate < 1; anything else is CNN_ERR_INPUT. On failure nothing needs
 * releasing. */
cnn_status dropout_create(dropout_layer *l, const clrt *rt, int max_batch,
                          long size, double rate, cnn_error *err);
void dropout_release(dropout_layer *l);

/* Training: y = x * scale where kept, else 0. Inference: y = x, copied.
 * x and y are (n, size) and distinct. The n samples are samples first ..
 * first + n - 1 of a batch that data-parallel training splits between
 * devices (0 otherwise): each gets the mask it gets in the whole batch. */
cnn_status dropout_forward(const dropout_layer *l, int n, int training,
                           uint64_t key, int first, cl_mem x, cl_mem y,
                           cnn_error *err);

/* Training: dx = dy * scale where kept (the mask of the forward with the
 * same key), else 0. Inference: dx = dy. dy and dx are (n, size) and
 * distinct; dx is overwritten. */
cnn_status dropout_backward(const dropout_layer *l, int n, int training,
                            uint64_t key, int first, cl_mem dy, cl_mem dx,
                            cnn_error *err);

#endif
