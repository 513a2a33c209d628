/* predict.c: a model's probabilities for the caller's images, scaled and
 * normalised as `cnn-cl predict` feeds the data set's (cnn_cl.h). */
#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "api/model.h"
#include "data/normalize.h"
#include "data/pnm.h"

/* n images, either bytes or floats in [0, 1], through the network in
 * batches of its largest. */
static cnn_status predict(cnn_cl_model *m, const unsigned char *bytes, const float *floats,
                          int n, float *probs, cnn_error *err)
{
    if (n < 0)
        return cnn_fail(err, CNN_ERR_INPUT, "cannot predict %d images", n);
    network *net = api_model_network(m);
    arch_shape in = net->arch.input;
    size_t pixels = (size_t)arch_size(in), plane = (size_t)in.h * (size_t)in.w;
    size_t k = (size_t)net->arch.classes;
    cnn_status st = CNN_OK;
    for (int first = 0; first < n && st == CNN_OK; first += net->max_batch) {
        int count = n - first < net->max_batch ? n - first : net->max_batch;
        for (int i = 0; i < count; i++) {
            size_t at = (size_t)(first + i) * pixels;
            float *x = m->images + (size_t)i * pixels;
            if (bytes)
                norm_scale(bytes + at, pixels, x);
            else
                memcpy(x, floats + at, pixels * sizeof *x);
            norm_apply(&m->meta.norm, x, plane);
        }
        if (!(st = network_upload(net, m->images, m->labels, count, err)))
            st = network_probabilities(net, count, probs + (size_t)first * k, err);
    }
    return st;
}

/* A public entry's arguments checked, then predict. */
static cnn_cl_status entry(const char *fn, cnn_cl_model *m, const unsigned char *bytes,
                           const float *floats, int n, float *probs, cnn_cl_error *err)
{
    cnn_error e = {0};
    cnn_status st = !(bytes || floats) || !probs
                        ? api_null(&e, fn, probs ? "images" : "probabilities")
                        : predict(m, bytes, floats, n, probs, &e);
    return api_status(err, st, &e);
}

cnn_cl_status cnn_cl_predict_bytes(cnn_cl_model *m, const unsigned char *images, int n,
                                   float *probabilities, cnn_cl_error *err)
{
    return entry("cnn_cl_predict_bytes", m, images, NULL, n, probabilities, err);
}

cnn_cl_status cnn_cl_predict_floats(cnn_cl_model *m, const float *images, int n,
                                    float *probabilities, cnn_cl_error *err)
{
    return entry("cnn_cl_predict_floats", m, NULL, images, n, probabilities, err);
}

cnn_cl_status cnn_cl_image_read(const char *path, int channels, int height, int width,
                                float *pixels, cnn_cl_error *err)
{
    cnn_error e = {0};
    cnn_status st = !path || !pixels
                        ? api_null(&e, "cnn_cl_image_read", path ? "pixels" : "path")
                        : pnm_read(path, channels, height, width, pixels, &e);
    return api_status(err, st, &e);
}
