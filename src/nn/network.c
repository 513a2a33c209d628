/* network.c: composing layers into a network (see network.h). */
#include "nn/network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

_Static_assert(TUNER_MAX_SITES >= 4 * ARCH_MAX_LAYERS + 1,
               "every layer's sites and the optimizer's fit a tuner");

/* Adds a parameter tensor of `layer`; offsets are aligned so each can be a
 * sub-buffer. */
static net_tensor *add_tensor(network *net, const char *layer, const layer_param *d)
{
    net_tensor *t = &net->tensors[net->ntensors++];
    snprintf(t->name, sizeof t->name, "%s.%s", layer, d->what);
    t->decl = *d;
    t->ndim = d->ndim;
    t->count = 1;
    for (int i = 0; i < d->ndim; i++) {
        t->shape[i] = d->shape[i];
        t->count *= (size_t)d->shape[i];
    }
    size_t align = clrt_align(net->rt) / sizeof(float);
    t->offset = (net->param_floats + align - 1) / align * align;
    net->param_floats = t->offset + t->count;
    net->param_count += t->count;
    if (d->trainable)
        net->trainable_count += t->count;
    return t;
}

/* Whether end, a block's end that `prev` comes right before, has its add
 * folded into prev: prev can (LAYER_JOINS) and applies no ReLU of its own,
 * which would come before the add. */
static int joins(const layer_node *prev)
{
    return (prev->spec->kind->flags & LAYER_JOINS) && !prev->relu;
}

/* Lays out the nodes and tensors of `a`: folds ReLUs into the layers that
 * fuse them and a block's add into its chain's last layer when it can, and
 * pairs each block's two ends. */
static void plan(network *net, const arch *a)
{
    int node_of[ARCH_MAX_LAYERS];
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        layer_node *prev = net->nnodes ? &net->nodes[net->nnodes - 1] : NULL;
        if ((l->kind->flags & LAYER_IS_RELU) && prev && !prev->relu &&
            (prev->spec->kind->flags & LAYER_FUSES_RELU)) {
            prev->relu = 1;
            continue;
        }
        node_of[i] = net->nnodes;
        layer_node *n = &net->nodes[net->nnodes++];
        if (l->kind->flags & LAYER_BLOCK_END) {
            n->pair = &net->nodes[node_of[l->pair]];
            n->pair->pair = n;
            /* Two blocks that end together: the outer one's add leaves
             * its gradient, its shortcut's, in the inner one's dy, which a
             * join would overwrite with its own. */
            if (prev->joined) {
                prev->joined = 0;
                prev[-1].join = NULL;
            }
            if (joins(prev)) {
                prev->join = n;
                n->joined = 1;
            }
        }
        n->spec = l;
        layer_param decl[LAYER_MAX_PARAMS];
        n->nparams = l->kind->params ? l->kind->params(l, decl) : 0;
        for (int p = 0; p < n->nparams; p++)
            n->params[p] = add_tensor(net, l->name, &decl[p]);
    }
}

/* The sum of a block input's two gradients folded into the layer that
 * writes the input (directly, or as its joined end), when its kind can
 * (LAYER_JOINS): its backward adds the block's shortcut gradient (feeds)
 * and the begin adds nothing (fed). Not when the begin follows another
 * (blocks that open together): one layer takes one block's. */
static void plan_feeds(network *net)
{
    for (int b = 1; b < net->nnodes; b++) {
        layer_node *begin = &net->nodes[b];
        int p = net->nodes[b - 1].joined ? b - 2 : b - 1;
        layer_node *writer = &net->nodes[p];
        if (!(begin->spec->kind->flags & LAYER_BLOCK_BEGIN) ||
            !(writer->spec->kind->flags & LAYER_JOINS) || writer->feeds)
            continue;
        writer->feeds = begin->pair;
        begin->fed = 1;
    }
}

static cnn_status create_buffers(network *net, cnn_error *err)
{
    const clrt *rt = net->rt;
    size_t pbytes = net->param_floats * sizeof(float);
    cnn_status st;
    if ((st = clrt_buffer(rt, pbytes, &net->params, err)) ||
        (st = clrt_buffer(rt, pbytes, &net->grads, err)))
        return st;
    /* Padding between tensors must read as zero for the optimizer. */
    float zero = 0;
    CLRT_CALL(err, clEnqueueFillBuffer, (rt->queue, net->params, &zero, sizeof zero,
              0, pbytes, 0, NULL, NULL));
    CLRT_CALL(err, clEnqueueFillBuffer, (rt->queue, net->grads, &zero, sizeof zero,
              0, pbytes, 0, NULL, NULL));
    for (int i = 0; i < net->ntensors; i++) {
        net_tensor *t = &net->tensors[i];
        size_t off = t->offset * sizeof(float), bytes = t->count * sizeof(float);
        if ((st = clrt_sub_buffer(net->params, off, bytes, &t->param, err)) ||
            (st = clrt_sub_buffer(net->grads, off, bytes, &t->grad, err)))
            return st;
    }
    size_t b = (size_t)net->max_batch;
    if ((st = clrt_buffer(rt, b * (size_t)arch_size(net->arch.input) * sizeof(float),
                          &net->x, err)) ||
        (st = clrt_buffer(rt, b * sizeof(int32_t), &net->labels, err)) ||
        (st = clrt_buffer(rt, LOSS_TOTALS * sizeof(float), &net->totals, err)))
        return st;
    cl_mem in = net->x, din = NULL;
    for (int i = 0; i < net->nnodes; i++) {
        layer_node *n = &net->nodes[i];
        if ((n->spec->kind->flags & LAYER_VIEW) || n->joined) {
            /* A view reshapes its input: it shares the input's buffers; so
             * does a joined end, whose output is its input. */
            n->y = in;
            n->dy = din;
            if (in)
                clRetainMemObject(in);
            if (din)
                clRetainMemObject(din);
        } else {
            size_t bytes = b * (size_t)arch_size(n->spec->out) * sizeof(float);
            if ((st = clrt_buffer(rt, bytes, &n->y, err)) ||
                (st = clrt_buffer(rt, bytes, &n->dy, err)))
                return st;
        }
        in = n->y;
        din = n->dy;
    }
    return CNN_OK;
}

static int trainable(const layer_node *nd)
{
    for (int p = 0; p < nd->nparams; p++)
        if (nd->params[p]->decl.trainable)
            return 1;
    return 0;
}

/* The first node with trainable parameters: the backward pass stops there,
 * asking it for no input gradient. */
static int first_trainable(const network *net)
{
    int first = 0;
    while (first < net->nnodes && !trainable(&net->nodes[first]))
        first++;
    return first;
}

/* Where a layer's forward makes a padded copy of its input and the layer
 * that writes the input can write the copy in its own forward instead, it
 * does: one pass over the values less. The writer is the node before,
 * or, past views and joined ends (which share its buffer), an earlier one;
 * it then keeps writing y, which they pass on. */
static cnn_status plan_padding(network *net, cnn_error *err)
{
    for (int i = 1; i < net->nnodes; i++) {
        layer_node *rd = &net->nodes[i];
        layer_padded pad;
        if (!rd->spec->kind->padded_input || !rd->spec->kind->padded_input(rd, &pad))
            continue;
        int w = i - 1;
        while (w >= 0 && ((net->nodes[w].spec->kind->flags & LAYER_VIEW) ||
                          net->nodes[w].joined))
            w--;
        layer_node *wr = w >= 0 ? &net->nodes[w] : NULL;
        if (!wr || !wr->spec->kind->pad_output ||
            !wr->spec->kind->pad_output(wr, &pad, w != i - 1))
            continue;
        cnn_status st = rd->spec->kind->input_padded(rd, err);
        if (st)
            return st;
    }
    return CNN_OK;
}

/* Each node whose backward reads its dy transposed alone (conv), paired
 * with the node right after it when that node's backward can write its dx
 * there (bn's CPU variant): that dx is the first node's dy, which nothing
 * else writes or reads, so the first node's transpose goes. */
static void plan_transposes(network *net)
{
    for (int i = 1; i < net->nnodes; i++)
        layer_transpose_pair(&net->nodes[i - 1], &net->nodes[i]);
}

/* Creates every layer's op, each asking `tune` for its sites, then plans
 * the padded copies and the transposed gradients. */
static cnn_status create_layers(network *net, tuner *tune, cnn_error *err)
{
    layer_env env = {.rt = net->rt, .max_batch = net->max_batch, .tune = tune};
    int first = first_trainable(net);
    for (int i = 0; i < net->nnodes; i++) {
        layer_node *n = &net->nodes[i];
        env.input_gradient = i > first;
        if (layer_node_create(n, &env, err))
            return cnn_fail_context(err, "layer %s", n->spec->token);
    }
    plan_transposes(net);
    return plan_padding(net, err);
}

/* The optimizer, its weight decay restricted to the trainable tensors:
 * padding and the tensors a layer updates itself keep their values. */
static cnn_status create_optim(network *net, tuner *tune, optim_config cfg,
                               cnn_error *err)
{
    unsigned char *decays = calloc(net->param_floats + 1, 1);
    if (!decays)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; i < net->ntensors; i++) {
        const net_tensor *t = &net->tensors[i];
        if (t->decl.trainable)
            memset(decays + t->offset, 1, t->count);
    }
    cnn_status st = optim_create(&net->optim, net->rt, (int)net->param_floats, cfg, decays,
                                 tune, err);
    free(decays);
    return st;
}

static cnn_status create_ops(network *net, tuner *tune, optim_config cfg,
                             cnn_error *err)
{
    cnn_status st;
    if ((st = create_layers(net, tune, err)) ||
        (st = loss_create(&net->loss, net->rt, net->arch.classes, err)) ||
        (st = create_optim(net, tune, cfg, err)))
        return st;
    return network_totals_reset(net, err);
}

cnn_status network_create(network *net, const clrt *rt, const arch *a,
                          int max_batch, tuner *tune, optim_config optim,
                          cnn_error *err)
{
    memset(net, 0, sizeof *net);
    net->rt = rt;
    net->arch = *a;
    net->max_batch = max_batch;
    plan(net, &net->arch);
    plan_feeds(net);
    cnn_status st = create_buffers(net, err);
    if (st == CNN_OK)
        st = create_ops(net, tune, optim, err);
    if (st)
        network_release(net);
    return st;
}

cnn_status network_retune(network *net, tuner *tune, cnn_error *err)
{
    if (!tune || !tuner_has_defaults(tune))
        return CNN_OK;
    tuner next;
    cnn_status st = tuner_retime(tune, &next, err);
    if (st)
        return st;
    CLRT_CALL(err, clFinish, (net->rt->queue));
    /* The layers hold nothing between steps but their kernels and scratch:
     * made again with next's choices, they compute as before. The optimizer
     * keeps its state, and its key has one variant on every device. */
    for (int i = 0; i < net->nnodes; i++)
        layer_node_release(&net->nodes[i]);
    if ((st = create_layers(net, &next, err)))
        return cnn_fail_context(err, "timing the variants the first steps took by default");
    tuner_adopt(tune, &next);
    return CNN_OK;
}

void network_release(network *net)
{
    for (int i = 0; i < net->nnodes; i++) {
        layer_node *n = &net->nodes[i];
        layer_node_release(n);
        clrt_release_mem(&n->y);
        clrt_release_mem(&n->dy);
    }
    for (int i = 0; i < net->ntensors; i++) {
        clrt_release_mem(&net->tensors[i].param);
        clrt_release_mem(&net->tensors[i].grad);
    }
    if (net->loss.rt)
        loss_release(&net->loss);
    if (net->optim.rt)
        optim_release(&net->optim);
    clrt_release_mem(&net->params);
    clrt_release_mem(&net->grads);
    clrt_release_mem(&net->x);
    clrt_release_mem(&net->labels);
    clrt_release_mem(&net->totals);
}

/* Tells the initialisation's streams apart from the other users of the
 * seed. */
#define INIT_STREAM_TAG 0x494e4954ull /* "INIT" */

cnn_status network_init(network *net, uint64_t seed, cnn_error *err)
{
    network_set_stream(net, seed, 0);
    uint64_t key = rng_key(seed, INIT_STREAM_TAG);
    for (int i = 0; i < net->ntensors; i++) {
        net_tensor *t = &net->tensors[i];
        uint64_t stream = rng_key(key, (uint64_t)i);
        float *v = malloc(t->count * sizeof *v);
        if (!v)
            return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
        double limit = t->decl.init == LAYER_INIT_GLOROT
                           ? sqrt(6.0 / (t->decl.fan_in + t->decl.fan_out)) : 0;
        for (size_t j = 0; j < t->count; j++)
            v[j] = t->decl.init == LAYER_INIT_GLOROT
                       ? (float)((2 * rng_uniform(stream, j) - 1) * limit)
                       : t->decl.init == LAYER_INIT_ONE ? 1.0f : 0.0f;
        cnn_status st = network_tensor_write(net, t, v, err);
        free(v);
        if (st)
            return st;
    }
    return CNN_OK;
}

void network_set_stream(network *net, uint64_t seed, uint64_t epoch)
{
    net->seed = seed;
    net->epoch = epoch;
}

cnn_status network_upload(network *net, const float *images,
                          const int32_t *labels, int n, cnn_error *err)
{
    const clrt *rt = net->rt;
    size_t pixels = (size_t)arch_size(net->arch.input);
    CLRT_CALL(err, clEnqueueWriteBuffer, (rt->queue, net->x, CL_FALSE, 0,
              (size_t)n * pixels * sizeof(float), images, 0, NULL, NULL));
    CLRT_CALL(err, clEnqueueWriteBuffer, (rt->queue, net->labels, CL_FALSE, 0,
              (size_t)n * sizeof(int32_t), labels, 0, NULL, NULL));
    return CNN_OK;
}

/* The pass of node i: its random stream is that of its place in the arch,
 * at the step the optimizer is about to take. */
static layer_pass pass(const network *net, int i, int n, int training)
{
    int index = (int)(net->nodes[i].spec - net->arch.layers);
    return (layer_pass){.n = n, .training = training, .first = net->part_first,
                        .key = layer_stream_key(net->seed, net->epoch,
                                                (uint64_t)net->optim.step, index)};
}

/* The node of the forward's step s (of the backward's, in reverse): a
 * joined end changes places with the layer before it, which computes its
 * add, so that its forward makes the shortcut first and its backward finds
 * the add's gradient that the layer leaves. */
static int node_at(const network *net, int s)
{
    if (net->nodes[s].join)
        return s + 1;
    return net->nodes[s].joined ? s - 1 : s;
}

/* Node i's input: the output of the node before it, or the batch. */
static cl_mem input_of(const network *net, int i)
{
    return i ? net->nodes[i - 1].y : net->x;
}

cnn_status network_forward(network *net, int n, int training, cnn_error *err)
{
    for (int s = 0; s < net->nnodes; s++) {
        const int i = node_at(net, s);
        layer_node *nd = &net->nodes[i];
        if (nd->spec->kind->forward) {
            layer_pass p = pass(net, i, n, training);
            cnn_status st = nd->spec->kind->forward(nd, &p, input_of(net, i), err);
            if (st)
                return st;
        }
    }
    return CNN_OK;
}

void network_set_part(network *net, int first, int total)
{
    net->part_first = total ? first : 0;
    net->part_total = total;
}

/* Backward from the loss's gradient in the last node's dy. Layers before
 * the first one with trainable parameters need no gradient, so they are
 * skipped. Gradients computed beside the queue's chain (clrt_fork) are
 * joined before `done` hears of a node, and at the end. */
static cnn_status backward(network *net, int n, network_node_done done, void *ctx,
                           cnn_error *err)
{
    int first = first_trainable(net);
    /* A join's two nodes lie above first: the layer has parameters. */
    for (int s = net->nnodes - 1; s >= first; s--) {
        const int i = node_at(net, s);
        layer_node *nd = &net->nodes[i];
        if (!nd->spec->kind->backward)
            continue;
        cl_mem dx = i > first ? net->nodes[i - 1].dy : NULL;
        layer_pass p = pass(net, i, n, 1);
        cnn_status st = nd->spec->kind->backward(nd, &p, input_of(net, i), dx, err);
        if (st == CNN_OK && done && (st = clrt_join(net->rt, err)) == CNN_OK)
            st = done(ctx, i, err);
        if (st)
            return st;
    }
    return clrt_join(net->rt, err);
}

static layer_node *last(network *net) { return &net->nodes[net->nnodes - 1]; }

cl_mem network_logits(const network *net) { return net->nodes[net->nnodes - 1].y; }

static cnn_status loss_step(network *net, int n, int training, cnn_error *err)
{
    return loss_softmax_xent(&net->loss, n, net->part_total ? net->part_total : n,
                             last(net)->y, net->labels, last(net)->dy, net->totals, 1,
                             training ? net->label_smoothing : 0, err);
}

cnn_status network_eval_step(network *net, int n, cnn_error *err)
{
    cnn_status st = network_forward(net, n, 0, err);
    return st ? st : loss_step(net, n, 0, err);
}

cnn_status network_gradients(network *net, int n, network_node_done done, void *ctx,
                             cnn_error *err)
{
    cnn_status st;
    if ((st = network_forward(net, n, 1, err)) || (st = loss_step(net, n, 1, err)))
        return st;
    return backward(net, n, done, ctx, err);
}

void network_set_label_smoothing(network *net, float smoothing)
{
    net->label_smoothing = smoothing;
}

void network_set_lr(network *net, float lr) { net->optim.cfg.lr = lr; }

cnn_status network_apply(network *net, cnn_error *err)
{
    return optim_step(&net->optim, net->params, net->grads, err);
}

cnn_status network_train_step(network *net, int n, cnn_error *err)
{
    cnn_status st = network_gradients(net, n, NULL, NULL, err);
    return st ? st : network_apply(net, err);
}

void network_node_span(const network *net, int node, size_t *offset, size_t *count)
{
    const layer_node *nd = &net->nodes[node];
    *offset = *count = 0;
    if (!nd->nparams)
        return;
    const net_tensor *a = nd->params[0], *b = nd->params[nd->nparams - 1];
    *offset = a->offset;
    *count = b->offset + b->count - a->offset;
}

cnn_status network_totals_reset(network *net, cnn_error *err)
{
    float zero = 0;
    CLRT_CALL(err, clEnqueueFillBuffer, (net->rt->queue, net->totals, &zero, sizeof zero,
              0, LOSS_TOTALS * sizeof(float), 0, NULL, NULL));
    return CNN_OK;
}

cnn_status network_totals_read(network *net, double *loss_sum, double *correct,
                               cnn_error *err)
{
    float t[LOSS_TOTALS];
    cnn_status st = clrt_read(net->rt, net->totals, t, sizeof t, err);
    if (st)
        return st;
    *loss_sum = t[LOSS_SUM];
    *correct = t[LOSS_CORRECT];
    return CNN_OK;
}

cnn_status network_probabilities(network *net, int n, float *probs,
                                 cnn_error *err)
{
    /* The last layer's gradient buffer is free outside training. */
    cnn_status st;
    if ((st = network_forward(net, n, 0, err)) ||
        (st = loss_softmax(&net->loss, n, last(net)->y, last(net)->dy, err)))
        return st;
    return clrt_read(net->rt, last(net)->dy, probs,
                     (size_t)n * (size_t)net->arch.classes * sizeof(float), err);
}

cnn_status network_tensor_read(network *net, const net_tensor *t, int grad,
                               float *out, cnn_error *err)
{
    return clrt_read(net->rt, grad ? t->grad : t->param, out, t->count * sizeof(float),
                     err);
}

cnn_status network_tensor_write(network *net, const net_tensor *t,
                                const float *in, cnn_error *err)
{
    return clrt_write(net->rt, t->param, in, t->count * sizeof(float), err);
}

/* Keras prints shapes channels last. */
static void shape_text(arch_shape s, char *buf, size_t size)
{
    if (s.h == 1 && s.w == 1)
        snprintf(buf, size, "(None, %d)", s.c);
    else
        snprintf(buf, size, "(None, %d, %d, %d)", s.h, s.w, s.c);
}

/* A row's name and type: "conv1 (Conv2D, relu)". */
static void row_name(const layer_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s (%s%s)", n->spec->name, n->spec->kind->keras,
             n->relu ? ", relu" : "");
}

void network_summary(const network *net, FILE *f)
{
    char name[64], shape[32], rule[128];
    /* Keras' 28 columns for the names, wider when one needs more (a
     * "bn12 (BatchNormalization, relu)"), so the columns stay aligned. */
    int width = 28;
    for (int i = 0; i < net->nnodes; i++)
        if (net->nodes[i].spec->kind->keras) {
            row_name(&net->nodes[i], name, sizeof name);
            width = (int)strlen(name) > width ? (int)strlen(name) : width;
        }
    const int ruled = width + 32; /* the shape's column, the count's and two spaces */
    memset(rule, '=', (size_t)ruled);
    rule[ruled] = '\0';
    fprintf(f, "%-*s %-20s %10s\n%s\n", width, "Layer (type)", "Output Shape", "Param #",
            rule);
    shape_text(net->arch.input, shape, sizeof shape);
    fprintf(f, "%-*s %-20s %10d\n", width, "input (InputLayer)", shape, 0);
    for (int i = 0; i < net->nnodes; i++) {
        const layer_node *n = &net->nodes[i];
        if (!n->spec->kind->keras)
            continue;
        size_t params = 0;
        for (int p = 0; p < n->nparams; p++)
            params += n->params[p]->count;
        row_name(n, name, sizeof name);
        shape_text(n->spec->out, shape, sizeof shape);
        fprintf(f, "%-*s %-20s %10zu\n", width, name, shape, params);
    }
    fprintf(f, "%s\nTotal params: %zu\nTrainable params: %zu\nNon-trainable params: %zu\n",
            rule, net->param_count, net->trainable_count,
            net->param_count - net->trainable_count);
}
