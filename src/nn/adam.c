/* adam.c: host side of the Adam optimizer (see adam.h); the kernel is in
 * kernels/adam.cl. */
#include "adam.h"

#include <limits.h>
#include <math.h>
#include <string.h>

adam_config adam_defaults(void)
{
    return (adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .epsilon = 1e-7f};
}

cnn_status adam_create(adam_optimizer *a, const clrt *rt, int count,
                       adam_config cfg, cnn_error *err)
{
    memset(a, 0, sizeof *a);
    /* The kernel indexes with int, work-items past the end included. */
    if (count < 1 || count > INT_MAX - 256)
        return cnn_fail(err, CNN_ERR_INPUT, "Adam over %d parameters is out "
                        "of range", count);
    a->rt = rt;
    a->count = count;
    a->cfg = cfg;
    size_t bytes = (size_t)count * sizeof(float);
    const float zero = 0.0f;
    cnn_status st = clrt_kernel(rt, "adam_update", &a->update, err);
    if (st == CNN_OK)
        st = clrt_buffer(rt, bytes, &a->m, err);
    if (st == CNN_OK)
        st = clrt_buffer(rt, bytes, &a->v, err);
    for (int i = 0; i < 2 && st == CNN_OK; i++) {
        cl_int rc = clEnqueueFillBuffer(rt->queue, i ? a->v : a->m, &zero,
                                        sizeof zero, 0, bytes, 0, NULL, NULL);
        if (rc != CL_SUCCESS)
            st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    }
    if (st != CNN_OK)
        adam_release(a);
    return st;
}

void adam_release(adam_optimizer *a)
{
    clrt_release_kernel(&a->update);
    clrt_release_mem(&a->m);
    clrt_release_mem(&a->v);
    memset(a, 0, sizeof *a);
}

cnn_status adam_step(adam_optimizer *a, cl_mem params, cl_mem grads,
                     cnn_error *err)
{
    /* The bias corrections of step t fold into one learning rate, computed
     * in double so that beta^t stays accurate over long runs. */
    long t = a->step + 1;
    double b1 = a->cfg.beta1, b2 = a->cfg.beta2;
    float lr_t = (float)(a->cfg.lr * sqrt(1.0 - pow(b2, (double)t)) /
                         (1.0 - pow(b1, (double)t)));
    cnn_status st = clrt_set_args(a->update, err, 9, sizeof params, &params,
                                  sizeof grads, &grads, sizeof a->m, &a->m,
                                  sizeof a->v, &a->v, sizeof a->count,
                                  &a->count, sizeof lr_t, &lr_t,
                                  sizeof a->cfg.epsilon, &a->cfg.epsilon,
                                  sizeof a->cfg.beta1, &a->cfg.beta1,
                                  sizeof a->cfg.beta2, &a->cfg.beta2);
    if (st != CNN_OK)
        return st;
    /* Sixteen parameters per work-item; the runtime picks the work-group
     * size from a global size rounded up to a multiple of 64. */
    size_t global = ((size_t)a->count + 15) / 16;
    global = (global + 63) / 64 * 64;
    st = clrt_launch(a->rt, a->update, 1, &global, NULL, NULL, err);
    if (st == CNN_OK)
        a->step = t;
    return st;
}
