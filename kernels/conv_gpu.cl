/* conv_gpu.cl: the convolution's three passes as tiled GEMMs, shaped for
 * GPUs (see conv.h; conv.cl holds the CPU-shaped kernels and the layouts).
 *
 * Each pass is C = A * B with B an im2col matrix that is never stored: the
 * kernels gather it from x (or its padded copy) or dy as they stage it,
 * looking up where each step of the sum reads in a table conv_create made
 * (integer division is slow on a GPU).
 * A work-group of 16 x 16 work-items computes a CONV_GT x CONV_GT tile of C
 * (each work-item CONV_GR x CONV_GR outputs, CONV_GR = CONV_GT/16, 16
 * apart so that neighbouring work-items store neighbouring addresses),
 * staging CONV_GK steps of the reduction of A and B at a time through
 * __local memory. Every output is one fma chain in the order of the
 * reduction, from 0: the forward and backward-data sum in the order of
 * conv.cl's kernels, so they give the same bits; the weight gradient sums
 * fixed chunks of pixels, then the chunks in order (no atomics). */

#ifndef CONV_GT
#define CONV_GT 64
#endif
#define CONV_GR (CONV_GT / 16)
#define CONV_GK 16
/* Row stride of the staged tiles: one float of padding, so the columns
 * that work-items write side by side fall in different banks. */
#define CONV_GS (CONV_GT + 1)

/* acc[i][j] += a[t][ty + 16 i] * b[t][tx + 16 j] for the CONV_GK steps t
 * in order: the inner loop all three passes share. a and b are
 * (CONV_GK, CONV_GS). */
static inline __attribute__((always_inline)) void
conv_gpu_tile_fma(__local const float *a, __local const float *b,
                  float acc[CONV_GR][CONV_GR], const int tx, const int ty)
{
    for (int t = 0; t < CONV_GK; t++) {
        float av[CONV_GR], bv[CONV_GR];
#pragma unroll
        for (int i = 0; i < CONV_GR; i++) {
            av[i] = a[t * CONV_GS + ty + 16 * i];
            bv[i] = b[t * CONV_GS + tx + 16 * i];
        }
#pragma unroll
        for (int i = 0; i < CONV_GR; i++)
#pragma unroll
            for (int j = 0; j < CONV_GR; j++)
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
}

static inline __attribute__((always_inline)) void
conv_gpu_zero(float acc[CONV_GR][CONV_GR])
{
#pragma unroll
    for (int i = 0; i < CONV_GR; i++)
#pragma unroll
        for (int j = 0; j < CONV_GR; j++)
            acc[i][j] = 0.0f;
}

/* y = conv(x, w) + b, then max(y, 0) when relu is set, as
 * y[o][col] = sum over t < C*K*K of w[o][t] * X[t][col]: rows o < OC,
 * columns col = (n*OH + oy)*OW + ox < cols = N*OH*OW, and
 * X[(c*K + ky)*K + kx][col] = x[n][c][oy*stride + ky][ox*stride + kx]
 * (inside x: padding is in x already).
 * x is (N, C, H, W), w is (OC, C, K, K), b is (OC) and read only when
 * has_bias, y is (N, OC, OH, OW); taps[t] is tap t's offset in a window of
 * x, (c*H + ky)*W + kx (a table, so gathering costs no division).
 * Local size (16, 16); global size (ceil(cols/CONV_GT)*16,
 * ceil(OC/CONV_GT)*16). */
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) void
conv_gpu_forward(__global const float *x, __global const float *w,
                 __global const float *b, __global float *y,
                 __global const int *taps, const int c,
                 const int h, const int wd, const int k, const int oc,
                 const int stride, const int oh, const int ow, const int cols,
                 const int relu, const int has_bias)
{
    __local float at[CONV_GK * CONV_GS], bt[CONV_GK * CONV_GS];
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * 16 + tx;
    const int col0 = get_group_id(0) * CONV_GT, m0 = get_group_id(1) * CONV_GT;
    const int kk = k * k, ckk = c * kk, ohw = oh * ow;

    /* The column this work-item stages of every B tile: its window's
     * start in x (the first pixel's for a column past the end, never
     * read). */
    const int bc = lid % CONV_GT, in = col0 + bc < cols;
    const int q = in ? col0 + bc : 0, p = q % ohw;
    __global const float *xw = x + (size_t)(q / ohw) * c * h * wd +
                               (p / ow) * stride * wd + (p % ow) * stride;

    float acc[CONV_GR][CONV_GR];
    conv_gpu_zero(acc);
    for (int t0 = 0; t0 < ckk; t0 += CONV_GK) {
        /* A: rows of w, consecutive work-items along a row. */
#pragma unroll
        for (int r = 0; r < CONV_GT * CONV_GK / 256; r++) {
            const int e = lid + 256 * r, t = e % CONV_GK, m = e / CONV_GK;
            const int o = m0 + m, tap = t0 + t;
            at[t * CONV_GS + m] = o < oc && tap < ckk ? w[(size_t)o * ckk + tap] : 0.0f;
        }
        /* B: consecutive work-items along the output pixels. */
#pragma unroll
        for (int r = 0; r < CONV_GT * CONV_GK / 256; r++) {
            const int t = lid / CONV_GT + 256 / CONV_GT * r, tap = t0 + t;
            bt[t * CONV_GS + bc] = in && tap < ckk ? xw[taps[tap]] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        conv_gpu_tile_fma(at, bt, acc, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < CONV_GR; i++) {
        const int o = m0 + ty + 16 * i;
        if (o >= oc)
            break;
        const float bias = has_bias ? b[o] : 0.0f;
#pragma unroll
        for (int j = 0; j < CONV_GR; j++) {
            const int col = col0 + tx + 16 * j;
            if (col >= cols)
                break;
            float v = acc[i][j] + bias;
            if (relu)
                v = fmax(v, 0.0f);
            y[((size_t)(col / ohw) * oc + o) * ohw + col % ohw] = v;
        }
    }
}

/* dx = the input gradient, as dx[c][col] = sum over t < K*K*OC of
 * W[c][t] * D[t][col]: rows c < C, columns col = (n*H + iy)*W + ix <
 * cols = N*H*W, t = (ky*K + kx)*OC + o (the order of conv_backward_data),
 * W[c][t] = w[o][c][ky][kx] read from wpk, the weights packed for data
 * (Cpad/16, K, K, OC, 16), and D[t][col] = dz[n][o][oy][ox] for the
 * oy*stride + ky - pad_top = iy and ox*stride + kx - pad_left = ix inside
 * the output, else 0. dz = dy, masked by y > 0 when relu is set (read here,
 * so this pass needs no conv_dz). y, dy are (N, OC, OH, OW), dx is
 * (N, C, H, W), every element written. taps[t] is (ky, kx, o*OH*OW, 0)
 * (a table, so gathering costs no division).
 * Local size (16, 16); global size (ceil(cols/CONV_GT)*16,
 * ceil(C/CONV_GT)*16). */
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) void
conv_gpu_data(__global const float *dy, __global const float *y,
              __global const float *wpk, __global float *dx,
              __global const int4 *taps, const int c,
              const int h, const int wd, const int k, const int oc,
              const int stride, const int pad_top, const int pad_left,
              const int oh, const int ow, const int cols, const int relu)
{
    __local float at[CONV_GK * CONV_GS], bt[CONV_GK * CONV_GS];
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * 16 + tx;
    const int col0 = get_group_id(0) * CONV_GT, m0 = get_group_id(1) * CONV_GT;
    const int kkoc = k * k * oc, hw = h * wd, ohw = oh * ow;

    /* The input pixel this work-item stages of every B tile, in the
     * padded frame the output windows start in. */
    const int bc = lid % CONV_GT, in = col0 + bc < cols;
    const int q = in ? col0 + bc : 0, p = q % hw;
    const int py = p / wd + pad_top, px = p % wd + pad_left;
    const size_t dyn = (size_t)(q / hw) * oc * ohw;

    float acc[CONV_GR][CONV_GR];
    conv_gpu_zero(acc);
    for (int t0 = 0; t0 < kkoc; t0 += CONV_GK) {
        /* A: 16 input channels side by side in wpk. */
#pragma unroll
        for (int r = 0; r < CONV_GT * CONV_GK / 256; r++) {
            const int e = lid + 256 * r, m = e % CONV_GT, t = e / CONV_GT;
            const int ci = m0 + m, tap = t0 + t;
            at[t * CONV_GS + m] =
                ci < c && tap < kkoc
                    ? wpk[((size_t)(ci / 16) * kkoc + tap) * 16 + ci % 16]
                    : 0.0f;
        }
#pragma unroll
        for (int r = 0; r < CONV_GT * CONV_GK / 256; r++) {
            const int t = lid / CONV_GT + 256 / CONV_GT * r, tap = t0 + t;
            const int4 d = taps[min(tap, kkoc - 1)];
            const int sy = py - d.x, sx = px - d.y;
            /* The stride is uniform: no division at stride 1. */
            const int oy = stride == 1 ? sy : sy / stride,
                      ox = stride == 1 ? sx : sx / stride;
            float v = 0.0f;
            if (in && tap < kkoc && sy >= 0 && sx >= 0 && oy * stride == sy &&
                ox * stride == sx && oy < oh && ox < ow) {
                const size_t i = dyn + (size_t)d.z + oy * ow + ox;
                v = dy[i];
                if (relu && !(y[i] > 0.0f))
                    v = 0.0f;
            }
            bt[t * CONV_GS + bc] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        conv_gpu_tile_fma(at, bt, acc, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < CONV_GR; i++) {
        const int ci = m0 + ty + 16 * i;
        if (ci >= c)
            break;
#pragma unroll
        for (int j = 0; j < CONV_GR; j++) {
            const int col = col0 + tx + 16 * j;
            if (col >= cols)
                break;
            dx[((size_t)(col / hw) * c + ci) * hw + col % hw] = acc[i][j];
        }
    }
}

/* Partial weight and bias gradients over chunk s of the output pixels:
 * part[s][o][t] = sum over col in [s*chunk, min((s+1)*chunk, cols)) of
 * dz[o][col] * X[t][col], in order of col, for t <= C*K*K, where X is the
 * forward's im2col matrix with one more row of ones (t = C*K*K: the bias).
 * dz = dy, masked by y > 0 when relu is set. chunk is a multiple of
 * CONV_GK. x is (N, C, H, W) (padding is in x already), y, dy are
 * (N, OC, OH, OW), part is (chunks, OC, C*K*K + 1), taps as for
 * conv_gpu_forward.
 * Local size (16, 16, 1); global size (ceil((C*K*K + 1)/CONV_GT)*16,
 * ceil(OC/CONV_GT)*16, chunks). */
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) void
conv_gpu_weights(__global const float *x, __global const float *dy,
                 __global const float *y, __global float *part,
                 __global const int *taps, const int c,
                 const int h, const int wd, const int k, const int oc,
                 const int stride, const int oh, const int ow, const int cols,
                 const int chunk, const int relu)
{
    __local float at[CONV_GK * CONV_GS], bt[CONV_GK * CONV_GS];
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * 16 + tx;
    const int j0 = get_group_id(0) * CONV_GT, m0 = get_group_id(1) * CONV_GT,
              s = get_group_id(2);
    const int kk = k * k, ckk = c * kk, ohw = oh * ow;

    /* Each work-item stages one pixel of every step (kc), for the rows
     * lid/16 + 16 r of both tiles: the offsets of its taps in a window, -1
     * for the bias row, -2 past it. */
    const int kc = lid % CONV_GK, row = lid / CONV_GK;
    int off[CONV_GR];
#pragma unroll
    for (int r = 0; r < CONV_GR; r++) {
        const int tap = j0 + row + 16 * r;
        off[r] = tap < ckk ? taps[tap] : (tap == ckk ? -1 : -2);
    }

    float acc[CONV_GR][CONV_GR];
    conv_gpu_zero(acc);
    const int end = min(cols, (s + 1) * chunk);
    for (int c0 = s * chunk; c0 < end; c0 += CONV_GK) {
        const int in = c0 + kc < end, q = in ? c0 + kc : 0, p = q % ohw, n = q / ohw;
        __global const float *xw = x + (size_t)n * c * h * wd +
                                   (p / ow) * stride * wd + (p % ow) * stride;
        const size_t dyp = (size_t)n * oc * ohw + p;
#pragma unroll
        for (int r = 0; r < CONV_GR; r++) {
            const int o = m0 + row + 16 * r;
            float v = 0.0f;
            if (in && o < oc) {
                v = dy[dyp + (size_t)o * ohw];
                if (relu && !(y[dyp + (size_t)o * ohw] > 0.0f))
                    v = 0.0f;
            }
            at[kc * CONV_GS + row + 16 * r] = v;
            bt[kc * CONV_GS + row + 16 * r] =
                !in || off[r] == -2 ? 0.0f : off[r] == -1 ? 1.0f : xw[off[r]];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        conv_gpu_tile_fma(at, bt, acc, tx, ty);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int i = 0; i < CONV_GR; i++) {
        const int o = m0 + ty + 16 * i;
        if (o >= oc)
            break;
#pragma unroll
        for (int j = 0; j < CONV_GR; j++) {
            const int tap = j0 + tx + 16 * j;
            if (tap > ckk)
                break;
            part[((size_t)s * oc + o) * (ckk + 1) + tap] = acc[i][j];
        }
    }
}

/* dw[o][t] = sum over s < chunks of part[s][o][t] in order of s, and db[o]
 * the same of part[s][o][CKK]. part is (chunks, OC, CKK + 1), dw is
 * (OC, C, K, K) = (OC, CKK), db is (OC). Global size OC*(CKK + 1). */
__kernel void conv_gpu_weights_sum(__global const float *part,
                                   __global float *dw, __global float *db,
                                   const int ckk, const int oc,
                                   const int chunks)
{
    const int e = get_global_id(0), row = ckk + 1;
    if (e >= oc * row)
        return;
    float sum = 0.0f;
    for (int s = 0; s < chunks; s++)
        sum += part[(size_t)s * oc * row + e];
    const int o = e / row, t = e % row;
    if (t < ckk)
        dw[o * ckk + t] = sum;
    else
        db[o] = sum;
}

#undef CONV_GT
#undef CONV_GR
#undef CONV_GK
#undef CONV_GS
