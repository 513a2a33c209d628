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

#include "util/cnn_error.h"
#include "data/dataset.h"

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

/* The split of one images file and one labels file, whose counts must
 * agree: images are 1 x rows x cols. */
cnn_status idx_split_make(const idx_file *images, const idx_file *labels,
                          dataset_split *out, cnn_error *err);

/* IDX's row of the format table (dataset.h). It is present when dir holds
 * any of dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte, raw or .gz, and
 * opens all four. The training and test images must be the same size. IDX
 * labels carry no class count: it is the largest training label + 1, and a
 * test label at or above it is an error. */
extern const dataset_format dataset_format_idx;

#endif
