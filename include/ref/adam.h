/* ref/adam.h: plain C reference of one Adam step as Keras computes it, in
 * double. Tests only. p, g, m, v are (count); t is the 1-based step:
 *   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
 *   p = p - lr_t m / (sqrt(v) + eps) */
#ifndef REF_ADAM_H
#define REF_ADAM_H

void ref_adam_step(double *p, const double *g, double *m, double *v,
                   long count, long t, double lr, double b1, double b2,
                   double eps);

#endif
