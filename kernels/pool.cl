/* pool.cl: 2x2 max-pooling with stride 2, as Keras MaxPool2D with 'valid'
 * padding: an odd last row or column is dropped (11 -> 5).
 *
 * x and dx are (N, C, H, W); y and dy are (N, C, H/2, W/2). The backward
 * pass recomputes which input won from x instead of keeping an index buffer
 * from the forward pass: the training step keeps x anyway, so there is no
 * extra buffer to size per batch, and the forward pass stays a plain
 * inference kernel. Measured on PoCL, the backward pass is bound by its
 * strided dx stores, not by reading x. Ties go to the first maximum in
 * row-major window order (top-left, top-right, bottom-left, bottom-right). */

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

/* The NDRange is (OW, OH, N * C), one work-item per output element: no
 * index divisions, and consecutive work-items read consecutive pairs, which
 * the CPU runtime's vectoriser turns into vector loads. */
__kernel void maxpool2_forward(__global const float *x, __global float *y,
                               const int H, const int W)
{
    int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
    int OW = get_global_size(0), OH = get_global_size(1);
    float m;
    maxpool2_window(x + ((size_t)nc * H + 2 * oh) * W + 2 * ow, W, &m);
    y[((size_t)nc * OH + oh) * OW + ow] = m;
}

/* The NDRange is (OW, H, N * C): each work-item writes the two dx values of
 * its window in input row h (dy at the winner, 0 otherwise), so the writes
 * are contiguous and every element of dx is written exactly once. A row the
 * floor dropped (h = H - 1 with H odd) belongs to no window: it is given the
 * last window row and, being its row 2, gets zeros; the work-item of the
 * last window column also zeroes a dropped last column. */
__kernel void maxpool2_backward(__global const float *x,
                                __global const float *dy, __global float *dx,
                                const int H, const int W)
{
    int ow = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    int OW = get_global_size(0), OH = H / 2;
    int oh = min(h / 2, OH - 1);
    float m;
    int win = maxpool2_window(x + ((size_t)nc * H + 2 * oh) * W + 2 * ow, W,
                              &m);
    float g = dy[((size_t)nc * OH + oh) * OW + ow];
    int row = h - 2 * oh;
    __global float *p = dx + ((size_t)nc * H + h) * W + 2 * ow;
    p[0] = win == 2 * row ? g : 0.0f;
    p[1] = win == 2 * row + 1 ? g : 0.0f;
    if ((W & 1) && ow == OW - 1)
        p[2] = 0.0f;
}
