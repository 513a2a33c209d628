/* batchnorm.cl: batch normalisation, forward (training and inference) and
 * backward (see batchnorm.h). x, y, dy, dx are (N, C, HW); a flat input has
 * HW = 1. Per-channel vectors are (C); stats is (2, C): mean, then invstd.
 * With relu set, a following ReLU is folded in as activation.cl computes
 * it: y = fmax(y, 0), and dy is read as dy where y > 0, else 0 (the
 * backward reads y, or recomputes it from x where no join was added). With join
 * set, a residual block's add is folded in before it as res.cl's res_add
 * computes it: y = bn(x) + s, s the shortcut (N, C, HW). With ds set (the
 * gradient of a block's shortcut, when y is that block's input), the
 * backward takes dy + ds, as res.cl's res_accumulate sums them, before the
 * ReLU's mask. With keep set, the backward's first pass writes the gradient
 * it takes over dy, and the second pass reads it back as it is.
 *
 * The training kernels (and the CPU variant's inference) run one
 * work-item per channel. The channel's values are cut into runs of up to
 * BATCHNORM_RUN consecutive values of one image, dealt to BATCHNORM_LANES
 * lanes: lane l takes runs l, l + LANES, l + 2 LANES, ... and walks each
 * with 16-lane vectors, and the lanes' partial sums meet in a fixed tree,
 * so every result is bit-reproducible, and the same on every device. The
 * work-item walks the lanes in turn: as a work-group of LANES work-items
 * on a CPU, the same sums spent about half their time in the barriers'
 * loops. */

#define BATCHNORM_RUN 256
#define BATCHNORM_LANES 256

/* Channels per work-item of the CPU variant's training kernels: a row's
 * number, given as an option, 1 in the main program. The work-item walks
 * its channels together, run by run and image by image, so that on a
 * small plane it reads one stretch of an image's consecutive planes where
 * a channel alone reads a few hundred bytes an image apart; fewer
 * work-items share the cores, so which is faster depends on the shape,
 * and the tuner times them. Each channel's sums keep their order: every
 * row gives the same bits. */
#ifndef BATCHNORM_BLOCK
#define BATCHNORM_BLOCK 1
#endif

/* How far channel k of the block from channel ch0 lies from ch0's values:
 * past the last channel, the last again, read and never written. */
size_t batchnorm_block_offset(int ch0, int k, int c, int hw)
{
    return (size_t)(min(ch0 + k, c - 1) - ch0) * hw;
}

/* Run u of channel ch: where it starts in the (N, C, HW) array, and its
 * length. */
size_t batchnorm_run(int u, int ch, int c, int hw, int *len)
{
    const int runs = (hw + BATCHNORM_RUN - 1) / BATCHNORM_RUN, s = u / runs,
              first = (u - s * runs) * BATCHNORM_RUN;
    *len = min(BATCHNORM_RUN, hw - first);
    return ((size_t)s * c + ch) * hw + first;
}

/* Stores the lanes of v below len - j at p + j. */
void batchnorm_store(float16 v, __global float *p, int j, int len)
{
    vec_store_first(v, p + j, len - j);
}

/* Which lanes of [j, j + 16) are below len. */
int16 batchnorm_inside(int j, int len)
{
    return (int16)(j) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) <
           (int16)(len);
}

/* vec_load16(p + at, j, len) from an array of total values: where the
 * array holds all 16, one vector load (vec_read16), a run's last, partial
 * vector's lanes from len on zeroed by a select, not a loop over lanes:
 * the same values, read faster. Inlined: PoCL calls it otherwise, which
 * made the backward slower than the loop it saves. */
static inline __attribute__((always_inline)) float16
batchnorm_load16(__global const float *p, size_t at, int j, int len, size_t total)
{
    if (at + j + 16 > total)
        return vec_load16(p + at, j, len);
    const float16 v = vec_read16(p + at + j);
    return j + 16 > len ? select((float16)(0.0f), v, batchnorm_inside(j, len)) : v;
}

/* The forward's normalized values of x before its join and ReLU: one
 * helper, so that the backward's recomputed ReLU mask has the forward's bits. */
static inline __attribute__((always_inline)) float16
batchnorm_affine16(float16 x, float mean, float scale, float shift)
{
    return (x - mean) * scale + shift;
}

/* Where a folded ReLU's mask comes from in the backward: none, the
 * forward's output y, or x again (a forward without a join, whose output
 * is positive where its affine value is: no read of y). */
#define BATCHNORM_MASK_NONE 0
#define BATCHNORM_MASK_Y 1
#define BATCHNORM_MASK_X 2

/* dy's 16 values at at + j (zero from len on), plus ds's when has_ds,
 * through the folded ReLU as mask says: zero where the forward's output,
 * at the same place, is not positive. dy's and y's reads take the array's
 * end as total; xv is x's 16 values there, the caller's, and mean, scale
 * and shift are the forward's. */
static inline __attribute__((always_inline)) float16
batchnorm_dy16(__global const float *dy, __global const float *ds, int has_ds,
               __global const float *y, float16 xv, size_t at, int j, int len, size_t total,
               int mask, float mean, float scale, float shift)
{
    float16 g = batchnorm_load16(dy, at, j, len, total);
    if (has_ds)
        g += batchnorm_load16(ds, at, j, len, total);
    if (mask == BATCHNORM_MASK_NONE)
        return g;
    const float16 out = mask == BATCHNORM_MASK_Y ? batchnorm_load16(y, at, j, len, total)
                                                 : batchnorm_affine16(xv, mean, scale, shift);
    return select((float16)(0.0f), g, out > (float16)(0.0f));
}

/* The scalar batchnorm_dy16. */
float batchnorm_dy(__global const float *dy, __global const float *ds, int has_ds,
                   __global const float *y, size_t at, int relu)
{
    float g = dy[at];
    if (has_ds)
        g += ds[at];
    return !relu || y[at] > 0.0f ? g : 0.0f;
}

/* The lanes that take a run of a channel cut into runs: the rest would
 * hold sums of nothing, so they are neither walked nor summed. */
int batchnorm_lanes_used(int runs)
{
    return min(runs, BATCHNORM_LANES);
}

/* The sum of the first used lanes' partial sums in part, in the order of
 * the tree over all BATCHNORM_LANES (which overwrites them): the tree's
 * other additions would add zeros. */
float batchnorm_lanes_sum(float part[BATCHNORM_LANES], int used)
{
    for (int reach = BATCHNORM_LANES / 2; reach > 0; reach /= 2) {
        for (int l = 0; l + reach < used; l++)
            part[l] += part[l + reach];
        used = min(used, reach);
    }
    return part[0];
}

/* The sum of every work-item's v, returned to all of them; part holds L
 * floats and is free again on return. */
float batchnorm_group_sum(float v, __local float *part)
{
    const int l = get_local_id(0);
    part[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int reach = get_local_size(0) / 2; reach > 0; reach /= 2) {
        if (l < reach)
            part[l] += part[l + reach];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* After a training forward of channel ch over m values: the moving
 * statistics move toward the batch's (the variance unbiased, as Keras
 * does), and stats keeps the mean and 1/std for the backward. */
static void batchnorm_keep(__global float *running_mean, __global float *running_var,
                           __global float *stats, const int ch, const int c, const int m,
                           const float mean, const float var, const float invstd,
                           const float momentum)
{
    const float unbiased = m > 1 ? var * ((float)m / (float)(m - 1)) : var;
    running_mean[ch] = momentum * running_mean[ch] + (1.0f - momentum) * mean;
    running_var[ch] = momentum * running_var[ch] + (1.0f - momentum) * unbiased;
    stats[ch] = mean;
    stats[c + ch] = invstd;
}

/* The output's 16 values at at + j of x (zero from len on): (x - mean) *
 * scale + shift, then + s when join, then max(., 0) when relu. Lanes from
 * len on are not zero. */
static inline __attribute__((always_inline)) float16
batchnorm_value16(__global const float *x, __global const float *s, size_t at, int j,
                  int len, size_t total, float mean, float scale, float shift, int join,
                  int relu)
{
    float16 v = batchnorm_affine16(batchnorm_load16(x, at, j, len, total), mean, scale, shift);
    /* apart from the line above, so the sum is res_add's */
    if (join)
        v += batchnorm_load16(s, at, j, len, total);
    return relu ? fmax(v, (float16)(0.0f)) : v;
}

/* y = batchnorm_value16 over channel ch's runs in images [img0, img1).
 * Inlined, and called with join a constant, so that the plain pass
 * compiles without the join's test in its loop (which PoCL kept there,
 * slowing it). */
static inline __attribute__((always_inline)) void
batchnorm_normalize(__global const float *x, __global const float *s,
                         __global float *y, int n, int c, int hw, int img0, int img1,
                         int ch, float mean, float scale, float shift, int join, int relu)
{
    const int per = (hw + BATCHNORM_RUN - 1) / BATCHNORM_RUN;
    const size_t total = (size_t)n * c * hw;
    for (int u = img0 * per; u < img1 * per; u++) {
        int len;
        const size_t at = batchnorm_run(u, ch, c, hw, &len);
        for (int j = 0; j < len; j += 16)
            batchnorm_store(batchnorm_value16(x, s, at, j, len, total, mean, scale, shift,
                                              join, relu),
                            y + at, j, len);
    }
}

/* batchnorm_normalize row by row, each row stored in y when keep_y and in
 * xp, the copy padded for the layer that reads y: xp is (N, C, hp, wp),
 * row r, column j of a plane (w wide) at row r + top, column j + left;
 * rows and columns past hp, wp are not copied, and the rest of xp is not
 * written. Elementwise, so its values are batchnorm_normalize's.
 * A row's last vector is stored whole (the lanes past the row zero in xp)
 * where that writes only padding or rows this work-item stores later: in
 * y where it ends within the plane, and in xp where a plane's last copied
 * row has that room after it. */
static inline __attribute__((always_inline)) void
batchnorm_normalize_rows(__global const float *x, __global const float *s,
                         __global float *y, __global float *xp, int n, int c, int hw,
                         int w, int hp, int wp, int top, int left, int keep_y, int img0,
                         int img1, int ch, float mean, float scale, float shift, int join,
                         int relu)
{
    const int h = hw / w, rows = min(h, hp - top), cols = min(w, wp - left),
              whole = (cols + 15) / 16 * 16 - cols <= wp - left - cols + wp * (hp - top - rows);
    const size_t total = (size_t)n * c * hw;
    for (int img = img0; img < img1; img++) {
        const size_t plane = (size_t)img * c + ch;
        for (int r = 0; r < h; r++) {
            const size_t at = plane * hw + (size_t)r * w;
            __global float *dst = xp + (plane * hp + r + top) * wp + left;
            for (int j = 0; j < w; j += 16) {
                const float16 v = batchnorm_value16(x, s, at, j, w, total, mean, scale, shift,
                                                    join, relu);
                if (keep_y) {
                    if (r * w + j + 16 <= hw)
                        vec_store16(v, y + at + j);
                    else
                        batchnorm_store(v, y + at, j, w);
                }
                if (r >= rows || j >= cols)
                    continue;
                if (whole)
                    vec_store16(select((float16)(0.0f), v, batchnorm_inside(j, cols)),
                                dst + j);
                else
                    batchnorm_store(v, dst, j, cols);
            }
        }
    }
}

/* Channel ch's output in images [img0, img1): y by batchnorm_normalize,
 * or, when xp is not NULL, by batchnorm_normalize_rows; each with join a
 * constant. */
static inline __attribute__((always_inline)) void
batchnorm_output(__global const float *x, __global const float *s, __global float *y,
                 __global float *xp, int n, int c, int hw, int w, int hp, int wp, int top,
                 int left, int keep_y, int img0, int img1, int ch, float mean, float scale,
                 float shift, int join, int relu)
{
    if (xp && join)
        batchnorm_normalize_rows(x, s, y, xp, n, c, hw, w, hp, wp, top, left, keep_y, img0,
                                 img1, ch, mean, scale, shift, 1, relu);
    else if (xp)
        batchnorm_normalize_rows(x, s, y, xp, n, c, hw, w, hp, wp, top, left, keep_y, img0,
                                 img1, ch, mean, scale, shift, 0, relu);
    else if (join)
        batchnorm_normalize(x, s, y, n, c, hw, img0, img1, ch, mean, scale, shift, 1, relu);
    else
        batchnorm_normalize(x, s, y, n, c, hw, img0, img1, ch, mean, scale, shift, 0, relu);
}

/* Training forward: the batch mean and biased variance of each channel of
 * the work-item's block (two passes, so a large mean does not swamp the
 * variance), y (batchnorm_output: and its padded copy when xp is not
 * NULL), the moved running statistics, and stats for the backward pass.
 * Global size (ceil(C / BATCHNORM_BLOCK)), local size (1). */
__kernel void batchnorm_forward_train(__global const float *x,
                                      __global const float *s,
                                      __global const float *gamma,
                                      __global const float *beta,
                                      __global float *running_mean,
                                      __global float *running_var,
                                      __global float *y, __global float *stats,
                                      const int n, const int c, const int hw,
                                      const float eps, const float momentum,
                                      const int join, const int relu, __global float *xp,
                                      const int w, const int hp, const int wp,
                                      const int top, const int left, const int keep_y)
{
    const int ch0 = get_global_id(0) * BATCHNORM_BLOCK, m = n * hw,
              runs = n * ((hw + BATCHNORM_RUN - 1) / BATCHNORM_RUN),
              used = batchnorm_lanes_used(runs);
    const size_t total = (size_t)n * c * hw;
    float part[BATCHNORM_BLOCK][BATCHNORM_LANES], mean[BATCHNORM_BLOCK];
    for (int l = 0; l < used; l++) {
        float16 sum[BATCHNORM_BLOCK];
        for (int k = 0; k < BATCHNORM_BLOCK; k++)
            sum[k] = (float16)(0.0f);
        for (int u = l; u < runs; u += BATCHNORM_LANES) {
            int len;
            const size_t at = batchnorm_run(u, ch0, c, hw, &len);
            for (int j = 0; j < len; j += 16)
#pragma unroll
                for (int k = 0; k < BATCHNORM_BLOCK; k++)
                    sum[k] += batchnorm_load16(x, at + batchnorm_block_offset(ch0, k, c, hw),
                                               j, len, total);
        }
        for (int k = 0; k < BATCHNORM_BLOCK; k++)
            part[k][l] = vec_hsum16(sum[k]);
    }
    for (int k = 0; k < BATCHNORM_BLOCK; k++)
        mean[k] = batchnorm_lanes_sum(part[k], used) / (float)m;
    for (int l = 0; l < used; l++) {
        float16 q[BATCHNORM_BLOCK];
        for (int k = 0; k < BATCHNORM_BLOCK; k++)
            q[k] = (float16)(0.0f);
        for (int u = l; u < runs; u += BATCHNORM_LANES) {
            int len;
            const size_t at = batchnorm_run(u, ch0, c, hw, &len);
            for (int j = 0; j < len; j += 16)
#pragma unroll
                for (int k = 0; k < BATCHNORM_BLOCK; k++) {
                    /* Lanes past the run must add 0, not mean squared. */
                    const float16 d = select(
                        (float16)(0.0f),
                        batchnorm_load16(x, at + batchnorm_block_offset(ch0, k, c, hw), j,
                                         len, total) -
                            mean[k],
                        batchnorm_inside(j, len));
                    q[k] = fma(d, d, q[k]);
                }
        }
        for (int k = 0; k < BATCHNORM_BLOCK; k++)
            part[k][l] = vec_hsum16(q[k]);
    }
    float scale[BATCHNORM_BLOCK], shift[BATCHNORM_BLOCK];
    for (int k = 0; k < BATCHNORM_BLOCK && ch0 + k < c; k++) {
        const int ch = ch0 + k;
        const float var = batchnorm_lanes_sum(part[k], used) / (float)m,
                    invstd = rsqrt(var + eps);
        scale[k] = gamma[ch] * invstd;
        shift[k] = beta[ch];
        batchnorm_keep(running_mean, running_var, stats, ch, c, m, mean[k], var, invstd,
                       momentum);
    }
    /* A block's channels image by image, its planes one stretch of x. */
    const int images = BATCHNORM_BLOCK > 1 ? 1 : n;
    for (int img = 0; img < n; img += images)
        for (int k = 0; k < BATCHNORM_BLOCK && ch0 + k < c; k++)
            batchnorm_output(x, s, y, xp, n, c, hw, w, hp, wp, top, left, keep_y, img,
                             img + images, ch0 + k, mean[k], scale[k], shift[k], join, relu);
}

/* Inference forward with the running statistics, channel ch walked as the
 * training forward's last pass walks it (the CPU variant's), y and xp as
 * there. Global size (C), local size (1). */
__kernel void batchnorm_forward_infer(__global const float *x,
                                      __global const float *s,
                                      __global const float *gamma,
                                      __global const float *beta,
                                      __global const float *running_mean,
                                      __global const float *running_var,
                                      __global float *y, const int n, const int c,
                                      const int hw, const float eps, const int join,
                                      const int relu, __global float *xp, const int w,
                                      const int hp, const int wp, const int top,
                                      const int left, const int keep_y)
{
    const int ch = get_global_id(0);
    const float mean = running_mean[ch], scale = gamma[ch] * rsqrt(running_var[ch] + eps),
                shift = beta[ch];
    batchnorm_output(x, s, y, xp, n, c, hw, w, hp, wp, top, left, keep_y, 0, n, ch, mean,
                     scale, shift, join, relu);
}

/* The same one work-item per value (the GPU variant's).
 * Global size (N * C * HW). */
__kernel void batchnorm_gpu_infer(__global const float *x,
                                  __global const float *s,
                                  __global const float *gamma,
                                  __global const float *beta,
                                  __global const float *running_mean,
                                  __global const float *running_var,
                                  __global float *y, const int total,
                                  const int c, const int hw,
                                  const float eps, const int join, const int relu)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int ch = i / hw % c;
    float v = (x[i] - running_mean[ch]) * (gamma[ch] * rsqrt(running_var[ch] + eps))
              + beta[ch];
    if (join)
        v += s[i];
    y[i] = relu ? fmax(v, 0.0f) : v;
}

/* The backward's first pass over the runs of the block's channels from
 * ch0, lane by lane: each lane's sum(dy) and sum(dy * xhat) into pdy and
 * pdyx, dy plus ds when has_ds, masked as mask says, and written back so
 * when keep (not past the last channel). mean, invstd, scale and shift
 * are the channels'. Inlined and called with keep a constant, as
 * batchnorm_normalize is with join. */
static inline __attribute__((always_inline)) void
batchnorm_grad_sums(__global const float *x, __global float *dy, __global const float *ds,
                    __global const float *y, int ch0, int c, int hw, int runs, size_t total,
                    size_t dy_total, const float *mean, const float *invstd,
                    const float *scale, const float *shift, int has_ds, int mask, int keep,
                    float pdy[BATCHNORM_BLOCK][BATCHNORM_LANES],
                    float pdyx[BATCHNORM_BLOCK][BATCHNORM_LANES])
{
    for (int l = 0; l < batchnorm_lanes_used(runs); l++) {
        float16 vdy[BATCHNORM_BLOCK], vdyx[BATCHNORM_BLOCK];
        for (int k = 0; k < BATCHNORM_BLOCK; k++)
            vdy[k] = vdyx[k] = (float16)(0.0f);
        for (int u = l; u < runs; u += BATCHNORM_LANES) {
            int len;
            const size_t first = batchnorm_run(u, ch0, c, hw, &len);
            for (int j = 0; j < len; j += 16)
#pragma unroll
                for (int k = 0; k < BATCHNORM_BLOCK; k++) {
                    /* Lanes past the run hold dy = 0, so they add nothing. */
                    const size_t at = first + batchnorm_block_offset(ch0, k, c, hw);
                    const float16 xv = batchnorm_load16(x, at, j, len, total),
                                  g = batchnorm_dy16(dy, ds, has_ds, y, xv, at, j, len,
                                                     dy_total, mask, mean[k], scale[k],
                                                     shift[k]);
                    if (keep && ch0 + k < c)
                        batchnorm_store(g, dy + at, j, len);
                    vdy[k] += g;
                    vdyx[k] = fma(g, (xv - mean[k]) * invstd[k], vdyx[k]);
                }
        }
        for (int k = 0; k < BATCHNORM_BLOCK; k++) {
            pdy[k][l] = vec_hsum16(vdy[k]);
            pdyx[k][l] = vec_hsum16(vdyx[k]);
        }
    }
}

/* dx's 16 values from the taken gradient g (dy, masked), x's values xv,
 * the forward's mean, invstd and scale, and the first pass's means mdy and
 * mdyx: one helper, so that dx has the same bits in either layout. */
static inline __attribute__((always_inline)) float16
batchnorm_dx16(float16 g, float16 xv, float mean, float invstd, float scale, float mdy,
               float mdyx)
{
    const float16 xhat = (xv - mean) * invstd;
    return scale * (g - mdy - xhat * mdyx);
}

/* Whether the second pass masks dy by x's affine value: where keep is set,
 * the first pass wrote dy back masked (a mask from y comes only with
 * keep), so the second reads it as it is. */
static inline __attribute__((always_inline)) int batchnorm_apply_masks_by_x(int mask, int keep)
{
    return !keep && mask == BATCHNORM_MASK_X;
}

/* The backward's second pass over channel ch's runs: dx from dy, masked
 * as mask says, and the first pass's means mdy and mdyx. Inlined and
 * called with mask a constant. */
static inline __attribute__((always_inline)) void
batchnorm_grad_apply(__global const float *x, __global const float *dy,
                     __global const float *y, __global float *dx, int ch, int c, int hw,
                     int runs, size_t total, size_t dy_total, float mean, float invstd,
                     float scale, float shift, float mdy, float mdyx, int mask)
{
    for (int u = 0; u < runs; u++) {
        int len;
        const size_t at = batchnorm_run(u, ch, c, hw, &len);
        for (int j = 0; j < len; j += 16) {
            const float16 xv = batchnorm_load16(x, at, j, len, total);
            batchnorm_store(batchnorm_dx16(batchnorm_dy16(dy, NULL, 0, y, xv, at, j, len,
                                                          dy_total, mask, mean, scale, shift),
                                           xv, mean, invstd, scale, mdy, mdyx),
                            dx + at, j, len);
        }
    }
}

/* Backward through the training forward whose statistics are in stats,
 * for each channel ch of the work-item's block:
 * dgamma[ch] = sum(dy * xhat), dbeta[ch] = sum(dy), and, when has_dx,
 * dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dy
 * plus ds when has_ds, masked by a folded ReLU as mask says (the
 * BATCHNORM_MASK_ values; from x, with gamma and beta), and written back
 * so when keep; has_ds needs keep. Global size (ceil(C /
 * BATCHNORM_BLOCK)), local size (1). */
__kernel void batchnorm_backward(__global const float *x,
                                 __global const float *gamma,
                                 __global const float *beta,
                                 __global float *dy,
                                 __global const float *ds,
                                 __global const float *y,
                                 __global const float *stats,
                                 __global float *dx, __global float *dgamma,
                                 __global float *dbeta, const int n,
                                 const int c, const int hw, const int has_dx,
                                 const int has_ds, const int mask, const int keep)
{
    const int ch0 = get_global_id(0) * BATCHNORM_BLOCK, m = n * hw,
              runs = n * ((hw + BATCHNORM_RUN - 1) / BATCHNORM_RUN);
    const size_t total = (size_t)n * c * hw;
    /* Where dy is written back, no vector reads past a run: another
     * channel's work-item may be writing there (a total of 0 makes
     * batchnorm_load16 read the lanes below len alone). */
    const size_t dy_total = keep ? 0 : total;
    float mean[BATCHNORM_BLOCK], invstd[BATCHNORM_BLOCK], scale[BATCHNORM_BLOCK],
        shift[BATCHNORM_BLOCK];
    for (int k = 0; k < BATCHNORM_BLOCK; k++) {
        const int ch = min(ch0 + k, c - 1);
        mean[k] = stats[ch];
        invstd[k] = stats[c + ch];
        scale[k] = gamma[ch] * invstd[k];
        shift[k] = beta[ch];
    }
    float pdy[BATCHNORM_BLOCK][BATCHNORM_LANES], pdyx[BATCHNORM_BLOCK][BATCHNORM_LANES];
    /* Without keep, mask is none or x's (a join keeps): each pass's loop
     * is compiled for its mask, which PoCL would otherwise test in it. */
    if (keep)
        batchnorm_grad_sums(x, dy, ds, y, ch0, c, hw, runs, total, dy_total, mean, invstd,
                            scale, shift, has_ds, mask, 1, pdy, pdyx);
    else if (mask == BATCHNORM_MASK_X)
        batchnorm_grad_sums(x, dy, ds, y, ch0, c, hw, runs, total, dy_total, mean, invstd,
                            scale, shift, 0, BATCHNORM_MASK_X, 0, pdy, pdyx);
    else
        batchnorm_grad_sums(x, dy, ds, y, ch0, c, hw, runs, total, dy_total, mean, invstd,
                            scale, shift, 0, BATCHNORM_MASK_NONE, 0, pdy, pdyx);
    const int used = batchnorm_lanes_used(runs);
    for (int k = 0; k < BATCHNORM_BLOCK && ch0 + k < c; k++) {
        const int ch = ch0 + k;
        const float sdy = batchnorm_lanes_sum(pdy[k], used),
                    sdyx = batchnorm_lanes_sum(pdyx[k], used);
        dgamma[ch] = sdyx;
        dbeta[ch] = sdy;
        if (!has_dx)
            continue;
        const float mdy = sdy / (float)m, mdyx = sdyx / (float)m;
        if (batchnorm_apply_masks_by_x(mask, keep))
            batchnorm_grad_apply(x, dy, y, dx, ch, c, hw, runs, total, dy_total, mean[k],
                                 invstd[k], scale[k], shift[k], mdy, mdyx,
                                 BATCHNORM_MASK_X);
        else
            batchnorm_grad_apply(x, dy, y, dx, ch, c, hw, runs, total, dy_total, mean[k],
                                 invstd[k], scale[k], shift[k], mdy, mdyx,
                                 BATCHNORM_MASK_NONE);
    }
}

/* Tiles per work-item of batchnorm_backward_dzt: enough that its 16
 * channels' scalars, read once, cost little beside them. */
#define BATCHNORM_DZT_TILES 4

/* batchnorm_backward_dzt's tiles from pixel q0 of image img, with mask a
 * constant (inlined), from its channels' scalars: batchnorm_grad_apply's
 * values, transposed. */
static inline __attribute__((always_inline)) void
batchnorm_dzt_tiles(__global const float *x, __global const float *dy,
                    __global const float *y, __global float *dzt, const float *mean,
                    const float *invstd, const float *scale, const float *shift,
                    const float *mdy, const float *mdyx, int img, int q0, int cb, int c,
                    int hw, size_t total, int mask)
{
    const int cpad = (c + 15) & ~15;
    for (int t = 0; t < BATCHNORM_DZT_TILES && q0 < hw; t++, q0 += 16) {
        const int np = min(16, hw - q0);
        float16 r[16];
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const size_t at = ((size_t)img * c + cb * 16 + j) * hw + q0;
            if (cb * 16 + j >= c) {
                r[j] = (float16)(0.0f);
                continue;
            }
            const float16 xv = batchnorm_load16(x, at, 0, np, total);
            r[j] = batchnorm_dx16(batchnorm_dy16(dy, NULL, 0, y, xv, at, 0, np, total, mask,
                                                 mean[j], scale[j], shift[j]),
                                  xv, mean[j], invstd[j], scale[j], mdy[j], mdyx[j]);
        }
        vec_store_transposed(r, dzt + ((size_t)img * hw + q0) * cpad + cb * 16, cpad, np);
    }
}

/* The backward's second pass written for the convolution whose output x
 * is, in the layout its gradients read (conv.cl's conv_dz): dzt is (N HW
 * + 1, Cpad), row n HW + p holding pixel p of image n, C channels then
 * zeros. dx's values are batchnorm_backward's, from its sums in dgamma and
 * dbeta (a launch of it with has_dx clear, the same mask and keep, comes
 * first) and dy as that launch left it. A work-item takes BATCHNORM_DZT_TILES of conv_dz's tiles, 16
 * pixels x 16 channels of one image, and transposes each in registers, so
 * that it writes whole rows of dzt. Global size (n ceil(ceil(HW / 16) /
 * BATCHNORM_DZT_TILES), Cpad / 16). */
__kernel void batchnorm_backward_dzt(__global const float *x,
                                     __global const float *gamma,
                                     __global const float *beta,
                                     __global const float *dy,
                                     __global const float *y,
                                     __global const float *stats,
                                     __global const float *dgamma,
                                     __global const float *dbeta, __global float *dzt,
                                     const int n, const int c, const int hw, const int mask,
                                     const int keep)
{
    const int per = 16 * BATCHNORM_DZT_TILES, groups = (hw + per - 1) / per,
              i = get_global_id(0), cb = get_global_id(1);
    if (i >= n * groups)
        return;
    const int m = n * hw;
    float mean[16], invstd[16], scale[16], shift[16], mdy[16], mdyx[16];
    for (int j = 0; j < 16; j++) {
        const int ch = min(cb * 16 + j, c - 1);
        mean[j] = stats[ch];
        invstd[j] = stats[c + ch];
        scale[j] = gamma[ch] * invstd[j];
        shift[j] = beta[ch];
        mdy[j] = dbeta[ch] / (float)m;
        mdyx[j] = dgamma[ch] / (float)m;
    }
    const int img = i / groups, q0 = i % groups * per;
    const size_t total = (size_t)n * c * hw;
    if (batchnorm_apply_masks_by_x(mask, keep))
        batchnorm_dzt_tiles(x, dy, y, dzt, mean, invstd, scale, shift, mdy, mdyx, img, q0, cb,
                            c, hw, total, BATCHNORM_MASK_X);
    else
        batchnorm_dzt_tiles(x, dy, y, dzt, mean, invstd, scale, shift, mdy, mdyx, img, q0, cb,
                            c, hw, total, BATCHNORM_MASK_NONE);
}

/* The GPU-shaped training kernels: a channel's m = N * HW values are cut
 * into chunks of BATCHNORM_GPU_PER * L (L the work-group size, a power of
 * two), and each chunk is one work-group, so a layer of 32 channels at
 * batch 32 of 32 x 32 images runs 1024 work-groups instead of 32. Value i
 * of a channel is image i / HW, position i % HW; work-item l of a chunk
 * takes its values l, l + L, ..., so consecutive work-items read
 * consecutive addresses. Each chunk's partial sums meet in the fixed tree
 * of batchnorm_group_sum, and a channel's G chunk partials (part, (C, G))
 * are summed by batchnorm_gpu_total in a fixed order too: work-item l adds
 * partials l, l + L, ... in turn, then the tree. Global (G L, C), local
 * (L). */
#define BATCHNORM_GPU_PER 4

/* The address of value i of channel ch. */
size_t batchnorm_gpu_at(int i, int ch, int c, int hw)
{
    const int s = i / hw;
    return ((size_t)s * c + ch) * hw + (i - s * hw);
}

/* The sum of channel ch's G partials in part, returned to every work-item
 * of the group. */
float batchnorm_gpu_total(__global const float *part, int ch, int g_count,
                          __local float *scratch)
{
    float v = 0.0f;
    for (int g = get_local_id(0); g < g_count; g += get_local_size(0))
        v += part[(size_t)ch * g_count + g];
    return batchnorm_group_sum(v, scratch);
}

/* pass 0: part[0][ch][g] = the sum of chunk g's values; pass 1:
 * part[1][ch][g] = the sum of their squared distances from the mean of
 * part[0] (the two-pass variance of batchnorm_forward_train). part is
 * (2, C, G). */
__kernel void batchnorm_gpu_sums(__global const float *x, __global float *part,
                                 const int n, const int c, const int hw,
                                 const int pass, __local float *scratch)
{
    const int g = get_group_id(0), ch = get_group_id(1), L = get_local_size(0),
              m = n * hw, g_count = get_num_groups(0),
              first = g * L * BATCHNORM_GPU_PER + get_local_id(0);
    const float mean = pass ? batchnorm_gpu_total(part, ch, g_count, scratch) / (float)m
                            : 0.0f;
    float s = 0.0f;
    for (int t = 0; t < BATCHNORM_GPU_PER; t++) {
        const int i = first + t * L;
        if (i < m) {
            const float v = x[batchnorm_gpu_at(i, ch, c, hw)];
            s = pass ? fma(v - mean, v - mean, s) : s + v;
        }
    }
    s = batchnorm_group_sum(s, scratch);
    if (get_local_id(0) == 0)
        part[((size_t)pass * c + ch) * g_count + g] = s;
}

/* y from the statistics in part (sums, then squared distances); chunk 0
 * also writes stats and moves the running statistics. */
__kernel void batchnorm_gpu_normalize(__global const float *x,
                                      __global const float *s,
                                      __global const float *gamma,
                                      __global const float *beta,
                                      __global float *running_mean,
                                      __global float *running_var,
                                      __global float *y, __global float *stats,
                                      __global const float *part, const int n,
                                      const int c, const int hw, const float eps,
                                      const float momentum, const int join,
                                      const int relu, __local float *scratch)
{
    const int g = get_group_id(0), ch = get_group_id(1), L = get_local_size(0),
              m = n * hw, g_count = get_num_groups(0),
              first = g * L * BATCHNORM_GPU_PER + get_local_id(0);
    const float mean = batchnorm_gpu_total(part, ch, g_count, scratch) / (float)m;
    const float var = batchnorm_gpu_total(part + (size_t)c * g_count, ch, g_count,
                                          scratch) / (float)m;
    const float invstd = rsqrt(var + eps);
    const float scale = gamma[ch] * invstd, shift = beta[ch];
    for (int t = 0; t < BATCHNORM_GPU_PER; t++) {
        const int i = first + t * L;
        if (i < m) {
            const size_t at = batchnorm_gpu_at(i, ch, c, hw);
            float v = (x[at] - mean) * scale + shift;
            if (join)
                v += s[at];
            y[at] = relu ? fmax(v, 0.0f) : v;
        }
    }
    if (g == 0 && get_local_id(0) == 0)
        batchnorm_keep(running_mean, running_var, stats, ch, c, m, mean, var, invstd,
                       momentum);
}

/* part[0][ch][g] = the sum of dy over chunk g, part[1][ch][g] the sum of
 * dy * xhat (dy plus ds when has_ds, masked by y when relu, and written
 * back so when keep). */
__kernel void batchnorm_gpu_grad_sums(__global const float *x,
                                      __global float *dy,
                                      __global const float *ds,
                                      __global const float *y,
                                      __global const float *stats,
                                      __global float *part, const int n,
                                      const int c, const int hw, const int has_ds,
                                      const int relu, const int keep,
                                      __local float *scratch)
{
    const int g = get_group_id(0), ch = get_group_id(1), L = get_local_size(0),
              m = n * hw, g_count = get_num_groups(0),
              first = g * L * BATCHNORM_GPU_PER + get_local_id(0);
    const float mean = stats[ch], invstd = stats[c + ch];
    float sdy = 0.0f, sdyx = 0.0f;
    for (int t = 0; t < BATCHNORM_GPU_PER; t++) {
        const int i = first + t * L;
        if (i < m) {
            const size_t at = batchnorm_gpu_at(i, ch, c, hw);
            const float g = batchnorm_dy(dy, ds, has_ds, y, at, relu);
            if (keep)
                dy[at] = g;
            sdy += g;
            sdyx = fma(g, (x[at] - mean) * invstd, sdyx);
        }
    }
    sdy = batchnorm_group_sum(sdy, scratch);
    sdyx = batchnorm_group_sum(sdyx, scratch);
    if (get_local_id(0) == 0) {
        part[(size_t)ch * g_count + g] = sdy;
        part[((size_t)c + ch) * g_count + g] = sdyx;
    }
}

/* dgamma and dbeta (chunk 0) and, when has_dx, dx over the chunk, from the
 * sums in part (dy masked by y when relu, unless the sums' pass kept it
 * masked). */
__kernel void batchnorm_gpu_grad(__global const float *x,
                                 __global const float *gamma,
                                 __global const float *dy,
                                 __global const float *y,
                                 __global const float *stats,
                                 __global const float *part, __global float *dx,
                                 __global float *dgamma, __global float *dbeta,
                                 const int n, const int c, const int hw,
                                 const int has_dx, const int relu, const int keep,
                                 __local float *scratch)
{
    const int g = get_group_id(0), ch = get_group_id(1), L = get_local_size(0),
              m = n * hw, g_count = get_num_groups(0),
              first = g * L * BATCHNORM_GPU_PER + get_local_id(0);
    const float sdy = batchnorm_gpu_total(part, ch, g_count, scratch),
                sdyx = batchnorm_gpu_total(part + (size_t)c * g_count, ch, g_count,
                                           scratch);
    if (g == 0 && get_local_id(0) == 0) {
        dgamma[ch] = sdyx;
        dbeta[ch] = sdy;
    }
    if (!has_dx)
        return;
    const float mean = stats[ch], invstd = stats[c + ch];
    const float scale = gamma[ch] * invstd, mdy = sdy / (float)m, mdyx = sdyx / (float)m;
    for (int t = 0; t < BATCHNORM_GPU_PER; t++) {
        const int i = first + t * L;
        if (i < m) {
            const size_t at = batchnorm_gpu_at(i, ch, c, hw);
            const float xhat = (x[at] - mean) * invstd;
            dx[at] = scale * (batchnorm_dy(dy, NULL, 0, y, at, relu && !keep) - mdy -
                              xhat * mdyx);
        }
    }
}
