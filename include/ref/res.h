/* ref/res.h: plain C reference of a residual block's joins (res.h), in
 * double. Tests only. Every array is (count). */
#ifndef REF_RES_H
#define REF_RES_H

/* y = x + s, then max(y, 0) when relu. */
void ref_res_add(const double *x, const double *s, double *y, long count, int relu);

/* g = dy where y > 0 when relu, else dy. */
void ref_res_add_backward(const double *y, const double *dy, double *g, long count,
                          int relu);

/* dx += ds. */
void ref_res_accumulate(double *dx, const double *ds, long count);

#endif
