/* ref/augment.h: the plain reference of every augment.h transform, written
 * as their definitions read (torchvision's RandomHorizontalFlip,
 * RandomCrop(size, padding=P) building the padded image first, and
 * DeVries and Taylor's Cutout testing every pixel against the square);
 * only tests call it. */
#ifndef REF_AUGMENT_H
#define REF_AUGMENT_H

/* out (c, h, w) is in (c, h, w) mirrored left to right. */
void ref_augment_flip(const float *in, float *out, int c, int h, int w);

/* out (c, h, w) is the window at (dy, dx) of in (c, h, w) zero-padded by
 * pad pixels on every side. */
void ref_augment_crop(const float *in, float *out, int c, int h, int w, int pad,
                      int dy, int dx);

/* out (c, h, w) is in (c, h, w) with 0 in every channel where a pixel lies
 * in the size x size square of rows [cy - size / 2, cy - size / 2 + size)
 * and columns [cx - size / 2, cx - size / 2 + size), which may run past the
 * image's edges. */
void ref_augment_cutout(const float *in, float *out, int c, int h, int w, int size,
                        int cy, int cx);

#endif
