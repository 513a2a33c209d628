/* layer: the table of layer kinds.
 *
 * A layer kind (conv, pool, bn, ...) is one row of layer_kinds[] (see
 * src/nn/layer.c) and its own files: src/nn/<kind>.c (the row, the host
 * side and the spec token's parser), kernels/<kind>.cl, src/ref/<kind>.c
 * (the plain C reference, in double). The arch parser, the network's
 * forward and backward loops, the summary, the checkpoint, the reference
 * network and the ONNX export only ever go through a row; no code outside
 * a kind's own files names a kind. docs/LAYERS.md says how to add one.
 *
 * Shapes are per sample, (C, H, W); a flat vector of N features is
 * (N, 1, 1). Device activations are (batch, C, H, W), contiguous. */
#ifndef LAYER_H
#define LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "interop/onnx_graph.h"
#include "runtime/clrt.h"
#include "tune/tuner.h"

/* A projected residual shortcut has the most: its convolution's weight and
 * its batch norm's four. */
#define LAYER_MAX_PARAMS 5

/* A per-sample shape: channels x height x width; (n, 1, 1) when flat. */
typedef struct {
    int c, h, w;
} arch_shape;

typedef struct layer_kind layer_kind;

/* One parsed spec token: the kind and the settings its parser read, and
 * the shapes arch_parse worked out. Kinds use the fields they need. */
typedef struct {
    const layer_kind *kind;
    int units;             /* conv filters, dense outputs */
    int k;                 /* conv kernel size, pool window */
    int stride;            /* conv and pool stride */
    int same;              /* conv 'same' padding */
    int pad;               /* conv zeros on every side (p<P>), 0 none */
    int pad_top, pad_left; /* the padding before the first row and column */
    double rate;           /* dropout rate */
    arch_shape in, out;
    /* A block (LAYER_BLOCK_BEGIN ... LAYER_BLOCK_END), set by arch_parse: */
    int pair;              /* the other end's index in the arch */
    arch_shape skip;       /* the end's: the block's input, which the
                              shortcut carries */
    int chain_stride;      /* the end's: the product of its chain's strides */
    int chain_norm;        /* the end's: its chain holds a LAYER_NORM layer */
    char token[32];        /* as written in the spec: "conv32k3same" */
    char name[16];         /* the kind's prefix and a running count: "conv1" */
} arch_layer;

/* How a parameter tensor starts. */
typedef enum {
    LAYER_INIT_ZERO,
    LAYER_INIT_ONE,
    LAYER_INIT_GLOROT, /* uniform in +-sqrt(6 / (fan_in + fan_out)), Keras' default */
} layer_init;

/* A parameter tensor a kind declares, named "<layer>.<what>". */
typedef struct {
    const char *what;    /* "weight", "bias", "running_mean" */
    int ndim;
    int shape[4];
    layer_init init;
    int fan_in, fan_out; /* for LAYER_INIT_GLOROT */
    int trainable;       /* 0: state the layer itself updates (batch norm's
                            moving statistics); its gradient stays zero, so
                            Adam leaves it as the layer wrote it */
} layer_param;

/* A parameter tensor of a built network: "conv1.weight", (32, 1, 3, 3), at
 * `offset` floats into the network's flat parameter and gradient buffers. */
typedef struct {
    char name[32];
    int ndim;
    int shape[4];
    size_t count;
    size_t offset;
    layer_param decl;    /* what the kind declared */
    cl_mem param, grad;  /* sub-buffers of the flat buffers */
} net_tensor;

/* A layer of a built network. */
typedef struct layer_node {
    const arch_layer *spec; /* kind, settings, shapes, name */
    int relu;               /* a ReLU fused into this layer (LAYER_FUSES_RELU) */
    net_tensor *params[LAYER_MAX_PARAMS]; /* in the order the kind declared */
    int nparams;
    cl_mem y, dy;           /* output and its gradient, (max_batch, out) */
    void *op;               /* the kind's device state, from create */
    struct layer_node *pair; /* a block's begin or end: the other one */
    /* A block's joins folded into batch norm (LAYER_JOINS), as the
     * network plans them: */
    struct layer_node *join; /* a layer ending a chain: the block's end,
                                whose add (and folded ReLU) its passes compute */
    int joined;             /* that end: its add is the layer before's; it
                               shares that layer's y and dy */
    struct layer_node *feeds; /* a layer whose output is a block's input: that
                                 block's end, whose shortcut_grad its backward
                                 adds to dy, the chain's gradient */
    int fed;                /* that block's begin: it adds nothing */
    cl_mem shortcut;        /* a block's end, from its create: what its add
                               adds to the chain's output (not its own
                               reference) */
    cl_mem shortcut_grad;   /* a block's end, from its backward: the
                               shortcut's gradient w.r.t. the block's input
                               (not its own reference); NULL: none */
} layer_node;

/* A zero-padded copy of a layer's input, which the layer writing the input
 * may write in its own forward instead (network.c plans it): buf is
 * (max_batch, C, h, w), each plane holding the input's at row top, column
 * left, rows and columns past h, w left out, and zeros around it. */
typedef struct {
    cl_mem buf;
    int h, w, top, left;
} layer_padded;

/* What every layer of a network is built with. */
typedef struct {
    const clrt *rt;
    int max_batch;
    tuner *tune;     /* asked once per site by kinds with variants (tuner.h);
                        NULL: each site's first variant */
    int input_gradient; /* whether backward will be asked for dx (not for
                           the first trainable layer, nor before it) */
} layer_env;

/* One pass over a batch. */
typedef struct {
    int n;          /* samples in the batch, <= max_batch */
    int training;   /* 1: training (dropout masks, batch statistics);
                       0: inference (identity dropout, moving statistics) */
    uint64_t key;   /* this layer's random stream for this step (rng.h) */
    int first;      /* the batch's first sample in the whole batch, when
                       data-parallel training splits it between devices
                       (random draws follow the sample); 0 otherwise */
} layer_pass;

/* The reference's pass: the same, for the plain C layers, and what a
 * block's two ends share. */
typedef struct {
    int n, training;
    uint64_t key;
    int first;
    const double *skip; /* a block's end: the block's input, (n, skip) */
    double *dskip;      /* the shortcut's gradient w.r.t. the block's input,
                           (n, skip): the end's backward writes it, the
                           begin's adds it to its dx */
} ref_pass;

/* A layer's part of an ONNX graph (interop/onnx_export.c fills it in for
 * the kind's onnx function). Values are (N, C, H, W), or (N, features)
 * once flat. */
typedef struct {
    onnx_graph *g;
    const char *x;              /* the input value */
    int flat;                   /* x is (N, features): a LAYER_FLAT_OUT layer
                                   came before */
    const char *const *values;  /* each earlier layer's output value, by its
                                   index in the arch: a block's end finds the
                                   block's input as its begin's */
    const layer_param *decl;    /* the tensors as params() declares them, */
    const float *const *params; /* their values from the checkpoint, */
    const char *const *names;   /* and their names, "<layer>.<what>" */
    const char *y;              /* set by the kind: the output value */
} onnx_layer_io;

enum {
    LAYER_FUSES_RELU = 1 << 0, /* a following 'relu' token folds into it */
    LAYER_VIEW = 1 << 1,       /* output is the input, reshaped (flatten) */
    LAYER_SPATIAL = 1 << 2,    /* needs a (C, H, W) input: not after a flat one */
    LAYER_FLAT_IN = 1 << 3,    /* needs a flat input (dense) */
    LAYER_FLAT_OUT = 1 << 4,   /* gives a flat output (flatten, dense, gap) */
    LAYER_CLASSES = 1 << 5,    /* may end the network as the class scores */
    LAYER_IS_RELU = 1 << 6,    /* folds into a LAYER_FUSES_RELU layer before it */
    /* A residual block, written <prefix>[TOKENS] with the begin's prefix
     * (which ends in '['), is two layers around its chain: */
    LAYER_BLOCK_BEGIN = 1 << 7, /* a view of the block's input; its backward
                                   adds the shortcut's gradient into dx */
    LAYER_BLOCK_END = 1 << 8,   /* joins the chain's output and the shortcut;
                                   the block's name stem, syntax and row */
    LAYER_NORM = 1 << 9,        /* batch norm: a block whose chain holds one
                                   normalises a projected shortcut too */
    LAYER_JOINS = 1 << 10,      /* ending a block's chain, computes the end's add:
                                   y = layer(x) + join->shortcut, then the end's
                                   ReLU; the backward masks dy by y and keeps it
                                   in dy, the add's gradient the end reads; and
                                   writing a block's input, its backward adds
                                   feeds->shortcut_grad to dy first */
};

struct layer_kind {
    const char *prefix;  /* the token's start and the layer names' stem */
    const char *syntax;  /* for messages: "conv<F>k<K>[s<S>][same|p<P>]"; NULL
                            for a block's begin, which its end's names */
    const char *keras;   /* the summary's type: "Conv2D"; NULL: no row (a
                            block's begin) */
    unsigned flags;

    /* Reads the rest of a token after its prefix into l (kind and token
     * are already set). A bad token is CNN_ERR_INPUT naming it. */
    cnn_status (*parse)(const char *rest, arch_layer *l, cnn_error *err);
    /* Sets l->out (and any padding) from l->in; an impossible shape is
     * CNN_ERR_INPUT naming the token. */
    cnn_status (*shape)(arch_layer *l, cnn_error *err);
    /* Declares the parameter tensors into out (at most LAYER_MAX_PARAMS);
     * returns how many. NULL: none. */
    int (*params)(const arch_layer *l, layer_param *out);

    /* Device side. op_size: bytes of the kind's device state; the network
     * gives create a zeroed block of that size in nd->op and frees it after
     * release (layer_node_create, layer_node_release). create builds the
     * state (kernels, scratch) for batches of up to env->max_batch and on
     * failure leaves nothing to release; release frees what create made.
     * A kind that can run more than one way asks env->tune here, once per
     * node, with the node's name as the site (tuner.h). 0 and NULL for a
     * view. */
    size_t op_size;
    cnn_status (*create)(layer_node *nd, const layer_env *env, cnn_error *err);
    void (*release)(layer_node *nd);
    /* Enqueues nd->y from x: (n, in) -> (n, out). */
    cnn_status (*forward)(layer_node *nd, const layer_pass *p, cl_mem x,
                          cnn_error *err);
    /* Enqueues the gradients from nd->dy (of nd->y, after a fused ReLU):
     * dx (n, in), skipped when NULL, and every trainable parameter's grad
     * (overwritten). x is the forward's input, nd->y its output. A joined
     * end's forward runs before, and its backward after, those of the layer
     * that computes its add (network.c). */
    cnn_status (*backward)(layer_node *nd, const layer_pass *p, cl_mem x,
                           cl_mem dx, cnn_error *err);

    /* A padded copy of the input, made by the reader's forward or written
     * by the input's writer (after create; NULL: never). padded_input:
     * whether nd's forward makes one, which it describes in *out.
     * input_padded: the writer now writes it; nd's forward makes none and
     * reads the copy alone. pad_output: whether nd's forward will write
     * pad's copy of its output from now on, and y too when keep_y or when
     * nd's own passes read y. */
    int (*padded_input)(const layer_node *nd, layer_padded *out);
    cnn_status (*input_padded)(layer_node *nd, cnn_error *err);
    int (*pad_output)(layer_node *nd, const layer_padded *pad, int keep_y);

    /* dy's transpose, (max_batch * HW + 1, C rounded up to 16), which the
     * reader of nd's output may write in its backward instead of dx
     * (network.c plans it). transposed_dy: the buffer, when nd's backward
     * reads dy there alone (NULL: never). dy_written: the reader now writes
     * it; nd's backward reads no dy. transpose_dx: whether nd's backward
     * will write dx into that buffer from now on, in place of dx. */
    cl_mem (*transposed_dy)(const layer_node *nd);
    void (*dy_written)(layer_node *nd);
    int (*transpose_dx)(layer_node *nd, cl_mem dzt);

    /* The reference, in double, nothing fused. params and grads list the
     * layer's tensors as params() declares them; y is (n, out). The
     * forward may update non-trainable tensors in training. */
    void (*ref_forward)(const arch_layer *l, const ref_pass *p,
                        double *const *params, const double *x, double *y);
    /* dx (n, in; skipped when NULL) and the trainable grads (overwritten)
     * from dy (n, out). */
    void (*ref_backward)(const arch_layer *l, const ref_pass *p,
                         double *const *params, const double *x,
                         const double *y, const double *dy, double *dx,
                         double *const *grads);

    /* Floating-point operations of the forward pass per sample, counting
     * a multiply-add as two (for `cnn-cl bench`); NULL: negligible. */
    double (*flops)(const arch_layer *l);

    /* The inference forward as ONNX operators (`cnn-cl export`): adds
     * nodes from io->x, and the tensors as initializers (layer_onnx_tensor),
     * through the graph builder (onnx_graph.h), then sets io->y and
     * returns the graph's status (onnx_graph_status). A fused ReLU is
     * not the kind's: the relu that follows has a row of its own. */
    cnn_status (*onnx)(const arch_layer *l, onnx_layer_io *io, cnn_error *err);
};

/* The table, in the order tokens are matched (a longer prefix first). */
extern const layer_kind *const layer_kinds[];
extern const int layer_kind_count;

/* Elements of one sample of shape s. */
long arch_size(arch_shape s);

/* Builds nd's device state: a zeroed block of kind->op_size bytes in
 * nd->op, then kind->create; on failure the block is freed and nd->op is
 * NULL. Out of host memory is CNN_ERR_RUNTIME naming the layer. A view
 * (no create) gets nothing. */
cnn_status layer_node_create(layer_node *nd, const layer_env *env,
                             cnn_error *err);
/* kind->release, then frees nd->op and sets it to NULL; nothing when
 * nd->op is NULL, so it is safe on a half-built network and twice. */
void layer_node_release(layer_node *nd);

/* Pairs rd, whose output only wr reads, so that rd's dy is wr's dx
 * alone: when rd's backward reads dy transposed (transposed_dy) and wr's
 * can write its dx there (transpose_dx), it does, and rd's transpose goes
 * (dy_written). */
void layer_transpose_pair(layer_node *rd, layer_node *wr);

/* The random stream of layer `index` (its place in the arch) at a training
 * step: keyed by (seed, epoch, step, index), so repeated and resumed runs
 * draw the same dropout masks. The network and the reference both use it. */
uint64_t layer_stream_key(uint64_t seed, uint64_t epoch, uint64_t step, int index);

/* Helpers for parsers: a decimal number >= 1 at *p, advancing it (-1 when
 * there is none or it is out of range); and the error for a token that
 * does not follow l->kind->syntax. */
long layer_parse_number(const char **p);
cnn_status layer_bad_token(const arch_layer *l, cnn_error *err);

/* Ready-made row functions: parse for a token with no settings (anything
 * after the prefix is a bad token), and shape for an output shaped as the
 * input. */
cnn_status layer_parse_none(const char *rest, arch_layer *l, cnn_error *err);
cnn_status layer_shape_same(arch_layer *l, cnn_error *err);

/* For the kinds' onnx functions: tensor i of io as an initializer, named
 * and shaped as declared; returns its name. layer_onnx_same is the onnx of
 * a kind that computes nothing at inference (dropout, a block's begin):
 * y is x. */
const char *layer_onnx_tensor(onnx_layer_io *io, int i);
cnn_status layer_onnx_same(const arch_layer *l, onnx_layer_io *io, cnn_error *err);

/* For the kinds' device ops: a batch of n outside 1..max_batch, the batch
 * an op was created for, is CNN_ERR_INPUT naming `what` ("convolution"). */
cnn_status layer_check_batch(const char *what, int n, int max_batch,
                             cnn_error *err);

/* For kinds whose one site depends on the input's shape, a folded ReLU
 * and the batch alone: asks env->tune to choose among v[0..n) for site
 * "<layer>.<what>" of nd's kind, keyed "<token> in=CxHxW batch=B", with
 * " relu=1" before the batch when nd folds one (tuner_choose). */
cnn_status layer_choose(const layer_node *nd, const layer_env *env, const char *what,
                        const tune_variant *v, int n, tune_time_fn time_fn, void *ctx,
                        int *chosen, cnn_error *err);

#endif
