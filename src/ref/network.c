/* network.c: reference forward and backward of a whole network (see
 * ref/network.h). Written for clarity: every layer keeps its own output and
 * gradient arrays. */
#include "ref/network.h"

#include <stdlib.h>
#include <string.h>

#include "ref/activation.h"
#include "ref/conv.h"
#include "ref/dense.h"
#include "ref/loss.h"
#include "ref/pool.h"

double ref_network_loss(const arch *a, double *const *params, const double *x,
                        const int32_t *labels, int n, double *const *grads,
                        double *correct)
{
    double *ys[ARCH_MAX_LAYERS + 1], *dys[ARCH_MAX_LAYERS + 1];
    ys[0] = (double *)x;
    for (int i = 0; i < a->count; i++) {
        size_t size = (size_t)n * (size_t)arch_size(a->layers[i].out);
        ys[i + 1] = calloc(size, sizeof(double));
        dys[i + 1] = calloc(size, sizeof(double));
    }
    dys[0] = calloc((size_t)n * (size_t)arch_size(a->input), sizeof(double));

    int p = 0;
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        long size = (long)n * arch_size(l->out);
        switch (l->kind) {
        case ARCH_CONV:
            ref_conv_forward(ys[i], params[p], params[p + 1], ys[i + 1], n, l->in.c,
                             l->in.h, l->in.w, l->units, l->k, 0);
            p += 2;
            break;
        case ARCH_DENSE:
            ref_dense_forward(ys[i], params[p], params[p + 1], ys[i + 1], n, l->in.c,
                              l->units, 0);
            p += 2;
            break;
        case ARCH_POOL:
            ref_maxpool_forward(ys[i], ys[i + 1], n, l->in.c, l->in.h, l->in.w, 2, 2);
            break;
        case ARCH_RELU:
            ref_relu_forward(ys[i], ys[i + 1], size);
            break;
        case ARCH_FLATTEN:
            memcpy(ys[i + 1], ys[i], (size_t)size * sizeof(double));
            break;
        }
    }

    double loss_sum, right;
    ref_softmax_xent(ys[a->count], labels, n, a->classes, dys[a->count], &loss_sum,
                     &right);
    if (correct)
        *correct = right;

    for (int i = a->count - 1; grads && i >= 0; i--) {
        const arch_layer *l = &a->layers[i];
        long size = (long)n * arch_size(l->out);
        switch (l->kind) {
        case ARCH_CONV:
            p -= 2;
            ref_conv_backward(ys[i], params[p], dys[i + 1], dys[i], grads[p],
                              grads[p + 1], n, l->in.c, l->in.h, l->in.w, l->units, l->k);
            break;
        case ARCH_DENSE:
            p -= 2;
            ref_dense_backward(ys[i], params[p], ys[i + 1], dys[i + 1], dys[i], grads[p],
                               grads[p + 1], n, l->in.c, l->units, 0);
            break;
        case ARCH_POOL:
            ref_maxpool_backward(ys[i], dys[i + 1], dys[i], n, l->in.c, l->in.h, l->in.w, 2, 2);
            break;
        case ARCH_RELU:
            ref_relu_backward(ys[i + 1], dys[i + 1], dys[i], size);
            break;
        case ARCH_FLATTEN:
            memcpy(dys[i], dys[i + 1], (size_t)size * sizeof(double));
            break;
        }
    }
    for (int i = 1; i <= a->count; i++) {
        free(ys[i]);
        free(dys[i]);
    }
    free(dys[0]);
    return loss_sum / n;
}
