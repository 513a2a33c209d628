/* pool.c: host side of the max-pooling layer (see pool.h), and its row of
 * the layer table; the kernels are in kernels/pool.cl. */
#include "pool.h"

#include <limits.h>
#include <string.h>

#include "layer.h"
#include "ref/pool.h"

cnn_status pool_create_kernels(pool_layer *l, const clrt *rt, const char *what,
                               const char *forward, const char *backward,
                               int max_batch, int c, int h, int w, int p,
                               int s, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || c < 1 || p < 1 || s < 1 || h < p || w < p)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: bad shape (batch %d, %d "
                        "channels %dx%d, window %d, stride %d); the input "
                        "must be at least as large as the window", what,
                        max_batch, c, h, w, p, s);
    if ((long long)max_batch * c * h * w > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: a batch of %d inputs of %d "
                        "x %d x %d is out of range", what, max_batch, c, h,
                        w);
    *l = (pool_layer){.rt = rt, .max_batch = max_batch, .c = c, .h = h,
                      .w = w, .p = p, .s = s, .oh = (h - p) / s + 1,
                      .ow = (w - p) / s + 1};
    const char *names[] = {forward, backward};
    cl_kernel *const kernels[] = {&l->forward, &l->backward};
    return clrt_kernels(rt, 2, names, kernels, err);
}

cnn_status pool_create(pool_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int p, int s, cnn_error *err)
{
    int fast = p == 2 && s == 2;
    return pool_create_kernels(
        l, rt, "max-pooling", fast ? "maxpool2_forward" : "maxpool_forward",
        fast ? "maxpool2_backward" : "maxpool_backward", max_batch, c, h, w,
        p, s, err);
}

void pool_release(pool_layer *l)
{
    clrt_release_kernel(&l->forward);
    clrt_release_kernel(&l->backward);
    memset(l, 0, sizeof *l);
}

/* Every kernel runs over an NDRange of (columns, rows, N * C) with no
 * bounds to check; the work-group size is left to the runtime, which makes
 * it legal on every device. */
cnn_status pool_launch(const pool_layer *l, cl_kernel k, int n, int cols,
                       int rows, cnn_error *err)
{
    size_t global[3] = {(size_t)cols, (size_t)rows, (size_t)n * l->c};
    return clrt_launch(l->rt, k, 3, global, NULL, NULL, err);
}

/* One work-item per output element, or per row of windows for the 2x2
 * kernel, which takes the first four arguments only. */
cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    int nargs = l->p == 2 && l->s == 2 ? 4 : 6;
    cnn_status st = layer_check_batch("max-pooling", n, l->max_batch, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, nargs, sizeof x, &x, sizeof y, &y,
                           sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->p, &l->p, sizeof l->s, &l->s);
    return st ? st : pool_launch(l, l->forward, n, nargs == 4 ? 1 : l->ow, l->oh, err);
}

/* The 2x2 kernel runs one row of windows per work-item, (1, OH); the
 * general one one input per work-item, (W, H). */
cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err)
{
    cnn_status st = layer_check_batch("max-pooling", n, l->max_batch, err);
    if (st)
        return st;
    if (l->p == 2 && l->s == 2) {
        st = clrt_set_args(l->backward, err, 5, sizeof x, &x, sizeof dy, &dy,
                           sizeof dx, &dx, sizeof l->h, &l->h, sizeof l->w,
                           &l->w);
        return st ? st : pool_launch(l, l->backward, n, 1, l->oh, err);
    }
    st = clrt_set_args(l->backward, err, 9, sizeof x, &x, sizeof dy, &dy,
                       sizeof dx, &dx, sizeof l->h, &l->h, sizeof l->w, &l->w,
                       sizeof l->p, &l->p, sizeof l->s, &l->s, sizeof l->oh,
                       &l->oh, sizeof l->ow, &l->ow);
    return st ? st : pool_launch(l, l->backward, n, l->w, l->h, err);
}

/* The row: "pool<P>[s<S>]", also read by avgpool's row. */

static cnn_status row_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    long p = layer_parse_number(&rest), s = p;
    if (*rest == 's') {
        rest++;
        s = layer_parse_number(&rest);
    }
    if (p < 1 || s < 1 || *rest)
        return layer_bad_token(l, err);
    l->k = (int)p;
    l->stride = (int)s;
    return CNN_OK;
}

static cnn_status row_shape(arch_layer *l, cnn_error *err)
{
    arch_shape in = l->in;
    if (l->k > in.h || l->k > in.w)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': cannot pool a "
                        "%dx%d input: the %dx%d window is larger", l->token,
                        in.h, in.w, l->k, l->k);
    l->out = (arch_shape){in.c, (in.h - l->k) / l->stride + 1,
                          (in.w - l->k) / l->stride + 1};
    return CNN_OK;
}

static cnn_status row_create(layer_node *nd, const layer_env *env,
                             cnn_error *err)
{
    const arch_layer *l = nd->spec;
    return pool_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                       l->in.w, l->k, l->stride, err);
}

static void row_release(layer_node *nd) { pool_release(nd->op); }

static cnn_status row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cnn_error *err)
{
    return pool_forward(nd->op, p->n, x, nd->y, err);
}

static cnn_status row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                               cl_mem dx, cnn_error *err)
{
    return dx ? pool_backward(nd->op, p->n, x, nd->dy, dx, err) : CNN_OK;
}

static void row_ref_forward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x, double *y)
{
    (void)params;
    ref_maxpool_forward(x, y, p->n, l->in.c, l->in.h, l->in.w, l->k,
                        l->stride);
}

static void row_ref_backward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x,
                             const double *y, const double *dy, double *dx,
                             double *const *grads)
{
    (void)params, (void)y, (void)grads;
    if (dx)
        ref_maxpool_backward(x, dy, dx, p->n, l->in.c, l->in.h, l->in.w, l->k,
                             l->stride);
}

const layer_kind layer_pool = {
    .prefix = "pool",
    .syntax = "pool<P>[s<S>]",
    .keras = "MaxPooling2D",
    .flags = LAYER_SPATIAL,
    .parse = row_parse,
    .shape = row_shape,
    .op_size = sizeof(pool_layer),
    .create = row_create,
    .release = row_release,
    .forward = row_forward,
    .backward = row_backward,
    .ref_forward = row_ref_forward,
    .ref_backward = row_ref_backward,
};
