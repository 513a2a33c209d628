/* res.c: residual blocks (see res.h): the joins' host side (kernels in
 * kernels/res.cl) and the block's two rows of the layer table, its begin
 * "res[" and its end "res".
 *
 * Forward: the begin runs nothing (a view); the end computes the shortcut
 * (nothing, or conv then bn into scratch) and y = chain + shortcut with a
 * following ReLU folded in. Backward: the end writes the add's gradient
 * once, into the chain's dy, which is the identity shortcut's gradient too;
 * a projection's backward reads it from there. The begin, last, adds the
 * shortcut's gradient into the block input's, which the chain's first
 * layer has just written: one pass, in place.
 *
 * A joined end (nd->joined: its chain's last layer computes the add) runs
 * no add of its own: its forward, before that layer's, makes the shortcut,
 * and its backward, after that layer's, finds the add's gradient in its
 * dy, which it shares with the layer. A fed begin (the layer before it
 * takes the shortcut's gradient, nd->shortcut_grad, into its backward)
 * adds nothing. */
#include "nn/res.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/layer.h"
#include "ref/batchnorm.h"
#include "ref/conv.h"
#include "ref/res.h"

cnn_status res_joins_create(res_joins *j, const clrt *rt, cnn_error *err)
{
    memset(j, 0, sizeof *j);
    j->rt = rt;
    static const char *const names[] = {"res_add", "res_add_backward", "res_accumulate"};
    cl_kernel *const kernels[] = {&j->add, &j->add_backward, &j->accumulate};
    cnn_status st = clrt_kernels(rt, 3, names, kernels, err);
    if (st == CNN_OK) {
        const cl_kernel all[] = {j->add, j->add_backward, j->accumulate};
        st = clrt_work_group(rt, all, 3, CLRT_WORK_GROUP, &j->local, err);
    }
    if (st)
        res_joins_release(j);
    return st;
}

void res_joins_release(res_joins *j)
{
    clrt_release_kernel(&j->add);
    clrt_release_kernel(&j->add_backward);
    clrt_release_kernel(&j->accumulate);
    memset(j, 0, sizeof *j);
}

/* One work-item per value, in work-groups of one size whatever the count:
 * PoCL compiles a kernel once per work-group shape. */
static cnn_status launch(const res_joins *j, cl_kernel k, size_t count, cnn_error *err)
{
    return clrt_launch(j->rt, k, 1, &count, &j->local, NULL, err);
}

static cnn_status check_count(size_t count, cnn_error *err)
{
    if (count < 1 || count > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "residual join over %zu values is out of "
                        "range (1 to %d)", count, INT_MAX);
    return CNN_OK;
}

cnn_status res_add(const res_joins *j, size_t count, cl_mem x, cl_mem s, cl_mem y,
                   int relu, cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(j->add, err, 5, sizeof x, &x, sizeof s, &s, sizeof y, &y,
                           sizeof n, &n, sizeof relu, &relu);
    return st ? st : launch(j, j->add, count, err);
}

cnn_status res_add_backward(const res_joins *j, size_t count, cl_mem y, cl_mem dy,
                            cl_mem g, int relu, cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(j->add_backward, err, 5, sizeof y, &y, sizeof dy, &dy,
                           sizeof g, &g, sizeof n, &n, sizeof relu, &relu);
    return st ? st : launch(j, j->add_backward, count, err);
}

cnn_status res_accumulate(const res_joins *j, size_t count, cl_mem dx, cl_mem ds,
                          cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(j->accumulate, err, 3, sizeof dx, &dx, sizeof ds, &ds,
                           sizeof n, &n);
    return st ? st : launch(j, j->accumulate, count, err);
}

/* The rows. The end's arch_layer: in is the chain's output, skip the
 * block's input, out = in; units is the projection's filters (0: the
 * identity shortcut), chain_stride its stride, chain_norm whether batch
 * norm follows it. Its tensors, when it projects: proj.weight (F, C, 1, 1)
 * and with batch norm proj_bn.weight, .bias, .running_mean, .running_var,
 * each (F): torchvision's downsample, under the block's name. */

extern const layer_kind layer_conv, layer_bn;

static cnn_status res_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    (void)rest; /* the end is written ']': a token "res..." is never one */
    return layer_bad_token(l, err);
}

/* A shortcut that matches the chain's shape: the input itself, or a 1x1
 * convolution at the chain's stride, which gives ceil(side / stride) as
 * 'same' convolutions and pools on even sides do. */
static cnn_status res_shape(arch_layer *l, cnn_error *err)
{
    arch_shape in = l->skip, out = l->in;
    l->out = out;
    l->units = 0;
    if (in.c == out.c && in.h == out.h && in.w == out.w)
        return CNN_OK;
    int s = l->chain_stride, h = (in.h - 1) / s + 1, w = (in.w - 1) / s + 1;
    if (h != out.h || w != out.w)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: block %s '%s' turns its %dx%d input "
                        "into %dx%d, but its shortcut, a 1x1 convolution at the chain's "
                        "stride %d, gives %dx%d; change the size only by strides that "
                        "divide it ('same' convolutions)", l->name, l->token, in.h, in.w,
                        out.h, out.w, s, h, w);
    l->units = out.c;
    return CNN_OK;
}

static int res_params(const arch_layer *l, layer_param *out)
{
    if (!l->units)
        return 0;
    out[0] = (layer_param){.what = "proj.weight", .ndim = 4,
                           .shape = {l->units, l->skip.c, 1, 1},
                           .init = LAYER_INIT_GLOROT, .fan_in = l->skip.c,
                           .fan_out = l->units, .trainable = 1};
    if (!l->chain_norm)
        return 1;
    static const struct {
        const char *what;
        layer_init init;
        int trainable;
    } bn[4] = {{"proj_bn.weight", LAYER_INIT_ONE, 1},
               {"proj_bn.bias", LAYER_INIT_ZERO, 1},
               {"proj_bn.running_mean", LAYER_INIT_ZERO, 0},
               {"proj_bn.running_var", LAYER_INIT_ONE, 0}};
    for (int i = 0; i < 4; i++)
        out[1 + i] = (layer_param){.what = bn[i].what, .ndim = 1, .shape = {l->units},
                                   .init = bn[i].init, .trainable = bn[i].trainable};
    return 5;
}

/* The end's device state. */
typedef struct {
    res_joins joins;
    /* The projection's convolution and batch norm, as their rows see
     * them, their device state made by those rows. */
    arch_layer proj_spec, bn_spec;
    layer_node proj, bn;
    cl_mem z;     /* the convolution's output, (max_batch, out) */
    cl_mem s;     /* batch norm's, the shortcut; in backward, its dx */
    cl_mem g;     /* the add's gradient, when the chain is asked for none */
    cl_mem dskip; /* the projection's gradient w.r.t. the block input */
    cl_mem db;    /* the gradient of the bias the projection has not, (F) */
} res_op;

static void res_release(layer_node *nd)
{
    res_op *op = nd->op;
    nd->shortcut = nd->shortcut_grad = NULL;
    layer_node_release(&op->proj);
    layer_node_release(&op->bn);
    cl_mem *ms[] = {&op->z, &op->s, &op->g, &op->dskip, &op->db};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        clrt_release_mem(ms[i]);
    res_joins_release(&op->joins);
}

/* Makes the projection's layer `node` of `kind` through its row, named
 * "<block>.<what>". */
static cnn_status sub_layer(layer_node *node, arch_layer *spec, const layer_node *nd,
                            const char *what, const layer_env *env, cnn_error *err)
{
    snprintf(spec->name, sizeof spec->name, "%s.%s", nd->spec->name, what);
    *node = (layer_node){.spec = spec};
    return layer_node_create(node, env, err);
}

static cnn_status projection_create(res_op *op, const layer_node *nd,
                                    const layer_env *env, cnn_error *err)
{
    const arch_layer *l = nd->spec;
    const clrt *rt = env->rt;
    op->proj_spec = (arch_layer){.kind = &layer_conv, .units = l->units, .k = 1,
                                 .stride = l->chain_stride, .in = l->skip, .out = l->out};
    snprintf(op->proj_spec.token, sizeof op->proj_spec.token, "conv%dk1s%d", l->units,
             l->chain_stride);
    op->bn_spec = (arch_layer){.kind = &layer_bn, .in = l->out, .out = l->out,
                               .token = "bn"};
    const int backward = !(env->tune && env->tune->forward_only);
    const size_t out = (size_t)env->max_batch * (size_t)arch_size(l->out) * sizeof(float);
    const size_t in = (size_t)env->max_batch * (size_t)arch_size(l->skip) * sizeof(float);
    cnn_status st = sub_layer(&op->proj, &op->proj_spec, nd, "proj", env, err);
    if (st == CNN_OK && l->chain_norm)
        st = sub_layer(&op->bn, &op->bn_spec, nd, "proj_bn", env, err);
    if (st == CNN_OK)
        st = clrt_buffer(rt, out, &op->z, err);
    if (st == CNN_OK && l->chain_norm)
        st = clrt_buffer(rt, out, &op->s, err);
    if (st == CNN_OK && backward && !env->input_gradient)
        st = clrt_buffer(rt, out, &op->g, err);
    if (st == CNN_OK && backward && env->input_gradient)
        st = clrt_buffer(rt, in, &op->dskip, err);
    if (st == CNN_OK && backward)
        st = clrt_buffer(rt, (size_t)l->units * sizeof(float), &op->db, err);
    /* bn's dx is the projection's dy alone */
    if (st == CNN_OK && l->chain_norm)
        layer_transpose_pair(&op->proj, &op->bn);
    return st;
}

static cnn_status res_create(layer_node *nd, const layer_env *env, cnn_error *err)
{
    res_op *op = nd->op;
    const arch_layer *l = nd->spec;
    cnn_status st = res_joins_create(&op->joins, env->rt, err);
    if (st == CNN_OK && l->units)
        st = projection_create(op, nd, env, err);
    if (st) {
        res_release(nd);
        return st;
    }
    nd->shortcut = !l->units ? nd->pair->y : l->chain_norm ? op->s : op->z;
    return CNN_OK;
}

static size_t values(arch_shape s, int n) { return (size_t)n * (size_t)arch_size(s); }

/* The block input is the begin's output (a view of it). The projection
 * leaves the shortcut in nd->shortcut. */
static cnn_status res_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cnn_error *err)
{
    res_op *op = nd->op;
    const arch_layer *l = nd->spec;
    net_tensor *const *t = nd->params;
    cnn_status st = CNN_OK;
    if (l->units) {
        st = conv_forward(op->proj.op, p->n, nd->pair->y, t[0]->param, NULL, op->z, err);
        if (st == CNN_OK && l->chain_norm)
            st = batchnorm_forward(op->bn.op, p->n, p->training, op->z, NULL, t[1]->param,
                                   t[2]->param, t[3]->param, t[4]->param, op->s, err);
    }
    if (st || nd->joined)
        return st;
    return res_add(&op->joins, values(l->out, p->n), x, nd->shortcut, nd->y, nd->relu, err);
}

/* The add's gradient g into dx (the chain's dy; a joined end finds it
 * there), then the projection's passes from it; the begin adds the
 * shortcut's gradient later. */
static cnn_status res_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                               cl_mem dx, cnn_error *err)
{
    (void)x;
    res_op *op = nd->op;
    const arch_layer *l = nd->spec;
    net_tensor *const *t = nd->params;
    cl_mem g = dx ? dx : op->g;
    nd->shortcut_grad = g;
    if (!g) /* an identity block before the first trainable layer */
        return CNN_OK;
    cnn_status st = nd->joined ? CNN_OK
                               : res_add_backward(&op->joins, values(l->out, p->n), nd->y,
                                                  nd->dy, g, nd->relu, err);
    if (st || !l->units)
        return st;
    cl_mem dz = g;
    if (l->chain_norm) {
        /* s is free after the forward: it takes bn's dx. No ReLU is folded
         * into the projection's bn, so it reads no y. */
        st = batchnorm_backward(op->bn.op, p->n, op->z, NULL, t[1]->param, t[2]->param, g,
                                NULL, 0, op->s, t[1]->grad, t[2]->grad, err);
        dz = op->s;
    }
    nd->shortcut_grad = op->dskip;
    /* Without a ReLU the convolution never reads its y (op->z). */
    return st ? st : conv_backward(op->proj.op, p->n, nd->pair->y, t[0]->param, op->z,
                                   dz, op->dskip, t[0]->grad, op->db, err);
}

/* The begin's backward: dx, the block input's gradient through the chain,
 * plus the shortcut's; nothing when the layer before sums them (fed). */
static cnn_status begin_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                                 cl_mem dx, cnn_error *err)
{
    (void)x;
    const layer_node *end = nd->pair;
    if (!dx || nd->fed)
        return CNN_OK;
    if (!end->shortcut_grad)
        return cnn_fail(err, CNN_ERR_RUNTIME, "block %s: its start's backward ran "
                        "before its end's", nd->spec->name);
    return res_accumulate(&((const res_op *)end->op)->joins, values(nd->spec->in, p->n), dx,
                          end->shortcut_grad, err);
}

/* The reference: y = x + shortcut(skip), nothing fused. z and s are the
 * projection's convolution and batch norm outputs, (n, out). */
static void ref_shortcut(const arch_layer *l, const ref_pass *p, double *const *params,
                         double *z, double *s)
{
    double *zero = calloc((size_t)l->units, sizeof *zero);
    ref_conv_forward(p->skip, params[0], zero, z, p->n, l->skip.c, l->skip.h, l->skip.w,
                     l->units, 1, l->chain_stride, 0, 0, l->out.h, l->out.w, 0);
    free(zero);
    if (l->chain_norm)
        ref_batchnorm_forward(z, params[1], params[2], params[3], params[4], s, p->n,
                              l->units, l->out.h * l->out.w, p->training);
}

static void res_ref_forward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x, double *y)
{
    long count = (long)values(l->out, p->n);
    if (!l->units) {
        ref_res_add(x, p->skip, y, count, 0);
        return;
    }
    double *z = malloc((size_t)count * sizeof *z), *s = malloc((size_t)count * sizeof *s);
    ref_shortcut(l, p, params, z, s);
    ref_res_add(x, l->chain_norm ? s : z, y, count, 0);
    free(z);
    free(s);
}

/* dx = dy, and p->dskip the shortcut's gradient w.r.t. the block input. */
static void res_ref_backward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x, const double *y,
                             const double *dy, double *dx, double *const *grads)
{
    (void)x, (void)y;
    size_t count = values(l->out, p->n);
    if (dx)
        memcpy(dx, dy, count * sizeof *dx);
    if (!l->units) {
        memcpy(p->dskip, dy, count * sizeof *dy);
        return;
    }
    /* z again (batch norm's backward takes its input), with db as the
     * zero bias until the convolution's backward writes it. */
    double *z = malloc(count * sizeof *z), *dz = malloc(count * sizeof *dz),
           *db = calloc((size_t)l->units, sizeof *db);
    ref_conv_forward(p->skip, params[0], db, z, p->n, l->skip.c, l->skip.h, l->skip.w,
                     l->units, 1, l->chain_stride, 0, 0, l->out.h, l->out.w, 0);
    const double *dconv = dy;
    if (l->chain_norm) {
        ref_batchnorm_backward(z, params[1], dy, dz, grads[1], grads[2], p->n, l->units,
                               l->out.h * l->out.w);
        dconv = dz;
    }
    ref_conv_backward(p->skip, params[0], dconv, p->dskip, grads[0], db, p->n, l->skip.c,
                      l->skip.h, l->skip.w, l->units, 1, l->chain_stride, 0, 0, l->out.h,
                      l->out.w);
    free(z);
    free(dz);
    free(db);
}

static double res_flops(const arch_layer *l)
{
    double add = (double)arch_size(l->out);
    return l->units ? add + 2.0 * l->units * l->skip.c * l->out.h * l->out.w : add;
}

/* The projection of the block's input *s, replaced by its value: a 1x1
 * Conv without bias at the chain's stride (on flat features a Gemm by the
 * same weight, as (F, C)), then batch norm through bn's row when the chain
 * normalises, on the projection's tensors 1 to 4. */
static cnn_status projection_onnx(const arch_layer *l, onnx_layer_io *io, const char **s,
                                  cnn_error *err)
{
    char stem[sizeof l->name + 8];
    snprintf(stem, sizeof stem, "%s.proj", l->name);
    if (io->flat) {
        const int dims[] = {l->units, l->skip.c};
        const char *in[] = {*s, onnx_graph_tensor(io->g, io->names[0], 2, dims,
                                                  io->params[0])};
        const onnx_attr trans_b = ONNX_INT("transB", 1);
        *s = onnx_graph_node(io->g, "Gemm", stem, in, 2, &trans_b, 1);
    } else {
        const char *in[] = {*s, layer_onnx_tensor(io, 0)};
        const onnx_attr a[] = {ONNX_INTS("kernel_shape", 1, 1),
                               ONNX_INTS("strides", l->chain_stride, l->chain_stride)};
        *s = onnx_graph_node(io->g, "Conv", stem, in, 2, a, 2);
    }
    if (!l->chain_norm)
        return onnx_graph_status(io->g, err);
    arch_layer bn = {.kind = &layer_bn};
    snprintf(bn.name, sizeof bn.name, "%s.proj_bn", l->name);
    onnx_layer_io sub = *io;
    sub.x = *s;
    sub.decl++, sub.params++, sub.names++;
    cnn_status st = layer_bn.onnx(&bn, &sub, err);
    *s = sub.y;
    return st;
}

/* y = the chain's output + the shortcut: the block's input (its begin's
 * value) or its projection. */
static cnn_status res_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    const char *in[] = {io->x, io->values[l->pair]};
    cnn_status st = l->units ? projection_onnx(l, io, &in[1], err) : CNN_OK;
    if (st)
        return st;
    io->y = onnx_graph_node(io->g, "Add", l->name, in, 2, NULL, 0);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_res = {
    .prefix = "res", .syntax = "res[<TOKENS>]", .keras = "Add",
    .flags = LAYER_BLOCK_END | LAYER_FUSES_RELU,
    .parse = res_parse, .shape = res_shape, .params = res_params,
    .op_size = sizeof(res_op),
    .create = res_create, .release = res_release,
    .forward = res_forward, .backward = res_backward,
    .ref_forward = res_ref_forward, .ref_backward = res_ref_backward,
    .flops = res_flops, .onnx = res_onnx,
};

/* The begin: a view of the block's input. */

static void begin_ref_forward(const arch_layer *l, const ref_pass *p,
                              double *const *params, const double *x, double *y)
{
    (void)params;
    memcpy(y, x, values(l->in, p->n) * sizeof *y);
}

static void begin_ref_backward(const arch_layer *l, const ref_pass *p,
                               double *const *params, const double *x, const double *y,
                               const double *dy, double *dx, double *const *grads)
{
    (void)params, (void)x, (void)y, (void)grads;
    if (!dx)
        return;
    long count = (long)values(l->in, p->n);
    memcpy(dx, dy, (size_t)count * sizeof *dx);
    ref_res_accumulate(dx, p->dskip, count);
}

const layer_kind layer_res_begin = {
    .prefix = "res[", .flags = LAYER_VIEW | LAYER_BLOCK_BEGIN,
    .parse = layer_parse_none, .shape = layer_shape_same,
    .backward = begin_backward,
    .ref_forward = begin_ref_forward, .ref_backward = begin_ref_backward,
    .onnx = layer_onnx_same, /* its value is the block's input, which the end reads */
};
