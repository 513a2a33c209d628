/* dataset.c: telling the formats apart, and checking a model against a data
 * set (see dataset.h). */
#include "dataset.h"

#include <string.h>
#include <sys/stat.h>

#include "cifar.h"
#include "idx.h"
#include "records.h"

cnn_status dataset_open(const char *dir, dataset *out, cnn_error *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "%s: no such data folder; fetch MNIST with "
                        "`tools/fetch-datasets.sh mnist` or pass --data DIR", dir);
    if (idx_dataset_present(dir))
        return idx_dataset_open(dir, out, err);
    if (cifar_dataset_present(dir))
        return cifar_dataset_open(dir, out, err);
    return cnn_fail(err, CNN_ERR_INPUT,
                    "%s: holds no data set; a data folder holds the IDX files "
                    "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may be .gz), "
                    "or CIFAR-10's binary batches data_batch_1.bin ... data_batch_5.bin "
                    "and test_batch.bin", dir);
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
    return records_check_labels(&ds->test, classes, "the model's", NULL, err);
}
