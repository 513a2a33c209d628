/* batchnorm.c: the batch-normalisation layer's host side (see batchnorm.h;
 * the kernels are in kernels/batchnorm.cl) and its row of the layer table,
 * token "bn". A training forward is one launch, a backward one launch. */
#include "batchnorm.h"

#include <limits.h>
#include <string.h>

#include "layer.h"
#include "ref/batchnorm.h"

/* Work-items per channel: enough to spread a large batch's reduction, cut
 * down to what the device allows for these kernels. */
enum { BATCHNORM_LOCAL = 256 };

void batchnorm_release(batchnorm_layer *l)
{
    clrt_release_kernel(&l->train);
    clrt_release_kernel(&l->infer);
    clrt_release_kernel(&l->backward);
    clrt_release_mem(&l->stats);
    memset(l, 0, sizeof *l);
}

/* The largest power of two <= BATCHNORM_LOCAL that both reduction kernels
 * may run as one work-group. */
static cnn_status pick_local(batchnorm_layer *l, cnn_error *err)
{
    cl_kernel ks[] = {l->train, l->backward};
    l->local = BATCHNORM_LOCAL;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        size_t most;
        CLRT_CALL(err, clGetKernelWorkGroupInfo,
                  (ks[i], l->rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE,
                   sizeof most, &most, NULL));
        while (l->local > most && l->local > 1)
            l->local /= 2;
    }
    return CNN_OK;
}

cnn_status batchnorm_create(batchnorm_layer *l, const clrt *rt, int max_batch,
                            int c, int h, int w, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    /* The kernels index with int. */
    if (max_batch < 1 || c < 1 || h < 1 || w < 1 ||
        (long long)max_batch * c * h * w > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "batch normalisation: bad shape (batch %d, %d "
                        "channels %dx%d)", max_batch, c, h, w);
    *l = (batchnorm_layer){.rt = rt, .max_batch = max_batch, .c = c,
                           .hw = h * w};
    static const char *const names[] = {"batchnorm_forward_train",
                                        "batchnorm_forward_infer",
                                        "batchnorm_backward"};
    cl_kernel *const kernels[] = {&l->train, &l->infer, &l->backward};
    cnn_status st = clrt_kernels(rt, 3, names, kernels, err);
    if (st == CNN_OK)
        st = pick_local(l, err);
    if (st == CNN_OK)
        st = clrt_buffer(rt, 2 * (size_t)c * sizeof(float), &l->stats, err);
    if (st) {
        batchnorm_release(l);
        return cnn_fail_context(err, "creating a batch-normalisation layer");
    }
    return CNN_OK;
}

cnn_status batchnorm_forward(const batchnorm_layer *l, int n, int training,
                             cl_mem x, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var,
                             cl_mem y, cnn_error *err)
{
    cnn_status st = layer_check_batch("batch normalisation", n,
                                      l->max_batch, err);
    if (st)
        return st;
    float eps = (float)BATCHNORM_EPSILON, momentum = (float)BATCHNORM_MOMENTUM;
    if (!training) {
        int total = n * l->c * l->hw;
        size_t global = (size_t)total;
        st = clrt_set_args(l->infer, err, 10, sizeof x, &x, sizeof gamma,
                           &gamma, sizeof beta, &beta, sizeof running_mean,
                           &running_mean, sizeof running_var, &running_var,
                           sizeof y, &y, sizeof total, &total, sizeof l->c,
                           &l->c, sizeof l->hw, &l->hw, sizeof eps, &eps);
        return st ? st : clrt_launch(l->rt, l->infer, 1, &global, NULL, NULL,
                                     err);
    }
    size_t global = (size_t)l->c * l->local;
    st = clrt_set_args(l->train, err, 13, sizeof x, &x, sizeof gamma, &gamma,
                       sizeof beta, &beta, sizeof running_mean, &running_mean,
                       sizeof running_var, &running_var, sizeof y, &y,
                       sizeof l->stats, &l->stats, sizeof n, &n, sizeof l->c,
                       &l->c, sizeof l->hw, &l->hw, sizeof eps, &eps,
                       sizeof momentum, &momentum, l->local * sizeof(float),
                       NULL);
    return st ? st : clrt_launch(l->rt, l->train, 1, &global, &l->local, NULL,
                                 err);
}

cnn_status batchnorm_backward(const batchnorm_layer *l, int n, cl_mem x,
                              cl_mem gamma, cl_mem dy, cl_mem dx,
                              cl_mem dgamma, cl_mem dbeta, cnn_error *err)
{
    cnn_status st = layer_check_batch("batch normalisation", n,
                                      l->max_batch, err);
    if (st)
        return st;
    int has_dx = dx != NULL;
    size_t global = (size_t)l->c * l->local;
    st = clrt_set_args(l->backward, err, 12, sizeof x, &x, sizeof gamma,
                       &gamma, sizeof dy, &dy, sizeof l->stats, &l->stats,
                       sizeof dx, &dx, sizeof dgamma, &dgamma, sizeof dbeta,
                       &dbeta, sizeof n, &n, sizeof l->c, &l->c, sizeof l->hw,
                       &l->hw, sizeof has_dx, &has_dx,
                       l->local * sizeof(float), NULL);
    return st ? st : clrt_launch(l->rt, l->backward, 1, &global, &l->local,
                                 NULL, err);
}

/* The row: token "bn", no settings; any input, output of the same shape;
 * parameters gamma, beta and the two running statistics, each (C). */

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

static cnn_status bn_create(layer_node *nd, const layer_env *env,
                            cnn_error *err)
{
    const arch_layer *l = nd->spec;
    return batchnorm_create(nd->op, env->rt, env->max_batch, l->in.c, l->in.h,
                            l->in.w, err);
}

static void bn_release(layer_node *nd) { batchnorm_release(nd->op); }

static cnn_status bn_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                             cnn_error *err)
{
    return batchnorm_forward(nd->op, p->n, p->training, x,
                             nd->params[0]->param, nd->params[1]->param,
                             nd->params[2]->param, nd->params[3]->param,
                             nd->y, err);
}

/* The running statistics' grads are never written: they stay zero. */
static cnn_status bn_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                              cl_mem dx, cnn_error *err)
{
    return batchnorm_backward(nd->op, p->n, x, nd->params[0]->param, nd->dy,
                              dx, nd->params[0]->grad, nd->params[1]->grad,
                              err);
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

const layer_kind layer_bn = {
    .prefix = "bn",
    .syntax = "bn",
    .keras = "BatchNormalization",
    .flags = 0,
    .parse = layer_parse_none,
    .shape = layer_shape_same,
    .params = bn_params,
    .op_size = sizeof(batchnorm_layer),
    .create = bn_create,
    .release = bn_release,
    .forward = bn_forward,
    .backward = bn_backward,
    .ref_forward = bn_ref_forward,
    .ref_backward = bn_ref_backward,
};
