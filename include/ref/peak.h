/* ref/peak.h: plain C reference of kernels/peak.cl. Tests only. */
#ifndef REF_PEAK_H
#define REF_PEAK_H

#include <stddef.h>

/* out (items * 128): what peak_fma computes (runtime/peak.h), with C's
 * fused multiply-add, so the results are exact, not close. */
void ref_peak_fma(float *out, size_t items, int iters, float m, float c);
/* y = s * x over n floats. */
void ref_peak_scale(const float *x, float *y, size_t n, float s);

#endif
