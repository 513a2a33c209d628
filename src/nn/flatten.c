/* flatten.c: the flatten layer, (C, H, W) -> (C*H*W, 1, 1). Activations are
 * already contiguous per sample in (C, H, W) order, as PyTorch flattens, so
 * on the device it is a view: the network gives it its input's buffers and
 * it runs nothing. */
#include <string.h>

#include "nn/layer.h"

static cnn_status flatten_shape(arch_layer *l, cnn_error *err)
{
    (void)err;
    l->out = (arch_shape){(int)arch_size(l->in), 1, 1};
    return CNN_OK;
}

static void flatten_ref_forward(const arch_layer *l, const ref_pass *p,
                                double *const *params, const double *x, double *y)
{
    (void)params;
    memcpy(y, x, (size_t)p->n * (size_t)arch_size(l->in) * sizeof *y);
}

static void flatten_ref_backward(const arch_layer *l, const ref_pass *p,
                                 double *const *params, const double *x,
                                 const double *y, const double *dy, double *dx,
                                 double *const *grads)
{
    (void)params, (void)x, (void)y, (void)grads;
    if (dx)
        memcpy(dx, dy, (size_t)p->n * (size_t)arch_size(l->in) * sizeof *dx);
}

/* (N, C, H, W) -> (N, C*H*W) in the same order. */
static cnn_status flatten_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    const onnx_attr axis = ONNX_INT("axis", 1);
    io->y = onnx_graph_node(io->g, "Flatten", l->name, &io->x, 1, &axis, 1);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_flatten = {
    .prefix = "flatten", .syntax = "flatten", .keras = "Flatten",
    .flags = LAYER_VIEW | LAYER_SPATIAL | LAYER_FLAT_OUT,
    .parse = layer_parse_none, .shape = flatten_shape,
    .ref_forward = flatten_ref_forward, .ref_backward = flatten_ref_backward,
    .onnx = flatten_onnx,
};
