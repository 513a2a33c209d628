/* ref/dense.h: plain C reference of the fully connected layer, in double.
 * Tests only. Shapes as in dense.h: x is (n, in), w is (out, in), b is
 * (out), y and dy are (n, out). */
#ifndef REF_DENSE_H
#define REF_DENSE_H

/* y = x wᵀ + b, then ReLU when relu != 0. */
void ref_dense_forward(const double *x, const double *w, const double *b,
                       double *y, int n, int in, int out, int relu);

/* dz = dy masked by y > 0 when relu != 0 (y is the forward output), else
 * dy; dx = dz w (n, in; skipped when dx is NULL), dw = dzᵀ x (out, in),
 * db = column sums of dz (out). Overwrites dx, dw, db. */
void ref_dense_backward(const double *x, const double *w, const double *y,
                        const double *dy, double *dx, double *dw, double *db,
                        int n, int in, int out, int relu);

#endif
