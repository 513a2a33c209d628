/* pgm: reading one grayscale image to classify, as a Netpbm PGM.
 *
 * Both forms: P2 (ASCII numbers) and P5 (binary; one byte per sample, or two
 * big-endian bytes when maxval > 255). Comments ('#' to the end of the line)
 * may stand anywhere whitespace may in the header, and between P2's
 * numbers. Only the first image of a file is read; anything after it is
 * ignored, as Netpbm allows several images in one file.
 *
 * Pixels are scaled to [0, 1] by maxval and NOT inverted: MNIST digits are
 * white (1) on black (0), so a dark digit on white paper must be inverted
 * before it is given here. A fault is CNN_ERR_INPUT with one line naming the
 * file and the fault. */
#ifndef PGM_H
#define PGM_H

#include "cnn_error.h"

/* Reads path, which must be exactly want_w wide and want_h high, into
 * pixels[want_h * want_w] (row-major, top row first). */
cnn_status pgm_read(const char *path, int want_h, int want_w, float *pixels,
                    cnn_error *err);

#endif
