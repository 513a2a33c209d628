/* avgpool.c: reference average pooling (see ref/avgpool.h). */
#include "ref/avgpool.h"

void ref_avgpool_forward(const double *x, double *y, int n, int c, int h,
                         int w, int p, int s)
{
    int oh = (h - p) / s + 1, ow = (w - p) / s + 1;
    for (long pl = 0; pl < (long)n * c; pl++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double sum = 0;
                for (int dh = 0; dh < p; dh++)
                    for (int dw = 0; dw < p; dw++)
                        sum += x[(pl * h + i * s + dh) * w + j * s + dw];
                y[(pl * oh + i) * ow + j] = sum / (p * p);
            }
}

void ref_avgpool_backward(const double *dy, double *dx, int n, int c, int h,
                          int w, int p, int s)
{
    int oh = (h - p) / s + 1, ow = (w - p) / s + 1;
    for (long i = 0; i < (long)n * c * h * w; i++)
        dx[i] = 0;
    for (long pl = 0; pl < (long)n * c; pl++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                for (int dh = 0; dh < p; dh++)
                    for (int dw = 0; dw < p; dw++)
                        dx[(pl * h + i * s + dh) * w + j * s + dw] +=
                            dy[(pl * oh + i) * ow + j] / (p * p);
}
