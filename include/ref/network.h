/* ref/network.h: the whole network in plain C, in double, built from each
 * layer kind's reference (its row in the layer table) with nothing fused.
 * Tests only.
 *
 * params and grads list the tensors in network order — each layer's
 * tensors as its kind declares them — as network.h numbers them. x is
 * (n, C, H, W) of a->input, labels is (n). */
#ifndef REF_NETWORK_H
#define REF_NETWORK_H

#include <stdint.h>

#include "nn/arch.h"

/* The mode of a pass and what keys its random streams, as the device
 * network has them (network_set_stream, and Adam's step count), and the
 * loss's label smoothing (network_set_label_smoothing). */
typedef struct {
    int training;
    uint64_t seed, epoch, step;
    double label_smoothing;
} ref_mode;

/* Returns the mean loss over the batch; fills grads (the gradient of that
 * mean, overwritten; zero for tensors that are not trainable) unless grads
 * is NULL, and *correct unless NULL. In training mode the forward updates
 * the tensors that are not trainable, as the layers do on the device. */
double ref_network_loss(const arch *a, const ref_mode *mode, double *const *params,
                        const double *x, const int32_t *labels, int n,
                        double *const *grads, double *correct);

#endif
