/* pnm: reading one image to classify, as a Netpbm PGM (grey) or PPM
 * (colour).
 *
 * Four forms: P2 and P3 (ASCII numbers), P5 and P6 (binary; one byte per
 * sample, or two big-endian bytes when maxval > 255). Comments ('#' to the
 * end of the line) may stand anywhere whitespace may in the header, and
 * between the ASCII forms' numbers. Only the first image of a file is read;
 * anything after it is ignored, as Netpbm allows several images in one
 * file.
 *
 * Samples are scaled to [0, 1] by maxval and NOT inverted: MNIST digits are
 * white (1) on black (0), so a dark digit on white paper must be inverted
 * before it is given here. A fault is CNN_ERR_INPUT with one line naming the
 * file and the fault. */
#ifndef PNM_H
#define PNM_H

#include "util/cnn_error.h"

/* Reads path, which must hold want_c channels (1: a PGM, 3: a PPM) and be
 * exactly want_w wide and want_h high, into pixels[want_c * want_h * want_w],
 * planar (c, h, w): PPM's interleaved RGB is split into three planes, each
 * row-major, top row first. */
cnn_status pnm_read(const char *path, int want_c, int want_h, int want_w,
                    float *pixels, cnn_error *err);

#endif
