/* train.c: `cnn-cl train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clrt.h"
#include "idx.h"

static const char usage[] =
    "usage: cnn-cl train [--device N] [--data DIR] [--limit N]\n"
    "\n"
    "  --device N   OpenCL device index from `cnn-cl devices`\n"
    "               (default $CNN_CL_DEVICE, else 0)\n"
    "  --data DIR   folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "               t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or\n"
    "               .gz (default $CNN_CL_DATA, else datasets/mnist)\n"
    "  --limit N    train on the first N training samples only\n";

int cli_train(int argc, char **argv)
{
    cnn_error err = {0};
    int device;
    if (clrt_default_device(&device, &err))
        return cli_report(&err);
    const char *data = getenv("CNN_CL_DATA");
    if (!data || !*data)
        data = "datasets/mnist";
    long limit = 0;

    cli_args a;
    cli_args_init(&a, "train", argc, argv);
    while (cli_args_next(&a)) {
        long v;
        if (cli_args_is(&a, "--help") || cli_args_is(&a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_args_is(&a, "--device")) {
            if (cli_args_int(&a, 0, 1 << 20, &v, &err))
                return cli_report(&err);
            device = (int)v;
        } else if (cli_args_is(&a, "--data")) {
            if (cli_args_value(&a, &data, &err))
                return cli_report(&err);
        } else if (cli_args_is(&a, "--limit")) {
            if (cli_args_int(&a, 1, 0x7fffffffL, &limit, &err))
                return cli_report(&err);
        } else {
            cli_args_unknown(&a, &err);
            return cli_report(&err);
        }
    }

    /* Cheap checks first: the device index, then the data, then the slow
     * part (compiling the kernels). */
    clrt_device dev;
    if (clrt_device_get(device, &dev, &err))
        return cli_report(&err);
    idx_split train, test;
    if (idx_dataset_open(data, 10, &train, &test, &err))
        return cli_report(&err);
    clrt rt;
    if (clrt_open(&rt, device, &err))
        return cli_report(&err);
    printf("device %d: %s (%s)\n", device, rt.dev.name, rt.dev.platform_name);
    printf("data: %s: %u training and %u test images of %u x %u\n", data,
           train.images.count, test.images.count, train.images.rows,
           train.images.cols);
    clrt_close(&rt);
    fprintf(stderr, "cnn-cl: training is not implemented yet\n");
    return 1;
}
