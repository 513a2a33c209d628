/* optim.cl: one optimizer step over every parameter of the network at once
 * (a kernel pair per rule of src/nn/optim.c's table), and the gradients'
 * global L2 norm for clipping.
 *
 * p, g and a rule's state (m, v, buf, sq) are flat arrays of count floats:
 * all tensors stored contiguously, with padding between them. decays
 * (count bytes) is 1 where weight decay applies (trainable tensors) and 0
 * elsewhere, so padding and tensors a layer updates itself (zero gradient,
 * zero state) keep their bits. coef[0] scales every gradient first: 1, or
 * the clipping coefficient optim_clip_coef wrote. h holds the step's
 * scalars, computed by the host in double (the rule's row), named at the
 * top of each step. The formulas are in include/nn/optim.h.
 *
 * Each rule has two shapes: <rule>_update, each work-item sixteen
 * consecutive values in float16 (the same operations on each value as one
 * at a time; the last work-item takes the 1-15 left over one at a time),
 * for CPUs; and <rule>_update_gpu, one value per work-item, so a warp's
 * loads and stores are contiguous. */

/* Sixteen decay flags as a select mask: all bits set where decay applies. */
static int16 decays16(const int i, __global const uchar *decays)
{
    return -convert_int16(vload16(i, decays));
}

/* Adam as Keras computes it; h: lr_t (bias corrections folded in), eps,
 * b1, b2, weight decay (L2, added to the gradient). */
static void adam_1(const int j, __global float *p, __global const float *g,
                   __global float *m, __global float *v, __global const uchar *decays,
                   const float c, const float8 h)
{
    const float lr_t = h.s0, eps = h.s1, b1 = h.s2, b2 = h.s3, wd = h.s4;
    float gj = g[j] * c;
    if (wd != 0.0f && decays[j])
        gj += wd * p[j];
    float mj = b1 * m[j] + (1.0f - b1) * gj;
    float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    p[j] -= lr_t * mj / (sqrt(vj) + eps);
}

__kernel void adam_update(__global float *p, __global const float *g, __global float *m,
                          __global float *v, __global const uchar *decays,
                          __global const float *coef, const int count, const float8 h)
{
    const float lr_t = h.s0, eps = h.s1, b1 = h.s2, b2 = h.s3, wd = h.s4;
    const int i = get_global_id(0), first = 16 * i;
    const float c = coef[0];
    if (first + 16 <= count) {
        float16 pi = vload16(i, p), gi = vload16(i, g) * c;
        if (wd != 0.0f)
            gi = select(gi, gi + wd * pi, decays16(i, decays));
        float16 mi = b1 * vload16(i, m) + (1.0f - b1) * gi;
        float16 vi = b2 * vload16(i, v) + (1.0f - b2) * gi * gi;
        vstore16(mi, i, m);
        vstore16(vi, i, v);
        vstore16(pi - lr_t * mi / (sqrt(vi) + eps), i, p);
    } else {
        for (int j = first; j < count; j++)
            adam_1(j, p, g, m, v, decays, c, h);
    }
}

__kernel void adam_update_gpu(__global float *p, __global const float *g, __global float *m,
                              __global float *v, __global const uchar *decays,
                              __global const float *coef, const int count, const float8 h)
{
    const int j = get_global_id(0);
    if (j < count)
        adam_1(j, p, g, m, v, decays, coef[0], h);
}

/* AdamW as PyTorch computes it; h: step size lr / (1 - b1^t),
 * sqrt(1 - b2^t), eps, b1, b2, the decay factor 1 - lr wd. */
static void adamw_1(const int j, __global float *p, __global const float *g,
                    __global float *m, __global float *v, __global const uchar *decays,
                    const float c, const float8 h)
{
    const float step = h.s0, bc2 = h.s1, eps = h.s2, b1 = h.s3, b2 = h.s4, decay = h.s5;
    float gj = g[j] * c, pj = p[j];
    if (decays[j])
        pj *= decay;
    float mj = b1 * m[j] + (1.0f - b1) * gj;
    float vj = b2 * v[j] + (1.0f - b2) * gj * gj;
    m[j] = mj;
    v[j] = vj;
    p[j] = pj - step * mj / (sqrt(vj) / bc2 + eps);
}

__kernel void adamw_update(__global float *p, __global const float *g, __global float *m,
                           __global float *v, __global const uchar *decays,
                           __global const float *coef, const int count, const float8 h)
{
    const float step = h.s0, bc2 = h.s1, eps = h.s2, b1 = h.s3, b2 = h.s4, decay = h.s5;
    const int i = get_global_id(0), first = 16 * i;
    const float c = coef[0];
    if (first + 16 <= count) {
        float16 pi = vload16(i, p), gi = vload16(i, g) * c;
        pi = select(pi, pi * decay, decays16(i, decays));
        float16 mi = b1 * vload16(i, m) + (1.0f - b1) * gi;
        float16 vi = b2 * vload16(i, v) + (1.0f - b2) * gi * gi;
        vstore16(mi, i, m);
        vstore16(vi, i, v);
        vstore16(pi - step * mi / (sqrt(vi) / bc2 + eps), i, p);
    } else {
        for (int j = first; j < count; j++)
            adamw_1(j, p, g, m, v, decays, c, h);
    }
}

__kernel void adamw_update_gpu(__global float *p, __global const float *g, __global float *m,
                               __global float *v, __global const uchar *decays,
                               __global const float *coef, const int count, const float8 h)
{
    const int j = get_global_id(0);
    if (j < count)
        adamw_1(j, p, g, m, v, decays, coef[0], h);
}

/* SGD as PyTorch computes it (dampening 0); h: lr, momentum, nesterov (1
 * or 0), weight decay. Without momentum buf is left as it is (zero). */
static void sgd_1(const int j, __global float *p, __global const float *g,
                  __global float *buf, __global const uchar *decays, const float c,
                  const float8 h)
{
    const float lr = h.s0, mom = h.s1, nesterov = h.s2, wd = h.s3;
    float gj = g[j] * c;
    if (wd != 0.0f && decays[j])
        gj += wd * p[j];
    if (mom != 0.0f) {
        float bj = mom * buf[j] + gj;
        buf[j] = bj;
        gj = nesterov != 0.0f ? gj + mom * bj : bj;
    }
    p[j] -= lr * gj;
}

__kernel void sgd_update(__global float *p, __global const float *g, __global float *buf,
                         __global const uchar *decays, __global const float *coef,
                         const int count, const float8 h)
{
    const float lr = h.s0, mom = h.s1, nesterov = h.s2, wd = h.s3;
    const int i = get_global_id(0), first = 16 * i;
    const float c = coef[0];
    if (first + 16 <= count) {
        float16 pi = vload16(i, p), gi = vload16(i, g) * c;
        if (wd != 0.0f)
            gi = select(gi, gi + wd * pi, decays16(i, decays));
        if (mom != 0.0f) {
            float16 bi = mom * vload16(i, buf) + gi;
            vstore16(bi, i, buf);
            gi = nesterov != 0.0f ? gi + mom * bi : bi;
        }
        vstore16(pi - lr * gi, i, p);
    } else {
        for (int j = first; j < count; j++)
            sgd_1(j, p, g, buf, decays, c, h);
    }
}

__kernel void sgd_update_gpu(__global float *p, __global const float *g, __global float *buf,
                             __global const uchar *decays, __global const float *coef,
                             const int count, const float8 h)
{
    const int j = get_global_id(0);
    if (j < count)
        sgd_1(j, p, g, buf, decays, coef[0], h);
}

/* RMSprop as PyTorch computes it (centered=False); h: lr, alpha (rho),
 * eps, momentum, weight decay. Without momentum buf is left as it is. */
static void rmsprop_1(const int j, __global float *p, __global const float *g,
                      __global float *sq, __global float *buf, __global const uchar *decays,
                      const float c, const float8 h)
{
    const float lr = h.s0, alpha = h.s1, eps = h.s2, mom = h.s3, wd = h.s4;
    float gj = g[j] * c;
    if (wd != 0.0f && decays[j])
        gj += wd * p[j];
    float sj = alpha * sq[j] + (1.0f - alpha) * gj * gj;
    sq[j] = sj;
    float avg = sqrt(sj) + eps;
    if (mom != 0.0f) {
        float bj = mom * buf[j] + gj / avg;
        buf[j] = bj;
        p[j] -= lr * bj;
    } else {
        p[j] -= lr * gj / avg;
    }
}

__kernel void rmsprop_update(__global float *p, __global const float *g, __global float *sq,
                             __global float *buf, __global const uchar *decays,
                             __global const float *coef, const int count, const float8 h)
{
    const float lr = h.s0, alpha = h.s1, eps = h.s2, mom = h.s3, wd = h.s4;
    const int i = get_global_id(0), first = 16 * i;
    const float c = coef[0];
    if (first + 16 <= count) {
        float16 pi = vload16(i, p), gi = vload16(i, g) * c;
        if (wd != 0.0f)
            gi = select(gi, gi + wd * pi, decays16(i, decays));
        float16 si = alpha * vload16(i, sq) + (1.0f - alpha) * gi * gi;
        vstore16(si, i, sq);
        float16 avg = sqrt(si) + eps;
        if (mom != 0.0f) {
            float16 bi = mom * vload16(i, buf) + gi / avg;
            vstore16(bi, i, buf);
            vstore16(pi - lr * bi, i, p);
        } else {
            vstore16(pi - lr * gi / avg, i, p);
        }
    } else {
        for (int j = first; j < count; j++)
            rmsprop_1(j, p, g, sq, buf, decays, c, h);
    }
}

__kernel void rmsprop_update_gpu(__global float *p, __global const float *g,
                                 __global float *sq, __global float *buf,
                                 __global const uchar *decays, __global const float *coef,
                                 const int count, const float8 h)
{
    const int j = get_global_id(0);
    if (j < count)
        rmsprop_1(j, p, g, sq, buf, decays, coef[0], h);
}

/* Clipping, first half: lane i of get_global_size(0) (a fixed count the
 * host chooses, not the device) sums the squares of g[i], g[i + lanes],
 * ... in that order, with fma so that every device rounds alike. */
__kernel void optim_clip_sum(__global const float *g, const int count,
                             __global float *partial)
{
    const int i = get_global_id(0), lanes = get_global_size(0);
    float s = 0.0f;
    for (int j = i; j < count; j += lanes)
        s = fma(g[j], g[j], s);
    partial[i] = s;
}

/* Second half, one work-item: the lanes' sums in lane order, and
 * torch.nn.utils.clip_grad_norm_'s coefficient min(max_norm / (norm +
 * 1e-6), 1) into coef[0]. A NaN norm gives a NaN coefficient, as PyTorch's
 * clamp does. */
__kernel void optim_clip_coef(__global const float *partial, const int lanes,
                              const float max_norm, __global float *coef)
{
    float total = 0.0f;
    for (int k = 0; k < lanes; k++)
        total += partial[k];
    float c = max_norm / (sqrt(total) + 1e-6f);
    coef[0] = c > 1.0f ? 1.0f : c;
}
