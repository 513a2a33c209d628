/* timing.c: measuring a candidate variant for the tuner: its layer on
 * scratch data, device time between two markers, the minimum over a few
 * runs. */
#include "tune/tuner.h"

#include "util/clock.h"

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
static cnn_status time_run(const tune_timing *tm, const cl_mem *bufs, double *ms,
                           cnn_error *err)
{
    cl_event e[2] = {NULL, NULL};
    cl_ulong t0, t1;
    cnn_status st = marker(tm->rt, &e[0], err);
    /* the end marker after whatever the run put beside the queue */
    if (!st && !(st = tm->enqueue(tm->ctx, bufs, err)) && !(st = clrt_join(tm->rt, err)) &&
        !(st = marker(tm->rt, &e[1], err))) {
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

/* The warm-up, then the fastest of the timed runs (tuner.h). The budget
 * is the host's clock, which a simulator's slow runs spend too. */
static cnn_status time_runs(const tune_timing *tm, const cl_mem *bufs, double *ms,
                            cnn_error *err)
{
    double t;
    cnn_status st = time_run(tm, bufs, &t, err);
    const double start = clock_seconds();
    for (int r = 0; r < TUNE_REPS && !st; r++) {
        if (r >= TUNE_MIN_REPS && (clock_seconds() - start) * 1e3 >= TUNE_BUDGET_MS)
            break;
        if (!(st = time_run(tm, bufs, &t, err)) && (r == 0 || t < *ms))
            *ms = t;
    }
    return st;
}

/* The zero-filled scratch buffers into bufs (all NULL first, so a failure
 * leaves only ones to release). */
static cnn_status scratch(const tune_timing *tm, cl_mem *bufs, cnn_error *err)
{
    const float zero = 0.0f;
    cnn_status st = CNN_OK;
    if (tm->nbufs < 0 || tm->nbufs > TUNE_MAX_SCRATCH)
        return cnn_fail(err, CNN_ERR_RUNTIME, "timing over %d scratch buffers "
                        "(at most %d)", tm->nbufs, TUNE_MAX_SCRATCH);
    for (int i = 0; i < tm->nbufs && !st; i++) {
        size_t bytes = tm->counts[i] * sizeof(float);
        cl_int rc;
        st = clrt_buffer(tm->rt, bytes, &bufs[i], err);
        if (!st && (rc = clEnqueueFillBuffer(tm->rt->queue, bufs[i], &zero, sizeof zero, 0,
                                             bytes, 0, NULL, NULL)) != CL_SUCCESS)
            st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    }
    return st;
}

cnn_status tune_time(void *timing, int index, double *ms, cnn_error *err)
{
    const tune_timing *tm = timing;
    cl_mem bufs[TUNE_MAX_SCRATCH] = {NULL};
    cnn_status st = scratch(tm, bufs, err);
    if (!st && !(st = tm->create(tm->ctx, index, bufs, err))) {
        st = time_runs(tm, bufs, ms, err);
        tm->release(tm->ctx);
    }
    for (int i = 0; i < TUNE_MAX_SCRATCH; i++)
        clrt_release_mem(&bufs[i]);
    return st;
}
