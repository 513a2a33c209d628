/* ref/gap.h: plain C reference of global average pooling, in double. Tests
 * only. x and dx are (n, c, h, w), y and dy are (n, c). */
#ifndef REF_GAP_H
#define REF_GAP_H

/* y = the mean of each h x w plane. */
void ref_gap_forward(const double *x, double *y, int n, int c, int h, int w);
/* dx = dy / (h * w) over each plane. */
void ref_gap_backward(const double *dy, double *dx, int n, int c, int h,
                      int w);

#endif
