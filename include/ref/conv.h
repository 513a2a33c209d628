/* ref/conv.h: plain C reference of the 2-D convolution, in double. Tests
 * only. x is (N, C, H, W), w is (OC, C, K, K), b is (OC), y and dz are
 * (N, OC, OH, OW); output pixel (oy, ox) sums over the input rows
 * iy = oy*stride + ky - pad_top and columns ix = ox*stride + kx - pad_left,
 * taking x as zero outside the input (as conv.h's layer does). */
#ifndef REF_CONV_H
#define REF_CONV_H

/* y = conv(x, w) + b, then max(y, 0) when relu is set. */
void ref_conv_forward(const double *x, const double *w, const double *b,
                      double *y, int n, int c, int h, int wd, int oc, int k,
                      int stride, int pad_top, int pad_left, int oh, int ow,
                      int relu);

/* From dz, the gradient w.r.t. the pre-activation output: dx (skipped when
 * NULL), dw and db, all overwritten. */
void ref_conv_backward(const double *x, const double *w, const double *dz,
                       double *dx, double *dw, double *db, int n, int c,
                       int h, int wd, int oc, int k, int stride, int pad_top,
                       int pad_left, int oh, int ow);

#endif
