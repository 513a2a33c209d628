/* dataset.c: telling the formats apart, and checking a model against a data
 * set (see dataset.h). */
#include "data/dataset.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/cifar.h"
#include "data/idx.h"
#include "data/records.h"

/* Tried in this order: a folder holding files of two formats is read as
 * the first. */
static const dataset_format *const formats[] = {
    &dataset_format_idx, &dataset_format_cifar,
};
static const int format_count = sizeof formats / sizeof formats[0];

cnn_status dataset_open(const char *dir, dataset *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "%s: no such data folder; fetch MNIST with "
                        "`tools/fetch-datasets.sh mnist` or pass --data DIR", dir);
    for (int i = 0; i < format_count; i++)
        if (formats[i]->present(dir))
            return formats[i]->open(dir, out, err);
    char holds[2048];
    size_t used = 0;
    for (int i = 0; i < format_count && used < sizeof holds; i++)
        used += (size_t)snprintf(holds + used, sizeof holds - used, "%s%s",
                                 i ? ", or " : "", formats[i]->files);
    return cnn_fail(err, CNN_ERR_INPUT, "%s: holds no data set; a data folder holds %s",
                    dir, holds);
}

cnn_status dataset_check_model(const dataset *ds, const char *dir,
                               dataset_shape input, int classes,
                               cnn_error *err)
{
    dataset_shape d = ds->shape;
    if (d.c != input.c || d.h != input.h || d.w != input.w)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: images are %dx%dx%d but the model takes "
                        "%dx%dx%d", dir, d.c, d.h, d.w, input.c, input.h, input.w);
    /* Below the data set's own class count, every label is known to fit. */
    if (ds->classes <= classes)
        return CNN_OK;
    char why[64];
    snprintf(why, sizeof why, "the model has %d classes", classes);
    return records_check_labels(&ds->test, classes, why, NULL, err);
}
