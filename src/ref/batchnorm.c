/* batchnorm.c: reference batch normalisation (see ref/batchnorm.h), written
 * as the defining sums. */
#include "ref/batchnorm.h"

#include <math.h>

#include "nn/batchnorm.h"

/* Offset of value (sample i, position p) of channel ch. */
#define AT(i, ch, p) (((size_t)(i) * c + (ch)) * hw + (p))

/* The batch mean and biased variance of channel ch. */
static void batch_stats(const double *x, int n, int c, int hw, int ch,
                        double *mean, double *var)
{
    double m = (double)n * hw, s = 0, q = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            s += x[AT(i, ch, p)];
    *mean = s / m;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++)
            q += (x[AT(i, ch, p)] - *mean) * (x[AT(i, ch, p)] - *mean);
    *var = q / m;
}

void ref_batchnorm_forward(const double *x, const double *gamma,
                           const double *beta, double *running_mean,
                           double *running_var, double *y, int n, int c,
                           int hw, int training)
{
    double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double mean = running_mean[ch], var = running_var[ch];
        if (training) {
            batch_stats(x, n, c, hw, ch, &mean, &var);
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            running_mean[ch] = BATCHNORM_MOMENTUM * running_mean[ch] +
                               (1 - BATCHNORM_MOMENTUM) * mean;
            running_var[ch] = BATCHNORM_MOMENTUM * running_var[ch] +
                              (1 - BATCHNORM_MOMENTUM) * unbiased;
        }
        double sd = sqrt(var + BATCHNORM_EPSILON);
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++)
                y[AT(i, ch, p)] =
                    gamma[ch] * (x[AT(i, ch, p)] - mean) / sd + beta[ch];
    }
}

void ref_batchnorm_backward(const double *x, const double *gamma,
                            const double *dy, double *dx, double *dgamma,
                            double *dbeta, int n, int c, int hw)
{
    double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double mean, var;
        batch_stats(x, n, c, hw, ch, &mean, &var);
        double invstd = 1 / sqrt(var + BATCHNORM_EPSILON), sdy = 0, sdyx = 0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                sdy += dy[AT(i, ch, p)];
                sdyx += dy[AT(i, ch, p)] * (x[AT(i, ch, p)] - mean) * invstd;
            }
        dgamma[ch] = sdyx;
        dbeta[ch] = sdy;
        if (!dx)
            continue;
        /* The batch mean and variance depend on every x of the channel,
         * hence the two correction terms. */
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                double xhat = (x[AT(i, ch, p)] - mean) * invstd;
                dx[AT(i, ch, p)] = gamma[ch] * invstd / m *
                                   (m * dy[AT(i, ch, p)] - sdy - xhat * sdyx);
            }
    }
}
