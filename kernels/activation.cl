/* activation.cl: ReLU where it is not fused into the layer before it.
 * x, y, dx, dy are flat arrays of n floats; any shape. */

/* y = max(x, 0) */
__kernel void relu_forward(__global const float *x, __global float *y,
                           const int n)
{
    int i = get_global_id(0);
    if (i < n)
        y[i] = fmax(x[i], 0.0f);
}

/* dx = dy where the forward output was positive, else 0. Takes the forward
 * output y, which is what the training step keeps. */
__kernel void relu_backward(__global const float *y, __global const float *dy,
                            __global float *dx, const int n)
{
    int i = get_global_id(0);
    if (i < n)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
