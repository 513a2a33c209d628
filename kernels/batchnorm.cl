/* batchnorm.cl: batch normalisation, forward (training and inference) and
 * backward (see batchnorm.h). x, y, dy, dx are (N, C, HW); a flat input has
 * HW = 1. Per-channel vectors are (C); stats is (2, C): mean, then invstd.
 *
 * The training kernels run one work-group of L work-items (a power of two,
 * the host's explicit local size) per channel: work-item l visits the
 * channel's values l, l + L, l + 2L, ... in (n, hw) order, and the L partial
 * sums meet in a fixed tree in local memory, so every result is
 * bit-reproducible. */

/* Where the i-th of the N*HW values of channel ch sits. */
size_t batchnorm_index(int i, int ch, int c, int hw)
{
    const int s = i / hw;
    return ((size_t)s * c + ch) * hw + (i - s * hw);
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

/* Training forward: the batch mean and biased variance of channel ch (two
 * passes, so a large mean does not swamp the variance), y, the moved running
 * statistics, and stats for the backward pass.
 * Global size (C * L), local size (L). */
__kernel void batchnorm_forward_train(__global const float *x,
                                      __global const float *gamma,
                                      __global const float *beta,
                                      __global float *running_mean,
                                      __global float *running_var,
                                      __global float *y, __global float *stats,
                                      const int n, const int c, const int hw,
                                      const float eps, const float momentum,
                                      __local float *part)
{
    const int ch = get_group_id(0), l = get_local_id(0),
              L = get_local_size(0), m = n * hw;
    float s = 0.0f;
    for (int i = l; i < m; i += L)
        s += x[batchnorm_index(i, ch, c, hw)];
    const float mean = batchnorm_group_sum(s, part) / (float)m;
    float q = 0.0f;
    for (int i = l; i < m; i += L) {
        const float d = x[batchnorm_index(i, ch, c, hw)] - mean;
        q += d * d;
    }
    const float var = batchnorm_group_sum(q, part) / (float)m;
    const float invstd = rsqrt(var + eps);
    const float scale = gamma[ch] * invstd, shift = beta[ch];
    for (int i = l; i < m; i += L) {
        const size_t at = batchnorm_index(i, ch, c, hw);
        y[at] = (x[at] - mean) * scale + shift;
    }
    if (l == 0) {
        const float unbiased = m > 1 ? var * ((float)m / (float)(m - 1)) : var;
        running_mean[ch] = momentum * running_mean[ch] + (1.0f - momentum) * mean;
        running_var[ch] = momentum * running_var[ch] + (1.0f - momentum) * unbiased;
        stats[ch] = mean;
        stats[c + ch] = invstd;
    }
}

/* Inference forward with the running statistics, one work-item per value.
 * Global size (N * C * HW). */
__kernel void batchnorm_forward_infer(__global const float *x,
                                      __global const float *gamma,
                                      __global const float *beta,
                                      __global const float *running_mean,
                                      __global const float *running_var,
                                      __global float *y, const int total,
                                      const int c, const int hw,
                                      const float eps)
{
    const int i = get_global_id(0);
    if (i >= total)
        return;
    const int ch = i / hw % c;
    y[i] = (x[i] - running_mean[ch]) * (gamma[ch] * rsqrt(running_var[ch] + eps))
           + beta[ch];
}

/* Backward through the training forward whose statistics are in stats:
 * dgamma[ch] = sum(dy * xhat), dbeta[ch] = sum(dy), and, when has_dx,
 * dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)).
 * Global size (C * L), local size (L). */
__kernel void batchnorm_backward(__global const float *x,
                                 __global const float *gamma,
                                 __global const float *dy,
                                 __global const float *stats,
                                 __global float *dx, __global float *dgamma,
                                 __global float *dbeta, const int n,
                                 const int c, const int hw, const int has_dx,
                                 __local float *part)
{
    const int ch = get_group_id(0), l = get_local_id(0),
              L = get_local_size(0), m = n * hw;
    const float mean = stats[ch], invstd = stats[c + ch];
    float sdy = 0.0f, sdyx = 0.0f;
    for (int i = l; i < m; i += L) {
        const size_t at = batchnorm_index(i, ch, c, hw);
        sdy += dy[at];
        sdyx += dy[at] * ((x[at] - mean) * invstd);
    }
    sdy = batchnorm_group_sum(sdy, part);
    sdyx = batchnorm_group_sum(sdyx, part);
    if (l == 0) {
        dgamma[ch] = sdyx;
        dbeta[ch] = sdy;
    }
    if (!has_dx)
        return;
    const float scale = gamma[ch] * invstd, mdy = sdy / (float)m,
                mdyx = sdyx / (float)m;
    for (int i = l; i < m; i += L) {
        const size_t at = batchnorm_index(i, ch, c, hw);
        dx[at] = scale * (dy[at] - mdy - (x[at] - mean) * invstd * mdyx);
    }
}
