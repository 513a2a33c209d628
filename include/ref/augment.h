/* ref/augment.h: the plain reference of every augment.h transform, written
 * as their definitions read (torchvision's RandomHorizontalFlip, and
 * RandomCrop(size, padding=P) building the padded image first); only
 * tests call it. */
#ifndef REF_AUGMENT_H
#define REF_AUGMENT_H

/* out (c, h, w) is in (c, h, w) mirrored left to right. */
void ref_augment_flip(const float *in, float *out, int c, int h, int w);

/* out (c, h, w) is the window at (dy, dx) of in (c, h, w) zero-padded by
 * pad pixels on every side. */
void ref_augment_crop(const float *in, float *out, int c, int h, int w, int pad,
                      int dy, int dx);

#endif
