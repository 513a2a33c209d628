/* records: reading the fixed-stride records of a data set's files, shared by
 * the formats (idx.c, cifar.c), the model check and the loader.
 *
 * A field of every record of a file sits at a fixed offset and stride
 * (dataset_field in dataset.h); these helpers read such fields and know
 * nothing of any format. */
#ifndef RECORDS_H
#define RECORDS_H

#include <stddef.h>
#include <sys/types.h>

#include "cnn_error.h"
#include "dataset.h"

/* Reads exactly n bytes of fd at offset off, through interrupted and short
 * reads; 0 on success, -1 when the file ends first or a read fails. */
int records_read_at(int fd, void *buf, size_t n, off_t off);

/* Checks that every label of split is below `classes`, and gives the
 * largest in *largest (may be NULL). A label at or above it is
 * CNN_ERR_INPUT naming the file, the record and `whose` classes they are
 * ("the model's", "CIFAR-10's"). */
cnn_status records_check_labels(const dataset_split *split, int classes,
                                const char *whose, int *largest,
                                cnn_error *err);

#endif
