/* ref/conv.h: plain C reference of the 2-D convolution (stride 1, 'valid'),
 * in double. Tests only.
 * x is (N, C, H, W), w is (OC, C, K, K), b is (OC),
 * y and dz are (N, OC, H-K+1, W-K+1). */
#ifndef REF_CONV_H
#define REF_CONV_H

/* y = conv(x, w) + b, then max(y, 0) when relu is set. */
void ref_conv_forward(const double *x, const double *w, const double *b,
                      double *y, int n, int c, int h, int wd, int oc, int k,
                      int relu);

/* From dz, the gradient w.r.t. the pre-activation output: dx (skipped when
 * NULL), dw and db, all overwritten. */
void ref_conv_backward(const double *x, const double *w, const double *dz,
                       double *dx, double *dw, double *db, int n, int c,
                       int h, int wd, int oc, int k);

#endif
