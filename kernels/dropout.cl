/* dropout.cl: inverted dropout's mask, applied (see include/dropout.h).
 * in and out are flat arrays of n floats, the whole batch.
 *
 * Element i is kept iff rng_uniform_float(key, base + i) >= rate, base
 * being the first element's place in the whole batch (data-parallel
 * training gives each device a part of it): the mask is a
 * function of the key and the flat index alone, never of the launch, so the
 * backward redraws the forward's mask and the reference draws it too. The
 * forward (in x, out y) and the backward (in dy, out dx) are this one map. */
__kernel void dropout_apply(__global const float *in, __global float *out,
                            const int n, const ulong key, const ulong base,
                            const float rate,
                            const float scale)
{
    int i = get_global_id(0);
    if (i < n)
        out[i] = rng_uniform_float(key, base + (ulong)i) >= rate ? in[i] * scale
                                                          : 0.0f;
}
