/* network: layers composed into a trainable network on one device.
 *
 * Built from an arch (see arch.h) through the layer table (layer.h): one
 * forward loop and one backward loop call each layer's row; a ReLU right
 * after a kind that fuses it is folded into that layer, and a view (flatten,
 * a residual block's begin) shares its input's buffers. A block's add is
 * folded into its chain's last layer when that kind joins (LAYER_JOINS):
 * the end then shares the layer's buffers, and runs its forward before and
 * its backward after the layer's (docs/LAYERS.md). A block's two
 * nodes are paired (layer_node.pair): its end reads the block's input as
 * its begin's output, and the begin's backward, which runs after the
 * chain's, adds the shortcut's gradient the end left. Every device buffer
 * — parameters, gradients, the optimizer's state, each layer's activations
 * and gradients — is allocated
 * once for batches of up to max_batch, never per step.
 *
 * Parameters live in one flat buffer, each tensor at an aligned offset, in
 * PyTorch layouts: conv weight (OC, IC, K, K), dense weight (OUT, IN),
 * flatten in (C, H, W) order; gradients use the same layout, so the
 * optimizer is one launch. Tensors a layer updates itself (batch norm's moving statistics)
 * sit there too with gradients that stay zero, which leaves them as the
 * layer wrote them. A training step is enqueued whole: nothing waits for the
 * device until the caller does. */
#ifndef NETWORK_H
#define NETWORK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nn/arch.h"
#include "runtime/clrt.h"
#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/optim.h"

#define NET_MAX_TENSORS (LAYER_MAX_PARAMS * ARCH_MAX_LAYERS)

typedef struct {
    const clrt *rt;
    arch arch;
    int max_batch;
    layer_node nodes[ARCH_MAX_LAYERS];
    int nnodes;
    net_tensor tensors[NET_MAX_TENSORS];
    int ntensors;
    size_t param_floats;  /* padding included */
    size_t param_count;   /* tensors only */
    size_t trainable_count;
    cl_mem params, grads;
    cl_mem x, labels;     /* (max_batch, C, H, W) inputs, (max_batch) int32 */
    cl_mem totals;        /* LOSS_TOTALS floats, accumulated per epoch */
    uint64_t seed, epoch; /* key dropout's random streams (network_set_stream) */
    int part_first, part_total; /* network_set_part; total 0: batches are whole */
    loss_layer loss;
    float label_smoothing; /* of the training steps' loss */
    optimizer optim;
} network;

/* Builds the network of `a` on rt for batches of up to max_batch, with
 * the optimizer `optim` (weight decay on its trainable tensors only). Each layer that can run more than one way asks `tune`
 * once (tuner.h), which records the choices; NULL takes each one's first
 * variant. Parameters start at zero: call network_init. On failure nothing
 * needs releasing. */
cnn_status network_create(network *net, const clrt *rt, const arch *a,
                          int max_batch, tuner *tune, optim_config optim,
                          cnn_error *err);
void network_release(network *net);

/* Makes the layers again with the choices a quick tuner took by default
 * timed among the variants of the same arithmetic key (tuner_retime), and
 * records them in `tune`: the steps after it compute the same bits, at
 * the speed of a tuned run. Between steps only; nothing when no choice
 * was a default. */
cnn_status network_retune(network *net, tuner *tune, cnn_error *err);

/* Keras' initialisation: each tensor as its kind declares it (Glorot-uniform
 * weights, limit sqrt(6 / (fan_in + fan_out)), zero biases, ...), drawn
 * from the random stream of (seed, tensor). Also sets the seed of the
 * network's random streams. Blocks until written. */
cnn_status network_init(network *net, uint64_t seed, cnn_error *err);

/* Enqueues the upload of a batch: images (n, C, H, W) floats, labels (n).
 * Non-blocking: the host arrays must stay untouched until the next wait. */
cnn_status network_upload(network *net, const float *images,
                          const int32_t *labels, int n, cnn_error *err);

/* Sets what keys the layers' random streams (dropout's masks) besides the
 * optimizer's step: the seed and the epoch. A resumed run sets the same values, so
 * it draws the same masks. */
void network_set_stream(network *net, uint64_t seed, uint64_t epoch);

/* Makes this network compute samples first .. first + n - 1 of each batch
 * of `total` that data-parallel training splits between devices (n is the
 * count each step is given): the loss is the mean over the whole batch, so
 * the parts' gradients sum to the batch's, and random draws (dropout) are
 * those the samples get in the whole batch. total 0: each batch is whole,
 * as it is after network_create. */
void network_set_part(network *net, int first, int total);

/* Forward pass over the uploaded batch, in training (batch statistics,
 * dropout) or inference mode; the logits are network_logits(). */
cnn_status network_forward(network *net, int n, int training, cnn_error *err);

/* The logits of the last forward pass: (max_batch, classes). */
cl_mem network_logits(const network *net);

/* One training step over the uploaded batch: forward, loss (added to the
 * running totals), backward, the optimizer. Enqueued only. */
cnn_status network_train_step(network *net, int n, cnn_error *err);

/* Called once each node's backward pass is enqueued, last node first, with
 * the node's index: data-parallel training starts copying that node's
 * gradients back while the nodes before it still compute. */
typedef cnn_status (*network_node_done)(void *ctx, int node, cnn_error *err);

/* A training step without the optimizer: forward, loss, backward, so the gradients
 * buffer holds the batch's (part's) gradients. `done` may be NULL. */
cnn_status network_gradients(network *net, int n, network_node_done done,
                             void *ctx, cnn_error *err);

/* The label smoothing of the training steps' loss (loss.h), 0 after
 * network_create; evaluation always takes the plain loss. */
void network_set_label_smoothing(network *net, float smoothing);

/* The learning rate the next optimizer steps take (the schedule sets it
 * before every step). */
void network_set_lr(network *net, float lr);

/* The optimizer's step from the gradients buffer, as a training step ends. */
cnn_status network_apply(network *net, cnn_error *err);

/* Where node `node`'s tensors lie in the flat parameter and gradient
 * buffers: floats [*offset, *offset + *count); a count of 0 when it has
 * none. A node's tensors are adjacent, in the order it declared them. */
void network_node_span(const network *net, int node, size_t *offset, size_t *count);

/* Forward (inference mode) and loss only, adding to the running totals
 * (for evaluation). */
cnn_status network_eval_step(network *net, int n, cnn_error *err);

/* Zeroes the running totals; reads them (blocking): loss sum and correct
 * predictions since the last reset. */
cnn_status network_totals_reset(network *net, cnn_error *err);
cnn_status network_totals_read(network *net, double *loss_sum,
                               double *correct, cnn_error *err);

/* Forward pass and softmax: probs is (n, classes) (blocking). */
cnn_status network_probabilities(network *net, int n, float *probs,
                                 cnn_error *err);

/* Copies one tensor of the parameters (grad = 0) or gradients (grad = 1)
 * to or from the host (blocking); out holds t->count floats. */
cnn_status network_tensor_read(network *net, const net_tensor *t, int grad,
                               float *out, cnn_error *err);
cnn_status network_tensor_write(network *net, const net_tensor *t,
                                const float *in, cnn_error *err);

/* The model summary as Keras prints it, written to `f`. */
void network_summary(const network *net, FILE *f);

#endif
