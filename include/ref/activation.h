/* ref/activation.h: plain C reference of ReLU, in double, and the
 * finite-difference check that the references' backward passes are tested
 * with. Tests only. x, y, dy, dx are flat arrays of n values. */
#ifndef REF_ACTIVATION_H
#define REF_ACTIVATION_H

void ref_relu_forward(const double *x, double *y, long n);
/* dx = dy where y > 0, else 0 (y is the forward output). */
void ref_relu_backward(const double *y, const double *dy, double *dx, long n);

/* A function of n inputs x giving m outputs y, with its fixed arguments. */
typedef void (*ref_function)(void *args, const double *x, double *y);

/* dx = the gradient of sum_j dy[j] f(x)[j] with respect to x (n values), by
 * central differences of step h: what a backward pass given dy must return.
 * x is perturbed one value at a time and restored; y is m values of scratch. */
void ref_numeric_grad(ref_function f, void *args, double *x, long n,
                      const double *dy, double *y, long m, double h,
                      double *dx);

#endif
