/* conv.c: reference 2-D convolution (see ref/conv.h), written as the
 * defining sums. */
#include "ref/conv.h"

#include <string.h>

/* Offsets into an (N, C, H, W) activation and an (OC, C, K, K) weight. */
#define AT(i, ch, yy, xx) ((((size_t)(i) * c + (ch)) * h + (yy)) * wd + (xx))
#define WT(o, ch, ky, kx) ((((size_t)(o) * c + (ch)) * k + (ky)) * k + (kx))

/* Whether (yy, xx) is inside the input rather than its zero padding. */
#define INSIDE(yy, xx) ((yy) >= 0 && (yy) < h && (xx) >= 0 && (xx) < wd)

void ref_conv_forward(const double *x, const double *w, const double *b,
                      double *y, int n, int c, int h, int wd, int oc, int k,
                      int stride, int pad_top, int pad_left, int oh, int ow,
                      int relu)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < oc; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = b[o];
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride + ky - pad_top;
                                int ix = ox * stride + kx - pad_left;
                                if (INSIDE(iy, ix))
                                    s += x[AT(i, ch, iy, ix)] *
                                         w[WT(o, ch, ky, kx)];
                            }
                    if (relu && s < 0)
                        s = 0;
                    y[(((size_t)i * oc + o) * oh + oy) * ow + ox] = s;
                }
}

void ref_conv_backward(const double *x, const double *w, const double *dz,
                       double *dx, double *dw, double *db, int n, int c,
                       int h, int wd, int oc, int k, int stride, int pad_top,
                       int pad_left, int oh, int ow)
{
    if (dx)
        memset(dx, 0, (size_t)n * c * h * wd * sizeof *dx);
    memset(dw, 0, (size_t)oc * c * k * k * sizeof *dw);
    memset(db, 0, (size_t)oc * sizeof *db);
    /* Each output element's gradient flows back along the same products the
     * forward summed. */
    for (int i = 0; i < n; i++)
        for (int o = 0; o < oc; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double g = dz[(((size_t)i * oc + o) * oh + oy) * ow + ox];
                    db[o] += g;
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride + ky - pad_top;
                                int ix = ox * stride + kx - pad_left;
                                if (!INSIDE(iy, ix))
                                    continue;
                                size_t xi = AT(i, ch, iy, ix);
                                size_t wi = WT(o, ch, ky, kx);
                                dw[wi] += g * x[xi];
                                if (dx)
                                    dx[xi] += g * w[wi];
                            }
                }
}
