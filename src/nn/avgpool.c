/* avgpool.c: host side of the average-pooling layer (see avgpool.h), and
 * its row of the layer table; the kernels are in kernels/avgpool.cl. */
#include "nn/avgpool.h"

#include "nn/layer.h"
#include "ref/avgpool.h"

cnn_status avgpool_create(avgpool_layer *l, const clrt *rt, int max_batch,
                          int c, int h, int w, int p, int s, cnn_error *err)
{
    return pool_create_kernels(l, rt, "average pooling", "avgpool_forward",
                               "avgpool_backward", max_batch, c, h, w, p, s,
                               err);
}

void avgpool_release(avgpool_layer *l) { pool_release(l); }

/* One work-item per output element forward, per input element backward,
 * with no bounds to check (pool_launch). */
cnn_status avgpool_forward(const avgpool_layer *l, int n, cl_mem x, cl_mem y,
                           cnn_error *err)
{
    cnn_status st = layer_check_batch("average pooling", n, l->max_batch, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 6, sizeof x, &x, sizeof y, &y,
                           sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->p, &l->p, sizeof l->s, &l->s);
    return st ? st : pool_launch(l, l->forward, n, l->ow, l->oh, err);
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
    return st ? st : pool_launch(l, l->backward, n, l->w, l->h, err);
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

static cnn_status row_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    return pool_onnx(l, io, "AveragePool", err);
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
    .onnx = row_onnx,
};
