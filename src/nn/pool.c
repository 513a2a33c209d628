/* pool.c: host side of the max-pooling layer (see pool.h), and its row of
 * the layer table; the kernels are in kernels/pool.cl. */
#include "nn/pool.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
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

/* A row's one number: the work-group size of its flat range, 0 for the
 * rows kernels. */
const tune_variant pool_variants[] = {
    {"rows", "pool", TUNE_ANYWHERE, {0}},
    {"gpu", "pool", TUNE_NOT_CPU, {CLRT_WORK_GROUP}},
};
const int pool_variant_count = sizeof pool_variants / sizeof *pool_variants;

/* The GPU kernels' work-group size: wg, or the most both kernels allow. */
static cnn_status pick_wg(pool_layer *l, size_t wg, cnn_error *err)
{
    const cl_kernel ks[2] = {l->forward, l->backward};
    return clrt_work_group(l->rt, ks, 2, wg, &l->wg, err);
}

cnn_status pool_create(pool_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int p, int s, int variant, cnn_error *err)
{
    if (variant < 0 || variant >= pool_variant_count)
        return cnn_fail(err, CNN_ERR_INPUT, "max-pooling: no variant %d", variant);
    const int wg = pool_variants[variant].tiles[0];
    const int fast = p == 2 && s == 2, gpu = fast && wg;
    cnn_status st = pool_create_kernels(
        l, rt, "max-pooling",
        gpu ? "maxpool2_gpu_forward" : fast ? "maxpool2_forward" : "maxpool_forward",
        gpu ? "maxpool2_gpu_backward" : fast ? "maxpool2_backward" : "maxpool_backward",
        max_batch, c, h, w, p, s, err);
    if (st == CNN_OK && gpu && (st = pick_wg(l, (size_t)wg, err)))
        pool_release(l);
    return st;
}

/* The GPU kernels' flat range: one window per work-item, rounded up to
 * the work-group size. */
static cnn_status launch_gpu(const pool_layer *l, cl_kernel k, int total, cnn_error *err)
{
    const size_t global = (size_t)total;
    return clrt_launch(l->rt, k, 1, &global, &l->wg, NULL, err);
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
 * kernel, which takes the first four arguments only; the GPU 2x2 kernel
 * one per window of a flat range. */
cnn_status pool_forward(const pool_layer *l, int n, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    int nargs = l->p == 2 && l->s == 2 ? 4 : 6;
    cnn_status st = layer_check_batch("max-pooling", n, l->max_batch, err);
    if (st == CNN_OK && l->wg) {
        const int total = n * l->c * l->oh * l->ow;
        st = clrt_set_args(l->forward, err, 5, sizeof x, &x, sizeof y, &y, sizeof l->h,
                           &l->h, sizeof l->w, &l->w, sizeof total, &total);
        return st ? st : launch_gpu(l, l->forward, total, err);
    }
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, nargs, sizeof x, &x, sizeof y, &y,
                           sizeof l->h, &l->h, sizeof l->w, &l->w,
                           sizeof l->p, &l->p, sizeof l->s, &l->s);
    return st ? st : pool_launch(l, l->forward, n, nargs == 4 ? 1 : l->ow, l->oh, err);
}

/* The 2x2 kernel runs one row of windows per work-item, (1, OH); the
 * general one one input per work-item, (W, H); the GPU 2x2 kernel one
 * window per work-item. */
cnn_status pool_backward(const pool_layer *l, int n, cl_mem x, cl_mem dy,
                         cl_mem dx, cnn_error *err)
{
    cnn_status st = layer_check_batch("max-pooling", n, l->max_batch, err);
    if (st)
        return st;
    if (l->wg) {
        const int total = n * l->c * l->oh * l->ow;
        st = clrt_set_args(l->backward, err, 6, sizeof x, &x, sizeof dy, &dy, sizeof dx,
                           &dx, sizeof l->h, &l->h, sizeof l->w, &l->w, sizeof total,
                           &total);
        return st ? st : launch_gpu(l, l->backward, total, err);
    }
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

typedef struct {
    const layer_node *nd;
    const layer_env *env;
    pool_layer l;
} pool_timing;

static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    pool_timing *t = ctx;
    const arch_layer *s = t->nd->spec;
    (void)bufs;
    return pool_create(&t->l, t->env->rt, t->env->max_batch, s->in.c, s->in.h, s->in.w,
                       s->k, s->stride, index, err);
}

/* Forward and backward at max_batch on the scratch buffers x, y, dy, dx. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    const pool_timing *t = ctx;
    const int n = t->env->max_batch;
    cnn_status st = pool_forward(&t->l, n, b[0], b[1], err);
    return st ? st : pool_backward(&t->l, n, b[0], b[2], b[3], err);
}

static void time_release(void *ctx)
{
    pool_release(&((pool_timing *)ctx)->l);
}

/* 2x2 stride-2 layers ask the tuner for their kernels' shape. */
static cnn_status row_create(layer_node *nd, const layer_env *env,
                             cnn_error *err)
{
    const arch_layer *l = nd->spec;
    int variant = 0;
    if (l->k == 2 && l->stride == 2) {
        const size_t in = (size_t)env->max_batch * (size_t)arch_size(l->in),
                     out = (size_t)env->max_batch * (size_t)arch_size(l->out);
        pool_timing t = {.nd = nd, .env = env};
        tune_timing timing = {.rt = env->rt, .nbufs = 4, .counts = {in, out, out, in},
                              .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                              .release = time_release};
        cnn_status st = layer_choose(nd, env, "windows", pool_variants, pool_variant_count,
                                     tune_time, &timing, &variant, err);
        if (st)
            return st;
    }
    return pool_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                       l->in.w, l->k, l->stride, variant, err);
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

cnn_status pool_onnx(const arch_layer *l, onnx_layer_io *io, const char *op,
                     cnn_error *err)
{
    const onnx_attr a[] = {ONNX_INTS("kernel_shape", l->k, l->k),
                           ONNX_INTS("strides", l->stride, l->stride)};
    io->y = onnx_graph_node(io->g, op, l->name, &io->x, 1, a, 2);
    return onnx_graph_status(io->g, err);
}

static cnn_status row_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    return pool_onnx(l, io, "MaxPool", err);
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
    .onnx = row_onnx,
};
