/* pool.c: host side of the 2x2 max-pooling layer (see pool.h); the kernels
 * are in kernels/pool.cl. */
#include "pool.h"

#include <limits.h>
#include <string.h>

#include "layer.h"
#include "ref/pool.h"

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

/* Both kernels run over an NDRange of (OW, rows, N * C) with no bounds to
 * check: the forward one window per work-item (rows = OH), the backward one
 * window row per work-item (rows = H). The work-group size is left to the
 * runtime, which makes it legal on every device. */
static cnn_status launch(const pool_layer *l, cl_kernel k, int n, int rows,
                         cnn_error *err)
{
    if (n < 1 || (long long)n * l->c * l->h * l->w > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "max-pooling: a batch of %d "
                        "inputs of %d x %d x %d is out of range",
                        n, l->c, l->h, l->w);
    size_t global[3] = {(size_t)l->ow, (size_t)rows, (size_t)n * l->c};
    return clrt_launch(l->rt, k, 3, global, NULL, NULL, err);
}

cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    cnn_status st = clrt_set_args(l->forward, err, 4, sizeof x, &x,
                                  sizeof y, &y, sizeof l->h, &l->h,
                                  sizeof l->w, &l->w);
    return st == CNN_OK ? launch(l, l->forward, n, l->oh, err) : st;
}

cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err)
{
    cnn_status st = clrt_set_args(l->backward, err, 5, sizeof x, &x,
                                  sizeof dy, &dy, sizeof dx, &dx,
                                  sizeof l->h, &l->h, sizeof l->w, &l->w);
    return st == CNN_OK ? launch(l, l->backward, n, l->h, err) : st;
}

/* The layer table's row: token pool2. */

static cnn_status pool_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    if (strcmp(rest, "2"))
        return layer_bad_token(l, err);
    l->k = l->stride = 2;
    return CNN_OK;
}

static cnn_status pool_shape(arch_layer *l, cnn_error *err)
{
    if (l->in.h < 2 || l->in.w < 2)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': cannot pool a %dx%d input",
                        l->token, l->in.h, l->in.w);
    l->out = (arch_shape){l->in.c, l->in.h / 2, l->in.w / 2};
    return CNN_OK;
}

static cnn_status pool_row_create(layer_node *nd, const layer_env *env, cnn_error *err)
{
    const arch_layer *l = nd->spec;
    pool_layer *op = layer_op_new(nd, sizeof *op, err);
    cnn_status st = op ? pool_create(op, env->rt, l->in.c, l->in.h, l->in.w, err)
                       : CNN_ERR_RUNTIME;
    if (st)
        layer_op_free(nd);
    return st;
}

static void pool_row_release(layer_node *nd)
{
    pool_release(nd->op);
    layer_op_free(nd);
}

static cnn_status pool_row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                                   cnn_error *err)
{
    return pool_forward(nd->op, p->n, x, nd->y, err);
}

static cnn_status pool_row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                                    cl_mem dx, cnn_error *err)
{
    return pool_backward(nd->op, p->n, x, nd->dy, dx, err);
}

static void pool_ref_forward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x, double *y)
{
    (void)params;
    ref_maxpool_forward(x, y, p->n, l->in.c, l->in.h, l->in.w);
}

static void pool_ref_backward(const arch_layer *l, const ref_pass *p,
                              double *const *params, const double *x, const double *y,
                              const double *dy, double *dx, double *const *grads)
{
    (void)params, (void)y, (void)grads;
    ref_maxpool_backward(x, dy, dx, p->n, l->in.c, l->in.h, l->in.w);
}

const layer_kind layer_pool = {
    .prefix = "pool", .syntax = "pool2", .keras = "MaxPooling2D",
    .flags = LAYER_SPATIAL,
    .parse = pool_parse, .shape = pool_shape,
    .create = pool_row_create, .release = pool_row_release,
    .forward = pool_row_forward, .backward = pool_row_backward,
    .ref_forward = pool_ref_forward, .ref_backward = pool_ref_backward,
};
