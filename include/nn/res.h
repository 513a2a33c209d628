/* res: residual blocks, written res[TOKENS] in a spec: the block's output is
 * its chain's output plus its shortcut's, where the shortcut is the block's
 * input, or, when the chain changes the shape, a 1x1 convolution of it
 * without bias at the chain's total stride, then batch norm when the chain
 * holds one (torchvision's BasicBlock downsample).
 *
 * A block is two rows of the layer table (src/nn/res.c): its begin, token
 * "res[", a view of the block's input, and its end, written "]", named
 * resN after the block, which adds and owns the projection (built from
 * conv.h's and batchnorm.h's ops through their rows, so its sites are
 * tuned as theirs: "resN.proj.forward", "resN.proj_bn.reduce"). Blocks
 * nest: the parser keeps a stack of open blocks.
 *
 * When the chain ends in batch norm, that layer computes the add (and the
 * ReLU after the block) in its own passes, and the end runs none of these;
 * when batch norm writes the block's input, its backward sums the input's
 * two gradients, and the begin runs none (layer.h, LAYER_JOINS).
 *
 * Here are the joins: elementwise passes over flat arrays of `count`
 * floats, each reading and writing every value once. They only enqueue
 * work and need no scratch. */
#ifndef RES_H
#define RES_H

#include <stddef.h>

#include "runtime/clrt.h"

typedef struct {
    const clrt *rt;
    cl_kernel add, add_backward, accumulate;
    size_t local; /* the kernels' work-group size */
} res_joins;

/* On failure nothing needs releasing. */
cnn_status res_joins_create(res_joins *j, const clrt *rt, cnn_error *err);
void res_joins_release(res_joins *j);

/* y = x + s, then max(y, 0) when relu (a ReLU after the block, folded in).
 * x (the chain's output), s (the shortcut's), y are (count). */
cnn_status res_add(const res_joins *j, size_t count, cl_mem x, cl_mem s, cl_mem y,
                   int relu, cnn_error *err);

/* g = dy where y > 0 when relu, else dy: the gradient of the chain's
 * output and of the shortcut's, which are the same. y, dy, g are (count);
 * g is overwritten. */
cnn_status res_add_backward(const res_joins *j, size_t count, cl_mem y, cl_mem dy,
                            cl_mem g, int relu, cnn_error *err);

/* dx += ds: the block input's gradient through the chain, in dx, and
 * through the shortcut. dx and ds are (count); they may be one buffer. */
cnn_status res_accumulate(const res_joins *j, size_t count, cl_mem dx, cl_mem ds,
                          cnn_error *err);

#endif
