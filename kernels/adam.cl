/* adam.cl: one Adam step over every parameter of the network at once.
 * p, g, m, v are flat arrays of count floats (all parameters stored
 * contiguously; padding between tensors has zero gradient and so never
 * moves). The host folds the step number into lr_t (see src/nn/adam.c):
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   p = p - lr_t m / (sqrt(v) + eps)
 * Each work-item updates four consecutive values with float4 arithmetic;
 * the last one takes the 1-3 values left over one at a time. */
__kernel void adam_update(__global float *p, __global const float *g,
                          __global float *m, __global float *v,
                          const int count, const float lr_t, const float eps,
                          const float b1, const float b2)
{
    int i = get_global_id(0);
    int first = 4 * i;
    if (first + 4 <= count) {
        float4 gi = vload4(i, g);
        float4 mi = b1 * vload4(i, m) + (1.0f - b1) * gi;
        float4 vi = b2 * vload4(i, v) + (1.0f - b2) * gi * gi;
        vstore4(mi, i, m);
        vstore4(vi, i, v);
        vstore4(vload4(i, p) - lr_t * mi / (sqrt(vi) + eps), i, p);
    } else {
        for (int j = first; j < count; j++) {
            float gj = g[j];
            float mj = b1 * m[j] + (1.0f - b1) * gj;
            float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
            m[j] = mj;
            v[j] = vj;
            p[j] -= lr_t * mj / (sqrt(vj) + eps);
        }
    }
}
