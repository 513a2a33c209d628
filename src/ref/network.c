/* network.c: reference forward and backward of a whole network (see
 * ref/network.h). Written for clarity: every layer keeps its own output and
 * gradient arrays, and each block its shortcut's gradient. */
#include "ref/network.h"

#include <stdlib.h>
#include <string.h>

#include "ref/loss.h"

/* Layer i's pass; a block's ends get the block's input and shortcut
 * gradient, kept at the begin's index (ys[b] is the begin's input). */
static ref_pass pass(const arch *a, const ref_mode *mode, int n, int i,
                     double *const *ys, double *const *dskip)
{
    const arch_layer *l = &a->layers[i];
    int b = l->kind->flags & LAYER_BLOCK_END ? l->pair : i;
    return (ref_pass){.n = n, .training = mode->training,
                      .key = layer_stream_key(mode->seed, mode->epoch, mode->step, i),
                      .skip = ys[b], .dskip = dskip[b]};
}

double ref_network_loss(const arch *a, const ref_mode *mode, double *const *params,
                        const double *x, const int32_t *labels, int n,
                        double *const *grads, double *correct)
{
    double *ys[ARCH_MAX_LAYERS + 1], *dys[ARCH_MAX_LAYERS + 1];
    /* A block's shortcut gradient w.r.t. its input, at its begin's index:
     * its end writes it, its begin adds it. */
    double *dskip[ARCH_MAX_LAYERS] = {0};
    int first[ARCH_MAX_LAYERS + 1]; /* each layer's first tensor */
    layer_param decl[ARCH_MAX_LAYERS][LAYER_MAX_PARAMS];
    int nparams[ARCH_MAX_LAYERS];
    ys[0] = (double *)x;
    dys[0] = calloc((size_t)n * (size_t)arch_size(a->input), sizeof(double));
    first[0] = 0;
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        size_t size = (size_t)n * (size_t)arch_size(l->out);
        ys[i + 1] = calloc(size, sizeof(double));
        dys[i + 1] = calloc(size, sizeof(double));
        nparams[i] = l->kind->params ? l->kind->params(l, decl[i]) : 0;
        first[i + 1] = first[i] + nparams[i];
        if (l->kind->flags & LAYER_BLOCK_BEGIN)
            dskip[i] = calloc((size_t)n * (size_t)arch_size(l->in), sizeof(double));
    }

    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        ref_pass p = pass(a, mode, n, i, ys, dskip);
        l->kind->ref_forward(l, &p, params + first[i], ys[i], ys[i + 1]);
    }

    double loss_sum, right;
    ref_softmax_xent(ys[a->count], labels, n, a->classes, mode->label_smoothing,
                     dys[a->count], &loss_sum, &right);
    if (correct)
        *correct = right;

    for (int i = a->count - 1; grads && i >= 0; i--) {
        const arch_layer *l = &a->layers[i];
        ref_pass p = pass(a, mode, n, i, ys, dskip);
        for (int t = 0; t < nparams[i]; t++)
            if (!decl[i][t].trainable) {
                size_t count = 1;
                for (int d = 0; d < decl[i][t].ndim; d++)
                    count *= (size_t)decl[i][t].shape[d];
                memset(grads[first[i] + t], 0, count * sizeof(double));
            }
        l->kind->ref_backward(l, &p, params + first[i], ys[i], ys[i + 1], dys[i + 1],
                              dys[i], grads + first[i]);
    }
    for (int i = 1; i <= a->count; i++) {
        free(ys[i]);
        free(dys[i]);
        free(dskip[i - 1]);
    }
    free(dys[0]);
    return loss_sum / n;
}
