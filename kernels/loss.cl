/* loss.cl: softmax with sparse categorical cross-entropy, and softmax alone
 * for prediction. logits, probs and dlogits are (N, K); labels is (N) int32.
 *
 * Forward and backward are fused in one kernel because the gradient needs
 * exactly the softmax the loss computes. Rows are stabilised by subtracting
 * their maximum, so logits of +-1e4 give finite losses and gradients. */

/* A single work-group: work-item l handles rows l, l + L, l + 2L, ... and
 * the partial sums are combined by a fixed tree in local memory, so the
 * result does not depend on timing (no atomics). With label smoothing e
 * the target is q = (1 - e) onehot(label) + e / K, as PyTorch's
 * CrossEntropyLoss(label_smoothing=e) has it (e = 0: the plain loss, to the
 * bit). Writes
 *   dlogits = (softmax(logits) - q) / M, the gradient of the MEAN loss over
 *             a batch of M, as Keras and PyTorch define it (M = N, or the
 *             whole batch these N rows are a part of);
 *   totals[0] = sum over the batch of -sum_k q_k log softmax(row)_k, that is
 *             logsumexp(row) - (1 - e) row[label] - e mean(row);
 *   totals[1] = how many rows have argmax == label (ties: lowest index),
 *             a float that is exact below 2^24;
 * or, when accumulate is nonzero, adds those two sums to totals so the host
 * can keep epoch totals on the device without reading them each batch.
 * A label outside [0, K) makes the loss NaN, so it cannot go unnoticed.
 * part_loss and part_hits hold L floats each. */
__kernel void softmax_xent(__global const float *logits,
                           __global const int *labels,
                           __global float *dlogits, __global float *totals,
                           const int N, const int M, const int K,
                           const int accumulate, const float smoothing,
                           __local float *part_loss, __local float *part_hits)
{
    int l = get_local_id(0), L = get_local_size(0);
    float loss = 0.0f, hits = 0.0f;
    for (int n = l; n < N; n += L) {
        __global const float *z = logits + (size_t)n * K;
        __global float *dz = dlogits + (size_t)n * K;
        int label = labels[n];
        float m = z[0];
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > m) {
                m = z[k];
                arg = k;
            }
        /* dz holds exp(z - m) until the sum is known. The maximum's term
         * is exactly 1; summing the others apart and taking log1p keeps the
         * loss of a confident row accurate to float precision. */
        float rest = 0.0f, below = 0.0f; /* below: the sum of m - z */
        for (int k = 0; k < K; k++) {
            float e = exp(z[k] - m);
            dz[k] = e;
            rest += k == arg ? 0.0f : e;
            below += m - z[k];
        }
        float s = 1.0f + rest, spread = smoothing / (float)K;
        for (int k = 0; k < K; k++)
            dz[k] = (dz[k] / s - ((k == label ? 1.0f - smoothing : 0.0f) + spread)) /
                    (float)M;
        if (label >= 0 && label < K) {
            /* Without smoothing, `below` (which may overflow) stays out. */
            float mean_part = smoothing > 0.0f ? spread * below : 0.0f;
            loss += (1.0f - smoothing) * (m - z[label]) + mean_part + log1p(rest);
            hits += arg == label ? 1.0f : 0.0f;
        } else {
            loss = NAN;
        }
    }
    part_loss[l] = loss;
    part_hits[l] = hits;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int reach = L / 2; reach > 0; reach /= 2) {
        if (l < reach) {
            part_loss[l] += part_loss[l + reach];
            part_hits[l] += part_hits[l + reach];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        totals[0] = (accumulate ? totals[0] : 0.0f) + part_loss[0];
        totals[1] = (accumulate ? totals[1] : 0.0f) + part_hits[0];
    }
}

/* probs = softmax(logits), one work-item per row. */
__kernel void softmax_forward(__global const float *logits,
                              __global float *probs, const int N, const int K)
{
    int n = get_global_id(0);
    if (n >= N)
        return;
    __global const float *z = logits + (size_t)n * K;
    __global float *p = probs + (size_t)n * K;
    float m = z[0];
    for (int k = 1; k < K; k++)
        m = fmax(m, z[k]);
    float s = 0.0f;
    for (int k = 0; k < K; k++) {
        float e = exp(z[k] - m);
        p[k] = e;
        s += e;
    }
    for (int k = 0; k < K; k++)
        p[k] /= s;
}
