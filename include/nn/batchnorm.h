/* batchnorm: batch normalisation (Keras BatchNormalization() with its
 * defaults; the moving variance is unbiased, as in PyTorch).
 *
 * Per channel c of an (N, C, H, W) input, over its m = N*H*W values; a flat
 * input is (N, C, 1, 1), so the same layer normalises each feature over the
 * batch. Training uses the batch's mean and biased variance and moves the
 * running statistics towards them; inference uses the running statistics.
 *
 * A ReLU that follows may be folded in (relu): the forward writes max(y, 0)
 * and the backward masks dy as it reads it, with the arithmetic of the
 * separate ReLU layer, so the bits are those of the two layers. So may the
 * add of a residual block whose chain the layer ends (a shortcut s), before
 * the ReLU, with res_add's arithmetic (res.h), and the sum of the two
 * gradients of a block's input that the layer writes (the shortcut's, ds),
 * with res_accumulate's.
 *
 * The CPU variant's forward may also write y's zero-padded copy for the
 * layer that reads y (batchnorm_pad_output), which then makes none, and y
 * itself only where something else reads it; and its backward may write
 * dx transposed, as the convolution before it reads its gradient
 * (batchnorm_transpose_dx), which then transposes nothing.
 *
 * The functions only enqueue work on rt's queue; nothing is allocated per
 * call. Each reduction runs per channel (or per chunk) in a fixed order,
 * so results are bit-reproducible (no atomics). */
#ifndef BATCHNORM_H
#define BATCHNORM_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

#define BATCHNORM_EPSILON 1e-3 /* added to the variance */
#define BATCHNORM_MOMENTUM 0.99 /* running = MOMENTUM * running + (1 - MOMENTUM) * batch */

typedef struct {
    const clrt *rt;
    int max_batch, c, hw;
    int relu;     /* a following ReLU folded in */
    size_t local; /* work-items per chunk when gpu: a power of two <=
                     CLRT_WORK_GROUP; else 1, a work-item per channel */
    int gpu;      /* the GPU variant's kernels (below) train */
    int block;    /* else channels per work-item of the training kernels */
    cl_kernel train, infer, backward, backward_dzt;
    cl_kernel gpu_sums, gpu_normalize, gpu_grad_sums, gpu_grad;
    cl_mem stats; /* (2, C): mean and 1/sqrt(var + eps) of the last training
                     forward, for the backward pass */
    cl_mem part;  /* gpu: (2, C, chunks at max_batch) partial sums */
    int w;        /* the planes' width, of hw */
    cl_mem xp;    /* NULL, or the padded copy of y the forward writes too: */
    int hp, wp, top, left; /* its planes' size and y's place in them */
    int keep_y;   /* with xp: y is written too */
    cl_mem dzt;   /* NULL, or where the backward writes dx instead, transposed
                     (batchnorm_transpose_dx) */
} batchnorm_layer;

/* The training kernels' tuner site ("<name>.reduce", kind "bn"):
 * "channel", one work-item per channel walking runs of 256 values with
 * 16-wide vectors, dealt to 256 lanes summed in a fixed tree (for CPUs);
 * "block4", "block8", "block16", the same sums with a work-item per block
 * of that many channels (tiles[1]), walked together, with the same key;
 * or "gpu" (TUNE_NOT_CPU), one work-group per chunk of 4 values per
 * work-item of a channel, the chunks' partial sums then summed
 * in a fixed order (five launches per step instead of two, but C times the
 * number of chunks of work-groups instead of C). Their sums run in other
 * orders, so their keys differ. A row's tiles[0] says which. Inference
 * follows the row too ("channel": the same runs; "gpu": a work-item per
 * value), with the same arithmetic either way. */
enum { BATCHNORM_PER_CHANNEL, BATCHNORM_PER_CHUNK };
extern const tune_variant batchnorm_variants[];
extern const int batchnorm_variant_count;

/* A layer for inputs (N, c, h, w) with N <= max_batch (h = w = 1 when
 * flat), a ReLU folded in when relu, as batchnorm_variants[variant]. Bad
 * shapes are CNN_ERR_INPUT. On failure nothing needs releasing. */
cnn_status batchnorm_create(batchnorm_layer *l, const clrt *rt, int max_batch,
                            int c, int h, int w, int relu, int variant,
                            cnn_error *err);
void batchnorm_release(batchnorm_layer *l);

/* Makes every later forward also write y into xp, (N, C, hp, wp), each
 * plane's row r, column j at row r + top, column j + left (rows and
 * columns past hp, wp left out; the rest of xp never written), and y
 * itself only when keep_y. Returns 0, changing nothing, for the GPU
 * variant, which does not. */
int batchnorm_pad_output(batchnorm_layer *l, cl_mem xp, int hp, int wp, int top, int left,
                         int keep_y);

/* Makes every later backward asked for dx write it into dzt instead, as
 * the convolution whose output x is reads its dz (conv.h): (N HW + 1,
 * Cpad), row n HW + p holding pixel p of image n, its C channels, then
 * zeros to C rounded up to 16; the last row is never written. dx's values
 * are the same. Returns 0, changing nothing, for the GPU variant, which
 * does not. */
int batchnorm_transpose_dx(batchnorm_layer *l, cl_mem dzt);

/* y = gamma * (x - mean) / sqrt(var + eps) + beta, per channel, then y + s
 * when s is not NULL (a residual block's join), then max(y, 0) when the
 * layer folds a ReLU.
 * x, s and y are (N, C, H, W); gamma, beta, running_mean, running_var are (C).
 * training: mean and var are the batch's (var biased, over N*H*W values);
 * running_mean and running_var are updated in place, the variance entering
 * unbiased (var * m / (m - 1), or var when m = 1); the batch statistics are
 * kept for batchnorm_backward.
 * Otherwise mean and var are running_mean and running_var, left unchanged. */
cnn_status batchnorm_forward(const batchnorm_layer *l, int n, int training,
                             cl_mem x, cl_mem s, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var,
                             cl_mem y, cnn_error *err);

/* Gradients through the training forward that last ran on this x (its batch
 * statistics) and wrote y: dgamma = sum(dy * xhat), dbeta = sum(dy), both
 * (C) and overwritten, and dx = gamma / sqrt(var + eps) * (dy - mean(dy)
 * - xhat * mean(dy * xhat)), skipped when NULL; sums and means per channel
 * over N*H*W. With a folded ReLU, dy is the gradient of the ReLU's output
 * and is taken as 0 where y is not positive; without one, y is never read
 * (it may be NULL). The CPU variant reads y only after a join, and
 * otherwise recomputes where it is positive from x, gamma and beta, with
 * the forward's bits. ds: NULL, or a second gradient of y, added to dy
 * first (a residual block's shortcut's, where y is the block's input).
 * join: the forward added a shortcut; dy is then overwritten with the
 * gradient taken (dy, plus ds, masked), which the join also gives its
 * shortcut, and always so with ds.
 * x, y, dy, ds and dx are (N, C, H, W), gamma and beta are (C). */
cnn_status batchnorm_backward(const batchnorm_layer *l, int n, cl_mem x, cl_mem y,
                              cl_mem gamma, cl_mem beta, cl_mem dy, cl_mem ds, int join,
                              cl_mem dx, cl_mem dgamma, cl_mem dbeta, cnn_error *err);

#endif
