/* ref/network.h: the whole network in plain C, in double, built from the
 * layer references with nothing fused. Tests only.
 *
 * params and grads list the tensors in network order — for each conv or fc
 * layer its weight (PyTorch layout) then its bias — as network.h numbers
 * them. x is (n, C, H, W) of a->input, labels is (n). */
#ifndef REF_NETWORK_H
#define REF_NETWORK_H

#include <stdint.h>

#include "arch.h"

/* Returns the mean loss over the batch; fills grads (the gradient of that
 * mean, overwritten) unless grads is NULL, and *correct unless NULL. */
double ref_network_loss(const arch *a, double *const *params, const double *x,
                        const int32_t *labels, int n, double *const *grads,
                        double *correct);

#endif
