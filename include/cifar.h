/* cifar: reading CIFAR-10's binary version as a data set.
 *
 * A folder holds data_batch_1.bin ... data_batch_5.bin (the training split,
 * in that order) and test_batch.bin. Each file is records of 3073 bytes: the
 * label (0..9), then the 32x32 image as 1024 red, 1024 green and 1024 blue
 * bytes, each plane row-major: already planar (c, h, w). Every file must
 * hold a whole, nonzero number of records with labels below 10. */
#ifndef CIFAR_H
#define CIFAR_H

#include "cnn_error.h"
#include "dataset.h"

enum { CIFAR_CLASSES = 10, CIFAR_CHANNELS = 3, CIFAR_SIDE = 32 };

/* Opens the six files of dir. A missing one is named. */
cnn_status cifar_dataset_open(const char *dir, dataset *out, cnn_error *err);

/* Whether dir holds any of the six files: the folder is then read as
 * CIFAR-10. */
int cifar_dataset_present(const char *dir);

#endif
