/* arch: the network's architecture as data — a spec such as
 * "conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10" parsed into a
 * list of layer descriptions, with every shape checked before anything is
 * allocated.
 *
 * Tokens: conv<F>k<K> (F filters of K x K, stride 1, 'valid'), pool2 (2x2
 * max-pool, stride 2), relu, flatten, fc<N> (dense, N outputs). The softmax
 * is part of the loss, not of the spec. */
#ifndef ARCH_H
#define ARCH_H

#include "cnn_error.h"

#define ARCH_DEFAULT "conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10"
#define ARCH_MAX_LAYERS 64

typedef enum { ARCH_CONV, ARCH_POOL, ARCH_RELU, ARCH_FLATTEN, ARCH_DENSE } arch_kind;

/* A per-sample shape: channels x height x width; (n, 1, 1) after flatten. */
typedef struct {
    int c, h, w;
} arch_shape;

typedef struct {
    arch_kind kind;
    int units;     /* conv filters or dense outputs */
    int k;         /* conv kernel size */
    arch_shape in, out;
    char token[32];
} arch_layer;

typedef struct {
    arch_layer layers[ARCH_MAX_LAYERS];
    int count;
    arch_shape input;
    int classes;
    char spec[1024];
} arch;

/* Parses spec for inputs of shape `input` and `classes` classes, filling in
 * every layer's shapes. An unknown token, an impossible shape or a last
 * layer whose width is not `classes` is CNN_ERR_INPUT naming the token. */
cnn_status arch_parse(const char *spec, arch_shape input, int classes,
                      arch *out, cnn_error *err);

/* Elements of one sample of shape s. */
long arch_size(arch_shape s);

#endif
