/* activation.c: host side of the ReLU layer (see activation.h); the kernels
 * are in kernels/activation.cl. */
#include "activation.h"

#include <limits.h>
#include <string.h>

cnn_status relu_create(relu_layer *l, const clrt *rt, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->rt = rt;
    cnn_status st = clrt_kernel(rt, "relu_forward", &l->forward, err);
    if (st == CNN_OK)
        st = clrt_kernel(rt, "relu_backward", &l->backward, err);
    if (st != CNN_OK)
        relu_release(l);
    return st;
}

void relu_release(relu_layer *l)
{
    if (l->forward)
        clReleaseKernel(l->forward);
    if (l->backward)
        clReleaseKernel(l->backward);
    memset(l, 0, sizeof *l);
}

/* One work-item per element, in a global size rounded up to a multiple of
 * 64 so that the runtime, left to choose the work-group size (legal on every
 * device), can pick a large one rather than a divisor of an odd count. */
static cnn_status launch(const relu_layer *l, cl_kernel k, size_t count,
                         cnn_error *err)
{
    size_t global = (count + 63) / 64 * 64;
    return clrt_launch(l->rt, k, 1, &global, NULL, NULL, err);
}

static cnn_status check_count(size_t count, cnn_error *err)
{
    if (count < 1 || count > INT_MAX)
        return cnn_fail(err, CNN_ERR_INPUT, "ReLU over %zu values is out of "
                        "range (1 to %d)", count, INT_MAX);
    return CNN_OK;
}

cnn_status relu_forward(const relu_layer *l, size_t count, cl_mem x, cl_mem y,
                        cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 3, sizeof x, &x, sizeof y, &y,
                           sizeof n, &n);
    return st == CNN_OK ? launch(l, l->forward, count, err) : st;
}

cnn_status relu_backward(const relu_layer *l, size_t count, cl_mem y,
                         cl_mem dy, cl_mem dx, cnn_error *err)
{
    int n = (int)count;
    cnn_status st = check_count(count, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward, err, 4, sizeof y, &y, sizeof dy, &dy,
                           sizeof dx, &dx, sizeof n, &n);
    return st == CNN_OK ? launch(l, l->backward, count, err) : st;
}
