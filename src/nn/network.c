/* network.c: composing layers into a network (see network.h). */
#include "network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cache.h"
#include "rng.h"

/* Adds a parameter tensor; offsets are aligned so each can be a
 * sub-buffer. */
static net_tensor *add_tensor(network *net, const char *layer, const char *what,
                              int ndim, const int *shape, int fan_in, int fan_out)
{
    net_tensor *t = &net->tensors[net->ntensors++];
    snprintf(t->name, sizeof t->name, "%s.%s", layer, what);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= (size_t)shape[i];
    }
    size_t align = clrt_align(net->rt) / sizeof(float);
    t->offset = (net->param_floats + align - 1) / align * align;
    net->param_floats = t->offset + t->count;
    net->param_count += t->count;
    t->fan_in = fan_in;
    t->fan_out = fan_out;
    return t;
}

/* Lays out the nodes and tensors of `a`: fuses ReLUs, names layers. */
static void plan(network *net, const arch *a)
{
    int convs = 0, fcs = 0;
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        net_node *prev = net->nnodes ? &net->nodes[net->nnodes - 1] : NULL;
        if (l->kind == ARCH_RELU && prev && !prev->relu &&
            (prev->kind == ARCH_CONV || prev->kind == ARCH_DENSE)) {
            prev->relu = 1;
            continue;
        }
        net_node *n = &net->nodes[net->nnodes++];
        n->kind = l->kind;
        n->in = l->in;
        n->out = l->out;
        n->token = l->token;
        char name[16];
        if (l->kind == ARCH_CONV) {
            snprintf(name, sizeof name, "conv%d", ++convs);
            int ws[4] = {l->units, l->in.c, l->k, l->k}, bs[1] = {l->units};
            n->w = add_tensor(net, name, "weight", 4, ws, l->in.c * l->k * l->k,
                              l->units * l->k * l->k);
            n->b = add_tensor(net, name, "bias", 1, bs, 0, 0);
        } else if (l->kind == ARCH_DENSE) {
            snprintf(name, sizeof name, "fc%d", ++fcs);
            int ws[2] = {l->units, l->in.c}, bs[1] = {l->units};
            n->w = add_tensor(net, name, "weight", 2, ws, l->in.c, l->units);
            n->b = add_tensor(net, name, "bias", 1, bs, 0, 0);
        }
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
    /* Padding between tensors must read as zero for Adam. */
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
        net_node *n = &net->nodes[i];
        if (n->kind == ARCH_FLATTEN) {
            /* (C, H, W) per sample is already contiguous: flatten is a view. */
            n->y = in;
            n->dy = din;
            if (in)
                clRetainMemObject(in);
            if (din)
                clRetainMemObject(din);
        } else {
            size_t bytes = b * (size_t)arch_size(n->out) * sizeof(float);
            if ((st = clrt_buffer(rt, bytes, &n->y, err)) ||
                (st = clrt_buffer(rt, bytes, &n->dy, err)))
                return st;
        }
        in = n->y;
        din = n->dy;
    }
    return CNN_OK;
}

/* Timing picks each dense layer's GEMM path on its own; the network keeps
 * the one path that is faster over all of them, so a single name describes
 * how its weights were computed and a resumed run can compute them the same
 * way. */
static cnn_status unify_gemm(network *net, cnn_error *err)
{
    double ms[3] = {0, 0, 0};
    for (int i = 0; i < net->nnodes; i++)
        if (net->nodes[i].kind == ARCH_DENSE)
            for (int p = 0; p < 3; p++)
                ms[p] += net->nodes[i].op.dense.timed_ms[p];
    dense_gemm best = ms[DENSE_GEMM_CLBLAST] < ms[DENSE_GEMM_KERNEL] ? DENSE_GEMM_CLBLAST
                                                                     : DENSE_GEMM_KERNEL;
    for (int i = 0; i < net->nnodes; i++) {
        net_node *n = &net->nodes[i];
        if (n->kind != ARCH_DENSE || n->op.dense.path == best)
            continue;
        double timed[3];
        memcpy(timed, n->op.dense.timed_ms, sizeof timed);
        dense_release(&n->op.dense);
        cnn_status st = dense_create(&n->op.dense, net->rt, net->max_batch, n->in.c,
                                     n->out.c, n->relu, best, err);
        if (st)
            return cnn_fail_context(err, "layer %s", n->token);
        memcpy(n->op.dense.timed_ms, timed, sizeof timed); /* what decided it */
    }
    return CNN_OK;
}

/* The cache entry for the GEMM path timing chose: it depends on the device,
 * its driver, the dense layers' shapes and the batch size. Reusing it keeps
 * the choice — and so the results — the same from run to run, and spares
 * timing (and CLBlast's compilation) on every start. */
static cnn_status gemm_cache_path(const network *net, char *path, size_t size,
                                  cnn_error *err)
{
    const clrt_device *d = &net->rt->dev;
    uint64_t h = cache_hash(CACHE_HASH_SEED, d->platform_name, strlen(d->platform_name));
    h = cache_hash(h, d->name, strlen(d->name));
    h = cache_hash(h, d->driver_version, strlen(d->driver_version));
    h = cache_hash(h, &net->max_batch, sizeof net->max_batch);
    for (int i = 0; i < net->nnodes; i++)
        if (net->nodes[i].kind == ARCH_DENSE) {
            int shape[3] = {net->nodes[i].in.c, net->nodes[i].out.c, net->nodes[i].relu};
            h = cache_hash(h, shape, sizeof shape);
        }
    char name[64];
    snprintf(name, sizeof name, "gemm-%016llx", (unsigned long long)h);
    return cache_path(name, path, size, err);
}

/* The cached path, or DENSE_GEMM_AUTO when there is none (or it is
 * unreadable: it is then timed again and rewritten). */
static dense_gemm gemm_cached(const char *path)
{
    char text[16] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(text, sizeof text, f))
            text[0] = '\0';
        fclose(f);
    }
    text[strcspn(text, "\n")] = '\0';
    dense_gemm g;
    return *text && strcmp(text, "auto") && dense_gemm_parse(text, &g, NULL) == CNN_OK
               ? g : DENSE_GEMM_AUTO;
}

static cnn_status gemm_cache_write(const char *path, const char *gemm, cnn_error *err)
{
    atomic_file f;
    cnn_status st = atomic_file_open(&f, path, err);
    if (st)
        return st;
    fprintf(f.f, "%s\n", gemm);
    return atomic_file_commit(&f, err);
}

static cnn_status create_ops(network *net, dense_gemm gemm, adam_config cfg,
                             cnn_error *err)
{
    const clrt *rt = net->rt;
    cnn_status st;
    char cached[4200];
    if (gemm == DENSE_GEMM_AUTO) {
        if ((st = gemm_cache_path(net, cached, sizeof cached, err)))
            return st;
        gemm = gemm_cached(cached);
    }
    int timed = gemm == DENSE_GEMM_AUTO;
    for (int i = 0; i < net->nnodes; i++) {
        net_node *n = &net->nodes[i];
        st = CNN_OK;
        if (n->kind == ARCH_CONV)
            st = conv_create(&n->op.conv, rt, net->max_batch, n->in.c, n->in.h,
                             n->in.w, n->out.c, n->w->shape[2], n->relu, err);
        else if (n->kind == ARCH_POOL)
            st = pool_create(&n->op.pool, rt, net->max_batch, n->in.c, n->in.h,
                             n->in.w, 2, 2, err);
        else if (n->kind == ARCH_DENSE)
            st = dense_create(&n->op.dense, rt, net->max_batch, n->in.c, n->out.c,
                              n->relu, gemm, err);
        if (st)
            return cnn_fail_context(err, "layer %s", n->token);
    }
    if (timed && ((st = unify_gemm(net, err)) ||
                  (st = gemm_cache_write(cached, network_gemm_name(net), err))))
        return st;
    if ((st = relu_create(&net->relu, rt, err)) ||
        (st = loss_create(&net->loss, rt, net->arch.classes, err)) ||
        (st = adam_create(&net->adam, rt, (int)net->param_floats, cfg, err)))
        return st;
    return network_totals_reset(net, err);
}

cnn_status network_create(network *net, const clrt *rt, const arch *a,
                          int max_batch, dense_gemm gemm, adam_config adam,
                          cnn_error *err)
{
    memset(net, 0, sizeof *net);
    net->rt = rt;
    net->arch = *a;
    net->max_batch = max_batch;
    plan(net, &net->arch);
    cnn_status st = create_buffers(net, err);
    if (st == CNN_OK)
        st = create_ops(net, gemm, adam, err);
    if (st)
        network_release(net);
    return st;
}

static void release_mem(cl_mem *m)
{
    if (*m)
        clReleaseMemObject(*m);
    *m = NULL;
}

void network_release(network *net)
{
    for (int i = 0; i < net->nnodes; i++) {
        net_node *n = &net->nodes[i];
        if (n->kind == ARCH_CONV && n->op.conv.rt)
            conv_release(&n->op.conv);
        else if (n->kind == ARCH_POOL && n->op.pool.rt)
            pool_release(&n->op.pool);
        else if (n->kind == ARCH_DENSE && n->op.dense.rt)
            dense_release(&n->op.dense);
        release_mem(&n->y);
        release_mem(&n->dy);
    }
    for (int i = 0; i < net->ntensors; i++) {
        release_mem(&net->tensors[i].param);
        release_mem(&net->tensors[i].grad);
    }
    if (net->relu.rt)
        relu_release(&net->relu);
    if (net->loss.rt)
        loss_release(&net->loss);
    if (net->adam.rt)
        adam_release(&net->adam);
    release_mem(&net->params);
    release_mem(&net->grads);
    release_mem(&net->x);
    release_mem(&net->labels);
    release_mem(&net->totals);
}

cnn_status network_init(network *net, uint64_t seed, cnn_error *err)
{
    uint64_t s = rng_mix(seed ^ 0x6a09e667f3bcc908ull);
    for (int i = 0; i < net->ntensors; i++) {
        net_tensor *t = &net->tensors[i];
        float *v = calloc(t->count, sizeof *v);
        if (!v)
            return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
        if (t->fan_in) {
            double limit = sqrt(6.0 / (t->fan_in + t->fan_out));
            for (size_t j = 0; j < t->count; j++) {
                s = rng_mix(s);
                double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
                v[j] = (float)((2 * u - 1) * limit);
            }
        }
        cnn_status st = network_tensor_write(net, t, v, err);
        free(v);
        if (st)
            return st;
    }
    return CNN_OK;
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

cnn_status network_forward(network *net, int n, cnn_error *err)
{
    cl_mem x = net->x;
    for (int i = 0; i < net->nnodes; i++) {
        net_node *nd = &net->nodes[i];
        cnn_status st = CNN_OK;
        switch (nd->kind) {
        case ARCH_CONV:
            st = conv_forward(&nd->op.conv, n, x, nd->w->param, nd->b->param, nd->y, err);
            break;
        case ARCH_POOL:
            st = pool_forward(&nd->op.pool, n, x, nd->y, err);
            break;
        case ARCH_RELU:
            st = relu_forward(&net->relu, (size_t)n * (size_t)arch_size(nd->out), x,
                              nd->y, err);
            break;
        case ARCH_DENSE:
            st = dense_forward(&nd->op.dense, n, x, nd->w->param, nd->b->param, nd->y, err);
            break;
        case ARCH_FLATTEN:
            break;
        }
        if (st)
            return st;
        x = nd->y;
    }
    return CNN_OK;
}

/* Backward from the loss's gradient in the last node's dy. Layers before
 * the first one with parameters need no gradient, so they are skipped. */
static cnn_status backward(network *net, int n, cnn_error *err)
{
    int first = 0;
    while (first < net->nnodes && !net->nodes[first].w)
        first++;
    for (int i = net->nnodes - 1; i >= first; i--) {
        net_node *nd = &net->nodes[i];
        cl_mem x = i ? net->nodes[i - 1].y : net->x;
        cl_mem dx = i > first ? net->nodes[i - 1].dy : NULL;
        cnn_status st = CNN_OK;
        switch (nd->kind) {
        case ARCH_CONV:
            st = conv_backward(&nd->op.conv, n, x, nd->w->param, nd->y, nd->dy, dx,
                               nd->w->grad, nd->b->grad, err);
            break;
        case ARCH_POOL:
            st = pool_backward(&nd->op.pool, n, x, nd->dy, dx, err);
            break;
        case ARCH_RELU:
            st = relu_backward(&net->relu, (size_t)n * (size_t)arch_size(nd->out),
                               nd->y, nd->dy, dx, err);
            break;
        case ARCH_DENSE:
            st = dense_backward(&nd->op.dense, n, x, nd->w->param, nd->y, nd->dy, dx,
                                nd->w->grad, nd->b->grad, err);
            break;
        case ARCH_FLATTEN:
            break;
        }
        if (st)
            return st;
    }
    return CNN_OK;
}

static net_node *last(network *net) { return &net->nodes[net->nnodes - 1]; }

cnn_status network_eval_step(network *net, int n, cnn_error *err)
{
    cnn_status st = network_forward(net, n, err);
    if (st)
        return st;
    return loss_softmax_xent(&net->loss, n, last(net)->y, net->labels, last(net)->dy,
                             net->totals, 1, err);
}

cnn_status network_train_step(network *net, int n, cnn_error *err)
{
    cnn_status st;
    if ((st = network_eval_step(net, n, err)) || (st = backward(net, n, err)))
        return st;
    return adam_step(&net->adam, net->params, net->grads, err);
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
    if ((st = network_forward(net, n, err)) ||
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

const char *network_gemm_name(const network *net)
{
    for (int i = 0; i < net->nnodes; i++)
        if (net->nodes[i].kind == ARCH_DENSE)
            return dense_gemm_name(&net->nodes[i].op.dense);
    /* no dense layer: nothing was computed by a GEMM */
    return dense_gemm_label(DENSE_GEMM_KERNEL);
}

void network_summary(const network *net, FILE *f)
{
    fprintf(f, "%-28s %-20s %10s\n", "Layer (type)", "Output Shape", "Param #");
    fprintf(f, "%.*s\n", 60, "============================================================");
    int convs = 0, pools = 0, fcs = 0, flats = 0, relus = 0;
    for (int i = 0; i < net->nnodes; i++) {
        const net_node *n = &net->nodes[i];
        char name[40], shape[32];
        size_t params = (n->w ? n->w->count : 0) + (n->b ? n->b->count : 0);
        const char *act = n->relu ? ", relu" : "";
        switch (n->kind) {
        case ARCH_CONV: snprintf(name, sizeof name, "conv%d (Conv2D%s)", ++convs, act); break;
        case ARCH_POOL: snprintf(name, sizeof name, "pool%d (MaxPool2D)", ++pools); break;
        case ARCH_RELU: snprintf(name, sizeof name, "relu%d (ReLU)", ++relus); break;
        case ARCH_FLATTEN: snprintf(name, sizeof name, "flatten%d (Flatten)", ++flats); break;
        case ARCH_DENSE: snprintf(name, sizeof name, "fc%d (Dense%s)", ++fcs, act); break;
        }
        if (n->out.h == 1 && n->out.w == 1)
            snprintf(shape, sizeof shape, "(None, %d)", n->out.c);
        else /* Keras prints channels last */
            snprintf(shape, sizeof shape, "(None, %d, %d, %d)", n->out.h, n->out.w, n->out.c);
        fprintf(f, "%-28s %-20s %10zu\n", name, shape, params);
    }
    fprintf(f, "%.*s\n", 60, "============================================================");
    fprintf(f, "Total params: %zu\n", net->param_count);
}
