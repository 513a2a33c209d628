/* pool.c: reference max-pooling (see ref/pool.h). */
#include "ref/pool.h"

/* The flat index into x of the winner of output window (plane, oh, ow). */
static long winner(const double *x, long plane, int h, int w, int p, int s,
                   int oh, int ow)
{
    long best = -1;
    for (int dh = 0; dh < p; dh++)
        for (int dw = 0; dw < p; dw++) {
            long i = (plane * h + oh * s + dh) * w + ow * s + dw;
            if (best < 0 || x[i] > x[best])
                best = i;
        }
    return best;
}

void ref_maxpool_forward(const double *x, double *y, int n, int c, int h,
                         int w, int p, int s)
{
    int oh = (h - p) / s + 1, ow = (w - p) / s + 1;
    for (long pl = 0; pl < (long)n * c; pl++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                y[(pl * oh + i) * ow + j] = x[winner(x, pl, h, w, p, s, i, j)];
}

void ref_maxpool_backward(const double *x, const double *dy, double *dx,
                          int n, int c, int h, int w, int p, int s)
{
    int oh = (h - p) / s + 1, ow = (w - p) / s + 1;
    for (long i = 0; i < (long)n * c * h * w; i++)
        dx[i] = 0;
    for (long pl = 0; pl < (long)n * c; pl++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                dx[winner(x, pl, h, w, p, s, i, j)] += dy[(pl * oh + i) * ow + j];
}
