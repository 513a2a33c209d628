/* loss.c: reference softmax cross-entropy (see ref/loss.h). */
#include "ref/loss.h"

#include <math.h>

/* Subtracting the row's maximum keeps exp() finite for any logits. */
void ref_softmax(const double *logits, double *probs, int n, int k)
{
    for (long r = 0; r < n; r++) {
        const double *z = logits + r * k;
        double *p = probs + r * k, m = z[0], s = 0;
        for (int j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        for (int j = 0; j < k; j++)
            s += p[j] = exp(z[j] - m);
        for (int j = 0; j < k; j++)
            p[j] /= s;
    }
}

void ref_softmax_xent(const double *logits, const int32_t *labels, int n,
                      int k, double smoothing, double *dlogits, double *loss_sum,
                      double *correct)
{
    *loss_sum = 0;
    *correct = 0;
    ref_softmax(logits, dlogits, n, k);
    for (long r = 0; r < n; r++) {
        const double *z = logits + r * k;
        double *d = dlogits + r * k, m = z[0], s = 0;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > m) {
                m = z[j];
                arg = j;
            }
        for (int j = 0; j < k; j++)
            s += exp(z[j] - m);
        /* -sum_j q_j log softmax(z)_j, with log softmax(z)_j =
         * z_j - logsumexp(z) and q the smoothed one-hot target */
        double lse = m + log(s);
        for (int j = 0; j < k; j++) {
            double q = (j == labels[r] ? 1 - smoothing : 0) + smoothing / k;
            *loss_sum += q * (lse - z[j]);
            d[j] = (d[j] - q) / n;
        }
        *correct += arg == labels[r];
    }
}
