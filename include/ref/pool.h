/* ref/pool.h: plain C reference of 2x2 stride-2 max-pooling, in double.
 * Tests only. x and dx are (n, c, h, w), y and dy are (n, c, h/2, w/2); an
 * odd last row or column is dropped. Ties go to the first maximum in
 * row-major window order. */
#ifndef REF_POOL_H
#define REF_POOL_H

void ref_maxpool_forward(const double *x, double *y, int n, int c, int h,
                         int w);
/* dx = dy at each window's winner, 0 everywhere else. */
void ref_maxpool_backward(const double *x, const double *dy, double *dx,
                          int n, int c, int h, int w);

#endif
