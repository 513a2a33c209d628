/* batchnorm.c: the batch-normalisation layer's host side (see batchnorm.h;
 * the kernels are in kernels/batchnorm.cl) and its row of the layer table,
 * token "bn", which folds a following ReLU, or the add (and ReLU) of a
 * block its chain ends. A training forward is one launch, a backward one
 * launch, or two writing dx transposed (the GPU variant: three and two). */
#include "nn/batchnorm.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/batchnorm.h"

/* Values per work-item of a chunk (BATCHNORM_GPU_PER in the kernels). */
enum { GPU_PER = 4 };

/* A row's numbers: how the training kernels split a channel, and for the
 * CPU's kernels, how many channels a work-item takes (BATCHNORM_BLOCK). */
const tune_variant batchnorm_variants[] = {
    {"channel", "channel", TUNE_ANYWHERE, {BATCHNORM_PER_CHANNEL, 1}},
    {"gpu", "gpu", TUNE_NOT_CPU, {BATCHNORM_PER_CHUNK}},
    {"block4", "channel", TUNE_ANYWHERE, {BATCHNORM_PER_CHANNEL, 4}},
    {"block8", "channel", TUNE_ANYWHERE, {BATCHNORM_PER_CHANNEL, 8}},
    {"block16", "channel", TUNE_ANYWHERE, {BATCHNORM_PER_CHANNEL, 16}},
};
const int batchnorm_variant_count = sizeof batchnorm_variants / sizeof *batchnorm_variants;

void batchnorm_release(batchnorm_layer *l)
{
    cl_kernel *const ks[8] = {&l->train, &l->infer, &l->backward, &l->backward_dzt,
                              &l->gpu_sums, &l->gpu_normalize, &l->gpu_grad_sums,
                              &l->gpu_grad};
    for (int i = 0; i < 8; i++)
        clrt_release_kernel(ks[i]);
    clrt_release_mem(&l->stats);
    clrt_release_mem(&l->part);
    memset(l, 0, sizeof *l);
}

/* Tiles of 16 pixels x 16 channels per work-item of batchnorm_backward_dzt
 * (BATCHNORM_DZT_TILES in the kernels). */
enum { BATCHNORM_DZT_TILES = 4 };

/* batchnorm_backward_dzt's work-groups: 16 tiles along the first
 * dimension, which it bounds-checks, whatever the batch (conv.c's shape). */
static const size_t dzt_local[2] = {16, 1};

/* Chunks per channel of a batch of n on the GPU kernels. */
static size_t chunks(const batchnorm_layer *l, int n)
{
    const size_t per = GPU_PER * l->local;
    return ((size_t)n * l->hw + per - 1) / per;
}

/* Work-items per chunk of the GPU variant: the largest power of two <=
 * CLRT_WORK_GROUP, enough to spread a large batch's reduction, that every
 * kernel of the variant launched in work-groups may run as one. The CPU
 * variant's work-item walks a channel alone. */
static cnn_status pick_local(batchnorm_layer *l, cnn_error *err)
{
    cl_kernel ks[4] = {l->gpu_sums, l->gpu_normalize, l->gpu_grad_sums, l->gpu_grad};
    l->local = 1;
    return l->gpu ? clrt_work_group(l->rt, ks, 4, CLRT_WORK_GROUP, &l->local, err) : CNN_OK;
}

cnn_status batchnorm_create(batchnorm_layer *l, const clrt *rt, int max_batch,
                            int c, int h, int w, int relu, int variant,
                            cnn_error *err)
{
    memset(l, 0, sizeof *l);
    /* The kernels index with int. */
    if (max_batch < 1 || c < 1 || h < 1 || w < 1 ||
        (long long)max_batch * c * h * w > INT_MAX || variant < 0 ||
        variant >= batchnorm_variant_count)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "batch normalisation: bad shape (batch %d, %d "
                        "channels %dx%d) or variant %d", max_batch, c, h, w, variant);
    const int mode = batchnorm_variants[variant].tiles[0],
              block = batchnorm_variants[variant].tiles[1];
    *l = (batchnorm_layer){.rt = rt, .max_batch = max_batch, .c = c,
                           .hw = h * w, .w = w, .relu = relu != 0, .keep_y = 1,
                           .gpu = mode == BATCHNORM_PER_CHUNK, .block = block};
    /* The variant's inference and training kernels. */
    static const char *const cpu_names[4] = {"batchnorm_forward_infer",
                                             "batchnorm_forward_train", "batchnorm_backward",
                                             "batchnorm_backward_dzt"};
    static const char *const gpu_names[5] = {
        "batchnorm_gpu_infer", "batchnorm_gpu_sums", "batchnorm_gpu_normalize",
        "batchnorm_gpu_grad_sums", "batchnorm_gpu_grad"};
    cl_kernel *const cpu_kernels[4] = {&l->infer, &l->train, &l->backward,
                                       &l->backward_dzt};
    cl_kernel *const gpu_kernels[5] = {&l->infer, &l->gpu_sums, &l->gpu_normalize,
                                       &l->gpu_grad_sums, &l->gpu_grad};
    /* A block of one channel is the main program's. */
    char options[32];
    snprintf(options, sizeof options, "-DBATCHNORM_BLOCK=%d", block);
    cnn_status st = l->gpu      ? clrt_kernels(rt, 5, gpu_names, gpu_kernels, err)
                    : block > 1 ? clrt_kernels_from(rt, "batchnorm", options, 4, cpu_names,
                                                    cpu_kernels, err)
                                : clrt_kernels(rt, 4, cpu_names, cpu_kernels, err);
    if (st == CNN_OK && !l->gpu)
        st = clrt_kernel_fits(rt, l->backward_dzt, cpu_names[3], dzt_local[0], err);
    if (st == CNN_OK)
        st = pick_local(l, err);
    if (st == CNN_OK)
        st = clrt_buffer(rt, 2 * (size_t)c * sizeof(float), &l->stats, err);
    if (st == CNN_OK && l->gpu)
        st = clrt_buffer(rt, 2 * (size_t)c * chunks(l, max_batch) * sizeof(float),
                         &l->part, err);
    if (st) {
        batchnorm_release(l);
        return cnn_fail_context(err, "creating a batch-normalisation layer");
    }
    return CNN_OK;
}

int batchnorm_pad_output(batchnorm_layer *l, cl_mem xp, int hp, int wp, int top, int left,
                         int keep_y)
{
    if (l->gpu)
        return 0;
    l->xp = xp;
    l->hp = hp;
    l->wp = wp;
    l->top = top;
    l->left = left;
    l->keep_y = keep_y;
    return 1;
}

int batchnorm_transpose_dx(batchnorm_layer *l, cl_mem dzt)
{
    if (l->gpu)
        return 0;
    l->dzt = dzt;
    return 1;
}

/* Work-items of the CPU variant's training kernels: a block of channels
 * each. */
static size_t blocks(const batchnorm_layer *l)
{
    return ((size_t)l->c + (size_t)l->block - 1) / (size_t)l->block;
}

/* Sets the arguments of the CPU variant's forward kernels from `first` on:
 * the padded copy's (batchnorm_output in batchnorm.cl). */
static cnn_status set_pad_args(const batchnorm_layer *l, cl_kernel k, cl_uint first,
                               cnn_error *err)
{
    CLRT_CALL(err, clSetKernelArg, (k, first, sizeof l->xp, &l->xp));
    const int *v[] = {&l->w, &l->hp, &l->wp, &l->top, &l->left, &l->keep_y};
    for (cl_uint i = 0; i < sizeof v / sizeof v[0]; i++)
        CLRT_CALL(err, clSetKernelArg, (k, first + 1 + i, sizeof(int), v[i]));
    return CNN_OK;
}

/* The GPU kernels' range: (chunks L, C) in work-groups of (L, 1). */
static cnn_status gpu_launch(const batchnorm_layer *l, cl_kernel k, int n, cnn_error *err)
{
    const size_t global[2] = {chunks(l, n) * l->local, (size_t)l->c},
                 local[2] = {l->local, 1};
    return clrt_launch(l->rt, k, 2, global, local, NULL, err);
}

/* Training forward on the GPU kernels: the chunks' sums, their squared
 * distances from the mean, then y and the statistics. */
static cnn_status gpu_forward(const batchnorm_layer *l, int n, cl_mem x, cl_mem s,
                              cl_mem gamma, cl_mem beta, cl_mem running_mean,
                              cl_mem running_var, cl_mem y, cnn_error *err)
{
    const int join = s != NULL;
    const float eps = (float)BATCHNORM_EPSILON, momentum = (float)BATCHNORM_MOMENTUM;
    const size_t scratch = l->local * sizeof(float);
    cnn_status st = CNN_OK;
    for (int pass = 0; pass < 2 && st == CNN_OK; pass++) {
        st = clrt_set_args(l->gpu_sums, err, 7, sizeof x, &x, sizeof l->part, &l->part,
                           sizeof n, &n, sizeof l->c, &l->c, sizeof l->hw, &l->hw,
                           sizeof pass, &pass, scratch, NULL);
        if (st == CNN_OK)
            st = gpu_launch(l, l->gpu_sums, n, err);
    }
    if (st == CNN_OK)
        st = clrt_set_args(l->gpu_normalize, err, 17, sizeof x, &x, sizeof s, &s,
                           sizeof gamma, &gamma, sizeof beta, &beta,
                           sizeof running_mean, &running_mean, sizeof running_var,
                           &running_var, sizeof y, &y, sizeof l->stats, &l->stats,
                           sizeof l->part, &l->part, sizeof n, &n, sizeof l->c, &l->c,
                           sizeof l->hw, &l->hw, sizeof eps, &eps, sizeof momentum,
                           &momentum, sizeof join, &join, sizeof l->relu, &l->relu,
                           scratch, NULL);
    return st ? st : gpu_launch(l, l->gpu_normalize, n, err);
}

/* Backward on the GPU kernels: the chunks' sums of dy and dy xhat, then
 * dgamma, dbeta and dx. */
static cnn_status gpu_backward(const batchnorm_layer *l, int n, cl_mem x, cl_mem y,
                               cl_mem gamma, cl_mem dy, cl_mem ds, int keep, cl_mem dx,
                               cl_mem dgamma, cl_mem dbeta, cnn_error *err)
{
    const size_t scratch = l->local * sizeof(float);
    const int has_dx = dx != NULL, has_ds = ds != NULL;
    cnn_status st = clrt_set_args(l->gpu_grad_sums, err, 13, sizeof x, &x, sizeof dy, &dy,
                                  sizeof ds, &ds, sizeof y, &y, sizeof l->stats, &l->stats,
                                  sizeof l->part, &l->part, sizeof n, &n, sizeof l->c,
                                  &l->c, sizeof l->hw, &l->hw, sizeof has_ds, &has_ds,
                                  sizeof l->relu, &l->relu, sizeof keep, &keep, scratch,
                                  NULL);
    if (st == CNN_OK)
        st = gpu_launch(l, l->gpu_grad_sums, n, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->gpu_grad, err, 16, sizeof x, &x, sizeof gamma, &gamma,
                           sizeof dy, &dy, sizeof y, &y, sizeof l->stats, &l->stats,
                           sizeof l->part, &l->part, sizeof dx, &dx, sizeof dgamma,
                           &dgamma, sizeof dbeta, &dbeta, sizeof n, &n, sizeof l->c,
                           &l->c, sizeof l->hw, &l->hw, sizeof has_dx, &has_dx,
                           sizeof l->relu, &l->relu, sizeof keep, &keep, scratch, NULL);
    return st ? st : gpu_launch(l, l->gpu_grad, n, err);
}

cnn_status batchnorm_forward(const batchnorm_layer *l, int n, int training,
                             cl_mem x, cl_mem s, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var,
                             cl_mem y, cnn_error *err)
{
    cnn_status st = layer_check_batch("batch normalisation", n,
                                      l->max_batch, err);
    if (st)
        return st;
    float eps = (float)BATCHNORM_EPSILON, momentum = (float)BATCHNORM_MOMENTUM;
    const int join = s != NULL;
    if (!training) {
        /* The GPU variant's kernel takes a value per work-item, the CPU
         * variant's a channel. */
        int count = l->gpu ? n * l->c * l->hw : n;
        size_t global = l->gpu ? (size_t)count : (size_t)l->c;
        st = clrt_set_args(l->infer, err, 13, sizeof x, &x, sizeof s, &s, sizeof gamma,
                           &gamma, sizeof beta, &beta, sizeof running_mean,
                           &running_mean, sizeof running_var, &running_var,
                           sizeof y, &y, sizeof count, &count, sizeof l->c,
                           &l->c, sizeof l->hw, &l->hw, sizeof eps, &eps,
                           sizeof join, &join, sizeof l->relu, &l->relu);
        if (st == CNN_OK && !l->gpu)
            st = set_pad_args(l, l->infer, 13, err);
        return st ? st : clrt_launch(l->rt, l->infer, 1, &global,
                                     l->gpu ? NULL : &l->local, NULL, err);
    }
    if (l->gpu)
        return gpu_forward(l, n, x, s, gamma, beta, running_mean, running_var, y, err);
    size_t global = blocks(l);
    st = clrt_set_args(l->train, err, 15, sizeof x, &x, sizeof s, &s, sizeof gamma,
                       &gamma, sizeof beta, &beta, sizeof running_mean, &running_mean,
                       sizeof running_var, &running_var, sizeof y, &y,
                       sizeof l->stats, &l->stats, sizeof n, &n, sizeof l->c,
                       &l->c, sizeof l->hw, &l->hw, sizeof eps, &eps,
                       sizeof momentum, &momentum, sizeof join, &join,
                       sizeof l->relu, &l->relu);
    if (st == CNN_OK)
        st = set_pad_args(l, l->train, 15, err);
    return st ? st : clrt_launch(l->rt, l->train, 1, &global, &l->local, NULL,
                                 err);
}

cnn_status batchnorm_backward(const batchnorm_layer *l, int n, cl_mem x, cl_mem y,
                              cl_mem gamma, cl_mem beta, cl_mem dy, cl_mem ds, int join,
                              cl_mem dx, cl_mem dgamma, cl_mem dbeta, cnn_error *err)
{
    cnn_status st = layer_check_batch("batch normalisation", n,
                                      l->max_batch, err);
    if (st)
        return st;
    /* The second pass reads the sum with ds back from dy. */
    int has_dx = dx != NULL, has_ds = ds != NULL, keep = join || has_ds;
    if (l->gpu)
        return gpu_backward(l, n, x, y, gamma, dy, ds, keep, dx, dgamma, dbeta, err);
    /* batchnorm.cl's BATCHNORM_MASK_ values: none, y, or x's */
    int mask = !l->relu ? 0 : join ? 1 : 2;
    /* Transposed, dx is a second launch's, after the sums. */
    const int transposed = has_dx && l->dzt;
    has_dx &= !transposed;
    size_t global = blocks(l);
    st = clrt_set_args(l->backward, err, 17, sizeof x, &x, sizeof gamma, &gamma,
                       sizeof beta, &beta, sizeof dy, &dy, sizeof ds, &ds, sizeof y, &y,
                       sizeof l->stats, &l->stats, sizeof dx, &dx, sizeof dgamma, &dgamma,
                       sizeof dbeta, &dbeta, sizeof n, &n, sizeof l->c, &l->c,
                       sizeof l->hw, &l->hw, sizeof has_dx, &has_dx, sizeof has_ds,
                       &has_ds, sizeof mask, &mask, sizeof keep, &keep);
    if (st || (st = clrt_launch(l->rt, l->backward, 1, &global, &l->local, NULL, err)) ||
        !transposed)
        return st;
    const size_t per = 16 * BATCHNORM_DZT_TILES,
                 tiles[2] = {(size_t)n * (((size_t)l->hw + per - 1) / per),
                             ((size_t)l->c + 15) / 16};
    st = clrt_set_args(l->backward_dzt, err, 14, sizeof x, &x, sizeof gamma, &gamma,
                       sizeof beta, &beta, sizeof dy, &dy, sizeof y, &y, sizeof l->stats,
                       &l->stats, sizeof dgamma, &dgamma, sizeof dbeta, &dbeta,
                       sizeof l->dzt, &l->dzt, sizeof n, &n, sizeof l->c, &l->c,
                       sizeof l->hw, &l->hw, sizeof mask, &mask, sizeof keep, &keep);
    return st ? st : clrt_launch(l->rt, l->backward_dzt, 2, tiles, dzt_local, NULL, err);
}

/* The row: token "bn", no settings; any input, output of the same shape;
 * parameters gamma, beta and the two running statistics, each (C); a
 * following ReLU folds in (nd->relu); so does the add of the block it ends
 * (nd->join), with the ReLU folded into that. */

/* The ReLU the layer applies: its own, or its join's. */
static int applied_relu(const layer_node *nd)
{
    return nd->join ? nd->join->relu : nd->relu;
}

static int bn_params(const arch_layer *l, layer_param *out)
{
    static const struct {
        const char *what;
        layer_init init;
        int trainable;
    } decl[] = {{"weight", LAYER_INIT_ONE, 1},
                {"bias", LAYER_INIT_ZERO, 1},
                {"running_mean", LAYER_INIT_ZERO, 0},
                {"running_var", LAYER_INIT_ONE, 0}};
    int count = (int)(sizeof decl / sizeof decl[0]);
    for (int i = 0; i < count; i++)
        out[i] = (layer_param){.what = decl[i].what, .ndim = 1,
                               .shape = {l->in.c}, .init = decl[i].init,
                               .trainable = decl[i].trainable};
    return count;
}

typedef struct {
    const layer_node *nd;
    const layer_env *env;
    batchnorm_layer l;
} bn_timing;

static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    bn_timing *t = ctx;
    const arch_layer *s = t->nd->spec;
    (void)bufs;
    return batchnorm_create(&t->l, t->env->rt, t->env->max_batch, s->in.c, s->in.h,
                            s->in.w, applied_relu(t->nd), index, err);
}

/* A training forward and backward at max_batch on the scratch buffers x,
 * y, dy, dx, then the (C) vectors; a join's shortcut is dx, which the
 * backward writes after. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    const bn_timing *t = ctx;
    const int n = t->env->max_batch, join = t->nd->join != NULL;
    cnn_status st = batchnorm_forward(&t->l, n, 1, b[0], join ? b[3] : NULL, b[4], b[5],
                                      b[6], b[7], b[1], err);
    return st ? st : batchnorm_backward(&t->l, n, b[0], b[1], b[4], b[5], b[2], NULL, join,
                                        b[3], b[8], b[9], err);
}

static void time_release(void *ctx)
{
    batchnorm_release(&((bn_timing *)ctx)->l);
}

/* One site, "<name>.reduce": the training kernels' shape. */
static cnn_status bn_create(layer_node *nd, const layer_env *env,
                            cnn_error *err)
{
    const arch_layer *l = nd->spec;
    const size_t c = (size_t)l->in.c,
                 all = (size_t)env->max_batch * (size_t)arch_size(l->in);
    bn_timing t = {.nd = nd, .env = env};
    tune_timing timing = {.rt = env->rt, .nbufs = 10,
                          .counts = {all, all, all, all, c, c, c, c, c, c},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    int variant;
    cnn_status st = layer_choose(nd, env, "reduce", batchnorm_variants,
                                 batchnorm_variant_count, tune_time, &timing, &variant,
                                 err);
    return st ? st : batchnorm_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                                      l->in.w, applied_relu(nd), variant, err);
}

static void bn_release(layer_node *nd) { batchnorm_release(nd->op); }

/* A join's end has made its shortcut: its forward ran first. */
static cnn_status bn_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                             cnn_error *err)
{
    return batchnorm_forward(nd->op, p->n, p->training, x,
                             nd->join ? nd->join->shortcut : NULL,
                             nd->params[0]->param, nd->params[1]->param,
                             nd->params[2]->param, nd->params[3]->param,
                             nd->y, err);
}

/* The running statistics' grads are never written: they stay zero. A
 * join's masked dy stays in dy (the end's too), the gradient of the
 * chain's output and of the shortcut, which the end's backward, after this
 * one, takes from there. Where y is a block's input, dy holds the
 * gradient through the chain, which its first layer wrote, and the block's
 * end left the shortcut's (feeds): their sum is y's. */
static cnn_status bn_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cl_mem dx, cnn_error *err)
{
    return batchnorm_backward(nd->op, p->n, x, nd->y, nd->params[0]->param,
                              nd->params[1]->param, nd->dy,
                              nd->feeds ? nd->feeds->shortcut_grad : NULL, nd->join != NULL,
                              dx, nd->params[0]->grad, nd->params[1]->grad, err);
}

/* A join's backward reads y for its ReLU's mask; other backwards recompute
 * it from x (batchnorm_backward). */
static int bn_pad_output(layer_node *nd, const layer_padded *pad, int keep_y)
{
    return batchnorm_pad_output(nd->op, pad->buf, pad->h, pad->w, pad->top, pad->left,
                                keep_y || nd->join);
}

static int bn_transpose_dx(layer_node *nd, cl_mem dzt)
{
    return batchnorm_transpose_dx(nd->op, dzt);
}

static void bn_ref_forward(const arch_layer *l, const ref_pass *p,
                           double *const *params, const double *x, double *y)
{
    ref_batchnorm_forward(x, params[0], params[1], params[2], params[3], y,
                          p->n, l->in.c, l->in.h * l->in.w, p->training);
}

static void bn_ref_backward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x,
                            const double *y, const double *dy, double *dx,
                            double *const *grads)
{
    (void)y;
    ref_batchnorm_backward(x, params[0], dy, dx, grads[0], grads[1], p->n,
                           l->in.c, l->in.h * l->in.w);
}

/* Inference: the moving statistics, cnn-cl's epsilon (ONNX's default is
 * 1e-5). */
static cnn_status bn_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    const char *in[] = {io->x, layer_onnx_tensor(io, 0), layer_onnx_tensor(io, 1),
                        layer_onnx_tensor(io, 2), layer_onnx_tensor(io, 3)};
    const onnx_attr eps = ONNX_FLOAT("epsilon", (float)BATCHNORM_EPSILON);
    io->y = onnx_graph_node(io->g, "BatchNormalization", l->name, in, 5, &eps, 1);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_bn = {
    .prefix = "bn",
    .syntax = "bn",
    .keras = "BatchNormalization",
    .flags = LAYER_FUSES_RELU | LAYER_NORM | LAYER_JOINS,
    .parse = layer_parse_none,
    .shape = layer_shape_same,
    .params = bn_params,
    .op_size = sizeof(batchnorm_layer),
    .create = bn_create,
    .release = bn_release,
    .forward = bn_forward,
    .backward = bn_backward,
    .pad_output = bn_pad_output,
    .transpose_dx = bn_transpose_dx,
    .ref_forward = bn_ref_forward,
    .ref_backward = bn_ref_backward,
    .onnx = bn_onnx,
};
