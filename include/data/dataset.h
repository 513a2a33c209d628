/* dataset: a data folder's training and test splits, whatever its format.
 *
 * A format is one row of the format table (dataset_format below; the table
 * is in src/data/dataset.c) and its own file: the four IDX files of the
 * MNIST family, each raw or .gz (idx.h), or CIFAR-10's binary batches
 * (cifar.h). dataset_open recognises the format by the files a folder
 * holds, and the format's open validates every file, so the loader only
 * reads. A split is a list of parts, one per file (or pair of files); a
 * sample is a record of a part, its pixels and its label each at a fixed
 * stride from the last, so the loader streams every format the same way.
 * Pixels are bytes, scaled by 1/255 when loaded. A fault is CNN_ERR_INPUT
 * with one line naming the file or folder. Nothing is read into memory
 * whole. */
#ifndef DATASET_H
#define DATASET_H

#include <stdint.h>
#include <sys/types.h>

#include "util/cnn_error.h"

/* One sample's shape: channels, rows, columns; pixels are stored planar,
 * (c, h, w), as the network takes them. */
typedef struct {
    int c, h, w;
} dataset_shape;

/* Where one field (the pixels or the label) of every record of a file is. */
typedef struct {
    char name[4096];  /* the file the user gave, for messages */
    char path[4096];  /* the raw file read: name, or its decompressed copy */
    off_t offset;     /* of record 0's field */
    size_t stride;    /* bytes from one record's field to the next one's */
} dataset_field;

typedef struct {
    dataset_field images, labels;
    uint64_t count;   /* records */
} dataset_part;

/* CIFAR-10's five training batches are the most parts a split has. */
#define DATASET_MAX_PARTS 5

/* The samples of a split are the parts' records, part after part. */
typedef struct {
    dataset_shape shape;
    uint64_t count;   /* samples, all parts together */
    int nparts;
    dataset_part part[DATASET_MAX_PARTS];
} dataset_split;

typedef struct {
    const char *format;   /* its format's name ("IDX"), for messages */
    dataset_shape shape;  /* of every sample of both splits */
    int classes;          /* labels are 0 .. classes - 1 */
    /* Where classes comes from, for messages: "CIFAR-10 has 10 classes", or,
     * when the format has no count (IDX), the largest training label, its
     * file and first index: "x/train-labels-idx1-ubyte: label 9 at index
     * 11 implies 10 classes". */
    char classes_from[4200];
    dataset_split train, test;
} dataset;

/* One format: a row of the table. */
typedef struct {
    const char *name;   /* dataset.format: "IDX", "CIFAR-10" */
    const char *files;  /* what a folder of it holds, for messages */
    /* Whether dir holds any of its files: the folder is then read as it. */
    int (*present)(const char *dir);
    /* Opens and validates the data set in dir; a missing or faulty file
     * is CNN_ERR_INPUT naming it. */
    cnn_status (*open)(const char *dir, dataset *out, cnn_error *err);
} dataset_format;

/* Opens the data set in dir as the first format of the table present there
 * (IDX, then CIFAR-10); a folder holding none, or missing, is an error
 * saying what it should hold. */
cnn_status dataset_open(const char *dir, dataset *out, cnn_error *err);

/* Checks that a model taking `input`-shaped samples and `classes` classes
 * fits the test split of the data set opened from dir: the shapes must be
 * equal ("dir: images are 3x32x32 but the model takes 1x28x28") and every
 * test label below `classes`. */
cnn_status dataset_check_model(const dataset *ds, const char *dir,
                               dataset_shape input, int classes,
                               cnn_error *err);

#endif
