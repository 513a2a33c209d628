/* augment: random transforms of training images (--augment LIST).
 *
 * Each transform is one row of a table (name, parser, apply). The draws
 * for one image come from rng.h's stream (seed, epoch, the sample's index
 * in the data set) alone, so a sample is transformed the same way on any
 * device or rank, and a resumed run repeats it bit for bit. The loader
 * applies them on its own thread as it converts each record to floats;
 * validation, eval and predict never augment. ref/augment.h holds the
 * plain reference that tests hold this against. */
#ifndef AUGMENT_H
#define AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "util/cnn_error.h"

#define AUGMENT_MAX 8

typedef struct {
    int kind;  /* its row of the table */
    int param; /* crop: the padding P; cutout: the side S */
} augment_step;

/* The transforms in the order given; n 0 is no augmentation. */
typedef struct {
    int n;
    augment_step step[AUGMENT_MAX];
} augment;

/* What `--augment` accepts, for messages: "flip, crop:P, cutout:S (...)". */
extern const char augment_forms[];

/* Parses "flip,crop:2,cutout:8" (or "none": no transform) into *out; anything else
 * is CNN_ERR_INPUT naming `option` and the accepted forms. */
cnn_status augment_parse(const char *text, const char *option, augment *out,
                         cnn_error *err);

/* The canonical text of a (the one the checkpoint records): "none" or the
 * transforms joined by commas. */
void augment_text(const augment *a, char *buf, size_t size);

/* The key of sample `index`'s draws in epoch `epoch`. */
uint64_t augment_key(uint64_t seed, uint64_t epoch, uint64_t index);

/* Transforms one image (c, h, w) in place with the draws of key;
 * scratch holds c * h * w floats. */
void augment_apply(const augment *a, uint64_t key, float *image, float *scratch,
                   int c, int h, int w);

/* The draws a step takes from key (as the reference takes them):
 * flip: whether to mirror; crop: the crop's top-left corner (dy, dx) in
 * the padded image, each in [0, 2P]; cutout: the square's centre (cy, cx),
 * cy in [0, h), cx in [0, w). */
int augment_draw_flip(uint64_t key, int step);
void augment_draw_crop(uint64_t key, int step, int pad, int *dy, int *dx);
void augment_draw_cutout(uint64_t key, int step, int h, int w, int *cy, int *cx);

#endif
