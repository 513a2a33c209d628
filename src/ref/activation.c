/* activation.c: reference ReLU (see ref/activation.h). */
#include "ref/activation.h"

void ref_relu_forward(const double *x, double *y, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

void ref_relu_backward(const double *y, const double *dy, double *dx, long n)
{
    for (long i = 0; i < n; i++)
        dx[i] = y[i] > 0 ? dy[i] : 0;
}
