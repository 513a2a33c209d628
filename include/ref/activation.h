/* ref/activation.h: plain C reference of ReLU, in double. Tests only.
 * x, y, dy, dx are flat arrays of n values. */
#ifndef REF_ACTIVATION_H
#define REF_ACTIVATION_H

void ref_relu_forward(const double *x, double *y, long n);
/* dx = dy where y > 0, else 0 (y is the forward output). */
void ref_relu_backward(const double *y, const double *dy, double *dx, long n);

#endif
