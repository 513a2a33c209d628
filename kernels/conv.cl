/* conv.cl: 2-D convolution, any stride, any padding, any square kernel
 * size K and any channel counts, forward and backward (see conv.h).
 *
 * Layouts: activations are (N, C, H, W); the caller's weights are
 * (OC, C, K, K). For wide SIMD the kernels work on 16 output channels at a
 * time (one float16 per accumulator), so weights are first packed into
 * (OCpad/16, C, K, K, 16) with the channels past OC set to zero, and each
 * work-item of the main kernel keeps CONV_P output pixels x 16 channels in
 * registers. Backward-data runs the same kernel on the zero-padded dz with
 * the weights flipped and transposed; backward-weights is a two-stage
 * reduction (partial sums per batch chunk, then a fixed-order sum), so no
 * atomics and every result is bit-reproducible.
 *
 * The forward and the backward-weights bodies are each written once, as an
 * inline function of (stride, pad_top, pad_left, checked), with two entries:
 * conv_forward and conv_backward_weights call it with (1, 0, 0, 0), so for
 * stride 1 'valid' (the common case) the compiler folds the strides and
 * bounds checks away; the *_general entries pass the layer's values and
 * read zero outside the input. */

#define CONV_P 4 /* output pixels per work-item of conv_forward */
#define CONV_T 4 /* weight taps per work-item of conv_backward_weights */

/* wpk (Opad/16, I, K, K, 16) from w: wpk[o/16][i][ky][kx][o%16] is
 * w[o][i][ky][kx] when flip is 0 (O = OC, I = C: the forward weights), and
 * w[i][o][K-1-ky][K-1-kx] when flip is 1 (O = C, I = OC: the weights of the
 * backward-data convolution); zero for o >= O.
 * Global size (Opad, I*K*K). */
__kernel void conv_pack_weights(__global const float *w, __global float *wpk,
                                const int oc, const int c, const int k,
                                const int flip)
{
    const int o = get_global_id(0), r = get_global_id(1);
    const int kk = k * k, osz = flip ? c : oc, isz = flip ? oc : c;
    if (o >= ((osz + 15) & ~15) || r >= isz * kk)
        return;
    const int i = r / kk, tap = r % kk;
    float v = 0.0f;
    if (o < osz)
        v = flip ? w[(i * c + o) * kk + (kk - 1 - tap)]
                 : w[(o * c + i) * kk + tap];
    wpk[((o / 16) * isz * kk + r) * 16 + o % 16] = v;
}

/* y = conv(x, w) + b, then max(y, 0) when relu is set.
 * x is (N, C, H, W), wpk is w packed as (OCpad/16, C, K, K, 16), b is (OC)
 * and read only when has_bias, y is (N, OC, OH, OW); output pixel (oy, ox)
 * reads x[iy][ix] at iy = oy*stride + ky - pad_top, ix = ox*stride + kx -
 * pad_left, which must be inside x unless checked is set (then zero
 * outside). A work-item computes CONV_P consecutive output pixels (in
 * row-major order, so they may wrap to the next row) of 16 output channels.
 * Global size (ceil(OH*OW / CONV_P), OCpad/16, N). */
static inline __attribute__((always_inline)) void
conv_forward_body(__global const float *x, __global const float *wpk,
                  __global const float *b, __global float *y, const int c,
                  const int h, const int w, const int k, const int oc,
                  const int relu, const int has_bias, const int stride,
                  const int pad_top, const int pad_left, const int oh,
                  const int ow, const int checked)
{
    const int g = get_global_id(0), ob = get_global_id(1),
              n = get_global_id(2);
    const int ohw = oh * ow;
    if (g * CONV_P >= ohw)
        return;

    /* Where each pixel's window starts; pixels past the end repeat the last
     * one so the loads stay in bounds, and are not stored. */
    int base[CONV_P], iy0[CONV_P], ix0[CONV_P];
#pragma unroll
    for (int p = 0; p < CONV_P; p++) {
        const int q = min(g * CONV_P + p, ohw - 1);
        iy0[p] = (q / ow) * stride - pad_top;
        ix0[p] = (q % ow) * stride - pad_left;
        base[p] = iy0[p] * w + ix0[p];
    }

    float16 acc[CONV_P];
#pragma unroll
    for (int p = 0; p < CONV_P; p++)
        acc[p] = (float16)(0.0f);

    __global const float *xn = x + (size_t)n * c * h * w;
    __global const float *wp = wpk + (size_t)ob * c * k * k * 16;
    for (int ci = 0; ci < c; ci++) {
        for (int ky = 0; ky < k; ky++) {
            __global const float *row = xn + (ci * h + ky) * w;
            for (int kx = 0; kx < k; kx++) {
                const float16 wv = vload16(0, wp);
                wp += 16;
#pragma unroll
                for (int p = 0; p < CONV_P; p++) {
                    float v;
                    if (checked) {
                        const int iy = iy0[p] + ky, ix = ix0[p] + kx;
                        v = iy >= 0 && iy < h && ix >= 0 && ix < w
                                ? xn[(ci * h + iy) * w + ix]
                                : 0.0f;
                    } else {
                        v = row[base[p] + kx];
                    }
                    acc[p] = fma((float16)(v), wv, acc[p]);
                }
            }
        }
    }

    float16 bias = (float16)(0.0f);
    if (has_bias) {
        /* The last block may run past OC; those lanes are never stored. */
        float bv[16];
        for (int j = 0; j < 16; j++)
            bv[j] = ob * 16 + j < oc ? b[ob * 16 + j] : 0.0f;
        bias = vload16(0, bv);
    }
    /* Stored channel by channel, a channel's CONV_P (= 4) pixels as one
     * float4 where they are all in the image: 16 stores, not 64. */
    float out[CONV_P * 16];
#pragma unroll
    for (int p = 0; p < CONV_P; p++) {
        float16 v = acc[p] + bias;
        if (relu)
            v = fmax(v, (float16)(0.0f));
        vstore16(v, p, out);
    }
    const int nch = min(16, oc - ob * 16), q0 = g * CONV_P;
    __global float *yn = y + ((size_t)n * oc + ob * 16) * ohw + q0;
    if (q0 + CONV_P <= ohw) {
        for (int j = 0; j < nch; j++)
            vstore4((float4)(out[j], out[16 + j], out[32 + j], out[48 + j]),
                    0, yn + j * ohw);
    } else {
        for (int p = 0; q0 + p < ohw; p++)
            for (int j = 0; j < nch; j++)
                yn[j * ohw + p] = out[p * 16 + j];
    }
}

/* The common case, stride 1 'valid': OH = H-K+1, OW = W-K+1. */
__kernel void conv_forward(__global const float *x,
                           __global const float *wpk,
                           __global const float *b, __global float *y,
                           const int c, const int h, const int w, const int k,
                           const int oc, const int relu, const int has_bias)
{
    conv_forward_body(x, wpk, b, y, c, h, w, k, oc, relu, has_bias, 1, 0, 0,
                      h - k + 1, w - k + 1, 0);
}

/* Any stride and padding, zero outside the input. */
__kernel void conv_forward_general(__global const float *x,
                                   __global const float *wpk,
                                   __global const float *b, __global float *y,
                                   const int c, const int h, const int w,
                                   const int k, const int oc, const int relu,
                                   const int has_bias, const int stride,
                                   const int pad_top, const int pad_left,
                                   const int oh, const int ow)
{
    conv_forward_body(x, wpk, b, y, c, h, w, k, oc, relu, has_bias, stride,
                      pad_top, pad_left, oh, ow, 1);
}

/* dz = dy, masked by y > 0 when relu is set, written in the two layouts
 * the gradients read: dzt (N*OH*OW, OCpad) for the weights and bias, and,
 * when padded is set, dzp (N, OC, H+K-1, W+K-1) for the input gradient,
 * with dz[oy][ox] at row K-1-pad_top + oy*stride, column K-1-pad_left +
 * ox*stride: dx is then the stride-1 'valid' convolution of dzp with the
 * flipped weights. Only the places dz goes are written: the lanes past OC
 * and the rest of dzp stay as conv_create zeroed them.
 * y, dy are (N, OC, OH, OW). A work-item moves one channel plane of one
 * image, so its reads are contiguous. Global size (N*OC). */
__kernel void conv_dz(__global const float *y, __global const float *dy,
                      __global float *dzt, __global float *dzp, const int oc,
                      const int oh, const int ow, const int h, const int w,
                      const int k, const int stride, const int pad_top,
                      const int pad_left, const int planes, const int relu,
                      const int padded)
{
    const int plane = get_global_id(0);
    if (plane >= planes)
        return;
    const int n = plane / oc, o = plane % oc, ocpad = (oc + 15) & ~15;
    const int ph = h + k - 1, pw = w + k - 1;
    __global const float *src = dy + (size_t)plane * oh * ow;
    __global const float *mask = y + (size_t)plane * oh * ow;
    __global float *t = dzt + (size_t)n * oh * ow * ocpad + o;
    __global float *p = dzp + ((size_t)plane * ph + k - 1 - pad_top) * pw +
                        k - 1 - pad_left;
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            float v = src[ox];
            if (relu && !(mask[ox] > 0.0f))
                v = 0.0f;
            t[ox * ocpad] = v;
            if (padded)
                p[ox * stride] = v;
        }
        src += ow;
        mask += ow;
        t += ow * ocpad;
        p += pw * stride;
    }
}

/* Partial weight and bias gradients over one chunk of the batch: for the
 * images n in [s*nper, min((s+1)*nper, N)) and output pixels (oy, ox),
 * part[s][t][o] = sum of dz[n][oy][ox][o] * x[n][c][iy][ix] with
 * iy = oy*stride + ky - pad_top, ix = ox*stride + kx - pad_left (inside x
 * unless checked is set, then zero outside) and t = (c*K + ky)*K + kx < CKK,
 * and part[s][CKKpad][o] = sum of dz[n][oy][ox][o] (the bias, summed by the
 * work-items of the first taps).
 * x is (N, C, H, W), dzt is (N*OH*OW, OCpad), part is
 * (S, CKKpad + 1, OCpad), CKKpad = CKK rounded up to CONV_T.
 * A work-item holds CONV_T taps x 16 channels in registers.
 * Global size (CKKpad / CONV_T, OCpad/16, S). */
static inline __attribute__((always_inline)) void
conv_backward_weights_body(__global const float *x,
                           __global const float *dzt, __global float *part,
                           const int c, const int h, const int w, const int k,
                           const int ocpad, const int nper, const int n,
                           const int stride, const int pad_top,
                           const int pad_left, const int oh, const int ow,
                           const int checked)
{
    const int tg = get_global_id(0), ob = get_global_id(1),
              s = get_global_id(2);
    const int kk = k * k, ckk = c * kk, ckkpad = (ckk + CONV_T - 1) & -CONV_T;
    if (tg * CONV_T >= ckk || ob * 16 >= ocpad)
        return;

    /* Offset of each tap's input from the window's start; taps past the end
     * repeat the last one so the loads stay in bounds (never summed). */
    int off[CONV_T], ky[CONV_T], kx[CONV_T];
#pragma unroll
    for (int i = 0; i < CONV_T; i++) {
        const int t = min(tg * CONV_T + i, ckk - 1), tap = t % kk;
        ky[i] = tap / k;
        kx[i] = tap % k;
        off[i] = (t / kk) * h * w + ky[i] * w + kx[i];
    }

    float16 acc[CONV_T];
#pragma unroll
    for (int i = 0; i < CONV_T; i++)
        acc[i] = (float16)(0.0f);
    float16 bias = (float16)(0.0f);

    const int n1 = min(n, (s + 1) * nper);
    for (int img = s * nper; img < n1; img++) {
        __global const float *xn = x + (size_t)img * c * h * w;
        __global const float *d = dzt + (size_t)img * oh * ow * ocpad + ob * 16;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                const float16 dv = vload16(0, d);
                d += ocpad;
                const int iy0 = oy * stride - pad_top,
                          ix0 = ox * stride - pad_left;
                __global const float *xp = xn + oy * w + ox;
#pragma unroll
                for (int i = 0; i < CONV_T; i++) {
                    float v;
                    if (checked) {
                        const int iy = iy0 + ky[i], ix = ix0 + kx[i];
                        v = iy >= 0 && iy < h && ix >= 0 && ix < w
                                ? xn[iy0 * w + ix0 + off[i]]
                                : 0.0f;
                    } else {
                        v = xp[off[i]];
                    }
                    acc[i] = fma((float16)(v), dv, acc[i]);
                }
                if (tg == 0)
                    bias += dv;
            }
        }
    }

    __global float *out = part + (size_t)s * (ckkpad + 1) * ocpad + ob * 16;
#pragma unroll
    for (int i = 0; i < CONV_T; i++)
        vstore16(acc[i], 0, out + (tg * CONV_T + i) * ocpad);
    if (tg == 0)
        vstore16(bias, 0, out + ckkpad * ocpad);
}

/* The common case, stride 1 'valid': OH = H-K+1, OW = W-K+1. */
__kernel void conv_backward_weights(__global const float *x,
                                    __global const float *dzt,
                                    __global float *part, const int c,
                                    const int h, const int w, const int k,
                                    const int ocpad, const int nper,
                                    const int n)
{
    conv_backward_weights_body(x, dzt, part, c, h, w, k, ocpad, nper, n, 1, 0,
                               0, h - k + 1, w - k + 1, 0);
}

/* Any stride and padding, zero outside the input. */
__kernel void conv_backward_weights_general(
    __global const float *x, __global const float *dzt, __global float *part,
    const int c, const int h, const int w, const int k, const int ocpad,
    const int nper, const int n, const int stride, const int pad_top,
    const int pad_left, const int oh, const int ow)
{
    conv_backward_weights_body(x, dzt, part, c, h, w, k, ocpad, nper, n,
                               stride, pad_top, pad_left, oh, ow, 1);
}

/* dw[o][t] = sum over s < S of part[s][t][o], and db[o] the same of
 * part[s][CKKpad][o], in order of s. part is (S, CKKpad + 1, OCpad),
 * dw is (OC, C, K, K) = (OC, CKK), db is (OC).
 * Global size (CKK + 1, OC). */
__kernel void conv_backward_weights_sum(__global const float *part,
                                        __global float *dw,
                                        __global float *db, const int ckk,
                                        const int oc, const int splits)
{
    const int t = get_global_id(0), o = get_global_id(1);
    const int ocpad = (oc + 15) & ~15, ckkpad = (ckk + CONV_T - 1) & -CONV_T;
    if (t > ckk || o >= oc)
        return;
    const int row = t < ckk ? t : ckkpad;
    float sum = 0.0f;
    for (int s = 0; s < splits; s++)
        sum += part[((size_t)s * (ckkpad + 1) + row) * ocpad + o];
    if (t < ckk)
        dw[o * ckk + t] = sum;
    else
        db[o] = sum;
}

#undef CONV_P
#undef CONV_T
