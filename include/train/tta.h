/* tta: test-time augmentation for `cnn-cl eval --tta flip`.
 *
 * Each test image is classified by the mean of the softmax probabilities
 * of the image and of its mirror (ref/augment.h's flip). The loss is the
 * mean over the images of -ln of that mean probability of the true class,
 * computed in double from the device's float probabilities, with the mean
 * floored at FLT_MIN (so an underflow reads as 87.3, not infinity); the
 * prediction is its argmax. It runs on one network, not on the workers of
 * replicas.h. */
#ifndef TTA_H
#define TTA_H

#include <stdint.h>

#include "data/dataset.h"
#include "data/normalize.h"
#include "nn/network.h"

/* The means for n images (n, C, H, W) on the host, into mean (n, classes).
 * images is mirrored in place, and is the mirror on return. */
cnn_status tta_flip_probabilities(network *net, float *images, const int32_t *labels,
                                  int n, float *probs, double *mean, cnn_error *err);

/* Streams a split through net in batches of its max_batch, its inputs
 * normalised with norm (normalize.h; channels 0: x / 255): the mean loss
 * and accuracy above, and the confusion counts (classes x classes; row:
 * true label, column: prediction) when confusion is not NULL. */
cnn_status tta_evaluate(network *net, const dataset_split *split, const norm_stats *norm,
                        double *loss, double *accuracy, long *confusion, cnn_error *err);

#endif
