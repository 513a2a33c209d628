/* ref/augment.c: the augment transforms as defined (see ref/augment.h). */
#include "ref/augment.h"

#include <stdlib.h>

void ref_augment_flip(const float *in, float *out, int c, int h, int w)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)ch * h + y) * w + x] = in[((size_t)ch * h + y) * w + (w - 1 - x)];
}

void ref_augment_crop(const float *in, float *out, int c, int h, int w, int pad,
                      int dy, int dx)
{
    int ph = h + 2 * pad, pw = w + 2 * pad;
    float *padded = calloc((size_t)c * ph * pw, sizeof *padded);
    if (!padded)
        abort(); /* tests only */
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                padded[((size_t)ch * ph + y + pad) * pw + x + pad] =
                    in[((size_t)ch * h + y) * w + x];
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)ch * h + y) * w + x] =
                    padded[((size_t)ch * ph + y + dy) * pw + x + dx];
    free(padded);
}

void ref_augment_cutout(const float *in, float *out, int c, int h, int w, int size,
                        int cy, int cx)
{
    int top = cy - size / 2, left = cx - size / 2;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int inside = y >= top && y < top + size && x >= left && x < left + size;
                size_t i = ((size_t)ch * h + y) * w + x;
                out[i] = inside ? 0.0f : in[i];
            }
}
