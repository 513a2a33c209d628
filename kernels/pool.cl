/* pool.cl: max-pooling, as Keras MaxPooling2D with 'valid' padding: P x P
 * windows at stride S, OH = (H - P) / S + 1 (rows and columns past the last
 * whole window are dropped), and the same for the width.
 *
 * x and dx are (N, C, H, W); y and dy are (N, C, OH, OW). The backward
 * pass recomputes which input won from x instead of keeping an index buffer
 * from the forward pass: the training step keeps x anyway, so there is no
 * extra buffer to size per batch, and the forward pass stays a plain
 * inference kernel. Ties go to the first maximum in row-major window order.
 *
 * maxpool2_* are the 2x2 stride-2 case, the reference model's, kept apart
 * because it is most of a pooling step's time there; maxpool_* serve any P
 * and S. */

/* The winners of 8 adjacent windows whose top-left inputs start at r0 (the
 * row above r1): the winning position (0..3) of each and its value. Both
 * passes use this one comparison chain, so they always agree; it is all
 * selects, since after a ReLU ties between zeros are common and a branch
 * per comparison would be mispredicted about half the time. */
static int8 maxpool2_windows(const float16 r0, const float16 r1, float8 *best)
{
    float8 m = r0.even;
    int8 win = (int8)(0);
    int8 gt = isgreater(r0.odd, m);
    m = select(m, r0.odd, gt);
    win = select(win, (int8)(1), gt);
    gt = isgreater(r1.even, m);
    m = select(m, r1.even, gt);
    win = select(win, (int8)(2), gt);
    gt = isgreater(r1.odd, m);
    *best = select(m, r1.odd, gt);
    return select(win, (int8)(3), gt);
}

/* Inputs [2 ow0, 2 ow0 + 16) of the window rows at xp and xp + W, the ones
 * past 2 OW (in a row of fewer than 8 windows) read as zeros. */
static void maxpool2_rows(__global const float *xp, const int W,
                          const int ow0, const int OW, float16 *r0,
                          float16 *r1)
{
    if (ow0 + 8 <= OW) {
        *r0 = vload16(0, xp + 2 * ow0);
        *r1 = vload16(0, xp + W + 2 * ow0);
        return;
    }
    float t0[16], t1[16];
    for (int i = 0; i < 16; i++) {
        const int in = 2 * ow0 + i < 2 * OW;
        t0[i] = in ? xp[2 * ow0 + i] : 0.0f;
        t1[i] = in ? xp[W + 2 * ow0 + i] : 0.0f;
    }
    *r0 = vload16(0, t0);
    *r1 = vload16(0, t1);
}

/* The NDRange is (1, OH, N * C): a work-item does one row of windows, 8 at
 * a time. One work-item per output element costs the CPU runtime more in
 * work-item bookkeeping than the comparisons. */
__kernel void maxpool2_forward(__global const float *x, __global float *y,
                               const int H, const int W)
{
    const int oh = get_global_id(1), nc = get_global_id(2);
    const int OW = W / 2, OH = get_global_size(1);
    __global const float *xp = x + ((size_t)nc * H + 2 * oh) * W;
    __global float *yp = y + ((size_t)nc * OH + oh) * OW;
    /* The last 8 windows of a row overlap the ones before, rather than
     * taking a scalar tail: writing a value twice is harmless. */
    for (int ow0 = 0; ow0 < OW; ow0 += 8) {
        const int ow = OW >= 8 ? min(ow0, OW - 8) : 0;
        float16 r0, r1;
        float8 m;
        maxpool2_rows(xp, W, ow, OW, &r0, &r1);
        maxpool2_windows(r0, r1, &m);
        if (ow + 8 <= OW) {
            vstore8(m, 0, yp + ow);
        } else {
            float t[8];
            vstore8(m, 0, t);
            for (int i = 0; ow + i < OW; i++)
                yp[ow + i] = t[i];
        }
    }
}

/* The NDRange is (1, OH, N * C): a work-item writes the two input rows of
 * its row of windows (dy at each winner, 0 elsewhere), so every element of
 * dx is written exactly once. A row or column the floor dropped (the last
 * of an odd H or W) belongs to no window and gets zeros, from the
 * work-item of the last window row. */
__kernel void maxpool2_backward(__global const float *x,
                                __global const float *dy, __global float *dx,
                                const int H, const int W)
{
    const int oh = get_global_id(1), nc = get_global_id(2);
    const int OW = W / 2, OH = get_global_size(1);
    __global const float *xp = x + ((size_t)nc * H + 2 * oh) * W;
    __global const float *g = dy + ((size_t)nc * OH + oh) * OW;
    __global float *p = dx + ((size_t)nc * H + 2 * oh) * W;
    for (int ow0 = 0; ow0 < OW; ow0 += 8) {
        const int ow = OW >= 8 ? min(ow0, OW - 8) : 0;
        float16 r0, r1, d0, d1;
        float8 m, gv;
        maxpool2_rows(xp, W, ow, OW, &r0, &r1);
        const int8 win = maxpool2_windows(r0, r1, &m);
        if (ow + 8 <= OW) {
            gv = vload8(0, g + ow);
        } else {
            float t[8];
            for (int i = 0; i < 8; i++)
                t[i] = ow + i < OW ? g[ow + i] : 0.0f;
            gv = vload8(0, t);
        }
        const float8 zero = (float8)(0.0f);
        d0.even = select(zero, gv, win == 0);
        d0.odd = select(zero, gv, win == 1);
        d1.even = select(zero, gv, win == 2);
        d1.odd = select(zero, gv, win == 3);
        if (ow + 8 <= OW) {
            vstore16(d0, 0, p + 2 * ow);
            vstore16(d1, 0, p + W + 2 * ow);
        } else {
            float t0[16], t1[16];
            vstore16(d0, 0, t0);
            vstore16(d1, 0, t1);
            for (int i = 0; i < 2 * OW; i++) {
                p[2 * ow + i] = t0[i];
                p[W + 2 * ow + i] = t1[i];
            }
        }
    }
    if (W & 1)
        p[W - 1] = p[2 * W - 1] = 0.0f;
    if ((H & 1) && oh == OH - 1)
        for (int i = 0; i < W; i++)
            p[2 * W + i] = 0.0f;
}

/* The offset in the plane xp (H x W) of the winner of the P x P window
 * whose top-left input is at row h0, column w0. Both passes use it, so they
 * always agree on the winner. */
static int maxpool_winner(__global const float *xp, int W, int P, int h0,
                          int w0)
{
    int best = h0 * W + w0;
    float m = xp[best];
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) {
            int at = (h0 + i) * W + w0 + j;
            if (xp[at] > m) {
                m = xp[at];
                best = at;
            }
        }
    return best;
}

/* The NDRange is (OW, OH, N * C), one work-item per output element. */
__kernel void maxpool_forward(__global const float *x, __global float *y,
                              const int H, const int W, const int P,
                              const int S)
{
    int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
    int OW = get_global_size(0), OH = get_global_size(1);
    __global const float *xp = x + (size_t)nc * H * W;
    y[((size_t)nc * OH + oh) * OW + ow] =
        xp[maxpool_winner(xp, W, P, oh * S, ow * S)];
}

/* The NDRange is (W, H, N * C), one work-item per element of dx, which
 * gathers dy from the windows that contain it and that it wins, in
 * row-major window order: windows overlap when S < P, and gathering rather
 * than scattering needs no atomics and fixes the summation order. An input
 * in no window (dropped by the floor, or skipped when S > P) gets 0. */
__kernel void maxpool_backward(__global const float *x,
                               __global const float *dy, __global float *dx,
                               const int H, const int W, const int P,
                               const int S, const int OH, const int OW)
{
    int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    __global const float *xp = x + (size_t)nc * H * W;
    __global const float *dyp = dy + (size_t)nc * OH * OW;
    /* Window oh covers rows oh*S .. oh*S + P - 1. */
    int oh0 = h < P ? 0 : (h - P + S) / S, oh1 = min(h / S, OH - 1);
    int ow0 = w < P ? 0 : (w - P + S) / S, ow1 = min(w / S, OW - 1);
    int self = h * W + w;
    float g = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++)
            if (maxpool_winner(xp, W, P, oh * S, ow * S) == self)
                g += dyp[oh * OW + ow];
    dx[(size_t)nc * H * W + self] = g;
}

/* The GPU-shaped 2x2 stride-2 kernels: one window per work-item over a flat
 * NDRange of N * C * OH * OW (rounded up to the work-group size; the rest
 * return), so consecutive work-items take consecutive windows of a row and
 * a warp's loads and stores are contiguous. The winner is chosen by the
 * same chain of comparisons as maxpool2_windows, so both shapes give the
 * same bits. */

/* The winner (0..3, row-major) of the window whose top row is xp[0..1] and
 * bottom row xp[W..W+1], and its value in *best. */
static int maxpool2_gpu_window(__global const float *xp, const int W, float *best)
{
    const float2 r0 = vload2(0, xp), r1 = vload2(0, xp + W);
    float m = r0.x;
    int win = 0;
    if (isgreater(r0.y, m))
        m = r0.y, win = 1;
    if (isgreater(r1.x, m))
        m = r1.x, win = 2;
    if (isgreater(r1.y, m))
        m = r1.y, win = 3;
    *best = m;
    return win;
}

/* Where window i of the flat (N*C, OH, OW) range starts in x, and its row
 * and column among the windows. */
static size_t maxpool2_gpu_at(const int i, const int H, const int W, int *oh, int *ow)
{
    const int OW = W / 2, OH = H / 2, r = i / OW;
    *ow = i % OW;
    *oh = r % OH;
    return ((size_t)(r / OH) * H + 2 * *oh) * W + 2 * *ow;
}

__kernel void maxpool2_gpu_forward(__global const float *x, __global float *y,
                                   const int H, const int W, const int total)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    int oh, ow;
    float m;
    maxpool2_gpu_window(x + maxpool2_gpu_at(i, H, W, &oh, &ow), W, &m);
    y[i] = m;
}

/* Each work-item writes its window's four inputs of dx (dy at the winner,
 * 0 elsewhere); the last window of a row also zeroes the column an odd W
 * drops, and the last row of windows the row an odd H drops. */
__kernel void maxpool2_gpu_backward(__global const float *x,
                                    __global const float *dy, __global float *dx,
                                    const int H, const int W, const int total)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    int oh, ow;
    const size_t at = maxpool2_gpu_at(i, H, W, &oh, &ow);
    float m;
    const int win = maxpool2_gpu_window(x + at, W, &m);
    const float g = dy[i];
    vstore2((float2)(win == 0 ? g : 0.0f, win == 1 ? g : 0.0f), 0, dx + at);
    vstore2((float2)(win == 2 ? g : 0.0f, win == 3 ? g : 0.0f), 0, dx + at + W);
    const int last_col = (W & 1) && ow == W / 2 - 1, last_row = (H & 1) && oh == H / 2 - 1;
    if (last_col)
        dx[at + 2] = dx[at + W + 2] = 0.0f;
    if (last_row) {
        dx[at + 2 * W] = dx[at + 2 * W + 1] = 0.0f;
        if (last_col)
            dx[at + 2 * W + 2] = 0.0f;
    }
}
