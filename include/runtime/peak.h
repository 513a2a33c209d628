/* peak: the device's measured limits, the roof of `cnn-cl bench`'s
 * roofline: its FP32 multiply-add rate and its memory bandwidth, from
 * kernels/peak.cl (written so that PoCL vectorises them). Each figure is
 * the best of a few launches long enough that the launch cost vanishes. */
#ifndef PEAK_H
#define PEAK_H

#include "runtime/clrt.h"

typedef struct {
    double gflops; /* FP32, a multiply-add counted as two */
    double gbps;   /* bytes read plus bytes written, 1e9 a second */
} peak_figures;

typedef struct {
    cl_kernel fma, scale;
} peak_kernels;

/* Builds the two kernels (from peak.cl alone). */
cnn_status peak_open(const clrt *rt, peak_kernels *k, cnn_error *err);
void peak_close(peak_kernels *k);

/* Enqueues `items` work-items of peak_fma: out (items * 128 floats) gets
 * chain k, lane l of work-item g, started at (g * 128 + k * 16 + l) / 1024
 * and taken through x = fma(x, m, c) `iters` times, at out[g * 128 + k * 16
 * + l]. */
cnn_status peak_fma(const clrt *rt, const peak_kernels *k, cl_mem out, size_t items,
                    int iters, float m, float c, cnn_error *err);
/* Enqueues y = s * x over n floats (n a multiple of 16), in as many
 * work-items as peak_fma's launches have at most. */
cnn_status peak_scale(const clrt *rt, const peak_kernels *k, cl_mem x, cl_mem y, size_t n,
                      float s, cnn_error *err);

/* Measures rt's device. Takes about a second, and device memory for two
 * buffers of up to 256 MB. */
cnn_status peak_measure(const clrt *rt, peak_figures *out, cnn_error *err);

#endif
