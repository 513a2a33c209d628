/* onnx_export.c: a checkpoint as an ONNX model (see onnx_export.h): the
 * input's scaling, then each layer of the arch through its row, then the
 * softmax. */
#include "interop/onnx_export.h"

#include <stdio.h>
#include <stdlib.h>

#include "interop/onnx_graph.h"
#include "util/atomic_file.h"

/* The network's input from pixel values: x / 255, then (x - mean) / std
 * per channel when the checkpoint has statistics. */
static const char *scaled_input(onnx_graph *g, arch_shape in, const norm_stats *norm)
{
    const int dims[] = {in.c, in.h, in.w};
    const float scale = 255.0f;
    const char *div[] = {onnx_graph_input(g, "input", 3, dims),
                         onnx_graph_tensor(g, "input.scale", 0, NULL, &scale)};
    const char *x = onnx_graph_node(g, "Div", "input.scaled", div, 2, NULL, 0);
    if (!norm->channels)
        return x;
    const int channels[] = {norm->channels, 1, 1};
    const char *sub[] = {x, onnx_graph_tensor(g, "input.mean", 3, channels, norm->mean)};
    x = onnx_graph_node(g, "Sub", "input.centred", sub, 2, NULL, 0);
    const char *by_std[] = {x, onnx_graph_tensor(g, "input.std", 3, channels, norm->std)};
    return onnx_graph_node(g, "Div", "input.normalized", by_std, 2, NULL, 0);
}

/* Layer i of a on the value x through its row, its tensors read from the
 * checkpoint h; its output value into values[i]. */
static cnn_status add_layer(onnx_graph *g, const st_header *h, const arch *a, int i,
                            const char *x, int flat, const char **values, cnn_error *err)
{
    const arch_layer *l = &a->layers[i];
    layer_param decl[LAYER_MAX_PARAMS];
    int n = l->kind->params ? l->kind->params(l, decl) : 0;
    float *params[LAYER_MAX_PARAMS] = {NULL};
    char names[LAYER_MAX_PARAMS][32]; /* as a network names its tensors */
    const char *name_of[LAYER_MAX_PARAMS];
    cnn_status st = CNN_OK;
    for (int p = 0; p < n && st == CNN_OK; p++) {
        size_t count = 1;
        for (int d = 0; d < decl[p].ndim; d++)
            count *= (size_t)decl[p].shape[d];
        snprintf(names[p], sizeof names[p], "%s.%s", l->name, decl[p].what);
        name_of[p] = names[p];
        st = (params[p] = malloc(count * sizeof *params[p]))
                 ? checkpoint_read_tensor(h, names[p], decl[p].ndim, decl[p].shape,
                                          params[p], err)
                 : cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory for tensor %s",
                            names[p]);
    }
    onnx_layer_io io = {.g = g, .x = x, .flat = flat, .values = values, .decl = decl,
                        .params = (const float *const *)params, .names = name_of};
    if (st == CNN_OK)
        st = l->kind->onnx(l, &io, err);
    values[i] = io.y;
    for (int p = 0; p < n; p++)
        free(params[p]);
    return st;
}

cnn_status onnx_export_checkpoint(const char *model, const char *path,
                                  checkpoint_meta *meta, cnn_error *err)
{
    arch a;
    st_header h;
    onnx_graph *g;
    cnn_status st;
    if ((st = atomic_file_check(path, err)) ||
        (st = checkpoint_read_arch(model, meta, &a, err)) ||
        (st = st_read_header(model, &h, err)))
        return st;
    if ((st = onnx_graph_create(&g, "cnn-cl", CNN_CL_VERSION, err))) {
        st_header_free(&h);
        return st;
    }
    const char *values[ARCH_MAX_LAYERS];
    const char *x = scaled_input(g, a.input, &meta->norm);
    int flat = 0;
    for (int i = 0; i < a.count && st == CNN_OK; i++) {
        st = add_layer(g, &h, &a, i, x, flat, values, err);
        x = values[i];
        flat |= (a.layers[i].kind->flags & LAYER_FLAT_OUT) != 0;
    }
    if (st == CNN_OK) {
        const onnx_attr axis = ONNX_INT("axis", 1);
        onnx_graph_output(g, onnx_graph_node(g, "Softmax", "probabilities", &x, 1, &axis, 1),
                          1, &a.classes);
        char classes[16];
        snprintf(classes, sizeof classes, "%d", a.classes);
        onnx_graph_meta(g, "cnn_cl.arch", a.spec);
        onnx_graph_meta(g, "cnn_cl.classes", classes);
        onnx_graph_meta(g, "cnn_cl.version", CNN_CL_VERSION);
        st = onnx_graph_write(g, path, err);
    }
    onnx_graph_free(g);
    st_header_free(&h);
    return st;
}
