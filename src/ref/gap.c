/* gap.c: reference global average pooling (see ref/gap.h). */
#include "ref/gap.h"

void ref_gap_forward(const double *x, double *y, int n, int c, int h, int w)
{
    long hw = (long)h * w;
    for (long pl = 0; pl < (long)n * c; pl++) {
        double sum = 0;
        for (long i = 0; i < hw; i++)
            sum += x[pl * hw + i];
        y[pl] = sum / hw;
    }
}

void ref_gap_backward(const double *dy, double *dx, int n, int c, int h,
                      int w)
{
    long hw = (long)h * w;
    for (long pl = 0; pl < (long)n * c; pl++)
        for (long i = 0; i < hw; i++)
            dx[pl * hw + i] = dy[pl] / hw;
}
