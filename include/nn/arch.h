/* arch: the network's architecture as data — a spec such as
 * "conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10" parsed into a
 * list of layer descriptions, with every shape checked before anything is
 * allocated.
 *
 * Tokens are joined by '-'; each belongs to the kind of the layer table
 * (layer.h) whose prefix it starts with, and that kind parses the rest.
 * A residual block is the LAYER_BLOCK_BEGIN row's prefix ("res["), tokens
 * and ']': a layer of each of the two block rows around its chain's; blocks
 * nest. A group "(TOKENS)x<N>" is written out as its tokens N times, joined
 * by '-', before the tokens are parsed; `spec` keeps it as given. The
 * softmax is part of the loss, not of the spec. */
#ifndef ARCH_H
#define ARCH_H

#include "util/cnn_error.h"
#include "nn/layer.h"

#define ARCH_DEFAULT "conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10"
/* Enough for a ResNet-32 (125 layers: each block counts two). */
#define ARCH_MAX_LAYERS 128
/* The largest input height or width. */
#define ARCH_MAX_SIDE (1 << 20)

typedef struct {
    arch_layer layers[ARCH_MAX_LAYERS];
    int count;
    arch_shape input;
    int classes;
    char spec[1024];
} arch;

/* Parses spec for inputs of shape `input` and `classes` classes, filling in
 * every layer's shapes and names. An unknown token, an impossible shape or
 * a last layer that cannot give `classes` scores is CNN_ERR_INPUT naming
 * the token. Every shape, the input's too, holds at most INT_MAX values. */
cnn_status arch_parse(const char *spec, arch_shape input, int classes,
                      arch *out, cnn_error *err);

/* arch_parse, for a class count whose origin the caller can name: a last
 * layer that does not give `classes` scores is then blamed on both,
 * "<origin>, but the last layer 'fc10' has 10 outputs; ...", where origin
 * says where the count comes from ("x/train-labels-idx1-ubyte: label 200
 * at index 1234 implies 201 classes"). A NULL origin is arch_parse. */
cnn_status arch_parse_from(const char *spec, arch_shape input, int classes,
                           const char *origin, arch *out, cnn_error *err);

/* The known tokens' syntax, for messages: "conv<F>k<K>..., pool<P>..., ...". */
void arch_known_tokens(char *buf, size_t size);

#endif
