/* profile.c: per-kernel device times from OpenCL profiling events, for the
 * benchmark. Normal runs record nothing. */
#include "clrt.h"

#include <stdlib.h>
#include <string.h>

cnn_status clrt_profile_start(clrt *rt, cnn_error *err)
{
    if (!rt->profile && !(rt->profile = calloc(1, sizeof *rt->profile)))
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    return CNN_OK;
}

cnn_status clrt_profile_record(const clrt *rt, cl_kernel k, cl_event event,
                               cnn_error *err)
{
    clrt_profile *p = rt->profile;
    if (p->count == p->capacity) {
        int cap = p->capacity ? 2 * p->capacity : 256;
        struct clrt_launch_record *grown =
            realloc(p->launches, (size_t)cap * sizeof *grown);
        if (!grown) {
            clReleaseEvent(event);
            return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
        }
        p->launches = grown;
        p->capacity = cap;
    }
    struct clrt_launch_record *r = &p->launches[p->count++];
    r->event = event;
    CLRT_CALL(err, clGetKernelInfo, (k, CL_KERNEL_FUNCTION_NAME, sizeof r->kernel,
              r->kernel, NULL));
    return CNN_OK;
}

static void stop(clrt *rt)
{
    clrt_profile *p = rt->profile;
    for (int i = 0; i < p->count; i++)
        clReleaseEvent(p->launches[i].event);
    free(p->launches);
    free(p);
    rt->profile = NULL;
}

cnn_status clrt_profile_report(clrt *rt, FILE *f, int steps, double *total_ms,
                               cnn_error *err)
{
    clrt_profile *p = rt->profile;
    struct {
        const char *name;
        int calls;
        double ms;
    } times[128];
    int n = 0;
    *total_ms = 0;
    cnn_status st = CNN_OK;
    cl_int rc = clFinish(rt->queue);
    if (rc != CL_SUCCESS)
        st = clrt_fail(err, "clFinish", rc);
    for (int i = 0; p && st == CNN_OK && i < p->count; i++) {
        cl_ulong t0, t1;
        if ((rc = clGetEventProfilingInfo(p->launches[i].event, CL_PROFILING_COMMAND_START,
                                          sizeof t0, &t0, NULL)) ||
            (rc = clGetEventProfilingInfo(p->launches[i].event, CL_PROFILING_COMMAND_END,
                                          sizeof t1, &t1, NULL))) {
            st = clrt_fail(err, "clGetEventProfilingInfo", rc);
            break;
        }
        const char *name = p->launches[i].kernel;
        int j = 0;
        while (j < n && strcmp(times[j].name, name))
            j++;
        if (j == n) {
            if (n == 128)
                continue;
            times[n].name = name;
            times[n].calls = 0;
            times[n].ms = 0;
            n++;
        }
        double ms = (double)(t1 - t0) * 1e-6;
        times[j].calls++;
        times[j].ms += ms;
        *total_ms += ms;
    }
    for (int j = 0; st == CNN_OK && j < n; j++)
        fprintf(f, "  %-32s %5.1f calls/step %9.3f ms/call %9.3f ms/step\n",
                times[j].name, (double)times[j].calls / steps,
                times[j].ms / times[j].calls, times[j].ms / steps);
    if (p)
        stop(rt);
    return st;
}
