/* activation.c: reference ReLU and the finite-difference gradient (see
 * ref/activation.h). */
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

/* sum_j dy[j] f(x)[j] */
static double weighted(ref_function f, void *args, const double *x,
                       const double *dy, double *y, long m)
{
    double s = 0;
    f(args, x, y);
    for (long j = 0; j < m; j++)
        s += dy[j] * y[j];
    return s;
}

void ref_numeric_grad(ref_function f, void *args, double *x, long n,
                      const double *dy, double *y, long m, double h,
                      double *dx)
{
    for (long i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double up = weighted(f, args, x, dy, y, m);
        x[i] = keep - h;
        double down = weighted(f, args, x, dy, y, m);
        x[i] = keep;
        dx[i] = (up - down) / (2 * h);
    }
}
