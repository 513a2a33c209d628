/* pool.cl: 2x2 max-pooling with stride 2, as Keras MaxPool2D with 'valid'
 * padding: an odd last row or column is dropped (11 -> 5).
 *
 * x and dx are (N, C, H, W); y and dy are (N, C, H/2, W/2). The backward
 * pass recomputes which input won from x instead of keeping an index buffer
 * from the forward pass: x is kept for the layer before anyway, the extra
 * reads hit the lines the kernel touches to write dx, and the forward pass
 * stays a plain inference kernel. Ties go to the first maximum in row-major
 * window order (top-left, top-right, bottom-left, bottom-right). */

/* The window's four inputs, the winning position (0..3) and its value. Both
 * passes use this one comparison chain, so they always agree on the winner. */
static int maxpool2_window(__global const float *xp, int W, float *best)
{
    float a = xp[0], b = xp[1], c = xp[W], d = xp[W + 1];
    int win = 0;
    float m = a;
    if (b > m) { m = b; win = 1; }
    if (c > m) { m = c; win = 2; }
    if (d > m) { m = d; win = 3; }
    *best = m;
    return win;
}

/* One work-item per output element; total = N * C * OH * OW. */
__kernel void maxpool2_forward(__global const float *x, __global float *y,
                               const int H, const int W, const int OH,
                               const int OW, const int total)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int ow = i % OW, t = i / OW;
    int oh = t % OH, nc = t / OH;
    float m;
    maxpool2_window(x + ((size_t)nc * H + 2 * oh) * W + 2 * ow, W, &m);
    y[i] = m;
}

/* One work-item per output element writes all four dx values of its window
 * (dy at the winner, 0 elsewhere); the work-items of the last window row and
 * column also zero the row and column the floor dropped, so every element
 * of dx is written exactly once. */
__kernel void maxpool2_backward(__global const float *x,
                                __global const float *dy, __global float *dx,
                                const int H, const int W, const int OH,
                                const int OW, const int total)
{
    int i = get_global_id(0);
    if (i >= total)
        return;
    int ow = i % OW, t = i / OW;
    int oh = t % OH, nc = t / OH;
    size_t off = ((size_t)nc * H + 2 * oh) * W + 2 * ow;
    float m;
    int win = maxpool2_window(x + off, W, &m);
    float g = dy[i];
    __global float *p = dx + off;
    p[0] = win == 0 ? g : 0.0f;
    p[1] = win == 1 ? g : 0.0f;
    p[W] = win == 2 ? g : 0.0f;
    p[W + 1] = win == 3 ? g : 0.0f;
    int last_col = (W & 1) && ow == OW - 1;
    if (last_col) {
        p[2] = 0.0f;
        p[W + 2] = 0.0f;
    }
    if ((H & 1) && oh == OH - 1) {
        p[2 * W] = 0.0f;
        p[2 * W + 1] = 0.0f;
        if (last_col)
            p[2 * W + 2] = 0.0f;
    }
}
