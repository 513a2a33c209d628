/* cifar.c: CIFAR-10's binary batches as a data set (see cifar.h). */
#include "data/cifar.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/records.h"

#define PIXELS (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)
#define RECORD (1 + PIXELS)

static const char *const file_names[6] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin",
};

static int present(const char *dir)
{
    char path[4200];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, file_names[i]);
        if (access(path, F_OK) == 0)
            return 1;
    }
    return 0;
}

/* Validates dir/name's size and appends it to split as a part. */
static cnn_status add_file(const char *dir, const char *name, dataset_split *split,
                           cnn_error *err)
{
    dataset_part *p = &split->part[split->nparts];
    snprintf(p->images.name, sizeof p->images.name, "%s/%s", dir, name);
    const char *path = p->images.name;
    struct stat st;
    if (stat(path, &st))
        return errno == ENOENT
                   ? cnn_fail_file(err, path, "missing; a CIFAR-10 folder holds "
                                   "data_batch_1.bin ... data_batch_5.bin and test_batch.bin")
                   : cnn_fail_file(err, path, "cannot open: %s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cnn_fail_file(err, path, "is a folder, not a CIFAR-10 batch file");
    if (!S_ISREG(st.st_mode))
        return cnn_fail_file(err, path, "is not a regular file");
    if (access(path, R_OK))
        return cnn_fail_file(err, path, "cannot open: %s", strerror(errno));
    if (st.st_size == 0)
        return cnn_fail_file(err, path, "is empty");
    if (st.st_size % RECORD)
        return cnn_fail_file(err, path, "is %lld bytes, not a whole number of %d-byte "
                             "CIFAR-10 records (%lld records and %lld bytes)",
                             (long long)st.st_size, RECORD, (long long)st.st_size / RECORD,
                             (long long)(st.st_size % RECORD));
    memcpy(p->images.path, p->images.name, sizeof p->images.path);
    p->images.offset = 1;
    p->images.stride = RECORD;
    p->labels = p->images;
    p->labels.offset = 0;
    p->count = (uint64_t)st.st_size / RECORD;
    split->count += p->count;
    split->nparts++;
    return CNN_OK;
}

static cnn_status open_dir(const char *dir, dataset *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    out->format = dataset_format_cifar.name;
    out->shape = (dataset_shape){CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE};
    out->classes = CIFAR_CLASSES;
    snprintf(out->classes_from, sizeof out->classes_from, "%s has %d classes",
             dataset_format_cifar.name, CIFAR_CLASSES);
    out->train.shape = out->test.shape = out->shape;
    cnn_status s = CNN_OK;
    for (int i = 0; i < 5 && s == CNN_OK; i++)
        s = add_file(dir, file_names[i], &out->train, err);
    if (s == CNN_OK)
        s = add_file(dir, file_names[5], &out->test, err);
    if (s == CNN_OK)
        s = records_check_labels(&out->train, CIFAR_CLASSES, out->classes_from, NULL, err);
    if (s == CNN_OK)
        s = records_check_labels(&out->test, CIFAR_CLASSES, out->classes_from, NULL, err);
    return s;
}

const dataset_format dataset_format_cifar = {
    .name = "CIFAR-10",
    .files = "CIFAR-10's binary batches data_batch_1.bin ... data_batch_5.bin and "
             "test_batch.bin",
    .present = present,
    .open = open_dir,
};
