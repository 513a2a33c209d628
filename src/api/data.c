/* data.c: data folders opened for the library's caller, and their images
 * read by index (cnn_cl.h, api/data.h). */
#include "api/data.h"

#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "data/records.h"

cnn_cl_status cnn_cl_data_open(const char *dir, cnn_cl_data **out, cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!dir || !out)
        return api_status(err, api_null(&e, "cnn_cl_data_open", dir ? "out" : "dir"), &e);
    *out = NULL;
    cnn_cl_data *d = calloc(1, sizeof *d);
    cnn_status st = d && (d->dir = strdup(dir)) ? CNN_OK
                    : cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK)
        st = dataset_open(dir, &d->ds, &e);
    if (st)
        cnn_cl_data_close(d);
    else
        *out = d;
    return api_status(err, st, &e);
}

void cnn_cl_data_close(cnn_cl_data *d)
{
    if (!d)
        return;
    free(d->dir);
    free(d);
}

const char *cnn_cl_data_format(const cnn_cl_data *d)
{
    return d->ds.format;
}

void cnn_cl_data_shape(const cnn_cl_data *d, int *channels, int *height, int *width)
{
    *channels = d->ds.shape.c;
    *height = d->ds.shape.h;
    *width = d->ds.shape.w;
}

int cnn_cl_data_classes(const cnn_cl_data *d)
{
    return d->ds.classes;
}

static const dataset_split *split_of(const cnn_cl_data *d, cnn_cl_split split)
{
    return split == CNN_CL_TRAIN_SPLIT ? &d->ds.train : &d->ds.test;
}

long long cnn_cl_data_count(const cnn_cl_data *d, cnn_cl_split split)
{
    return (long long)split_of(d, split)->count;
}

cnn_cl_status cnn_cl_data_read(const cnn_cl_data *d, cnn_cl_split split, long long first,
                               int n, unsigned char *images, int *labels, cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!images)
        return api_status(err, api_null(&e, "cnn_cl_data_read", "images"), &e);
    if (split != CNN_CL_TRAIN_SPLIT && split != CNN_CL_TEST_SPLIT)
        return api_status(err, cnn_fail(&e, CNN_ERR_INPUT, "cnn_cl_data_read: split %d is "
                                        "neither CNN_CL_TRAIN_SPLIT nor CNN_CL_TEST_SPLIT",
                                        (int)split), &e);
    const dataset_split *s = split_of(d, split);
    if (first < 0 || n < 0 || (unsigned long long)first + (unsigned long long)n > s->count)
        return api_status(err, cnn_fail(&e, CNN_ERR_INPUT, "%s: images %lld to %lld of "
                                        "the %s split are asked for, but it holds %llu",
                                        d->dir, first, first + n - 1,
                                        split == CNN_CL_TRAIN_SPLIT ? "training" : "test",
                                        (unsigned long long)s->count), &e);
    records_files f;
    cnn_status st = records_open(&f, s, &e);
    size_t pixels = (size_t)s->shape.c * (size_t)s->shape.h * (size_t)s->shape.w;
    for (int i = 0; st == CNN_OK && i < n; i++) {
        unsigned char label;
        st = records_sample(&f, (uint64_t)first + (uint64_t)i, images + (size_t)i * pixels,
                            &label, &e);
        if (labels)
            labels[i] = label;
    }
    records_close(&f);
    return api_status(err, st, &e);
}
