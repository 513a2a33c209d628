/* loss.c: host side of softmax cross-entropy (see loss.h); the kernels are
 * in kernels/loss.cl. */
#include "nn/loss.h"

#include <limits.h>
#include <string.h>

/* The reduction's work-group: 64 work-items cover a batch of 32 to 64 in one
 * pass and fit every device's limit; a device that allows fewer for this
 * kernel gets the largest power of two it allows. */
enum { LOSS_LOCAL = 64 };

cnn_status loss_create(loss_layer *l, const clrt *rt, int classes,
                       cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (classes < 1)
        return cnn_fail(err, CNN_ERR_INPUT, "softmax needs at least one "
                        "class, got %d", classes);
    l->rt = rt;
    l->classes = classes;
    static const char *const names[] = {"softmax_xent", "softmax_forward"};
    cl_kernel *const kernels[] = {&l->xent, &l->softmax};
    cnn_status st = clrt_kernels(rt, 2, names, kernels, err);
    if (st == CNN_OK)
        st = clrt_work_group(rt, &l->xent, 1, LOSS_LOCAL, &l->local, err);
    if (st)
        loss_release(l);
    return st;
}

void loss_release(loss_layer *l)
{
    clrt_release_kernel(&l->xent);
    clrt_release_kernel(&l->softmax);
    memset(l, 0, sizeof *l);
}

/* The kernels index with int, so a batch must stay below INT_MAX values. */
static cnn_status check_batch(const loss_layer *l, int n, cnn_error *err)
{
    if (n < 1 || (long long)n * l->classes > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "softmax: a batch of %d rows of "
                        "%d classes is out of range", n, l->classes);
    return CNN_OK;
}

cnn_status loss_softmax_xent(const loss_layer *l, int n, int mean_over, cl_mem logits,
                             cl_mem labels, cl_mem dlogits, cl_mem totals,
                             int accumulate, float smoothing, cnn_error *err)
{
    size_t part = l->local * sizeof(float);
    cnn_status st = check_batch(l, n, err);
    if (st == CNN_OK && mean_over < n)
        st = cnn_fail(err, CNN_ERR_INPUT, "loss: a mean over %d of a batch of %d",
                      mean_over, n);
    if (st == CNN_OK && !(smoothing >= 0 && smoothing < 1))
        st = cnn_fail(err, CNN_ERR_INPUT, "loss: label smoothing %g outside [0, 1)",
                      (double)smoothing);
    if (st == CNN_OK)
        st = clrt_set_args(l->xent, err, 11, sizeof logits, &logits,
                           sizeof labels, &labels, sizeof dlogits, &dlogits,
                           sizeof totals, &totals, sizeof n, &n,
                           sizeof mean_over, &mean_over,
                           sizeof l->classes, &l->classes,
                           sizeof accumulate, &accumulate,
                           sizeof smoothing, &smoothing, part, NULL, part, NULL);
    if (st != CNN_OK)
        return st;
    return clrt_launch(l->rt, l->xent, 1, &l->local, &l->local, NULL, err);
}

cnn_status loss_softmax(const loss_layer *l, int n, cl_mem logits,
                        cl_mem probs, cnn_error *err)
{
    cnn_status st = check_batch(l, n, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->softmax, err, 4, sizeof logits, &logits,
                           sizeof probs, &probs, sizeof n, &n,
                           sizeof l->classes, &l->classes);
    if (st != CNN_OK)
        return st;
    /* One work-item per row; the runtime picks the work-group size. */
    size_t global = (size_t)n;
    return clrt_launch(l->rt, l->softmax, 1, &global, NULL, NULL, err);
}

int loss_argmax(const float *row, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        best = row[c] > row[best] ? c : best;
    return best;
}
