/* onnx_export: a cnn-cl checkpoint as an ONNX model (`cnn-cl export`), for
 * inference in other runtimes (ONNX Runtime, OpenCV's dnn).
 *
 * The model's input, `input`, is float (N, C, H, W): pixel values 0 to 255
 * as predict reads them. The graph computes what cnn-cl's inference does:
 * x / 255 (a Div, the loader's float division), then, when the checkpoint
 * has input statistics (train --normalize), (x - mean) / std per channel
 * (Sub and Div by (C, 1, 1) constants, as norm_apply); then every layer of
 * the arch through its row's onnx function (layer.h), dropout as the
 * identity and batch norm on its moving statistics; then Softmax over the
 * classes, the output `probabilities`, (N, classes). Initializers keep the
 * checkpoint's tensor names ("conv1.weight"). The model's metadata holds
 * cnn_cl.arch, cnn_cl.classes and cnn_cl.version.
 *
 * No device is needed: the arch and the tensors come from the file, each
 * tensor checked as a network loading it would check it. */
#ifndef ONNX_EXPORT_H
#define ONNX_EXPORT_H

#include "train/checkpoint.h"

/* Writes the checkpoint at `model` as an ONNX model at `path`, atomically,
 * and its metadata into meta (whose note the command line prints). A path
 * that cannot be written is CNN_ERR_INPUT naming it, found before anything
 * is read; a missing or bad checkpoint is CNN_ERR_INPUT naming the file
 * (and the tensor). */
cnn_status onnx_export_checkpoint(const char *model, const char *path,
                                  checkpoint_meta *meta, cnn_error *err);

#endif
