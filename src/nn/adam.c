/* adam.c: host side of the Adam optimizer (see adam.h); the kernel is in
 * kernels/adam.cl. */
#include "nn/adam.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

adam_config adam_defaults(void)
{
    return (adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                         .epsilon = 1e-7f};
}

/* A row's one number: the work-group size of one parameter per work-item,
 * 0 for sixteen per work-item in groups the runtime picks. */
const tune_variant adam_variants[] = {
    {"vec16", "vec16", TUNE_ANYWHERE, {0}},
    {"gpu", "scalar", TUNE_NOT_CPU, {CLRT_WORK_GROUP}},
};
const int adam_variant_count = sizeof adam_variants / sizeof *adam_variants;

/* The optimizer as adam_variants[variant]. */
static cnn_status create_variant(adam_optimizer *a, const clrt *rt, int count,
                                 adam_config cfg, int variant, cnn_error *err)
{
    memset(a, 0, sizeof *a);
    /* The kernel indexes with int, work-items past the end included. */
    if (count < 1 || count > INT_MAX - CLRT_WORK_GROUP)
        return cnn_fail(err, CNN_ERR_INPUT, "Adam over %d parameters is out "
                        "of range", count);
    a->rt = rt;
    a->count = count;
    a->cfg = cfg;
    size_t bytes = (size_t)count * sizeof(float);
    const float zero = 0.0f;
    const size_t wg = (size_t)adam_variants[variant].tiles[0];
    cnn_status st =
        clrt_kernel(rt, wg ? "adam_update_gpu" : "adam_update", &a->update, err);
    if (st == CNN_OK && wg) {
        /* The row's work-group size, or the most the device allows. */
        st = clrt_work_group(rt, &a->update, 1, wg, &a->local, err);
    }
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

typedef struct {
    const clrt *rt;
    int count;
    adam_config cfg;
    adam_optimizer a;
} adam_timing;

static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    adam_timing *t = ctx;
    (void)bufs;
    return create_variant(&t->a, t->rt, t->count, t->cfg, index, err);
}

/* One step on the scratch buffers params, grads. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    adam_timing *t = ctx;
    return adam_step(&t->a, b[0], b[1], err);
}

static void time_release(void *ctx)
{
    adam_release(&((adam_timing *)ctx)->a);
}

cnn_status adam_create(adam_optimizer *a, const clrt *rt, int count,
                       adam_config cfg, tuner *tune, cnn_error *err)
{
    char shape[64];
    snprintf(shape, sizeof shape, "adam count=%d", count);
    const tune_site site = {.name = "adam.update", .kind = "adam", .shape_key = shape,
                            .dev = &rt->dev};
    adam_timing t = {.rt = rt, .count = count, .cfg = cfg};
    tune_timing timing = {.rt = rt, .nbufs = 2, .counts = {(size_t)count, (size_t)count},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    int variant;
    memset(a, 0, sizeof *a);
    cnn_status st = tuner_choose(tune, &site, adam_variants, adam_variant_count, tune_time,
                                 &timing, &variant, err);
    return st ? st : create_variant(a, rt, count, cfg, variant, err);
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
    if (a->local) {
        /* One parameter per work-item, rounded up to whole groups. */
        size_t global = (size_t)a->count;
        st = clrt_launch(a->rt, a->update, 1, &global, &a->local, NULL, err);
    } else {
        /* Sixteen parameters per work-item; the runtime picks the
         * work-group size from a global size rounded up to a multiple of
         * 64. */
        size_t global = ((size_t)a->count + 15) / 16;
        global = (global + 63) / 64 * 64;
        st = clrt_launch(a->rt, a->update, 1, &global, NULL, NULL, err);
    }
    if (st == CNN_OK)
        a->step = t;
    return st;
}
