/* adam.cl: one Adam step over every parameter of the network at once.
 * p, g, m, v are flat arrays of count floats (all parameters stored
 * contiguously; padding between tensors has zero gradient and so never
 * moves). The host folds the step number into lr_t (see src/nn/adam.c):
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   p = p - lr_t m / (sqrt(v) + eps)
 * Each work-item updates sixteen consecutive values with float16
 * arithmetic (the same operations on each value as one at a time, in a
 * quarter of the work-items float4 needs); the last one takes the 1-15
 * values left over one at a time. */
/* One value's step, as the scalar paths take it. */
static void adam_one(__global float *p, __global const float *g, __global float *m,
                     __global float *v, const int j, const float lr_t, const float eps,
                     const float b1, const float b2)
{
    float gj = g[j];
    float mj = b1 * m[j] + (1.0f - b1) * gj;
    float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    p[j] -= lr_t * mj / (sqrt(vj) + eps);
}

__kernel void adam_update(__global float *p, __global const float *g,
                          __global float *m, __global float *v,
                          const int count, const float lr_t, const float eps,
                          const float b1, const float b2)
{
    int i = get_global_id(0);
    int first = 16 * i;
    if (first + 16 <= count) {
        float16 gi = vload16(i, g);
        float16 mi = b1 * vload16(i, m) + (1.0f - b1) * gi;
        float16 vi = b2 * vload16(i, v) + (1.0f - b2) * gi * gi;
        vstore16(mi, i, m);
        vstore16(vi, i, v);
        vstore16(vload16(i, p) - lr_t * mi / (sqrt(vi) + eps), i, p);
    } else {
        for (int j = first; j < count; j++)
            adam_one(p, g, m, v, j, lr_t, eps, b1, b2);
    }
}

/* The GPU-shaped step: one parameter per work-item (a network of half a
 * million parameters is half a million work-items, not 34 thousand), so a
 * warp's loads and stores are contiguous. Each value takes the operations
 * of adam_update's scalar tail. */
__kernel void adam_update_gpu(__global float *p, __global const float *g,
                              __global float *m, __global float *v,
                              const int count, const float lr_t, const float eps,
                              const float b1, const float b2)
{
    const int j = get_global_id(0);
    if (j < count)
        adam_one(p, g, m, v, j, lr_t, eps, b1, b2);
}
