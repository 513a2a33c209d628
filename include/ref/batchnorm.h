/* ref/batchnorm.h: plain C reference of batch normalisation, in double
 * (the semantics of batchnorm.h, with its BATCHNORM_EPSILON and
 * BATCHNORM_MOMENTUM). Tests only.
 * x, y, dy, dx are (n, c, hw), hw = 1 for a flat input; gamma, beta,
 * running_mean, running_var, dgamma, dbeta are (c). */
#ifndef REF_BATCHNORM_H
#define REF_BATCHNORM_H

/* y = gamma * (x - mean) / sqrt(var + eps) + beta per channel: with the
 * batch's mean and biased variance over its n*hw values when training (and
 * then running_mean, running_var moved towards the mean and the unbiased
 * variance), else with running_mean and running_var. */
void ref_batchnorm_forward(const double *x, const double *gamma,
                           const double *beta, double *running_mean,
                           double *running_var, double *y, int n, int c,
                           int hw, int training);

/* Gradients of the training forward, its batch statistics recomputed from
 * x: dx (skipped when NULL), dgamma and dbeta, all overwritten. */
void ref_batchnorm_backward(const double *x, const double *gamma,
                            const double *dy, double *dx, double *dgamma,
                            double *dbeta, int n, int c, int hw);

#endif
