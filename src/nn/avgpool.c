/* avgpool.c: host side of the average-pooling layer (see avgpool.h), and
 * its row of the layer table; the kernels are in kernels/avgpool.cl. */
#include "avgpool.h"

#include <limits.h>
#include <string.h>

#include "layer.h"
#include "ref/avgpool.h"

cnn_status avgpool_create(avgpool_layer *l, const clrt *rt, int max_batch,
                          int c, int h, int w, int p, int s, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || c < 1 || p < 1 || s < 1 || h < p || w < p)
        return cnn_fail(err, CNN_ERR_INPUT, "average pooling: bad shape "
                        "(batch %d, %d channels %dx%d, window %d, stride %d); "
                        "the input must be at least as large as the window",
                        max_batch, c, h, w, p, s);
    if ((long long)max_batch * c * h * w > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "average pooling: a batch of %d "
                        "inputs of %d x %d x %d is out of range",
                        max_batch, c, h, w);
    *l = (avgpool_layer){.rt = rt, .max_batch = max_batch, .c = c, .h = h,
                         .w = w, .p = p, .s = s, .oh = (h - p) / s + 1,
                         .ow = (w - p) / s + 1};
    static const char *const names[] = {"avgpool_forward", "avgpool_backward"};
    cl_kernel *const kernels[] = {&l->forward, &l->backward};
    return clrt_kernels(rt, 2, names, kernels, err);
}

void avgpool_release(avgpool_layer *l)
{
    clrt_release_kernel(&l->forward);
    clrt_release_kernel(&l->backward);
    memset(l, 0, sizeof *l);
}

/* Both kernels run over an NDRange of (columns, rows, N * C) with no bounds
 * to check: one work-item per output element forward, per input element
 * backward. The work-group size is left to the runtime. */
static cnn_status launch(const avgpool_layer *l, cl_kernel k, int n,
                         int cols, int rows, cnn_error *err)
{
    size_t global[3] = {(size_t)cols, (size_t)rows, (size_t)n * l->c};
    return clrt_launch(l->rt, k, 3, global, NULL, NULL, err);
}

cnn_status avgpool_forward(const avgpool_layer *l, int n, cl_mem x, cl_mem y,
                           cnn_error *err)
{
    cnn_status st = layer_check_batch("average pooling", n, l->max_batch, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 6, sizeof x, &x, sizeof y, &y,
                           sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->p, &l->p, sizeof l->s, &l->s);
    return st ? st : launch(l, l->forward, n, l->ow, l->oh, err);
}

cnn_status avgpool_backward(const avgpool_layer *l, int n, cl_mem dy,
                            cl_mem dx, cnn_error *err)
{
    cnn_status st = layer_check_batch("average pooling", n, l->max_batch, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward, err, 8, sizeof dy, &dy, sizeof dx,
                           &dx, sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->p, &l->p, sizeof l->s, &l->s,
                           sizeof l->oh, &l->oh, sizeof l->ow, &l->ow);
    return st ? st : launch(l, l->backward, n, l->w, l->h, err);
}

/* The row: "avgpool<P>[s<S>]", which reads and shapes as max-pooling's
 * "pool<P>[s<S>]" does. */

extern const layer_kind layer_pool;

static cnn_status row_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    return layer_pool.parse(rest, l, err);
}

static cnn_status row_shape(arch_layer *l, cnn_error *err)
{
    return layer_pool.shape(l, err);
}

static cnn_status row_create(layer_node *nd, const layer_env *env,
                             cnn_error *err)
{
    const arch_layer *l = nd->spec;
    return avgpool_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                          l->in.w, l->k, l->stride, err);
}

static void row_release(layer_node *nd) { avgpool_release(nd->op); }

static cnn_status row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cnn_error *err)
{
    return avgpool_forward(nd->op, p->n, x, nd->y, err);
}

static cnn_status row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                               cl_mem dx, cnn_error *err)
{
    (void)x;
    return dx ? avgpool_backward(nd->op, p->n, nd->dy, dx, err) : CNN_OK;
}

static void row_ref_forward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x, double *y)
{
    (void)params;
    ref_avgpool_forward(x, y, p->n, l->in.c, l->in.h, l->in.w, l->k,
                        l->stride);
}

static void row_ref_backward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x,
                             const double *y, const double *dy, double *dx,
                             double *const *grads)
{
    (void)params, (void)x, (void)y, (void)grads;
    if (dx)
        ref_avgpool_backward(dy, dx, p->n, l->in.c, l->in.h, l->in.w, l->k,
                             l->stride);
}

const layer_kind layer_avgpool = {
    .prefix = "avgpool",
    .syntax = "avgpool<P>[s<S>]",
    .keras = "AveragePooling2D",
    .flags = LAYER_SPATIAL,
    .parse = row_parse,
    .shape = row_shape,
    .op_size = sizeof(avgpool_layer),
    .create = row_create,
    .release = row_release,
    .forward = row_forward,
    .backward = row_backward,
    .ref_forward = row_ref_forward,
    .ref_backward = row_ref_backward,
};
