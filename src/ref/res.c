/* res.c: reference of a residual block's joins (see ref/res.h). */
#include "ref/res.h"

void ref_res_add(const double *x, const double *s, double *y, long count, int relu)
{
    for (long i = 0; i < count; i++) {
        double v = x[i] + s[i];
        y[i] = relu && v < 0 ? 0 : v;
    }
}

void ref_res_add_backward(const double *y, const double *dy, double *g, long count,
                          int relu)
{
    for (long i = 0; i < count; i++)
        g[i] = !relu || y[i] > 0 ? dy[i] : 0;
}

void ref_res_accumulate(double *dx, const double *ds, long count)
{
    for (long i = 0; i < count; i++)
        dx[i] += ds[i];
}
