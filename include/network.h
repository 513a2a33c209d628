/* network: layers composed into a trainable network on one device.
 *
 * Built from an arch (see arch.h): a ReLU right after a conv or fc layer is
 * fused into it, flatten is a view. Every device buffer — parameters,
 * gradients, Adam's moments, each layer's activations and gradients — is
 * allocated once for batches of up to max_batch, never per step.
 *
 * Parameters live in one flat buffer, each tensor at an aligned offset, in
 * PyTorch layouts: conv weight (OC, IC, K, K), dense weight (OUT, IN),
 * flatten in (C, H, W) order; gradients use the same layout, so Adam is one
 * launch. A training step is enqueued whole: nothing waits for the device
 * until the caller does. */
#ifndef NETWORK_H
#define NETWORK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "activation.h"
#include "adam.h"
#include "arch.h"
#include "clrt.h"
#include "conv.h"
#include "dense.h"
#include "loss.h"
#include "pool.h"

#define NET_MAX_TENSORS (2 * ARCH_MAX_LAYERS)

/* A parameter tensor: "conv1.weight", (32, 1, 3, 3), at `offset` floats. */
typedef struct {
    char name[32];
    int ndim;
    int shape[4];
    size_t count;
    size_t offset;
    int fan_in, fan_out; /* for Glorot initialisation; 0 for biases */
    cl_mem param, grad;  /* sub-buffers of the flat buffers */
} net_tensor;

typedef struct {
    arch_kind kind;
    int relu;            /* fused ReLU (conv, dense) */
    arch_shape in, out;
    const char *token;
    net_tensor *w, *b;   /* NULL for layers without parameters */
    cl_mem y, dy;        /* output and its gradient; views for flatten */
    union {
        conv_layer conv;
        pool_layer pool;
        dense_layer dense;
    } op;
} net_node;

typedef struct {
    const clrt *rt;
    arch arch;
    int max_batch;
    net_node nodes[ARCH_MAX_LAYERS];
    int nnodes;
    net_tensor tensors[NET_MAX_TENSORS];
    int ntensors;
    size_t param_floats;  /* padding included */
    size_t param_count;   /* tensors only */
    cl_mem params, grads;
    cl_mem x, labels;     /* (max_batch, C, H, W) inputs, (max_batch) int32 */
    cl_mem totals;        /* LOSS_TOTALS floats, accumulated per epoch */
    relu_layer relu;
    loss_layer loss;
    adam_optimizer adam;
} network;

/* Builds the network of `a` on rt for batches of up to max_batch, with the
 * dense layers' GEMM path and Adam's settings. DENSE_GEMM_AUTO takes the
 * path cached for this device and these shapes, or times both paths and
 * caches the one faster over all dense layers. Parameters start at zero:
 * call network_init. On failure nothing needs releasing. */
cnn_status network_create(network *net, const clrt *rt, const arch *a,
                          int max_batch, dense_gemm gemm, adam_config adam,
                          cnn_error *err);
void network_release(network *net);

/* Keras' initialisation: Glorot-uniform weights, limit
 * sqrt(6 / (fan_in + fan_out)), and zero biases, from a PRNG seeded by
 * `seed`. Blocks until written. */
cnn_status network_init(network *net, uint64_t seed, cnn_error *err);

/* Enqueues the upload of a batch: images (n, C, H, W) floats, labels (n).
 * Non-blocking: the host arrays must stay untouched until the next wait. */
cnn_status network_upload(network *net, const float *images,
                          const int32_t *labels, int n, cnn_error *err);

/* Forward pass over the uploaded batch; the logits are the last node's y. */
cnn_status network_forward(network *net, int n, cnn_error *err);

/* One training step over the uploaded batch: forward, loss (added to the
 * running totals), backward, Adam. Enqueued only. */
cnn_status network_train_step(network *net, int n, cnn_error *err);

/* Forward and loss only, adding to the running totals (for evaluation). */
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

/* The GEMM path of the dense layers ("kernel" or "clblast"): one for the
 * whole network, so that it names how the weights were computed. */
const char *network_gemm_name(const network *net);

/* The model summary as Keras prints it, written to `f`. */
void network_summary(const network *net, FILE *f);

#endif
