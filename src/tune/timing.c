/* timing.c: measuring a candidate variant for the tuner: device time
 * between two markers, the minimum over a few runs. */
#include "tuner.h"

static cnn_status marker(const clrt *rt, cl_event *e, cnn_error *err)
{
    CLRT_CALL(err, clEnqueueMarkerWithWaitList, (rt->queue, 0, NULL, e));
    return CNN_OK;
}

static cnn_status end_time(cl_event e, cl_ulong *t, cnn_error *err)
{
    CLRT_CALL(err, clGetEventProfilingInfo,
              (e, CL_PROFILING_COMMAND_END, sizeof *t, t, NULL));
    return CNN_OK;
}

/* One run's device time: from the end of a marker before it to the end of
 * one after it. */
static cnn_status time_run(const clrt *rt, tune_enqueue_fn enqueue, void *ctx,
                           double *ms, cnn_error *err)
{
    cl_event e[2] = {NULL, NULL};
    cl_ulong t0, t1;
    cnn_status st = marker(rt, &e[0], err);
    if (!st && !(st = enqueue(ctx, err)) && !(st = marker(rt, &e[1], err))) {
        cl_int rc = clWaitForEvents(1, &e[1]);
        if (rc != CL_SUCCESS)
            st = clrt_fail(err, "clWaitForEvents", rc);
    }
    if (!st && !(st = end_time(e[0], &t0, err)) && !(st = end_time(e[1], &t1, err)))
        *ms = (double)(t1 - t0) * 1e-6;
    for (int i = 0; i < 2; i++)
        if (e[i])
            clReleaseEvent(e[i]);
    return st;
}

cnn_status tune_time_runs(const clrt *rt, int reps, tune_enqueue_fn enqueue,
                          void *ctx, double *ms, cnn_error *err)
{
    double t;
    cnn_status st = time_run(rt, enqueue, ctx, &t, err);
    for (int r = 0; r < reps && !st; r++)
        if (!(st = time_run(rt, enqueue, ctx, &t, err)) && (r == 0 || t < *ms))
            *ms = t;
    return st;
}

cnn_status tune_scratch(const clrt *rt, int n, const size_t *counts,
                        cl_mem *out, cnn_error *err)
{
    const float zero = 0.0f;
    cnn_status st = CNN_OK;
    for (int i = 0; i < n; i++)
        out[i] = NULL;
    for (int i = 0; i < n && !st; i++) {
        st = clrt_buffer(rt, counts[i] * sizeof(float), &out[i], err);
        cl_int rc;
        if (!st && (rc = clEnqueueFillBuffer(rt->queue, out[i], &zero, sizeof zero, 0,
                                             counts[i] * sizeof(float), 0, NULL,
                                             NULL)) != CL_SUCCESS)
            st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    }
    for (int i = 0; i < n && st; i++)
        clrt_release_mem(&out[i]);
    return st;
}

cnn_status tune_time_on_scratch(const clrt *rt, int n, const size_t *counts,
                                cl_mem *bufs, int reps, tune_enqueue_fn enqueue,
                                void *ctx, double *ms, cnn_error *err)
{
    cnn_status st = tune_scratch(rt, n, counts, bufs, err);
    if (st)
        return st;
    st = tune_time_runs(rt, reps, enqueue, ctx, ms, err);
    for (int i = 0; i < n; i++)
        clrt_release_mem(&bufs[i]);
    return st;
}
