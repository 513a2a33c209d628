/* peak.c: reference of the peak kernels (see ref/peak.h). */
#include "ref/peak.h"

#include <math.h>

void ref_peak_fma(float *out, size_t items, int iters, float m, float c)
{
    for (size_t i = 0; i < items * 128; i++) {
        float x = (float)i / 1024.0f;
        for (int t = 0; t < iters; t++)
            x = fmaf(x, m, c);
        out[i] = x;
    }
}

void ref_peak_scale(const float *x, float *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = s * x[i];
}
