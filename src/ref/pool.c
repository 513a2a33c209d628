/* pool.c: reference 2x2 max-pooling (see ref/pool.h). */
#include "ref/pool.h"

/* The flat index into x of the winner of output window (plane, oh, ow). */
static long winner(const double *x, long plane, int h, int w, int oh, int ow)
{
    long best = -1;
    for (int dh = 0; dh < 2; dh++)
        for (int dw = 0; dw < 2; dw++) {
            long i = (plane * h + 2 * oh + dh) * w + 2 * ow + dw;
            if (best < 0 || x[i] > x[best])
                best = i;
        }
    return best;
}

void ref_maxpool_forward(const double *x, double *y, int n, int c, int h,
                         int w)
{
    int oh = h / 2, ow = w / 2;
    for (long p = 0; p < (long)n * c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                y[(p * oh + i) * ow + j] = x[winner(x, p, h, w, i, j)];
}

void ref_maxpool_backward(const double *x, const double *dy, double *dx,
                          int n, int c, int h, int w)
{
    int oh = h / 2, ow = w / 2;
    for (long i = 0; i < (long)n * c * h * w; i++)
        dx[i] = 0;
    for (long p = 0; p < (long)n * c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++)
                dx[winner(x, p, h, w, i, j)] = dy[(p * oh + i) * ow + j];
}
