/* pool.c: host side of the 2x2 max-pooling layer (see pool.h); the kernels
 * are in kernels/pool.cl. */
#include "pool.h"

#include <limits.h>
#include <string.h>

cnn_status pool_create(pool_layer *l, const clrt *rt, int c, int h, int w,
                       cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (c < 1 || h < 2 || w < 2)
        return cnn_fail(err, CNN_ERR_INPUT, "max-pooling needs at least one "
                        "channel of 2 x 2, got %d channel(s) of %d x %d",
                        c, h, w);
    l->rt = rt;
    l->c = c;
    l->h = h;
    l->w = w;
    l->oh = h / 2;
    l->ow = w / 2;
    cnn_status st = clrt_kernel(rt, "maxpool2_forward", &l->forward, err);
    if (st == CNN_OK)
        st = clrt_kernel(rt, "maxpool2_backward", &l->backward, err);
    if (st != CNN_OK)
        pool_release(l);
    return st;
}

void pool_release(pool_layer *l)
{
    if (l->forward)
        clReleaseKernel(l->forward);
    if (l->backward)
        clReleaseKernel(l->backward);
    memset(l, 0, sizeof *l);
}

/* The number of output elements of a batch of n, the kernels' work-items;
 * the kernels index with int, so the input must stay below INT_MAX. */
static cnn_status outputs(const pool_layer *l, int n, int *total,
                          cnn_error *err)
{
    if (n < 1 || (long long)n * l->c * l->h * l->w > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "max-pooling: a batch of %d "
                        "inputs of %d x %d x %d is out of range",
                        n, l->c, l->h, l->w);
    *total = n * l->c * l->oh * l->ow;
    return CNN_OK;
}

/* Elementwise kernels leave the work-group size to the runtime (legal on
 * every device); a global size that is a multiple of 64 lets it pick a
 * large one instead of a divisor of an odd total. */
static size_t global_size(int total)
{
    return ((size_t)total + 63) / 64 * 64;
}

cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    int total;
    cnn_status st = outputs(l, n, &total, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 7, sizeof x, &x, sizeof y, &y,
                           sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->oh, &l->oh, sizeof l->ow, &l->ow,
                           sizeof total, &total);
    if (st != CNN_OK)
        return st;
    size_t global = global_size(total);
    return clrt_launch(l->rt, l->forward, 1, &global, NULL, NULL, err);
}

cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err)
{
    int total;
    cnn_status st = outputs(l, n, &total, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward, err, 8, sizeof x, &x, sizeof dy, &dy,
                           sizeof dx, &dx, sizeof l->h, &l->h,
                           sizeof l->w, &l->w, sizeof l->oh, &l->oh,
                           sizeof l->ow, &l->ow, sizeof total, &total);
    if (st != CNN_OK)
        return st;
    size_t global = global_size(total);
    return clrt_launch(l->rt, l->backward, 1, &global, NULL, NULL, err);
}
