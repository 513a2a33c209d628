/* dense.c: reference fully connected layer (see ref/dense.h). */
#include "ref/dense.h"

void ref_dense_forward(const double *x, const double *w, const double *b,
                       double *y, int n, int in, int out, int relu)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double sum = b[o];
            for (int k = 0; k < in; k++)
                sum += x[(long)i * in + k] * w[(long)o * in + k];
            y[(long)i * out + o] = relu && sum < 0 ? 0 : sum;
        }
}

void ref_dense_backward(const double *x, const double *w, const double *y,
                        const double *dy, double *dx, double *dw, double *db,
                        int n, int in, int out, int relu)
{
    /* The gradient of the pre-activation, dz. */
#define DZ(i, o) (relu && !(y[(long)(i) * out + (o)] > 0) \
                      ? 0.0 : dy[(long)(i) * out + (o)])
    for (int o = 0; o < out; o++) {
        db[o] = 0;
        for (int i = 0; i < n; i++)
            db[o] += DZ(i, o);
        for (int k = 0; k < in; k++) {
            double sum = 0;
            for (int i = 0; i < n; i++)
                sum += DZ(i, o) * x[(long)i * in + k];
            dw[(long)o * in + k] = sum;
        }
    }
    if (dx)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in; k++) {
                double sum = 0;
                for (int o = 0; o < out; o++)
                    sum += DZ(i, o) * w[(long)o * in + k];
                dx[(long)i * in + k] = sum;
            }
#undef DZ
}
