/* peak.cl: the device's own limits, for `cnn-cl bench`'s roofline: the
 * FP32 multiply-add rate and the memory bandwidth. Written in 16-lane
 * vectors with independent chains, so a CPU compiler (PoCL) fills its
 * vector units and a GPU keeps every lane busy; clpeak's scalar kernels do
 * not vectorise on PoCL. */

/* Eight independent chains of 16 lanes per work-item: enough to cover the
 * latency of two FMA pipes. Chain k, lane l starts at (gid * 128 + k * 16
 * + l) / 1024 and takes x = fma(x, m, c) `iters` times; out (128 floats
 * per work-item) gets the results, so nothing is optimised away. */
__kernel void peak_fma(__global float *out, const int iters, const float m, const float c)
{
    const int gid = get_global_id(0);
    const float16 lane = (float16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float base = (float)gid * 128.0f;
    float16 x0 = (base + 0.0f + lane) / 1024.0f, x1 = (base + 16.0f + lane) / 1024.0f;
    float16 x2 = (base + 32.0f + lane) / 1024.0f, x3 = (base + 48.0f + lane) / 1024.0f;
    float16 x4 = (base + 64.0f + lane) / 1024.0f, x5 = (base + 80.0f + lane) / 1024.0f;
    float16 x6 = (base + 96.0f + lane) / 1024.0f, x7 = (base + 112.0f + lane) / 1024.0f;
    const float16 vm = (float16)m, vc = (float16)c;
    for (int i = 0; i < iters; i++) {
        x0 = fma(x0, vm, vc);
        x1 = fma(x1, vm, vc);
        x2 = fma(x2, vm, vc);
        x3 = fma(x3, vm, vc);
        x4 = fma(x4, vm, vc);
        x5 = fma(x5, vm, vc);
        x6 = fma(x6, vm, vc);
        x7 = fma(x7, vm, vc);
    }
    __global float *o = out + (size_t)gid * 128;
    vstore16(x0, 0, o);
    vstore16(x1, 1, o);
    vstore16(x2, 2, o);
    vstore16(x3, 3, o);
    vstore16(x4, 4, o);
    vstore16(x5, 5, o);
    vstore16(x6, 6, o);
    vstore16(x7, 7, o);
}

/* y = s * x over n16 runs of 16 floats: one read and one write of each
 * byte, as STREAM's scale. Each work-item takes a contiguous share of the
 * runs, so a few work-groups cover any size (PoCL spends microseconds on
 * each group) and a CPU core streams through memory in order. */
__kernel void peak_scale(__global const float *x, __global float *y, const float s,
                         const long n16)
{
    const long items = get_global_size(0), gid = get_global_id(0);
    const long share = (n16 + items - 1) / items;
    const long end = min(n16, (gid + 1) * share);
    for (long i = gid * share; i < end; i++)
        vstore16(s * vload16(i, x), i, y);
}
