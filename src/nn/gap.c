/* gap.c: host side of the global average pooling layer (see gap.h), and
 * its row of the layer table; the kernels are in kernels/gap.cl. */
#include "nn/gap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/gap.h"

/* A row's one number: the work-items summing a plane in a tree (two warps
 * for "gpu"), 0 for one work-item summing it in order. */
const tune_variant gap_variants[] = {
    {"plane", "plane", TUNE_ANYWHERE, {0}},
    {"gpu", "tree", TUNE_NOT_CPU, {64}},
};
const int gap_variant_count = sizeof gap_variants / sizeof *gap_variants;

cnn_status gap_create(gap_layer *l, const clrt *rt, int max_batch, int c,
                      int h, int w, int variant, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || c < 1 || h < 1 || w < 1 ||
        (long long)max_batch * c * h * w > INT_MAX || variant < 0 ||
        variant >= gap_variant_count)
        return cnn_fail(err, CNN_ERR_INPUT, "global average pooling: bad "
                        "shape (batch %d, %d channels %dx%d) or variant %d",
                        max_batch, c, h, w, variant);
    *l = (gap_layer){.rt = rt, .max_batch = max_batch, .c = c, .h = h,
                     .w = w};
    const size_t tree = (size_t)gap_variants[variant].tiles[0];
    const char *names[] = {tree ? "gap_gpu_forward" : "gap_forward", "gap_backward"};
    cl_kernel *const kernels[] = {&l->forward, &l->backward};
    cnn_status st = clrt_kernels(rt, 2, names, kernels, err);
    if (st || !tree)
        return st;
    /* The row's work-items a plane, or the most the device allows. */
    if ((st = clrt_work_group(rt, &l->forward, 1, tree, &l->local, err)))
        gap_release(l);
    return st;
}

void gap_release(gap_layer *l)
{
    clrt_release_kernel(&l->forward);
    clrt_release_kernel(&l->backward);
    memset(l, 0, sizeof *l);
}

/* One work-item per plane, the work-group size left to the runtime; or
 * one work-group per plane. */
cnn_status gap_forward(const gap_layer *l, int n, cl_mem x, cl_mem y,
                       cnn_error *err)
{
    int hw = l->h * l->w;
    size_t global = (size_t)n * l->c;
    cnn_status st = layer_check_batch("global average pooling", n,
                                      l->max_batch, err);
    if (st == CNN_OK && l->local) {
        global *= l->local;
        st = clrt_set_args(l->forward, err, 4, sizeof x, &x, sizeof y, &y, sizeof hw, &hw,
                           l->local * sizeof(float), NULL);
        return st ? st : clrt_launch(l->rt, l->forward, 1, &global, &l->local, NULL, err);
    }
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 3, sizeof x, &x, sizeof y, &y,
                           sizeof hw, &hw);
    return st ? st : clrt_launch(l->rt, l->forward, 1, &global, NULL, NULL,
                                 err);
}

/* One work-item per element of dx, over (H * W, N * C). */
cnn_status gap_backward(const gap_layer *l, int n, cl_mem dy, cl_mem dx,
                        cnn_error *err)
{
    size_t global[2] = {(size_t)l->h * l->w, (size_t)n * l->c};
    cnn_status st = layer_check_batch("global average pooling", n,
                                      l->max_batch, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward, err, 2, sizeof dy, &dy, sizeof dx,
                           &dx);
    return st ? st : clrt_launch(l->rt, l->backward, 2, global, NULL, NULL,
                                 err);
}

/* The row: "gap", no settings; a flat (C, 1, 1) output. */

static cnn_status row_shape(arch_layer *l, cnn_error *err)
{
    (void)err;
    l->out = (arch_shape){l->in.c, 1, 1};
    return CNN_OK;
}

typedef struct {
    const layer_node *nd;
    const layer_env *env;
    gap_layer l;
} gap_timing;

static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    gap_timing *t = ctx;
    const arch_layer *s = t->nd->spec;
    (void)bufs;
    return gap_create(&t->l, t->env->rt, t->env->max_batch, s->in.c, s->in.h, s->in.w,
                      index, err);
}

/* A forward at max_batch on the scratch buffers x, y. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    const gap_timing *t = ctx;
    return gap_forward(&t->l, t->env->max_batch, b[0], b[1], err);
}

static void time_release(void *ctx)
{
    gap_release(&((gap_timing *)ctx)->l);
}

/* One site, "<name>.forward". */
static cnn_status row_create(layer_node *nd, const layer_env *env,
                             cnn_error *err)
{
    const arch_layer *l = nd->spec;
    const size_t planes = (size_t)env->max_batch * (size_t)l->in.c;
    gap_timing t = {.nd = nd, .env = env};
    tune_timing timing = {.rt = env->rt, .nbufs = 2,
                          .counts = {planes * (size_t)l->in.h * (size_t)l->in.w, planes},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    int variant;
    cnn_status st = layer_choose(nd, env, "forward", gap_variants, gap_variant_count,
                                 tune_time, &timing, &variant, err);
    return st ? st : gap_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                                l->in.w, variant, err);
}

static void row_release(layer_node *nd) { gap_release(nd->op); }

static cnn_status row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cnn_error *err)
{
    return gap_forward(nd->op, p->n, x, nd->y, err);
}

static cnn_status row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                               cl_mem dx, cnn_error *err)
{
    (void)x;
    return dx ? gap_backward(nd->op, p->n, nd->dy, dx, err) : CNN_OK;
}

static void row_ref_forward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x, double *y)
{
    (void)params;
    ref_gap_forward(x, y, p->n, l->in.c, l->in.h, l->in.w);
}

static void row_ref_backward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x,
                             const double *y, const double *dy, double *dx,
                             double *const *grads)
{
    (void)params, (void)x, (void)y, (void)grads;
    if (dx)
        ref_gap_backward(dy, dx, p->n, l->in.c, l->in.h, l->in.w);
}

/* GlobalAveragePool keeps (N, C, 1, 1); the row's output is flat. */
static cnn_status row_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    char stem[sizeof l->name + 8];
    snprintf(stem, sizeof stem, "%s.pool", l->name);
    const char *pooled = onnx_graph_node(io->g, "GlobalAveragePool", stem, &io->x, 1, NULL, 0);
    const onnx_attr axis = ONNX_INT("axis", 1);
    io->y = onnx_graph_node(io->g, "Flatten", l->name, &pooled, 1, &axis, 1);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_gap = {
    .prefix = "gap",
    .syntax = "gap",
    .keras = "GlobalAveragePooling2D",
    .flags = LAYER_SPATIAL | LAYER_FLAT_OUT,
    .parse = layer_parse_none,
    .shape = row_shape,
    .op_size = sizeof(gap_layer),
    .create = row_create,
    .release = row_release,
    .forward = row_forward,
    .backward = row_backward,
    .ref_forward = row_ref_forward,
    .ref_backward = row_ref_backward,
    .onnx = row_onnx,
};
