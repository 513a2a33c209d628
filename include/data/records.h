/* records: reading the fixed-stride records of a data set's files, shared by
 * the formats (idx.c, cifar.c), the model check, the loader and the
 * library's reader (cnn_cl_data_read).
 *
 * A field of every record of a file sits at a fixed offset and stride
 * (dataset_field in dataset.h); these helpers read such fields and know
 * nothing of any format. */
#ifndef RECORDS_H
#define RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/cnn_error.h"
#include "data/dataset.h"

/* Reads exactly n bytes of fd at offset off, through interrupted and short
 * reads; 0 on success, -1 when the file ends first or a read fails. */
int records_read_at(int fd, void *buf, size_t n, off_t off);

/* A label of a split and where it first is: its part and its record there
 * (the index in that part's file). */
typedef struct {
    int label;
    int part;
    uint64_t index;
} records_label;

/* Checks that every label of split is below `classes`, and gives the
 * largest and where it first is in *largest (may be NULL). A label at or
 * above `classes` is CNN_ERR_INPUT naming the file, the label and its
 * index, and saying `why` the classes are those: "f: label 10 at index 3
 * is outside 0..9 (why)", why being "the model has 10 classes" or
 * "CIFAR-10 has 10 classes". */
cnn_status records_check_labels(const dataset_split *split, int classes,
                                const char *why, records_label *largest,
                                cnn_error *err);

/* A split's files, held open to read its samples by index. */
typedef struct {
    dataset_split split;
    int images[DATASET_MAX_PARTS], labels[DATASET_MAX_PARTS]; /* -1: closed */
} records_files;

/* Opens every file of split's parts; one that cannot be opened is
 * CNN_ERR_INPUT naming it, and leaves nothing open. */
cnn_status records_open(records_files *f, const dataset_split *split, cnn_error *err);

/* Reads sample r of the split (its index counting part after part): its
 * c * h * w pixel bytes, planar, and its label. A read that fails or ends
 * early is CNN_ERR_INPUT naming the file and the record. */
cnn_status records_sample(const records_files *f, uint64_t r, unsigned char *pixels,
                          unsigned char *label, cnn_error *err);

/* Closes what records_open opened; safe after a failed open. */
void records_close(records_files *f);

#endif
