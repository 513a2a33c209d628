/* cifar: reading CIFAR-10's binary version as a data set.
 *
 * A folder holds data_batch_1.bin ... data_batch_5.bin (the training split,
 * in that order) and test_batch.bin. Each file is records of 3073 bytes: the
 * label (0..9), then the 32x32 image as 1024 red, 1024 green and 1024 blue
 * bytes, each plane row-major: already planar (c, h, w). Every file must
 * hold a whole, nonzero number of records with labels below 10. */
#ifndef CIFAR_H
#define CIFAR_H

#include "util/cnn_error.h"
#include "data/dataset.h"

enum { CIFAR_CLASSES = 10, CIFAR_CHANNELS = 3, CIFAR_SIDE = 32 };

/* CIFAR-10's row of the format table (dataset.h). It is present when dir
 * holds any of the six files, and opens all six; a missing one is named. */
extern const dataset_format dataset_format_cifar;

#endif
