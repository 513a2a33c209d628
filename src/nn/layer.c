/* layer.c: the table of layer kinds (see layer.h), the small helpers the
 * kinds' parsers and ops share, and a node's device state. */
#include "nn/layer.h"

#include <errno.h>
#include <stdlib.h>

#include "util/rng.h"

extern const layer_kind layer_conv, layer_pool, layer_avgpool, layer_gap,
    layer_relu, layer_flatten, layer_fc, layer_drop, layer_bn, layer_res_begin,
    layer_res;

/* Matched in this order: a prefix that starts another must come after it
 * ("res[" before "res"). */
const layer_kind *const layer_kinds[] = {
    &layer_conv, &layer_pool, &layer_avgpool, &layer_gap, &layer_relu,
    &layer_flatten, &layer_fc, &layer_drop, &layer_bn, &layer_res_begin, &layer_res,
};
const int layer_kind_count = sizeof layer_kinds / sizeof layer_kinds[0];

long layer_parse_number(const char **p)
{
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    *p = end;
    return errno || v < 1 || v > 1 << 20 ? -1 : v;
}

cnn_status layer_bad_token(const arch_layer *l, cnn_error *err)
{
    return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s' is not %s", l->token,
                    l->kind->syntax);
}

cnn_status layer_parse_none(const char *rest, arch_layer *l, cnn_error *err)
{
    return *rest ? layer_bad_token(l, err) : CNN_OK;
}

cnn_status layer_shape_same(arch_layer *l, cnn_error *err)
{
    (void)err;
    l->out = l->in;
    return CNN_OK;
}

const char *layer_onnx_tensor(onnx_layer_io *io, int i)
{
    return onnx_graph_tensor(io->g, io->names[i], io->decl[i].ndim, io->decl[i].shape,
                             io->params[i]);
}

cnn_status layer_onnx_same(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    (void)l, (void)err;
    io->y = io->x;
    return CNN_OK;
}

cnn_status layer_check_batch(const char *what, int n, int max_batch,
                             cnn_error *err)
{
    if (n < 1 || n > max_batch)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: batch %d outside 1..%d it "
                        "was created for", what, n, max_batch);
    return CNN_OK;
}

cnn_status layer_choose(const layer_node *nd, const layer_env *env, const char *what,
                        const tune_variant *v, int n, tune_time_fn time_fn, void *ctx,
                        int *chosen, cnn_error *err)
{
    const arch_layer *l = nd->spec;
    char name[TUNE_NAME], shape[96];
    snprintf(name, sizeof name, "%s.%s", l->name, what);
    snprintf(shape, sizeof shape, "%s in=%dx%dx%d%s batch=%d", l->token, l->in.c, l->in.h,
             l->in.w, nd->relu ? " relu=1" : "", env->max_batch);
    const tune_site site = {.name = name, .kind = l->kind->prefix, .shape_key = shape,
                            .dev = &env->rt->dev};
    return tuner_choose(env->tune, &site, v, n, time_fn, ctx, chosen, err);
}

cnn_status layer_node_create(layer_node *nd, const layer_env *env,
                             cnn_error *err)
{
    const layer_kind *kind = nd->spec->kind;
    if (!kind->create)
        return CNN_OK;
    if (!(nd->op = calloc(1, kind->op_size)))
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory for layer "
                        "%s", nd->spec->name);
    cnn_status st = kind->create(nd, env, err);
    if (st) {
        free(nd->op);
        nd->op = NULL;
    }
    return st;
}

void layer_node_release(layer_node *nd)
{
    if (!nd->op)
        return;
    nd->spec->kind->release(nd);
    free(nd->op);
    nd->op = NULL;
}

void layer_transpose_pair(layer_node *rd, layer_node *wr)
{
    cl_mem dzt = rd->spec->kind->transposed_dy ? rd->spec->kind->transposed_dy(rd) : NULL;
    if (dzt && wr->spec->kind->transpose_dx && wr->spec->kind->transpose_dx(wr, dzt))
        rd->spec->kind->dy_written(rd);
}

/* Tells the layers' streams apart from the other users of the seed. */
#define LAYER_STREAM_TAG 0x4c41594552ull /* "LAYER" */

uint64_t layer_stream_key(uint64_t seed, uint64_t epoch, uint64_t step, int index)
{
    uint64_t k = rng_key(seed, LAYER_STREAM_TAG);
    return rng_key(rng_key(rng_key(k, epoch), step), (uint64_t)index);
}
