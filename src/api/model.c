/* model.c: loading a model for inference, and what it says of itself
 * (cnn_cl.h, api/model.h). */
#include "api/model.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/data.h"
#include "api/devices.h"
#include "api/error.h"
#include "interop/onnx_import.h"
#include "util/clock.h"

network *api_model_network(cnn_cl_model *m)
{
    return &m->rep.net[0];
}

/* Inference takes batches of the size the model was trained at, or of
 * MODEL_BATCH, whichever forwards images faster on the device: the tuner
 * times both on a model's first load and caches the winner. On a CPU a
 * large model's activations at 256 images outgrow the caches that its
 * training batch's fit in, and training left that batch's layer choices in
 * the tuner's cache; a small model's passes at a small batch are too short
 * to be worth their launches (docs/BENCHMARKS.md). */
#define MODEL_BATCH 256
/* Images each candidate forwards while timed, after one pass unmeasured. */
#define MODEL_TIMED_IMAGES 512

typedef struct {
    cnn_cl_model *m; /* its device open, no network built */
    const char *path;
    const int *batch; /* each candidate's */
    cnn_error bad;    /* a build's CNN_ERR_INPUT: the file is bad (status 0
                         until one is found) */
} batch_timing;

/* m's network from path for batches of up to `batch`, its sites chosen
 * by t. On failure nothing is left built. */
static cnn_status build(cnn_cl_model *m, const char *path, int batch, tuner *t,
                        cnn_error *err)
{
    cnn_status st = checkpoint_open_replicas(path, &m->rep, batch, t, &m->meta, err);
    if (st)
        replicas_discard(&m->rep);
    return st;
}

/* `passes` forward passes of the batch uploaded, waited for. */
static cnn_status forward_passes(network *net, int batch, int passes, cnn_error *err)
{
    for (int p = 0; p < passes; p++) {
        cnn_status st = network_eval_step(net, batch, err);
        if (st)
            return st;
    }
    CLRT_CALL(err, clFinish, (net->rt->queue));
    return CNN_OK;
}

/* The tuner's time_fn: candidate `index` built (its sites chosen as a
 * load would, by a copy of m's tuner), *ms the time of
 * MODEL_TIMED_IMAGES images' forward passes. */
static cnn_status time_batch(void *ctx, int index, double *ms, cnn_error *err)
{
    batch_timing *bt = ctx;
    cnn_cl_model *m = bt->m;
    const int batch = bt->batch[index],
              passes = (MODEL_TIMED_IMAGES + batch - 1) / batch;
    tuner *t = malloc(sizeof *t);
    if (!t)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    *t = m->tune;
    cnn_status st = build(m, bt->path, batch, t, err);
    free(t);
    if (st == CNN_ERR_INPUT && !bt->bad.status)
        bt->bad = *err;
    if (st)
        return st;
    network *net = &m->rep.net[0];
    float *x = calloc((size_t)batch * (size_t)arch_size(m->meta.input), sizeof *x);
    int32_t *labels = calloc((size_t)batch, sizeof *labels);
    st = !x || !labels ? cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory")
                       : network_upload(net, x, labels, batch, err);
    if (st == CNN_OK && (st = forward_passes(net, batch, 1, err)) == CNN_OK) {
        const double t0 = clock_seconds();
        st = forward_passes(net, batch, passes, err);
        *ms = (clock_seconds() - t0) * 1e3 * MODEL_TIMED_IMAGES / ((double)passes * batch);
    }
    free(x);
    free(labels);
    replicas_discard(&m->rep);
    return st;
}

/* m's network from path, at the batch chosen as MODEL_BATCH's comment
 * says. A file found bad while timing is CNN_ERR_INPUT, as a load's. */
static cnn_status build_chosen(cnn_cl_model *m, const char *path, cnn_error *err)
{
    if (onnx_import_is(path)) /* which records no training batch */
        return build(m, path, MODEL_BATCH, &m->tune, err);
    cnn_status st = checkpoint_read_meta(path, &m->meta, err);
    if (st)
        return st;
    int batch[2] = {MODEL_BATCH, m->meta.batch_size};
    const int n = batch[1] != MODEL_BATCH ? 2 : 1;
    char label[2][TUNE_NAME], shape[sizeof m->meta.arch + 64];
    tune_variant v[2];
    for (int i = 0; i < n; i++) {
        snprintf(label[i], sizeof label[i], "b%d", batch[i]);
        v[i] = (tune_variant){.label = label[i], .arithmetic = "forward",
                              .tiles = {batch[i]}};
    }
    snprintf(shape, sizeof shape, "%s in=%dx%dx%d classes=%d", m->meta.arch,
             m->meta.input.c, m->meta.input.h, m->meta.input.w, m->meta.classes);
    const tune_site site = {.name = "model", .kind = "model.batch", .shape_key = shape,
                            .dev = &m->rep.rt[0].dev};
    /* timed even where m's tuner is quick: an untimed default would stay */
    tuner *choosing = malloc(sizeof *choosing);
    if (!choosing)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    tuner_init(choosing);
    choosing->progress = m->tune.progress;
    batch_timing bt = {.m = m, .path = path, .batch = batch};
    int chosen = 0;
    st = tuner_choose(choosing, &site, v, n, time_batch, &bt, &chosen, err);
    free(choosing);
    if (bt.bad.status) {
        *err = bt.bad;
        return bt.bad.status;
    }
    return st ? st : build(m, path, batch[chosen], &m->tune, err);
}

cnn_cl_status cnn_cl_model_load(const cnn_cl_device *dev, const char *path,
                                cnn_cl_model **out, cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!dev || !path || !out)
        return api_status(err, api_null(&e, "cnn_cl_model_load", !dev ? "dev" : !path ? "path"
                                                                   : "out"), &e);
    *out = NULL;
    cnn_cl_model *m = calloc(1, sizeof *m);
    if (!m)
        return api_status(err, cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory"), &e);
    int index = dev->info.index;
    cnn_status st = api_device_tuner(dev, &m->tune, &e);
    m->tune.forward_only = 1;
    if (st == CNN_OK)
        st = replicas_open(&m->rep, NULL, &index, 1, dev->kernels, &e);
    if (st == CNN_OK && (st = build_chosen(m, path, &e)))
        replicas_close(&m->rep);
    if (st == CNN_OK) {
        size_t batch = (size_t)m->rep.net[0].max_batch;
        m->images = malloc(batch * (size_t)arch_size(m->meta.input) * sizeof *m->images);
        m->labels = calloc(batch, sizeof *m->labels);
        if (!m->images || !m->labels) {
            st = cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory");
            replicas_close(&m->rep);
        }
    }
    if (st) {
        free(m->images);
        free(m->labels);
        free(m);
        return api_status(err, st, &e);
    }
    m->onnx = onnx_import_is(path);
    *out = m;
    return api_status(err, CNN_OK, &e);
}

int cnn_cl_model_batch(const cnn_cl_model *m)
{
    return m->rep.net[0].max_batch;
}

void cnn_cl_model_free(cnn_cl_model *m)
{
    if (!m)
        return;
    replicas_close(&m->rep);
    free(m->images);
    free(m->labels);
    free(m);
}

void cnn_cl_model_input(const cnn_cl_model *m, int *channels, int *height, int *width)
{
    *channels = m->meta.input.c;
    *height = m->meta.input.h;
    *width = m->meta.input.w;
}

int cnn_cl_model_classes(const cnn_cl_model *m)
{
    return m->meta.classes;
}

const char *cnn_cl_model_spec(const cnn_cl_model *m)
{
    return m->meta.arch;
}

long cnn_cl_model_epochs(const cnn_cl_model *m)
{
    return m->onnx ? -1 : m->meta.epoch;
}

const char *cnn_cl_model_note(const cnn_cl_model *m)
{
    return m->meta.note;
}

cnn_cl_status cnn_cl_model_check(const cnn_cl_model *m, const cnn_cl_data *d,
                                 cnn_cl_error *err)
{
    cnn_error e = {0};
    arch_shape in = m->meta.input;
    return api_status(err, dataset_check_model(&d->ds, d->dir,
                                               (dataset_shape){in.c, in.h, in.w},
                                               m->meta.classes, &e), &e);
}
