/* idx: reading and validating IDX files (MNIST's format).
 *
 * An IDX file is a big-endian header — magic 2051 with count, rows, cols for
 * images; magic 2049 with count for labels — then unsigned bytes. Files may
 * be gzip-compressed: they are decompressed once into the cache folder
 * ($XDG_CACHE_HOME/cnn-cl, else ~/.cache/cnn-cl) and read from there.
 * Everything is validated before use; a fault is CNN_ERR_INPUT with one line
 * naming the file and the fault. Nothing is read into memory whole. */
#ifndef IDX_H
#define IDX_H

#include <stdint.h>
#include <sys/types.h>

#include "cnn_error.h"

enum { IDX_IMAGES = 2051, IDX_LABELS = 2049 };

typedef struct {
    char name[4096];  /* the file the user gave, for messages */
    char path[4096];  /* the raw file read: name, or its decompressed copy */
    uint32_t magic;
    uint32_t count;
    uint32_t rows, cols; /* 1 x 1 for labels */
    off_t data_offset;
} idx_file;

/* Opens and validates one file whose magic must be `magic`. */
cnn_status idx_open(const char *name, uint32_t magic, idx_file *out,
                    cnn_error *err);

/* Checks that every label is below `classes`. */
cnn_status idx_check_labels(const idx_file *labels, int classes,
                            cnn_error *err);

/* A matched pair of images and labels. */
typedef struct {
    idx_file images, labels;
} idx_split;

/* Opens dir/<prefix>-images-idx3-ubyte and dir/<prefix>-labels-idx1-ubyte
 * (each raw or .gz) and checks that their counts agree and the labels are
 * below `classes`. */
cnn_status idx_split_open(const char *dir, const char *prefix, int classes,
                          idx_split *out, cnn_error *err);

/* Opens "train" and "t10k" from dir and checks their image sizes agree. */
cnn_status idx_dataset_open(const char *dir, int classes, idx_split *train,
                            idx_split *test, cnn_error *err);

#endif
