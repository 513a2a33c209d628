/* ref/pool.h: plain C reference of max-pooling over p x p windows at stride
 * s ('valid'), in double. Tests only. x and dx are (n, c, h, w), y and dy
 * are (n, c, (h - p) / s + 1, (w - p) / s + 1). Ties go to the first
 * maximum in row-major window order. */
#ifndef REF_POOL_H
#define REF_POOL_H

void ref_maxpool_forward(const double *x, double *y, int n, int c, int h,
                         int w, int p, int s);
/* dx = the sum of dy over the windows an input wins, 0 for the others. */
void ref_maxpool_backward(const double *x, const double *dy, double *dx,
                          int n, int c, int h, int w, int p, int s);

#endif
