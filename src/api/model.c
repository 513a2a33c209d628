/* model.c: loading a model for inference, and what it says of itself
 * (cnn_cl.h, api/model.h). */
#include "api/model.h"

#include <stdlib.h>

#include "api/data.h"
#include "api/devices.h"
#include "api/error.h"
#include "interop/onnx_import.h"

network *api_model_network(cnn_cl_model *m)
{
    return &m->rep.net[0];
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
    if (st == CNN_OK && (st = checkpoint_open_replicas(path, &m->rep, API_MODEL_BATCH,
                                                       &m->tune, &m->meta, &e)))
        replicas_close(&m->rep);
    if (st == CNN_OK) {
        arch_shape in = m->meta.input;
        m->images = malloc((size_t)API_MODEL_BATCH * (size_t)arch_size(in) *
                           sizeof *m->images);
        m->labels = calloc(API_MODEL_BATCH, sizeof *m->labels);
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
