/* ref/avgpool.h: plain C reference of average pooling over p x p windows
 * at stride s ('valid'), in double. Tests only. x and dx are (n, c, h, w);
 * y and dy are (n, c, (h - p) / s + 1, (w - p) / s + 1). */
#ifndef REF_AVGPOOL_H
#define REF_AVGPOOL_H

void ref_avgpool_forward(const double *x, double *y, int n, int c, int h,
                         int w, int p, int s);
/* dx = the sum of dy / (p * p) over the windows that contain an input. */
void ref_avgpool_backward(const double *dy, double *dx, int n, int c, int h,
                          int w, int p, int s);

#endif
