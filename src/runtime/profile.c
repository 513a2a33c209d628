/* profile.c: per-kernel device times from OpenCL profiling events, for the
 * benchmark. Normal runs record nothing. */
#include "runtime/clrt.h"

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
    r->flop = 0;
    CLRT_CALL(err, clGetKernelInfo, (k, CL_KERNEL_FUNCTION_NAME, sizeof r->kernel,
              r->kernel, NULL));
    return CNN_OK;
}

void clrt_profile_flop(const clrt *rt, double flop)
{
    if (rt->profile && rt->profile->count)
        rt->profile->launches[rt->profile->count - 1].flop += flop;
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

/* The entry of `name` in times[0..*n), appended when new. */
static clrt_kernel_time *entry(clrt_kernel_time **times, int *n, int *capacity,
                               const char *name)
{
    for (int j = 0; j < *n; j++)
        if (!strcmp((*times)[j].name, name))
            return &(*times)[j];
    if (*n == *capacity) {
        int cap = *capacity ? 2 * *capacity : 32;
        clrt_kernel_time *grown = realloc(*times, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        *times = grown;
        *capacity = cap;
    }
    clrt_kernel_time *t = &(*times)[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->calls = 0;
    t->ms = 0;
    t->flop = 0;
    return t;
}

cnn_status clrt_profile_collect(clrt *rt, clrt_kernel_time **times, int *count,
                                cnn_error *err)
{
    clrt_profile *p = rt->profile;
    clrt_kernel_time *t = NULL;
    int n = 0, capacity = 0;
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
        clrt_kernel_time *e = entry(&t, &n, &capacity, p->launches[i].kernel);
        if (!e) {
            st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
            break;
        }
        e->calls++;
        e->ms += (double)(t1 - t0) * 1e-6;
        e->flop += p->launches[i].flop;
    }
    if (p)
        stop(rt);
    if (st) {
        free(t);
        t = NULL;
        n = 0;
    }
    *times = t;
    *count = n;
    return st;
}
