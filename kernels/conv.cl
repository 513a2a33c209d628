/* conv.cl: 2-D convolution, any stride, any padding, any square kernel
 * size K and any channel counts, forward and backward (see conv.h).
 *
 * Layouts: activations are (N, C, H, W); the caller's weights are
 * (OC, C, K, K). For wide SIMD the kernels work on 16 channels at a time
 * (one float16 per accumulator), so weights are first packed with the
 * channels past OC (or C) set to zero, and a work-item keeps CONV_P pixels
 * x 16 channels in registers. The output gradient is transposed once per
 * step to one row of channels per pixel (conv_dz), which both gradients
 * read; backward-weights is a two-stage reduction (partial sums per batch
 * chunk, then a fixed-order sum), so no atomics and every result is
 * bit-reproducible.
 *
 * Padding: the forward and the weight gradient read a zero-padded copy of
 * x (conv_pad) when the layer pads, so their inner loops never test a
 * bound. Each is written once, as an inline function of the stride, with
 * two entries: stride 1 (the compiler folds it away) and any stride.
 * Backward-data handles padding and strides itself (it skips taps with no
 * output). */

/* Register tiles, set by the tuner with -D (see conv_tiles in conv.h; these
 * are the defaults): pixels per work-item of the forward kernels and of
 * conv_backward_data, weight taps per work-item of the weight gradient. */
#ifndef CONV_P
#define CONV_P 8
#endif
#ifndef CONV_DP
#define CONV_DP 8
#endif
/* Rows of output pixels per work-item of the forward kernels: CONV_R rows
 * of CONV_P / CONV_R columns, where 1 takes CONV_P pixels in row-major
 * order. */
#ifndef CONV_R
#define CONV_R 1
#endif
#define CONV_TW (CONV_P / CONV_R)
/* Blocks of 16 channels per work-item of the forward kernels (CONV_B) and
 * of conv_backward_data (CONV_DB): two blocks share each pixel's broadcast
 * input between twice the multiply-adds. */
#ifndef CONV_B
#define CONV_B 1
#endif
#ifndef CONV_DB
#define CONV_DB 1
#endif
#ifndef CONV_T
#define CONV_T 4
#endif
/* Blocks of 16 output channels per work-item of the weight gradient: two
 * share each broadcast input between twice the multiply-adds. */
#ifndef CONV_WB
#define CONV_WB 1
#endif

/* The weights w (OC, C, K, K) packed for the kernels' 16-lane loads:
 * forward (layout 0): wf (OCpad/16, C, K, K, 16), wf[o/16][c][tap][o%16] =
 * w[o][c][tap]; backward-data (layout 1): wb (Cpad/16, K, K, OC, 16),
 * wb[c/16][tap][o][c%16] = w[o][c][tap]; zero past OC (past C). The third
 * index picks the layout, from `layout`: one launch packs both. A
 * work-item writes the 16 lanes of one row r, which walks (c, tap) for the
 * forward and (tap, o) for data. Global size (C*K*K, OCpad/16) for the
 * forward, (K*K*OC, Cpad/16) for data, each dimension the larger of the
 * two's for both. */
__kernel void conv_pack_weights(__global const float *w, __global float *wf,
                                __global float *wb, const int oc, const int c,
                                const int k, const int layout)
{
    const int r = get_global_id(0), lb = get_global_id(1),
              data = layout + (int)get_global_id(2);
    __global float *wpk = data ? wb : wf;
    const int kk = k * k, lanes = data ? c : oc, rows = data ? kk * oc : c * kk;
    if (r >= rows || lb * 16 >= lanes)
        return;
    /* Lane l's value is w[o][ci][tap] at first + l * step. */
    const int first = data ? (r % oc * c + lb * 16) * kk + r / oc
                           : lb * 16 * c * kk + r,
              step = data ? kk : c * kk, n = min(16, lanes - lb * 16);
    float v[16];
    for (int l = 0; l < 16; l++)
        v[l] = l < n ? w[first + l * step] : 0.0f;
    vstore16(vload16(0, v), 0, wpk + ((size_t)lb * rows + r) * 16);
}

/* Stores the first nv of a work-item's np pixels x 16 channels (from q0,
 * channels from 16 cb) into y (N, C, HW), max(., 0) when relu is set;
 * channels past C and pixels past HW are not stored. np (<= 16) is a
 * constant of the caller, so a channel's pixels are stored as one run
 * where they are all to be stored. */
static inline __attribute__((always_inline)) void
conv_store(const float16 *acc, const int np, const int nv, __global float *y,
           const int n, const int cb, const int c, const int hw, const int q0,
           const int relu)
{
    const int nch = min(16, c - cb * 16);
    __global float *yn = y + ((size_t)n * c + cb * 16) * hw + q0;
    if ((np == 4 || np == 8 || np == 16) && nch == 16 && nv == np && q0 + np <= hw) {
        /* A whole tile: transposed in registers, each channel's np pixels
         * one vector store instead of np scalar ones. */
        float16 r[16];
#pragma unroll
        for (int p = 0; p < np; p++)
            r[p] = relu ? fmax(acc[p], (float16)(0.0f)) : acc[p];
        vec_transpose_rows(r, np);
#pragma unroll
        for (int j = 0; j < np; j++) {
            if (np == 16) {
                vec_store16(r[j], yn + j * hw);
            } else if (np == 8) {
                vec_store8(r[j].lo, yn + j * hw);
                vec_store8(r[j].hi, yn + (j + 8) * hw);
            } else {
                vec_store4(r[j].s0123, yn + j * hw);
                vec_store4(r[j].s4567, yn + (j + 4) * hw);
                vec_store4(r[j].s89ab, yn + (j + 8) * hw);
                vec_store4(r[j].scdef, yn + (j + 12) * hw);
            }
        }
        return;
    }
    float out[16 * 16]; /* np <= 16 */
#pragma unroll
    for (int p = 0; p < np; p++) {
        float16 v = acc[p];
        if (relu)
            v = fmax(v, (float16)(0.0f));
        vstore16(v, p, out);
    }
    if (nv == np && q0 + np <= hw) {
        for (int j = 0; j < nch; j++) {
#pragma unroll
            for (int p = 0; p < np; p++)
                yn[j * hw + p] = out[p * 16 + j];
        }
    } else {
        for (int p = 0; p < nv && q0 + p < hw; p++)
            for (int j = 0; j < nch; j++)
                yn[j * hw + p] = out[p * 16 + j];
    }
}

/* xp = x zero-padded: xp[n][c][r][col] = x[n][c][r - pad_top][col -
 * pad_left] where that is inside x, else 0. x is (N, C, H, W), xp is
 * (N, C, HP, WP). A work-item writes one row: x's row in vectors of 16,
 * 8 and 4, then single floats, and the zeros around it. Global size (HP,
 * N*C). */
__kernel void conv_pad(__global const float *x, __global float *xp,
                       const int h, const int w, const int hp, const int wp,
                       const int pad_top, const int pad_left)
{
    const int r = get_global_id(0), plane = get_global_id(1);
    if (r >= hp)
        return;
    const int iy = r - pad_top;
    __global float *dst = xp + ((size_t)plane * hp + r) * wp;
    if (iy < 0 || iy >= h) {
        for (int col = 0; col < wp; col++)
            dst[col] = 0.0f;
        return;
    }
    __global const float *src = x + ((size_t)plane * h + iy) * w;
    /* xp may end before x does: a stride that never reaches x's last
     * columns. */
    const int last = min(w, wp - pad_left);
    for (int col = 0; col < pad_left; col++)
        dst[col] = 0.0f;
    __global float *out = dst + pad_left;
    int i = 0;
    for (; i + 16 <= last; i += 16)
        vec_store16(vload16(0, src + i), out + i);
    if (i + 8 <= last) {
        vec_store8(vload8(0, src + i), out + i);
        i += 8;
    }
    if (i + 4 <= last) {
        vec_store4(vload4(0, src + i), out + i);
        i += 4;
    }
    for (; i < last; i++)
        out[i] = src[i];
    for (int col = pad_left + last; col < wp; col++)
        dst[col] = 0.0f;
}

/* conv_forward_loops' sums: acc[bk][p] += x's window of pixel p times
 * block bk's weights, in the order of (ci, ky, kx). Pixel p's window starts
 * at xn + p when in_row (a constant of the caller; stride 1), else at xn +
 * base[p]. */
static inline __attribute__((always_inline)) void
conv_forward_taps(float16 acc[CONV_B][CONV_P], __global const float *xn,
                  __global const float *const *wb, const int *base, const int c,
                  const int h, const int w, const int k, const int in_row)
{
    int t16 = 0;
    for (int ci = 0; ci < c; ci++) {
#pragma unroll
        for (int ky = 0; ky < k; ky++) {
            __global const float *row = xn + (ci * h + ky) * w;
#pragma unroll
            for (int kx = 0; kx < k; kx++, t16 += 16) {
                float16 wv[CONV_B];
#pragma unroll
                for (int bk = 0; bk < CONV_B; bk++)
                    wv[bk] = vload16(0, wb[bk] + t16);
#pragma unroll
                for (int p = 0; p < CONV_P; p++) {
                    const float v = row[(in_row ? p : base[p]) + kx];
#pragma unroll
                    for (int bk = 0; bk < CONV_B; bk++)
                        acc[bk][p] = fma((float16)(v), wv[bk], acc[bk][p]);
                }
            }
        }
    }
}

/* conv_forward_taps for a stride-1, 3 x 3 tile of `rows` whole rows of tw
 * pixels (both constants of the caller; rows * tw = CONV_P) from xn, its
 * first pixel's window: each input row in turn, each of its values times
 * the taps of every tile row that reads it. acc[bk][t * tw + u] still gets
 * its sums in the order of (ci, ky, kx): input rows in order are its ky in
 * order, and a row's values in order its kx. Only 3 weights of a row and
 * one input are live beside the accumulators, where keeping each input for
 * its taps spilled registers; and an input row is loaded once for up to 3
 * rows of output. */
static inline __attribute__((always_inline)) void
conv_forward_rows(float16 acc[CONV_B][CONV_P], __global const float *xn,
                  __global const float *const *wb, const int c, const int h,
                  const int w, const int rows, const int tw)
{
    for (int ci = 0; ci < c; ci++) {
#pragma unroll
        for (int r = 0; r < rows + 2; r++) {
            __global const float *row = xn + (ci * h + r) * w;
#pragma unroll
            for (int j = 0; j < tw + 2; j++) {
                const float16 v = (float16)(row[j]);
#pragma unroll
                for (int t = 0; t < rows; t++) {
                    const int ky = r - t;
                    if (ky < 0 || ky >= 3)
                        continue;
#pragma unroll
                    for (int kx = 0; kx < 3; kx++) {
                        const int u = j - kx;
                        if (u < 0 || u >= tw)
                            continue;
#pragma unroll
                        for (int bk = 0; bk < CONV_B; bk++)
                            acc[bk][t * tw + u] =
                                fma(v, vload16(0, wb[bk] + (ci * 9 + ky * 3 + kx) * 16),
                                    acc[bk][t * tw + u]);
                    }
                }
            }
        }
    }
}

/* y = conv(x, w) + b, then max(y, 0) when relu is set.
 * x is (N, C, H, W), wpk is w packed as (OCpad/16, C, K, K, 16), b is (OC)
 * and read only when has_bias, y is (N, OC, OH, OW); output pixel (oy, ox)
 * reads x[iy][ix] at iy = oy*stride + ky, ix = ox*stride + kx, inside x
 * (padding is in x already). A work-item computes CONV_P output pixels of
 * CONV_B blocks of 16 output channels: consecutive ones in row-major order
 * (so they may wrap to the next row) when CONV_R is 1, else a tile of
 * CONV_R rows of CONV_TW.
 * k3, a constant of the caller, says k is 3.
 * Global size (ceil(OH*OW / CONV_P), ceil(OCpad/16 / CONV_B), N), or
 * (ceil(OH / CONV_R) * ceil(OW / CONV_TW), ..., N) for tiles. */
static inline __attribute__((always_inline)) void
conv_forward_loops(__global const float *x, __global const float *wpk,
                  __global const float *b, __global float *y, const int c,
                  const int h, const int w, const int k, const int oc,
                  const int relu, const int has_bias, const int stride,
                  const int oh, const int ow, const int k3)
{
    const int g = get_global_id(0), ob = get_global_id(1),
              n = get_global_id(2);
    const int ohw = oh * ow, tiles_x = (ow + CONV_TW - 1) / CONV_TW,
              oy0 = g / tiles_x * CONV_R, ox0 = g % tiles_x * CONV_TW;
    if (CONV_R == 1 ? g * CONV_P >= ohw : oy0 >= oh)
        return;

    /* Where each pixel's window starts; pixels past the end (of the image,
     * or of a tile's rows or columns) repeat the last one so the loads stay
     * in bounds, and are not stored. */
    int base[CONV_P];
#pragma unroll
    for (int p = 0; p < CONV_P; p++) {
        const int q = min(g * CONV_P + p, ohw - 1),
                  oy = CONV_R == 1 ? q / ow : min(oy0 + p / CONV_TW, oh - 1),
                  ox = CONV_R == 1 ? q % ow : min(ox0 + p % CONV_TW, ow - 1);
        base[p] = oy * stride * w + ox * stride;
    }

    /* Blocks past the last one (OCpad/16 not a multiple of CONV_B) reread
     * the last block's weights and are not stored. */
    const int blocks = (oc + 15) / 16, ckk16 = c * k * k * 16;
    __global const float *wb[CONV_B];
#pragma unroll
    for (int bk = 0; bk < CONV_B; bk++)
        wb[bk] = wpk + (size_t)min(ob * CONV_B + bk, blocks - 1) * ckk16;
    float16 acc[CONV_B][CONV_P];
#pragma unroll
    for (int bk = 0; bk < CONV_B; bk++)
#pragma unroll
        for (int p = 0; p < CONV_P; p++)
            acc[bk][p] = (float16)(0.0f);

    /* At stride 1, a work-item whose pixels lie whole in its rows (in one
     * row when CONV_R is 1) reads them at one address plus constants: one
     * pointer register instead of one per pixel; 3 x 3 windows then load
     * each input value once (conv_forward_rows). (The strided entry's
     * stride is not a constant, so neither would its addresses be.) CONV_R
     * is tested in ?:, where clang warns of a constant in &&. The last
     * work-item's repeated pixels can span the same addresses as one row's
     * (pixels 24-29 of 5-wide rows and two repeats, in a row of 7), so its
     * pixels must all be the image's. */
    __global const float *xn = x + (size_t)n * c * h * w;
    const int whole =
        stride == 1 && (CONV_R > 1 ? oy0 + CONV_R <= oh && ox0 + CONV_TW <= ow
                                   : g * CONV_P + CONV_P <= ohw &&
                                         base[CONV_P - 1] - base[0] == CONV_P - 1);
    if (whole && k3)
        conv_forward_rows(acc, xn + base[0], wb, c, h, w, CONV_R, CONV_TW);
    else if (CONV_R > 1 ? 0 : whole)
        conv_forward_taps(acc, xn + base[0], wb, base, c, h, w, k, 1);
    else
        conv_forward_taps(acc, xn, wb, base, c, h, w, k, 0);

#pragma unroll
    for (int bk = 0; bk < CONV_B; bk++) {
        const int cb = ob * CONV_B + bk;
        if (cb >= blocks)
            break;
        /* A whole block's bias is one vector load (vec_load16): gathered
         * lane by lane through private memory, its stores stalled the load
         * that read them back, a sixth of a 1 x 1 layer's forward time. The
         * last block may run past OC; those lanes are never stored. */
        const float16 bias =
            has_bias ? vec_load16(b + cb * 16, 0, oc - cb * 16) : (float16)(0.0f);
#pragma unroll
        for (int p = 0; p < CONV_P; p++)
            acc[bk][p] += bias;
        if (CONV_R == 1) {
            conv_store(acc[bk], CONV_P, CONV_P, y, n, cb, oc, ohw, g * CONV_P, relu);
            continue;
        }
#pragma unroll
        for (int t = 0; t < CONV_R; t++)
            if (oy0 + t < oh)
                conv_store(acc[bk] + t * CONV_TW, CONV_TW, min(CONV_TW, ow - ox0), y, n,
                           cb, oc, ohw, (oy0 + t) * ow + ox0, relu);
    }
}

/* conv_forward_loops with 3 x 3 apart, so that its taps unroll. */
static inline __attribute__((always_inline)) void
conv_forward_body(__global const float *x, __global const float *wpk,
                  __global const float *b, __global float *y, const int c,
                  const int h, const int w, const int k, const int oc,
                  const int relu, const int has_bias, const int stride,
                  const int oh, const int ow)
{
    if (k == 3)
        conv_forward_loops(x, wpk, b, y, c, h, w, 3, oc, relu, has_bias, stride, oh, ow,
                           1);
    else
        conv_forward_loops(x, wpk, b, y, c, h, w, k, oc, relu, has_bias, stride, oh, ow,
                           0);
}

/* Stride 1: OH = H-K+1, OW = W-K+1. */
__kernel void conv_forward(__global const float *x,
                           __global const float *wpk,
                           __global const float *b, __global float *y,
                           const int c, const int h, const int w, const int k,
                           const int oc, const int relu, const int has_bias)
{
    conv_forward_body(x, wpk, b, y, c, h, w, k, oc, relu, has_bias, 1,
                      h - k + 1, w - k + 1);
}

/* Any stride: OH, OW as given, every window inside x. */
__kernel void conv_forward_strided(__global const float *x,
                                   __global const float *wpk,
                                   __global const float *b, __global float *y,
                                   const int c, const int h, const int w,
                                   const int k, const int oc, const int relu,
                                   const int has_bias, const int stride,
                                   const int oh, const int ow)
{
    conv_forward_body(x, wpk, b, y, c, h, w, k, oc, relu, has_bias, stride,
                      oh, ow);
}

/* dz = dy, masked by y > 0 when relu is set, written as dzt (N*OH*OW + 1,
 * OCpad): one row per output pixel, the layout both gradients read. The
 * last row and the lanes past OC stay as conv_create zeroed them.
 * y, dy are (N, OC, OH, OW), of which the first n images are read. A
 * work-item transposes a tile of 16 pixels x 16 channels of one image
 * through registers, so it reads runs of the channel planes and writes
 * whole rows of dzt, never one float per cache line. Global size
 * (n * ceil(OH*OW / 16), OCpad/16): the tiles of every image along the
 * first dimension, so that images with few pixels fill the work-groups. */
__kernel void conv_dz(__global const float *y, __global const float *dy,
                      __global float *dzt, const int oc, const int ohw,
                      const int relu, const int n)
{
    const int groups = (ohw + 15) / 16, i = get_global_id(0), ob = get_global_id(1);
    if (i >= n * groups)
        return;
    const int img = i / groups, q0 = i % groups * 16, ocpad = (oc + 15) & ~15;
    const int np = min(16, ohw - q0), nch = min(16, oc - ob * 16);
    /* r[j] is channel j's 16 pixels; four rounds of pairwise shuffles
     * (blocks of 1, 2, 4, 8) turn it into pixel j's 16 channels. A tile's
     * pixels past the image's last are read where dy holds them (the next
     * channel's) and never stored; only at the end of dy are the pixels
     * read one at a time. */
    const size_t end = (size_t)n * oc * ohw;
    float16 r[16];
#pragma unroll
    for (int j = 0; j < 16; j++) {
        const size_t at = ((size_t)img * oc + ob * 16 + j) * ohw + q0;
        if (j < nch && at + 16 <= end) {
            r[j] = vload16(0, dy + at);
            if (relu)
                r[j] = select((float16)(0.0f), r[j],
                              isgreater(vload16(0, y + at), (float16)(0.0f)));
        } else {
            float t[16];
            for (int p = 0; p < 16; p++)
                t[p] = j < nch && p < np && !(relu && !(y[at + p] > 0.0f))
                           ? dy[at + p]
                           : 0.0f;
            r[j] = vload16(0, t);
        }
    }
    vec_store_transposed(r, dzt + ((size_t)img * ohw + q0) * ocpad + ob * 16, ocpad, np);
}

/* dx = the input gradient: dx[n][c][iy][ix] = sum over taps (ky, kx) and
 * output channels o of dz[n][o][oy][ox] * w[o][c][ky][kx], for the oy, ox
 * with oy*stride + ky - pad_top = iy and ox*stride + kx - pad_left = ix,
 * summed in that order: taps in row-major order, then o.
 * dzt is (N*OH*OW + 1, OCpad) with a zero last row (row `zero`), wpk the
 * weights packed for data (Cpad/16, K, K, OC, 16), dx is (N, C, H, W).
 * A work-item computes CONV_DP pixels of CONV_DB blocks of 16 channels. A
 * pixel whose tap has no output reads the zero row, so the inner loop has
 * no branch; a tap no pixel of the work-item has is skipped, which is where
 * a 'valid' layer's border would otherwise be multiplications by zero.
 * Skipping adds nothing but zeros, which leave a sum that starts at +0 as
 * it was, so the tile size never changes a bit of the result. */

/* One tap's products for every output channel o, in order: acc[bk][p] +=
 * row[p][o] times the tap's weights of o in block bk (at t16 in wb). */
static inline __attribute__((always_inline)) void
conv_data_products(float16 acc[CONV_DB][CONV_DP], __global const float *const *row,
                   __global const float *const *wb, const int t16, const int oc)
{
    for (int o = 0; o < oc; o++) {
        float16 wv[CONV_DB];
#pragma unroll
        for (int bk = 0; bk < CONV_DB; bk++)
            wv[bk] = vload16(0, wb[bk] + t16 + o * 16);
#pragma unroll
        for (int p = 0; p < CONV_DP; p++) {
            const float16 d = (float16)(row[p][o]);
#pragma unroll
            for (int bk = 0; bk < CONV_DB; bk++)
                acc[bk][p] = fma(d, wv[bk], acc[bk][p]);
        }
    }
}

/* Adds one tap's products for every output channel, in order: acc[bk][p]
 * += dz's pixel (by[p] - my, bx[p] - mx) of image n, channel o, times the
 * tap's weights of o in block bk (at t16 in wb). A pixel outside dz, or
 * not in dx (in[p] clear), reads the zero row; a tap that reaches no pixel
 * adds nothing. */
static inline __attribute__((always_inline)) void
conv_data_tap(float16 acc[CONV_DB][CONV_DP], const int *by, const int *bx,
              const int *in, const int my, const int mx,
              __global const float *dzt, const int n, const int oh, const int ow,
              const int zero, __global const float *const *wb, const int t16,
              const int oc)
{
    const int ocpad = (oc + 15) & ~15, shift = my * ow + mx;
    __global const float *row[CONV_DP];
    int any = 0;
#pragma unroll
    for (int p = 0; p < CONV_DP; p++) {
        /* One unsigned test per axis covers both of its edges; the pixel's
         * own row, (n * OH + by) * OW + bx, is the same for every tap. */
        const int ok = in[p] && (uint)(by[p] - my) < (uint)oh &&
                       (uint)(bx[p] - mx) < (uint)ow;
        row[p] = dzt + (size_t)(ok ? (n * oh + by[p]) * ow + bx[p] - shift : zero) * ocpad;
        any |= ok;
    }
    if (any)
        conv_data_products(acc, row, wb, t16, oc);
}

/* Where block bk of work-item block cb reads its packed weights; blocks
 * past the last one (Cpad/16 not a multiple of CONV_DB) reread the last
 * block's and are not stored. */
static inline __attribute__((always_inline)) void
conv_data_weights(__global const float *wb[CONV_DB], __global const float *wpk,
                  const int cb, const int c, const int k, const int oc)
{
    const int blocks = (c + 15) / 16;
#pragma unroll
    for (int bk = 0; bk < CONV_DB; bk++)
        wb[bk] = wpk + (size_t)min(cb * CONV_DB + bk, blocks - 1) * k * k * oc * 16;
}

static inline __attribute__((always_inline)) void
conv_data_zero(float16 acc[CONV_DB][CONV_DP])
{
#pragma unroll
    for (int bk = 0; bk < CONV_DB; bk++)
#pragma unroll
        for (int p = 0; p < CONV_DP; p++)
            acc[bk][p] = (float16)(0.0f);
}

/* The 3 x 3 taps of a stride-1 work-item whose pixels lie in one row
 * from (by, bx) (padding added), at most 16 output channels, only its
 * first and last pixels' columns of taps ever outside dz (bx >= 1, bx +
 * CONV_DP - 1 <= OW): pixel p, tap (ky, kx) reads dz's row of pixel (by -
 * ky, bx + p - kx), 16 floats after pixel p - 1's, or the zero row where
 * that column is outside dz. A row of taps outside dz is skipped: it would
 * add only zeros (see conv_data_tap). */
static inline __attribute__((always_inline)) void
conv_data_row(float16 acc[CONV_DB][CONV_DP], const int by, const int bx,
              __global const float *dzt, const int n, const int oh, const int ow,
              const int zero, __global const float *const *wb, const int oc)
{
    const int ocpad = 16;
#pragma unroll
    for (int ky = 0; ky < 3; ky++) {
        if ((uint)(by - ky) >= (uint)oh)
            continue;
#pragma unroll
        for (int kx = 0; kx < 3; kx++) {
            __global const float *first =
                dzt + (size_t)((n * oh + by - ky) * ow + bx - kx) * ocpad;
            __global const float *row[CONV_DP];
#pragma unroll
            for (int p = 0; p < CONV_DP; p++)
                row[p] = first + p * ocpad;
            /* The edges: two selects, where a test of every pixel would
             * cost as much as the general loop's set-up. */
            if (bx - kx < 0)
                row[0] = dzt + (size_t)zero * ocpad;
            if (bx + CONV_DP - 1 - kx >= ow)
                row[CONV_DP - 1] = dzt + (size_t)zero * ocpad;
            conv_data_products(acc, row, wb, (ky * 3 + kx) * oc * 16, oc);
        }
    }
}

/* Stride 1 (the stride argument is not read): CONV_DP consecutive pixels
 * (in row-major order, so they may wrap to the next row). Global size
 * (ceil(H*W / CONV_DP), ceil(Cpad/16 / CONV_DB), N). */
__kernel void conv_backward_data(__global const float *dzt,
                                 __global const float *wpk,
                                 __global float *dx, const int c, const int h,
                                 const int w, const int k, const int oc,
                                 const int stride, const int pad_top,
                                 const int pad_left, const int oh,
                                 const int ow, const int zero)
{
    const int g = get_global_id(0), cb = get_global_id(1),
              n = get_global_id(2);
    const int hw = h * w;
    if (g * CONV_DP >= hw)
        return;
    /* Pixel p's row and column plus the padding (where tap (0, 0) reads
     * dz), and whether it is in dx. */
    int by[CONV_DP], bx[CONV_DP], in[CONV_DP];
#pragma unroll
    for (int p = 0; p < CONV_DP; p++) {
        const int q = min(g * CONV_DP + p, hw - 1);
        by[p] = q / w + pad_top;
        bx[p] = q % w + pad_left;
        in[p] = g * CONV_DP + p < hw;
    }
    __global const float *wb[CONV_DB];
    conv_data_weights(wb, wpk, cb, c, k, oc);
    float16 acc[CONV_DB][CONV_DP];
    conv_data_zero(acc);
    /* With at most 16 output channels a tap's loop is short, and working
     * out the pixels' rows and which are inside dz costs as much: a
     * work-item whose pixels lie in one row skips that (conv_data_row).
     * With more channels the general loop was as fast or faster
     * (docs/BENCHMARKS.md). */
    if (k == 3 && oc <= 16 && in[CONV_DP - 1] && by[0] == by[CONV_DP - 1] &&
        bx[0] >= 1 && bx[CONV_DP - 1] <= ow)
        conv_data_row(acc, by[0], bx[0], dzt, n, oh, ow, zero, wb, oc);
    else if (k == 3) {
        /* 3 x 3 apart, so that its taps unroll. */
#pragma unroll
        for (int ky = 0; ky < 3; ky++)
#pragma unroll
            for (int kx = 0; kx < 3; kx++)
                conv_data_tap(acc, by, bx, in, ky, kx, dzt, n, oh, ow, zero, wb,
                              (ky * 3 + kx) * oc * 16, oc);
    } else {
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                conv_data_tap(acc, by, bx, in, ky, kx, dzt, n, oh, ow, zero, wb,
                              (ky * k + kx) * oc * 16, oc);
    }
    const int blocks = (c + 15) / 16;
#pragma unroll
    for (int bk = 0; bk < CONV_DB; bk++) {
        if (cb * CONV_DB + bk >= blocks)
            break;
        conv_store(acc[bk], CONV_DP, CONV_DP, dx, n, cb * CONV_DB + bk, c, hw,
                   g * CONV_DP, 0);
    }
}

/* Any stride S above 1. dx splits into cells of S x S pixels, and a
 * pixel's phase, its place (cy, cx) in its cell, decides which taps reach
 * it: those with ky = cy + pad_top and kx = cx + pad_left modulo S, tap
 * (ky, kx) from the dz pixel at the cell's row plus (cy + pad_top - ky) / S
 * and its column plus (cx + pad_left - kx) / S. So each phase is a
 * stride-1 convolution of dz with its own taps, and no other tap is
 * visited. A work-item takes CONV_DP consecutive cells (in row-major
 * order, so they may wrap to the next row of cells) at one row phase cy,
 * and computes their column phases two at a time before storing them, a
 * channel at a time: at stride 2 its stores run along dx's rows, as the
 * stride-1 kernel's do. Global size (S * ceil(cells / CONV_DP),
 * ceil(Cpad/16 / CONV_DB), N), cells = ceil(H/S) * ceil(W/S); the first
 * index is the group of cells times S plus cy. */
__kernel void conv_backward_data_strided(__global const float *dzt,
                                         __global const float *wpk,
                                         __global float *dx, const int c,
                                         const int h, const int w,
                                         const int k, const int oc,
                                         const int stride, const int pad_top,
                                         const int pad_left, const int oh,
                                         const int ow, const int zero)
{
    const int cw = (w + stride - 1) / stride, cells = (h + stride - 1) / stride * cw;
    const int g = get_global_id(0) / stride, cy = get_global_id(0) % stride,
              cb = get_global_id(1), n = get_global_id(2);
    const int hw = h * w, blocks = (c + 15) / 16;
    if (g * CONV_DP >= cells)
        return;
    /* Cell p's row and column of cells, and whether its row of pixels at
     * cy is in dx. */
    int sy[CONV_DP], sx[CONV_DP], in[CONV_DP];
#pragma unroll
    for (int p = 0; p < CONV_DP; p++) {
        const int q = min(g * CONV_DP + p, cells - 1);
        sy[p] = q / cw;
        sx[p] = q % cw;
        in[p] = g * CONV_DP + p < cells && sy[p] * stride + cy < h;
    }
    __global const float *wb[CONV_DB];
    conv_data_weights(wb, wpk, cb, c, k, oc);
    const int ky0 = (cy + pad_top) % stride, oy0 = (cy + pad_top) / stride;
    for (int c0 = 0; c0 < stride; c0 += 2) {
        /* Cell p's phase c0 + i (i < 2) at out[bk][(2p + i) * 16]. */
        float out[CONV_DB][2 * CONV_DP * 16];
        for (int i = 0; i < 2; i++) {
            const int cx = c0 + i, kx0 = (cx + pad_left) % stride,
                      ox0 = (cx + pad_left) / stride;
            /* Tap (ky0 + my*S, kx0 + mx*S) reads dz at the cell's row plus
             * oy0 - my and its column plus ox0 - mx. */
            int by[CONV_DP], bx[CONV_DP];
#pragma unroll
            for (int p = 0; p < CONV_DP; p++) {
                by[p] = sy[p] + oy0;
                bx[p] = sx[p] + ox0;
            }
            float16 acc[CONV_DB][CONV_DP];
            conv_data_zero(acc);
            for (int ky = ky0, my = 0; cx < stride && ky < k; ky += stride, my++)
                for (int kx = kx0, mx = 0; kx < k; kx += stride, mx++)
                    conv_data_tap(acc, by, bx, in, my, mx, dzt, n, oh, ow, zero, wb,
                                  (ky * k + kx) * oc * 16, oc);
#pragma unroll
            for (int bk = 0; bk < CONV_DB; bk++)
#pragma unroll
                for (int p = 0; p < CONV_DP; p++)
                    vstore16(acc[bk][p], 2 * p + i, out[bk]);
        }
#pragma unroll
        for (int bk = 0; bk < CONV_DB; bk++) {
            const int cbk = cb * CONV_DB + bk;
            if (cbk >= blocks)
                break;
            const int nch = min(16, c - cbk * 16);
            __global float *d = dx + ((size_t)n * c + cbk * 16) * hw;
            for (int j = 0; j < nch; j++)
#pragma unroll
                for (int p = 0; p < CONV_DP; p++) {
                    const int at = (sy[p] * stride + cy) * w + sx[p] * stride + c0;
#pragma unroll
                    for (int i = 0; i < 2; i++)
                        if (in[p] && c0 + i < stride && sx[p] * stride + c0 + i < w)
                            d[(size_t)j * hw + at + i] = out[bk][(2 * p + i) * 16 + j];
                }
        }
    }
}

/* Partial weight and bias gradients over one chunk of the batch: for the
 * images n in [s*nper, min((s+1)*nper, N)) and output pixels (oy, ox),
 * part[s][t][o] = sum of dz[n][oy][ox][o] * x[n][c][iy][ix] with
 * iy = oy*stride + ky, ix = ox*stride + kx (inside x: padding is in x
 * already) and t = (c*K + ky)*K + kx < CKK,
 * and part[s][CKKpad][o] = sum of dz[n][oy][ox][o] (the bias, summed by the
 * work-items of the first taps).
 * x is (N, C, H, W), dzt is (N*OH*OW, OCpad), part is
 * (S, CKKpad + 1, OCpad), CKKpad = CKK rounded up to CONV_T.
 * A work-item holds CONV_T taps x CONV_WB blocks of 16 channels in
 * registers; blocks past the last one (OCpad/16 not a multiple of
 * CONV_WB) reread the last block and are not stored.
 * Global size (CKKpad / CONV_T, ceil(OCpad/16 / CONV_WB), S). */
static inline __attribute__((always_inline)) void
conv_backward_weights_loops(__global const float *x,
                            __global const float *dzt, __global float *part,
                            const int c, const int h, const int w, const int k,
                            const int ocpad, const int nper, const int n,
                            const int stride, const int oh, const int ow,
                            const int with_bias)
{
    const int tg = get_global_id(0), ob = get_global_id(1),
              s = get_global_id(2);
    const int kk = k * k, ckk = c * kk, ckkpad = (ckk + CONV_T - 1) / CONV_T * CONV_T;
    const int blocks = ocpad / 16;
    if (tg * CONV_T >= ckk || ob * CONV_WB >= blocks)
        return;

    /* Offset of each tap's input from the window's start; taps past the end
     * repeat the last one so the loads stay in bounds (never summed). */
    int off[CONV_T];
#pragma unroll
    for (int i = 0; i < CONV_T; i++) {
        const int t = min(tg * CONV_T + i, ckk - 1), tap = t % kk;
        off[i] = (t / kk) * h * w + (tap / k) * w + tap % k;
    }
    int first[CONV_WB];
#pragma unroll
    for (int bk = 0; bk < CONV_WB; bk++)
        first[bk] = min(ob * CONV_WB + bk, blocks - 1) * 16;

    float16 acc[CONV_WB][CONV_T], bias[CONV_WB];
#pragma unroll
    for (int bk = 0; bk < CONV_WB; bk++) {
#pragma unroll
        for (int i = 0; i < CONV_T; i++)
            acc[bk][i] = (float16)(0.0f);
        bias[bk] = (float16)(0.0f);
    }

    const int n1 = min(n, (s + 1) * nper);
    for (int img = s * nper; img < n1; img++) {
        __global const float *xn = x + (size_t)img * c * h * w;
        __global const float *d = dzt + (size_t)img * oh * ow * ocpad;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float16 dv[CONV_WB];
#pragma unroll
                for (int bk = 0; bk < CONV_WB; bk++)
                    dv[bk] = vload16(0, d + first[bk]);
                d += ocpad;
                __global const float *xp = xn + (oy * w + ox) * stride;
#pragma unroll
                for (int i = 0; i < CONV_T; i++) {
                    const float v = xp[off[i]];
#pragma unroll
                    for (int bk = 0; bk < CONV_WB; bk++)
                        acc[bk][i] = fma((float16)(v), dv[bk], acc[bk][i]);
                }
                if (with_bias)
#pragma unroll
                    for (int bk = 0; bk < CONV_WB; bk++)
                        bias[bk] += dv[bk];
            }
        }
    }

#pragma unroll
    for (int bk = 0; bk < CONV_WB; bk++) {
        if (ob * CONV_WB + bk >= blocks)
            break;
        __global float *out = part + (size_t)s * (ckkpad + 1) * ocpad + first[bk];
#pragma unroll
        for (int i = 0; i < CONV_T; i++)
            vstore16(acc[bk][i], 0, out + (tg * CONV_T + i) * ocpad);
        if (with_bias)
            vstore16(bias[bk], 0, out + ckkpad * ocpad);
    }
}

/* conv_backward_weights_loops, the first taps' work-items (which sum the
 * bias too) apart, so that the others' loop has no test for it. */
static inline __attribute__((always_inline)) void
conv_backward_weights_body(__global const float *x,
                           __global const float *dzt, __global float *part,
                           const int c, const int h, const int w, const int k,
                           const int ocpad, const int nper, const int n,
                           const int stride, const int oh, const int ow)
{
    if (get_global_id(0) == 0)
        conv_backward_weights_loops(x, dzt, part, c, h, w, k, ocpad, nper, n, stride, oh,
                                    ow, 1);
    else
        conv_backward_weights_loops(x, dzt, part, c, h, w, k, ocpad, nper, n, stride, oh,
                                    ow, 0);
}

/* Stride 1: OH = H-K+1, OW = W-K+1. */
__kernel void conv_backward_weights(__global const float *x,
                                    __global const float *dzt,
                                    __global float *part, const int c,
                                    const int h, const int w, const int k,
                                    const int ocpad, const int nper,
                                    const int n)
{
    conv_backward_weights_body(x, dzt, part, c, h, w, k, ocpad, nper, n, 1,
                               h - k + 1, w - k + 1);
}

/* Any stride: OH, OW as given, every window inside x. */
__kernel void conv_backward_weights_strided(
    __global const float *x, __global const float *dzt, __global float *part,
    const int c, const int h, const int w, const int k, const int ocpad,
    const int nper, const int n, const int stride, const int oh, const int ow)
{
    conv_backward_weights_body(x, dzt, part, c, h, w, k, ocpad, nper, n,
                               stride, oh, ow);
}

/* dw[o][t] = sum over s < S of part[s][t][o], and db[o] the same of
 * part[s][CKKpad][o], in order of s. part is (S, CKKpad + 1, OCpad),
 * dw is (OC, C, K, K) = (OC, CKK), db is (OC); CKKpad is CKK rounded up to
 * the taps per work-item of the kernel that wrote part. A work-item sums
 * 16 channels of one row of part, so it reads runs of part where a
 * channel apiece would take a cache line per value.
 * Global size (CKK + 1, OCpad/16). */
__kernel void conv_backward_weights_sum(__global const float *part,
                                        __global float *dw,
                                        __global float *db, const int ckk,
                                        const int ckkpad, const int oc,
                                        const int splits)
{
    const int t = get_global_id(0), ob = get_global_id(1);
    const int ocpad = (oc + 15) & ~15;
    if (t > ckk || ob * 16 >= oc)
        return;
    const int row = t < ckk ? t : ckkpad;
    __global const float *p = part + (size_t)row * ocpad + ob * 16;
    float16 sum = (float16)(0.0f);
    for (int s = 0; s < splits; s++)
        sum += vload16(0, p + (size_t)s * (ckkpad + 1) * ocpad);
    float v[16];
    vstore16(sum, 0, v);
    const int nch = min(16, oc - ob * 16);
    for (int j = 0; j < nch; j++) {
        if (t < ckk)
            dw[(ob * 16 + j) * ckk + t] = v[j];
        else
            db[ob * 16 + j] = v[j];
    }
}

#undef CONV_P
#undef CONV_DP
#undef CONV_B
#undef CONV_DB
#undef CONV_T
