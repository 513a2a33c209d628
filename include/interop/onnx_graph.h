/* onnx_graph: an ONNX model (opset 13, IR version 7, the versions OpenCV
 * 4.6, ONNX Runtime and Debian's onnx 1.12 take) built in memory and
 * written atomically, through the protobuf-c code generated at build time
 * from Debian's onnx.proto (onnx.pb-c.h, which reading a model uses too).
 *
 * A graph is its nodes in the order they run, float initializers, one
 * float input and one float output whose first dimension is the symbolic
 * batch "N", and string metadata. Every value gets a name no other value
 * has: the name asked for, or with "_2", "_3", ... added when it is taken,
 * and each call returns the name given.
 *
 * Building fails at no single call: running out of host memory is
 * remembered, every later call then does nothing and returns NULL, and
 * onnx_graph_status (or the write) reports it once, so a run of calls is
 * checked once at its end. It is not for reading models. */
#ifndef ONNX_GRAPH_H
#define ONNX_GRAPH_H

#include <stdint.h>

#include "util/cnn_error.h"

#define ONNX_OPSET 13
#define ONNX_IR_VERSION 7
/* The symbolic batch dimension of the input and the output. */
#define ONNX_BATCH "N"

typedef struct onnx_graph onnx_graph;

/* A node's attribute, by the field its type reads: an int (ints[0]), a
 * list of `count` ints, or a float. */
typedef enum { ONNX_ATTR_INT, ONNX_ATTR_INTS, ONNX_ATTR_FLOAT } onnx_attr_type;
#define ONNX_MAX_INTS 8

typedef struct {
    const char *name;
    onnx_attr_type type;
    int count;
    int64_t ints[ONNX_MAX_INTS];
    float f;
} onnx_attr;

/* Initialisers of each type: ONNX_INT("axis", 1), ONNX_FLOAT("epsilon",
 * 1e-3f), ONNX_INTS("strides", 2, 2). */
#define ONNX_INT(n, v) {.name = (n), .type = ONNX_ATTR_INT, .count = 1, .ints = {(v)}}
#define ONNX_FLOAT(n, v) {.name = (n), .type = ONNX_ATTR_FLOAT, .f = (v)}
#define ONNX_INTS(n, ...)                                                              \
    {.name = (n), .type = ONNX_ATTR_INTS,                                              \
     .count = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),               \
     .ints = {__VA_ARGS__}}

/* An empty graph of a model made by `producer` at `version` (the model's
 * producer_name and producer_version; the graph is named after the
 * producer). Out of host memory is CNN_ERR_RUNTIME. */
cnn_status onnx_graph_create(onnx_graph **g, const char *producer, const char *version,
                             cnn_error *err);
void onnx_graph_free(onnx_graph *g);

/* The graph's input, float (N, dims[0], ..., dims[ndim - 1]). */
const char *onnx_graph_input(onnx_graph *g, const char *name, int ndim, const int *dims);

/* Makes `value` the graph's output, float (N, dims[0], ...). */
void onnx_graph_output(onnx_graph *g, const char *value, int ndim, const int *dims);

/* A float initializer of shape dims (ndim 0: a scalar), its data copied. */
const char *onnx_graph_tensor(onnx_graph *g, const char *name, int ndim, const int *dims,
                              const float *data);

/* Appends a node running `op` on inputs[0 .. ninputs) with attrs, its one
 * output a new value named after `stem`; returns the output's name. The
 * node is named as its output. */
const char *onnx_graph_node(onnx_graph *g, const char *op, const char *stem,
                            const char *const *inputs, int ninputs, const onnx_attr *attrs,
                            int nattrs);

/* A metadata entry (metadata_props) of the model. */
void onnx_graph_meta(onnx_graph *g, const char *key, const char *value);

/* CNN_ERR_RUNTIME, "out of host memory ...", when a call has failed. */
cnn_status onnx_graph_status(const onnx_graph *g, cnn_error *err);

/* Serialises the model to path through atomic_file: a failure leaves
 * whatever was there before. A path that cannot be created is
 * CNN_ERR_INPUT, as atomic_file_open says. */
cnn_status onnx_graph_write(const onnx_graph *g, const char *path, cnn_error *err);

#endif
