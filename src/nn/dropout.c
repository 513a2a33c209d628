/* dropout.c: the dropout layer's host side (see dropout.h; the kernel is in
 * kernels/dropout.cl), and its row of the layer table. */
#include "nn/dropout.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/dropout.h"

cnn_status dropout_create(dropout_layer *l, const clrt *rt, int max_batch,
                          long size, double rate, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || size < 1 || size > INT_MAX / max_batch)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "dropout: bad shape (batch %d of %ld values)",
                        max_batch, size);
    if (!(rate >= 0 && rate < 1))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "dropout: rate %g is outside [0, 1)", rate);
    *l = (dropout_layer){.rt = rt, .max_batch = max_batch, .size = size,
                         .rate = (float)rate,
                         .scale = (float)(1 / (1 - rate))};
    cnn_status st = clrt_kernel(rt, "dropout_apply", &l->apply, err);
    if (st)
        return cnn_fail_context(err, "creating a dropout layer");
    return CNN_OK;
}

void dropout_release(dropout_layer *l)
{
    clrt_release_kernel(&l->apply);
}

/* out = the mask applied to in (training), or in copied (inference); both
 * (n, size). */
static cnn_status apply(const dropout_layer *l, int n, int training,
                        uint64_t key, int first, cl_mem in, cl_mem out, cnn_error *err)
{
    cnn_status st = layer_check_batch("dropout", n, l->max_batch, err);
    if (st)
        return st;
    int count = n * (int)l->size;
    if (!training) {
        CLRT_CALL(err, clEnqueueCopyBuffer,
                  (l->rt->queue, in, out, 0, 0, (size_t)count * sizeof(float),
                   0, NULL, NULL));
        return CNN_OK;
    }
    cl_ulong k = key, base = (cl_ulong)first * (cl_ulong)l->size;
    st = clrt_set_args(l->apply, err, 7, sizeof in, &in, sizeof out, &out,
                       sizeof count, &count, sizeof k, &k, sizeof base, &base,
                       sizeof l->rate, &l->rate, sizeof l->scale, &l->scale);
    /* A multiple of 64, so the runtime, left to choose the work-group size,
     * can pick a large one rather than a divisor of an odd count. */
    size_t global = ((size_t)count + 63) / 64 * 64;
    return st ? st : clrt_launch(l->rt, l->apply, 1, &global, NULL, NULL, err);
}

cnn_status dropout_forward(const dropout_layer *l, int n, int training,
                           uint64_t key, int first, cl_mem x, cl_mem y,
                           cnn_error *err)
{
    return apply(l, n, training, key, first, x, y, err);
}

cnn_status dropout_backward(const dropout_layer *l, int n, int training,
                            uint64_t key, int first, cl_mem dy, cl_mem dx,
                            cnn_error *err)
{
    return apply(l, n, training, key, first, dy, dx, err);
}

/* The row: drop<R>, Keras' Dropout(R). */

/* R: digits, then optionally '.' and digits ("0.25", "0"). */
static cnn_status dropout_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    const char *p = rest;
    while (*p >= '0' && *p <= '9')
        p++;
    int digits = p > rest;
    if (digits && *p == '.') {
        const char *fraction = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        digits = p > fraction;
    }
    if (!digits || *p)
        return layer_bad_token(l, err);
    l->rate = strtod(rest, NULL);
    /* The kernels compare with the rate as a float: one that rounds to 1
     * there would drop everything. */
    if (!((float)l->rate < 1.0f))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "--arch: '%s': the dropout rate must be in [0, 1)",
                        l->token);
    return CNN_OK;
}

static cnn_status dropout_row_create(layer_node *nd, const layer_env *env,
                                     cnn_error *err)
{
    const arch_layer *l = nd->spec;
    return dropout_create(nd->op, env->rt, env->max_batch, arch_size(l->in),
                          l->rate, err);
}

static void dropout_row_release(layer_node *nd) { dropout_release(nd->op); }

static cnn_status dropout_row_forward(layer_node *nd, const layer_pass *p,
                                      cl_mem x, cnn_error *err)
{
    return dropout_forward(nd->op, p->n, p->training, p->key, p->first, x, nd->y, err);
}

static cnn_status dropout_row_backward(layer_node *nd, const layer_pass *p,
                                       cl_mem x, cl_mem dx, cnn_error *err)
{
    (void)x;
    return dx ? dropout_backward(nd->op, p->n, p->training, p->key, p->first,
                                 nd->dy, dx, err)
              : CNN_OK;
}

static void dropout_ref_forward(const arch_layer *l, const ref_pass *p,
                                double *const *params, const double *x,
                                double *y)
{
    (void)params;
    ref_dropout_forward(x, y, p->n * arch_size(l->in), l->rate, p->key,
                        p->training);
}

static void dropout_ref_backward(const arch_layer *l, const ref_pass *p,
                                 double *const *params, const double *x,
                                 const double *y, const double *dy,
                                 double *dx, double *const *grads)
{
    (void)params, (void)x, (void)y, (void)grads;
    if (dx)
        ref_dropout_backward(dy, dx, p->n * arch_size(l->in), l->rate,
                             p->key, p->training);
}

const layer_kind layer_drop = {
    .prefix = "drop", .syntax = "drop<R> (a rate such as 0.25)",
    .keras = "Dropout", .flags = 0,
    .parse = dropout_parse, .shape = layer_shape_same,
    .op_size = sizeof(dropout_layer),
    .create = dropout_row_create, .release = dropout_row_release,
    .forward = dropout_row_forward, .backward = dropout_row_backward,
    .ref_forward = dropout_ref_forward, .ref_backward = dropout_ref_backward,
    .onnx = layer_onnx_same, /* the identity at inference */
};
