/* activation.c: host side of the ReLU layer (see activation.h); the kernels
 * are in kernels/activation.cl. */
#include "nn/activation.h"

#include <limits.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/activation.h"

cnn_status relu_create(relu_layer *l, const clrt *rt, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->rt = rt;
    static const char *const names[] = {"relu_forward", "relu_backward"};
    cl_kernel *const kernels[] = {&l->forward, &l->backward};
    cnn_status st = clrt_kernels(rt, 2, names, kernels, err);
    if (st == CNN_OK) {
        const cl_kernel both[] = {l->forward, l->backward};
        st = clrt_work_group(rt, both, 2, CLRT_WORK_GROUP, &l->local, err);
    }
    if (st)
        relu_release(l);
    return st;
}

void relu_release(relu_layer *l)
{
    clrt_release_kernel(&l->forward);
    clrt_release_kernel(&l->backward);
    memset(l, 0, sizeof *l);
}

/* One work-item per element, in work-groups of one size whatever the count:
 * PoCL compiles a kernel once per work-group shape. */
static cnn_status launch(const relu_layer *l, cl_kernel k, size_t count,
                         cnn_error *err)
{
    return clrt_launch(l->rt, k, 1, &count, &l->local, NULL, err);
}

static cnn_status check_count(size_t count, cnn_error *err)
{
    if (count < 1 || count > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "ReLU over %zu values is out of "
                        "range (1 to %d)", count, INT_MAX);
    return CNN_OK;
}

cnn_status relu_forward(const relu_layer *l, size_t count, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 3, sizeof x, &x, sizeof y, &y,
                           sizeof n, &n);
    return st == CNN_OK ? launch(l, l->forward, count, err) : st;
}

cnn_status relu_backward(const relu_layer *l, size_t count, cl_mem y,
                         cl_mem dy, cl_mem dx, cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward, err, 4, sizeof y, &y, sizeof dy, &dy,
                           sizeof dx, &dx, sizeof n, &n);
    return st == CNN_OK ? launch(l, l->backward, count, err) : st;
}

/* The layer table's row: token relu, where it is not fused into the layer
 * before it. */

static cnn_status relu_row_create(layer_node *nd, const layer_env *env, cnn_error *err)
{
    return relu_create(nd->op, env->rt, err);
}

static void relu_row_release(layer_node *nd) { relu_release(nd->op); }

static size_t values(const layer_node *nd, int n)
{
    return (size_t)n * (size_t)arch_size(nd->spec->out);
}

static cnn_status relu_row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                                   cnn_error *err)
{
    return relu_forward(nd->op, values(nd, p->n), x, nd->y, err);
}

static cnn_status relu_row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                                    cl_mem dx, cnn_error *err)
{
    (void)x;
    return dx ? relu_backward(nd->op, values(nd, p->n), nd->y, nd->dy, dx, err) : CNN_OK;
}

static void relu_ref_forward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x, double *y)
{
    (void)params;
    ref_relu_forward(x, y, (long)p->n * arch_size(l->out));
}

static void relu_ref_backward(const arch_layer *l, const ref_pass *p,
                              double *const *params, const double *x, const double *y,
                              const double *dy, double *dx, double *const *grads)
{
    (void)params, (void)x, (void)grads;
    if (dx)
        ref_relu_backward(y, dy, dx, (long)p->n * arch_size(l->out));
}

static cnn_status relu_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    io->y = onnx_graph_node(io->g, "Relu", l->name, &io->x, 1, NULL, 0);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_relu = {
    .prefix = "relu", .syntax = "relu", .keras = "ReLU", .flags = LAYER_IS_RELU,
    .parse = layer_parse_none, .shape = layer_shape_same,
    .op_size = sizeof(relu_layer),
    .create = relu_row_create, .release = relu_row_release,
    .forward = relu_row_forward, .backward = relu_row_backward,
    .ref_forward = relu_ref_forward, .ref_backward = relu_ref_backward,
    .onnx = relu_onnx,
};
