/* eval.c: `cnn-cl eval` — test loss and accuracy of a checkpoint, per class,
 * and the confusion matrix. */
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint.h"
#include "cli.h"
#include "trainer.h"

static const char usage[] =
    "usage: cnn-cl eval --model FILE [--device N] [--data DIR]\n"
    "\n"
    "Evaluates a checkpoint on the test set of DIR (default $CNN_CL_DATA, else\n"
    "datasets/mnist): loss, accuracy, accuracy per class and the confusion\n"
    "matrix (rows: true class, columns: predicted).\n";

/* Evaluation has no backward pass, so it takes larger batches. */
#define EVAL_BATCH 256

static int run(const char *model, int device, const char *data)
{
    cnn_error err = {0};
    clrt_device dev;
    idx_split train, test;
    if (clrt_device_get(device, &dev, &err) ||
        idx_dataset_open(data, 10, &train, &test, &err))
        return cli_report(&err);
    clrt rt;
    network net;
    checkpoint_meta meta;
    if (clrt_open(&rt, device, &err))
        return cli_report(&err);
    if (checkpoint_open_network(model, &rt, EVAL_BATCH, &net, &meta, &err)) {
        clrt_close(&rt);
        return cli_report(&err);
    }
    long confusion[10 * 10];
    double loss, accuracy;
    cnn_status st = trainer_evaluate(&net, &test, &loss, &accuracy, confusion, &err);
    if (st == CNN_OK) {
        printf("model: %s (%s, %ld epochs)\n", model, meta.arch, meta.epoch);
        printf("data: %s: %u test images\n", data, test.images.count);
        printf("test loss: %.4f - test accuracy: %.4f\n\n", loss, accuracy);
        printf("class  accuracy  images\n");
        for (int c = 0; c < 10; c++) {
            long row = 0;
            for (int p = 0; p < 10; p++)
                row += confusion[c * 10 + p];
            printf("%5d  %8.4f  %6ld\n", c, row ? (double)confusion[c * 10 + c] / row : 0, row);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
        for (int p = 0; p < 10; p++)
            printf("%6d", p);
        printf("\n");
        for (int c = 0; c < 10; c++) {
            printf("%6d", c);
            for (int p = 0; p < 10; p++)
                printf("%6ld", confusion[c * 10 + p]);
            printf("\n");
        }
    }
    network_release(&net);
    clrt_close(&rt);
    return st ? cli_report(&err) : 0;
}

int cli_eval(int argc, char **argv)
{
    cnn_error err = {0};
    int device;
    if (clrt_default_device(&device, &err))
        return cli_report(&err);
    const char *data = cli_default_data(), *model = NULL;
    cli_args a;
    cli_args_init(&a, "eval", argc, argv);
    while (cli_args_next(&a)) {
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_args_is(&a, "--model")) {
            st = cli_args_value(&a, &model, &err);
        } else if (cli_option_device(&a, &device, &st, &err) ||
                   cli_option_data(&a, &data, &st, &err)) {
            /* taken */
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (!model) {
        cnn_fail(&err, CNN_ERR_INPUT, "eval needs --model FILE; see `cnn-cl eval --help`");
        return cli_report(&err);
    }
    return run(model, device, data);
}
