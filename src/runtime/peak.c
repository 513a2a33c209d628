/* peak.c: the device's measured FMA rate and bandwidth (see peak.h). */
#include "runtime/peak.h"

#include "util/clock.h"

/* A launch this long hides its enqueue and wait (28-80 us on PoCL). */
#define PEAK_MIN_SECONDS 0.05
#define PEAK_TRIES 3
#define PEAK_MAX_BUFFER ((size_t)256 << 20)
/* Work-groups this large (or the most the kernel allows) keep PoCL's
 * per-group cost out of the figures; sizes that do not divide leave the
 * choice to the driver (the tests' odd sizes). */
#define PEAK_WORK_GROUP 256

/* Work-items of a launch: enough to fill a GPU (2048 resident per compute
 * unit); a CPU's work-groups are spread over its cores all the same. */
static size_t peak_items(const clrt *rt)
{
    return (size_t)rt->dev.compute_units * 2048;
}

cnn_status peak_open(const clrt *rt, peak_kernels *k, cnn_error *err)
{
    static const char *const names[] = {"peak_fma", "peak_scale"};
    cl_kernel *out[] = {&k->fma, &k->scale};
    return clrt_kernels_from(rt, "peak", NULL, 2, names, out, err);
}

void peak_close(peak_kernels *k)
{
    clrt_release_kernel(&k->fma);
    clrt_release_kernel(&k->scale);
}

cnn_status peak_fma(const clrt *rt, const peak_kernels *k, cl_mem out, size_t items,
                    int iters, float m, float c, cnn_error *err)
{
    size_t local;
    cnn_status st = clrt_set_args(k->fma, err, 4, sizeof out, &out, sizeof iters, &iters,
                                  sizeof m, &m, sizeof c, &c);
    if (!st)
        st = clrt_work_group(rt, &k->fma, 1, PEAK_WORK_GROUP, &local, err);
    return st ? st : clrt_launch(rt, k->fma, 1, &items, items % local ? NULL : &local,
                                 NULL, err);
}

cnn_status peak_scale(const clrt *rt, const peak_kernels *k, cl_mem x, cl_mem y, size_t n,
                      float s, cnn_error *err)
{
    cl_long n16 = (cl_long)(n / 16);
    size_t items = peak_items(rt), local;
    if (items > n / 16)
        items = n / 16;
    cnn_status st = clrt_set_args(k->scale, err, 4, sizeof x, &x, sizeof y, &y, sizeof s, &s,
                                  sizeof n16, &n16);
    if (!st)
        st = clrt_work_group(rt, &k->scale, 1, PEAK_WORK_GROUP, &local, err);
    return st ? st : clrt_launch(rt, k->scale, 1, &items, items % local ? NULL : &local,
                                 NULL, err);
}

/* The seconds of one launch: of peak_fma over `size` work-items when iters
 * is above 0, else of peak_scale from a to b over `size` floats. */
static cnn_status timed(const clrt *rt, const peak_kernels *k, cl_mem a, cl_mem b,
                        size_t size, int iters, double *seconds, cnn_error *err)
{
    CLRT_CALL(err, clFinish, (rt->queue));
    double t0 = clock_seconds();
    cnn_status st = iters ? peak_fma(rt, k, a, size, iters, 0.999f, 0.001f, err)
                          : peak_scale(rt, k, a, b, size, 0.5f, err);
    if (st)
        return st;
    CLRT_CALL(err, clFinish, (rt->queue));
    *seconds = clock_seconds() - t0;
    return CNN_OK;
}

cnn_status peak_measure(const clrt *rt, peak_figures *out, cnn_error *err)
{
    size_t items = peak_items(rt);
    size_t bytes = PEAK_MAX_BUFFER;
    if (bytes > rt->dev.max_alloc)
        bytes = rt->dev.max_alloc;
    if (bytes > rt->dev.global_mem / 4)
        bytes = rt->dev.global_mem / 4;
    bytes &= ~(size_t)63;
    if (items * 128 * sizeof(float) > bytes)
        items = bytes / (128 * sizeof(float));
    peak_kernels k = {0};
    cl_mem a = NULL, b = NULL;
    cnn_status st = peak_open(rt, &k, err);
    if (!st)
        st = clrt_buffer(rt, bytes, &a, err);
    if (!st)
        st = clrt_buffer(rt, bytes, &b, err);
    /* Doubles the chains' length until one launch is long enough. */
    int iters = 64;
    double s = 0;
    while (!st && !(st = timed(rt, &k, a, NULL, items, iters, &s, err)) &&
           s < PEAK_MIN_SECONDS && iters < (1 << 24))
        iters *= 2;
    out->gflops = out->gbps = 0;
    for (int t = 0; t < PEAK_TRIES && !st; t++) {
        double fma_s = 0, scale_s = 0;
        if ((st = timed(rt, &k, a, NULL, items, iters, &fma_s, err)) ||
            (st = timed(rt, &k, a, b, bytes / sizeof(float), 0, &scale_s, err)))
            break;
        double gflops = (double)items * iters * 128 * 2 / fma_s * 1e-9;
        double gbps = 2.0 * (double)bytes / scale_s * 1e-9;
        if (gflops > out->gflops)
            out->gflops = gflops;
        if (gbps > out->gbps)
            out->gbps = gbps;
    }
    clrt_release_mem(&a);
    clrt_release_mem(&b);
    peak_close(&k);
    return st;
}
