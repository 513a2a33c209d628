/* res.cl: a residual block's joins, elementwise over flat arrays of n
 * floats (any shape): the add, its backward, and the begin's sum of the
 * block input's two gradients. Each reads and writes every value once. */

/* y = x + s, then max(y, 0) when relu: the chain's output x, the
 * shortcut's s. */
__kernel void res_add(__global const float *x, __global const float *s,
                      __global float *y, const int n, const int relu)
{
    int i = get_global_id(0);
    if (i < n) {
        float v = x[i] + s[i];
        y[i] = relu ? fmax(v, 0.0f) : v;
    }
}

/* g = dy where the forward output y was positive (relu), else dy: the
 * gradient of both the chain's output and the shortcut's, written once. */
__kernel void res_add_backward(__global const float *y, __global const float *dy,
                               __global float *g, const int n, const int relu)
{
    int i = get_global_id(0);
    if (i < n)
        g[i] = !relu || y[i] > 0.0f ? dy[i] : 0.0f;
}

/* dx += ds: the chain's gradient of the block input, already in dx, and
 * the shortcut's. */
__kernel void res_accumulate(__global float *dx, __global const float *ds, const int n)
{
    int i = get_global_id(0);
    if (i < n)
        dx[i] += ds[i];
}
