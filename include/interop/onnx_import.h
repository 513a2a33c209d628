/* onnx_import: an ONNX model (a file another tool or `cnn-cl export`
 * wrote) read as a cnn-cl network: its arch spec, input shape, class
 * count, input statistics and parameter tensors under cnn-cl's names
 * ("conv1.weight"), so that the checkpoint loaders build and fill the
 * network as they do from a checkpoint (checkpoint.h).
 *
 * The file is unpacked by the protobuf-c code generated from Debian's
 * onnx.proto (onnx.pb-c.h), as export writes it. The graph must be a
 * chain: the input (N, C, H, W) of pixel values 0 to 255; Div by 255, then
 * optionally Sub (or Add) and Div by per-channel constants (the input
 * statistics, applied as norm_apply does); then Conv, Relu, MaxPool,
 * AveragePool, GlobalAveragePool, BatchNormalization (epsilon cnn-cl's
 * BATCHNORM_EPSILON), Dropout (the identity), Flatten or Reshape to
 * (N, features), Gemm, MatMul (and an Add of its bias), an Add joining the
 * chain to an earlier value of it or to a projection of one (a 1x1 Conv
 * without bias, then optionally BatchNormalization: a res[...] block);
 * optionally Softmax or LogSoftmax last. Anything else is CNN_ERR_INPUT
 * naming the node, its op and what cnn-cl cannot take about it. It is not
 * a general ONNX runtime: a model whose input takes values 0 to 1 (no Div
 * by 255) is refused, as cnn-cl feeds pixel values. */
#ifndef ONNX_IMPORT_H
#define ONNX_IMPORT_H

#include "data/normalize.h"
#include "nn/arch.h"

/* One parameter tensor, in cnn-cl's layout and name. */
typedef struct {
    char name[48];
    int ndim;
    int shape[4];
    float *data;
} onnx_tensor;

typedef struct {
    arch a;             /* parsed; a.spec is the spec */
    norm_stats norm;    /* channels 0 when the graph only divides by 255 */
    int count;
    onnx_tensor tensors[ARCH_MAX_LAYERS * LAYER_MAX_PARAMS];
} onnx_model;

/* Whether path names an ONNX model for cnn-cl's commands: by its
 * extension, ".onnx" in any case (anything else is a checkpoint). */
int onnx_import_is(const char *path);

/* Reads the model at path into m (heap allocated, for onnx_model_free). An
 * unreadable file, one that is not ONNX or a graph cnn-cl cannot take is
 * CNN_ERR_INPUT naming the file (and the node); nothing is left allocated
 * on failure. */
cnn_status onnx_import_read(const char *path, onnx_model **m, cnn_error *err);

/* Tensor `name` of m into out: it must have shape[0 .. ndim), else
 * CNN_ERR_INPUT naming the file's tensor, as checkpoint_read_tensor. */
cnn_status onnx_model_tensor(const onnx_model *m, const char *path, const char *name,
                             int ndim, const int *shape, float *out, cnn_error *err);

void onnx_model_free(onnx_model *m);

#endif
