/* checkpoint.c: training state to and from safetensors (see checkpoint.h). */
#include "train/checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop/onnx_import.h"

/* The checkpoint name of state k of net's optimizer for tensor t:
 * "adam.m.conv1.weight". */
static void state_name(const network *net, int k, const net_tensor *t, char *buf,
                       size_t size)
{
    const optim_rule *r = net->optim.cfg.rule;
    snprintf(buf, size, "%s.%s.%s", r->name, r->state[k], t->name);
}

/* Reads or writes one tensor's region of the optimizer's state k. */
static cnn_status state_io(network *net, const net_tensor *t, int k, float *host,
                           int write, cnn_error *err)
{
    cl_mem buf = net->optim.state[k];
    size_t off = t->offset * sizeof(float), bytes = t->count * sizeof(float);
    if (write)
        CLRT_CALL(err, clEnqueueWriteBuffer, (net->rt->queue, buf, CL_TRUE, off, bytes,
                  host, 0, NULL, NULL));
    else
        CLRT_CALL(err, clEnqueueReadBuffer, (net->rt->queue, buf, CL_TRUE, off, bytes,
                  host, 0, NULL, NULL));
    return CNN_OK;
}

/* Whether the file entry of kind `kind` (0: the parameter, k + 1: state k)
 * of tensor t is in a checkpoint of net: the optimizer moves trainable
 * tensors only, and a state is saved only while it is live. */
static int saved(const network *net, int kind, const net_tensor *t)
{
    return !kind || (t->decl.trainable && optim_state_live(&net->optim.cfg, kind - 1));
}

_Static_assert(sizeof((st_meta *)0)->value >= sizeof((checkpoint_meta *)0)->variants,
               "a metadata value holds the tuner's record");

static void meta_set(st_meta *m, int *k, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void meta_set(st_meta *m, int *k, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(m[*k].key, sizeof m[*k].key, "%s", key);
    vsnprintf(m[*k].value, sizeof m[*k].value, fmt, ap);
    va_end(ap);
    (*k)++;
}

cnn_status checkpoint_save(const char *path, network *net,
                           const checkpoint_meta *meta, cnn_error *err)
{
    enum { KINDS = 1 + OPTIM_MAX_STATE };
    st_tensor tensors[KINDS * NET_MAX_TENSORS];
    char names[KINDS * NET_MAX_TENSORS][96];
    float *data = malloc(KINDS * net->param_count * sizeof *data);
    if (!data)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    cnn_status st = CNN_OK;
    float *p = data;
    int n = 0;
    for (int kind = 0; kind < KINDS && st == CNN_OK; kind++)
        for (int i = 0; i < net->ntensors && st == CNN_OK; i++) {
            const net_tensor *t = &net->tensors[i];
            if (!saved(net, kind, t))
                continue;
            st_tensor *s = &tensors[n];
            if (kind)
                state_name(net, kind - 1, t, names[n], sizeof names[0]);
            else
                snprintf(names[n], sizeof names[0], "%s", t->name);
            s->name = names[n++];
            s->ndim = t->ndim;
            s->shape = t->shape;
            s->data = p;
            st = kind ? state_io(net, t, kind - 1, p, 0, err)
                      : network_tensor_read(net, t, 0, p, err);
            p += t->count;
        }
    const optim_config *o = &net->optim.cfg;
    /* 34 at most: the settings, and each rule's own; on the heap, as each
     * holds a whole tuner record. */
    st_meta *m = calloc(40, sizeof *m);
    if (!m) {
        free(data);
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    }
    int k = 0;
    meta_set(m, &k, "format", "cnn-cl");
    meta_set(m, &k, "format_version", "%d", CHECKPOINT_FORMAT_VERSION);
    meta_set(m, &k, "arch", "%s", meta->arch);
    meta_set(m, &k, "input", "%dx%dx%d", meta->input.c, meta->input.h, meta->input.w);
    meta_set(m, &k, "classes", "%d", meta->classes);
    meta_set(m, &k, "epoch", "%ld", meta->epoch);
    meta_set(m, &k, "batch", "%ld", meta->batch);
    meta_set(m, &k, "step", "%ld", meta->step);
    meta_set(m, &k, "seed", "%llu", (unsigned long long)meta->seed);
    meta_set(m, &k, "samples", "%ld", meta->samples);
    meta_set(m, &k, "batch_size", "%d", meta->batch_size);
    meta_set(m, &k, "lr", "%.9g", (double)meta->lr);
    meta_set(m, &k, "optimizer", "%s", o->rule->name);
    meta_set(m, &k, "weight_decay", "%.9g", (double)o->weight_decay);
    meta_set(m, &k, "clip_norm", "%.9g", (double)o->clip_norm);
    if (o->rule->takes & OPTIM_TAKES_MOMENTUM)
        meta_set(m, &k, "momentum", "%.9g", (double)o->momentum);
    if (o->rule->takes & OPTIM_TAKES_NESTEROV)
        meta_set(m, &k, "nesterov", "%d", o->nesterov);
    if (o->rule->takes & OPTIM_TAKES_EPS)
        meta_set(m, &k, "eps", "%.9g", (double)o->eps);
    if (o->rule->takes & OPTIM_TAKES_RHO)
        meta_set(m, &k, "rho", "%.9g", (double)o->rho);
    meta_set(m, &k, "variants", "%s", meta->variants);
    meta_set(m, &k, "lr_schedule", "%s", meta->schedule);
    meta_set(m, &k, "warmup", "%ld", meta->warmup);
    meta_set(m, &k, "epochs", "%ld", meta->epochs);
    meta_set(m, &k, "label_smoothing", "%.9g", (double)meta->label_smoothing);
    meta_set(m, &k, "validation_split", "%.17g", meta->validation_split);
    meta_set(m, &k, "early_stopping", "%d", meta->stop.patience);
    meta_set(m, &k, "best_val_loss", "%.17g", meta->stop.best_loss);
    meta_set(m, &k, "best_epoch", "%ld", meta->stop.best_epoch);
    meta_set(m, &k, "epochs_since_best", "%ld", meta->stop.since_best);
    /* Left out without --normalize, so such a file reads as an older one. */
    if (meta->norm.channels) {
        char v[sizeof m[0].value];
        norm_format(meta->norm.mean, meta->norm.channels, v, sizeof v);
        meta_set(m, &k, "normalize_mean", "%s", v);
        norm_format(meta->norm.std, meta->norm.channels, v, sizeof v);
        meta_set(m, &k, "normalize_std", "%s", v);
    }
    meta_set(m, &k, "augment", "%s", meta->augment);
    meta_set(m, &k, "epoch_loss_sum", "%.17g", meta->loss_sum);
    meta_set(m, &k, "epoch_correct", "%.17g", meta->correct);
    meta_set(m, &k, "epoch_seconds", "%.17g", meta->seconds);
    if (st == CNN_OK)
        st = st_write(path, tensors, n, m, k, err);
    free(m);
    free(data);
    return st;
}

/* The metadata value of `key`, which must be there. */
static cnn_status need(const st_header *h, const char *key, const char **out,
                       cnn_error *err)
{
    *out = st_meta_get(h, key);
    if (!*out)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: not a cnn-cl checkpoint: metadata "
                        "'%s' is missing", h->path, key);
    return CNN_OK;
}

/* Metadata `key` as an integer in [min, max]. */
static cnn_status need_long(const st_header *h, const char *key, long min, long max,
                            long *out, cnn_error *err)
{
    const char *v;
    cnn_status st = need(h, key, &v, err);
    if (st)
        return st;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata '%s' is '%s', not an "
                        "integer from %ld to %ld", h->path, key, v, min, max);
    *out = x;
    return CNN_OK;
}

static cnn_status need_double(const st_header *h, const char *key, double *out,
                              cnn_error *err)
{
    const char *v;
    cnn_status st = need(h, key, &v, err);
    if (st)
        return st;
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata '%s' is '%s', not a number",
                        h->path, key, v);
    return CNN_OK;
}

/* Metadata `key` as a float in [min, max] into *out. */
static cnn_status need_float(const st_header *h, const char *key, double min, double max,
                             float *out, cnn_error *err)
{
    double x;
    cnn_status st = need_double(h, key, &x, err);
    if (st)
        return st;
    if (!(x >= min && x <= max))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata '%s' is %g, not from %g to %g",
                        h->path, key, x, min, max);
    *out = (float)x;
    return CNN_OK;
}

/* The optimizer and its hyperparameters; a file without them (an older
 * cnn-cl's) trained with Adam's defaults. */
static cnn_status parse_optim(const st_header *h, optim_config *o, cnn_error *err)
{
    const char *name = st_meta_get(h, "optimizer");
    const optim_rule *r = name ? optim_find(name) : NULL;
    if (name && !r)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'optimizer' is '%s', which this "
                        "cnn-cl does not know", h->path, name);
    *o = optim_defaults(r);
    if (!name)
        return CNN_OK;
    long nesterov = 0;
    cnn_status st;
    if ((st = need_float(h, "weight_decay", 0, 1e30, &o->weight_decay, err)) ||
        (st = need_float(h, "clip_norm", 0, 1e30, &o->clip_norm, err)) ||
        ((r->takes & OPTIM_TAKES_MOMENTUM) &&
         (st = need_float(h, "momentum", 0, 1, &o->momentum, err))) ||
        ((r->takes & OPTIM_TAKES_NESTEROV) &&
         (st = need_long(h, "nesterov", 0, 1, &nesterov, err))) ||
        ((r->takes & OPTIM_TAKES_EPS) && (st = need_float(h, "eps", 1e-30, 1, &o->eps, err))) ||
        ((r->takes & OPTIM_TAKES_RHO) && (st = need_float(h, "rho", 0, 1, &o->rho, err))))
        return st;
    o->nesterov = (int)nesterov;
    return CNN_OK;
}

/* The input statistics, both keys or neither, one value per input channel
 * and every std above 0. */
static cnn_status parse_norm(const st_header *h, checkpoint_meta *m, cnn_error *err)
{
    const char *mean = st_meta_get(h, "normalize_mean"), *std = st_meta_get(h, "normalize_std");
    if (!mean && !std)
        return CNN_OK;
    if (!mean || !std)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata '%s' is missing beside '%s'",
                        h->path, mean ? "normalize_std" : "normalize_mean",
                        mean ? "normalize_mean" : "normalize_std");
    int c = m->input.c;
    norm_stats *n = &m->norm;
    if (c > NORM_MAX_CHANNELS || norm_parse(mean, c, n->mean))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'normalize_mean' is '%s', not "
                        "one number per input channel (%d)", h->path, mean, c);
    if (norm_parse(std, c, n->std))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'normalize_std' is '%s', not "
                        "one number per input channel (%d)", h->path, std, c);
    for (int i = 0; i < c; i++)
        if (!(n->std[i] > 0))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'normalize_std' is '%s'; "
                            "each must be above 0", h->path, std);
    n->channels = c;
    return CNN_OK;
}

static cnn_status parse_meta(const st_header *h, checkpoint_meta *m, cnn_error *err)
{
    memset(m, 0, sizeof *m);
    const char *v;
    long version, seed, classes, batch_size;
    double lr;
    cnn_status st;
    if ((st = need(h, "format", &v, err)))
        return st;
    if (strcmp(v, "cnn-cl"))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: not a cnn-cl checkpoint (format '%s')",
                        h->path, v);
    if ((st = need_long(h, "format_version", 1, LONG_MAX, &version, err)))
        return st;
    if (version > CHECKPOINT_FORMAT_VERSION)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: checkpoint format version %ld; this "
                        "cnn-cl reads versions 1 to %d", h->path, version,
                        CHECKPOINT_FORMAT_VERSION);
    if ((st = need(h, "arch", &v, err)))
        return st;
    snprintf(m->arch, sizeof m->arch, "%s", v);
    if ((st = need(h, "input", &v, err)))
        return st;
    /* Each side is read whole and in range: a wrapped int must not pass. */
    long side[3];
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        side[i] = strtol(p, &end, 10);
        if (errno || end == p || side[i] < 1 || side[i] > ARCH_MAX_SIDE ||
            *end != (i < 2 ? 'x' : '\0'))
            return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'input' is '%s', not "
                            "CxHxW with sides from 1 to %d", h->path, v, ARCH_MAX_SIDE);
        p = end + 1;
    }
    m->input = (arch_shape){(int)side[0], (int)side[1], (int)side[2]};
    if ((st = need_long(h, "classes", 1, INT_MAX, &classes, err)) ||
        (st = need_long(h, "epoch", 0, LONG_MAX, &m->epoch, err)) ||
        (st = need_long(h, "batch", 0, LONG_MAX, &m->batch, err)) ||
        (st = need_long(h, "step", 0, LONG_MAX, &m->step, err)) ||
        (st = need_long(h, "seed", 0, LONG_MAX, &seed, err)) ||
        (st = need_long(h, "samples", 1, LONG_MAX, &m->samples, err)) ||
        (st = need_long(h, "batch_size", 1, INT_MAX, &batch_size, err)) ||
        (st = need_double(h, "lr", &lr, err)) ||
        (st = need(h, version == 1 ? "gemm" : "variants", &v, err)))
        return st;
    /* Version 1 ran every dense layer on one GEMM path, whose label is
     * that path's arithmetic key. */
    snprintf(m->variants, sizeof m->variants, version == 1 ? "fc=%s" : "%s", v);
    if ((st = parse_optim(h, &m->optim, err)))
        return st;
    if ((st = need_double(h, "epoch_loss_sum", &m->loss_sum, err)) ||
        (st = need_double(h, "epoch_correct", &m->correct, err)) ||
        (st = need_double(h, "epoch_seconds", &m->seconds, err)))
        return st;
    /* Older checkpoints ran at a constant rate, without smoothing or
     * augmentation. */
    double smoothing = 0;
    snprintf(m->schedule, sizeof m->schedule, "constant");
    if ((v = st_meta_get(h, "lr_schedule")))
        snprintf(m->schedule, sizeof m->schedule, "%s", v);
    snprintf(m->augment, sizeof m->augment, "none");
    if ((v = st_meta_get(h, "augment")))
        snprintf(m->augment, sizeof m->augment, "%s", v);
    if ((st_meta_get(h, "warmup") &&
         (st = need_long(h, "warmup", 0, LONG_MAX, &m->warmup, err))) ||
        (st_meta_get(h, "epochs") &&
         (st = need_long(h, "epochs", 0, LONG_MAX, &m->epochs, err))) ||
        (st_meta_get(h, "label_smoothing") &&
         (st = need_double(h, "label_smoothing", &smoothing, err))))
        return st;
    m->label_smoothing = (float)smoothing;
    /* Older checkpoints held nothing out and had seen no best epoch. */
    long patience = 0;
    stopping_init(&m->stop, 0);
    if ((st_meta_get(h, "validation_split") &&
         (st = need_double(h, "validation_split", &m->validation_split, err))) ||
        (st_meta_get(h, "early_stopping") &&
         (st = need_long(h, "early_stopping", 0, INT_MAX, &patience, err))) ||
        (st_meta_get(h, "best_val_loss") &&
         (st = need_double(h, "best_val_loss", &m->stop.best_loss, err))) ||
        (st_meta_get(h, "best_epoch") &&
         (st = need_long(h, "best_epoch", 0, LONG_MAX, &m->stop.best_epoch, err))) ||
        (st_meta_get(h, "epochs_since_best") &&
         (st = need_long(h, "epochs_since_best", 0, LONG_MAX, &m->stop.since_best, err))))
        return st;
    if (!(m->validation_split >= 0 && m->validation_split < 1))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: metadata 'validation_split' is %g, not "
                        "from 0 to 1", h->path, m->validation_split);
    m->stop.patience = (int)patience;
    if ((st = parse_norm(h, m, err)))
        return st;
    m->classes = (int)classes;
    m->seed = (uint64_t)seed;
    m->batch_size = (int)batch_size;
    m->lr = (float)lr;
    return CNN_OK;
}

cnn_status checkpoint_read_meta(const char *path, checkpoint_meta *meta,
                                cnn_error *err)
{
    st_header h;
    cnn_status st = st_read_header(path, &h, err);
    if (st)
        return st;
    st = parse_meta(&h, meta, err);
    if (st == CNN_OK && !h.checksummed)
        snprintf(meta->note, sizeof meta->note, "%s has no checksums (metadata '"
                 ST_CRC_PREFIX "<tensor>'); its tensors load unchecked", path);
    st_header_free(&h);
    return st;
}

cnn_status checkpoint_read_tensor(const st_header *h, const char *name, int ndim,
                                  const int *shape, float *out, cnn_error *err)
{
    const st_entry *e = st_find(h, name);
    if (!e)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is missing", h->path, name);
    size_t count = 1;
    int same = !strcmp(e->dtype, "F32") && e->ndim == ndim;
    for (int d = 0; d < ndim; d++) {
        same = same && e->shape[d] == shape[d];
        count *= (size_t)shape[d];
    }
    if (!same) {
        char want[64] = "", got[64] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "",
                     shape[d]);
        for (int d = 0; d < e->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)e->shape[d]);
        return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is %s [%s], the network "
                        "needs F32 [%s]", h->path, name, e->dtype, got, want);
    }
    if (e->end - e->begin != count * 4)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' has %llu bytes for %zu "
                        "floats", h->path, name, (unsigned long long)(e->end - e->begin),
                        count);
    return st_read_f32(h, e, out, count, err);
}

cnn_status checkpoint_load(const char *path, network *net, int state, cnn_error *err)
{
    enum { KINDS = 1 + OPTIM_MAX_STATE };
    st_header h;
    cnn_status st = st_read_header(path, &h, err);
    if (st)
        return st;
    checkpoint_meta meta;
    float *buf = malloc(net->param_count * sizeof *buf);
    if (!buf)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK)
        st = parse_meta(&h, &meta, err);
    /* Every tensor in the file must belong to this network: a parameter,
     * or its state under the optimizer the file names. */
    const optim_rule *rule = meta.optim.rule;
    for (int i = 0; st == CNN_OK && i < h.count; i++) {
        const char *name = h.entries[i].name;
        size_t len = strlen(rule->name);
        for (int k = 0; k < rule->nstate; k++)
            if (!strncmp(name, rule->name, len) && name[len] == '.' &&
                !strncmp(name + len + 1, rule->state[k], strlen(rule->state[k])) &&
                name[len + 1 + strlen(rule->state[k])] == '.')
                name += len + strlen(rule->state[k]) + 2;
        int known = 0;
        for (int j = 0; j < net->ntensors && !known; j++)
            known = !strcmp(name, net->tensors[j].name);
        if (!known)
            st = cnn_fail(err, CNN_ERR_INPUT, "%s: tensor '%s' is not part of the "
                          "network %s", path, h.entries[i].name, net->arch.spec);
    }
    if (st == CNN_OK && state && rule != net->optim.cfg.rule)
        st = cnn_fail(err, CNN_ERR_INPUT, "%s: its optimizer is %s, the network's %s",
                      path, rule->name, net->optim.cfg.rule->name);
    for (int kind = 0; kind < (state ? KINDS : 1) && st == CNN_OK; kind++)
        for (int i = 0; i < net->ntensors && st == CNN_OK; i++) {
            const net_tensor *t = &net->tensors[i];
            if (!saved(net, kind, t))
                continue;
            char name[160];
            if (kind)
                state_name(net, kind - 1, t, name, sizeof name);
            else
                snprintf(name, sizeof name, "%s", t->name);
            if ((st = checkpoint_read_tensor(&h, name, t->ndim, t->shape, buf, err)))
                break;
            st = kind ? state_io(net, t, kind - 1, buf, 1, err)
                      : network_tensor_write(net, t, buf, err);
        }
    if (st == CNN_OK && state)
        net->optim.step = meta.step;
    free(buf);
    st_header_free(&h);
    return st;
}

/* The arch a cnn-cl file records; "" in another tool's. */
static void recorded_spec(const st_header *h, char *spec, size_t size)
{
    const char *format = st_meta_get(h, "format"), *arch = st_meta_get(h, "arch");
    snprintf(spec, size, "%s", format && !strcmp(format, "cnn-cl") && arch ? arch : "");
}

/* A file of weights to load by name: a safetensors file's header, or an
 * ONNX model imported (onnx_import_is says which). */
typedef struct {
    const char *path;
    st_header h;
    onnx_model *onnx;
} weights_file;

static cnn_status weights_open(const char *path, weights_file *f, cnn_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    return onnx_import_is(path) ? onnx_import_read(path, &f->onnx, err)
                                : st_read_header(path, &f->h, err);
}

static void weights_close(weights_file *f)
{
    if (f->onnx)
        onnx_model_free(f->onnx);
    else
        st_header_free(&f->h);
}

/* The arch the file records into spec; "" for another tool's safetensors. */
static void weights_spec(const weights_file *f, char *spec, size_t size)
{
    if (f->onnx)
        snprintf(spec, size, "%s", f->onnx->a.spec);
    else
        recorded_spec(&f->h, spec, size);
}

cnn_status checkpoint_init_spec(const char *path, char *spec, size_t size,
                                cnn_error *err)
{
    weights_file f;
    cnn_status st = weights_open(path, &f, err);
    if (st)
        return st;
    weights_spec(&f, spec, size);
    weights_close(&f);
    return CNN_OK;
}

cnn_status checkpoint_load_weights(const char *path, network *net, cnn_error *err)
{
    weights_file f;
    char spec[sizeof net->arch.spec];
    cnn_status st = weights_open(path, &f, err);
    if (st)
        return st;
    weights_spec(&f, spec, sizeof spec);
    float *buf = malloc(net->param_count * sizeof *buf);
    if (*spec && strcmp(spec, net->arch.spec))
        st = cnn_fail(err, CNN_ERR_INPUT, "%s was trained as %s, not %s; give that "
                      "--arch (or none) to start from it", path, spec, net->arch.spec);
    else if (!buf)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; i < net->ntensors && st == CNN_OK; i++) {
        const net_tensor *t = &net->tensors[i];
        st = f.onnx ? onnx_model_tensor(f.onnx, path, t->name, t->ndim, t->shape, buf, err)
                    : checkpoint_read_tensor(&f.h, t->name, t->ndim, t->shape, buf, err);
        if (st)
            break;
        st = network_tensor_write(net, t, buf, err);
    }
    free(buf);
    weights_close(&f);
    return st;
}

cnn_status checkpoint_read_arch(const char *path, checkpoint_meta *meta, arch *a,
                                cnn_error *err)
{
    cnn_status st;
    if (onnx_import_is(path)) {
        onnx_model *m;
        if ((st = onnx_import_read(path, &m, err)))
            return st;
        memset(meta, 0, sizeof *meta);
        *a = m->a;
        snprintf(meta->arch, sizeof meta->arch, "%s", a->spec);
        meta->input = a->input;
        meta->classes = a->classes;
        meta->norm = m->norm;
        onnx_model_free(m);
        return CNN_OK;
    }
    if ((st = checkpoint_read_meta(path, meta, err)))
        return st;
    if ((st = arch_parse(meta->arch, meta->input, meta->classes, a, err)))
        return cnn_fail_context(err, "%s", path);
    return CNN_OK;
}

/* The parameters of the model at path into net, built from its arch: a
 * checkpoint's, every tensor of which must be net's, or an ONNX model's. */
static cnn_status load_params(const char *path, network *net, cnn_error *err)
{
    return onnx_import_is(path) ? checkpoint_load_weights(path, net, err)
                                : checkpoint_load(path, net, 0, err);
}

cnn_status checkpoint_open_replicas(const char *path, replicas *r, int batch,
                                    tuner *tune, checkpoint_meta *meta, cnn_error *err)
{
    arch a;
    cnn_status st;
    if ((st = checkpoint_read_arch(path, meta, &a, err)) ||
        (st = replicas_create(r, &a, batch, tune, optim_defaults(NULL), err)))
        return st;
    for (int d = 0; d < r->ndev && st == CNN_OK; d++)
        st = load_params(path, &r->net[d], err);
    return st;
}
