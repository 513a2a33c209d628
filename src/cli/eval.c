/* eval.c: `cnn-cl eval` — test loss and accuracy of a checkpoint, per class,
 * and the confusion matrix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/checkpoint.h"
#include "cli.h"
#include "data/dataset.h"
#include "train/trainer.h"
#include "train/tta.h"

static const char usage[] =
    "usage: cnn-cl eval --model FILE [--device N] [--data DIR] [--tta flip]\n"
    "\n"
    "Evaluates a checkpoint, or an ONNX model (FILE.onnx, imported), on the\n"
    "test set of DIR (default $CNN_CL_DATA, else datasets/mnist; IDX or\n"
    "CIFAR-10): loss, accuracy, accuracy per class and the confusion matrix\n"
    "(rows: true class, columns: predicted). Inputs are normalised as the\n"
    "checkpoint was trained (train --normalize), an ONNX model's by its graph.\n"
    "\n"
    "  --tta flip     classify each image by the mean of its softmax\n"
    "                 probabilities and its mirror's; the loss is the mean of\n"
    "                 -ln(that mean's probability of the true class)\n";

/* Evaluation has no backward pass, so it takes larger batches. */
#define EVAL_BATCH 256

static int run(const char *model, int device, const char *data, int tta)
{
    cnn_error err = {0};
    clrt_device dev;
    dataset ds;
    if (clrt_device_get(device, &dev, &err) || dataset_open(data, &ds, &err))
        return cli_report(&err);
    replicas r;
    checkpoint_meta meta;
    tuner tune;
    tuner_init(&tune);
    tune.quick = tune.forward_only = 1;
    tune.progress = stderr;
    if (cli_force_gemm(&tune, NULL, &err) ||
        replicas_open(&r, NULL, &device, 1, cli_kernels(), &err))
        return cli_report(&err);
    if (checkpoint_open_replicas(model, &r, EVAL_BATCH, &tune, &meta, &err)) {
        replicas_close(&r);
        return cli_report(&err);
    }
    if (*meta.note)
        fprintf(stderr, "note: %s\n", meta.note);
    int k = r.net[0].arch.classes;
    long *confusion = calloc((size_t)k * (size_t)k, sizeof *confusion);
    double loss, accuracy;
    arch_shape in = r.net[0].arch.input;
    cnn_status st = confusion ? dataset_check_model(&ds, data, (dataset_shape){in.c, in.h, in.w},
                                                    k, &err)
                              : cnn_fail(&err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK)
        st = tta ? tta_evaluate(&r.net[0], &ds.test, &meta.norm, &loss, &accuracy, confusion,
                                &err)
                 : trainer_evaluate(&r, &ds.test, &meta.norm, &loss, &accuracy, confusion,
                                    &err);
    if (st == CNN_OK) {
        printf("model: %s (%s, %ld epoch%s)\n", model, meta.arch, meta.epoch,
               meta.epoch == 1 ? "" : "s");
        printf("data: %s (%s): %llu test images\n", data, ds.format,
               (unsigned long long)ds.test.count);
        printf("test loss: %.4f - test accuracy: %.4f%s\n\n", loss, accuracy,
               tta ? " (test-time flip: the mean of each image's and its mirror's "
                     "probabilities)" : "");
        printf("class  accuracy  images\n");
        for (int c = 0; c < k; c++) {
            long row = 0;
            for (int p = 0; p < k; p++)
                row += confusion[c * k + p];
            printf("%5d  %8.4f  %6ld\n", c, row ? (double)confusion[c * k + c] / row : 0, row);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
        for (int p = 0; p < k; p++)
            printf("%6d", p);
        printf("\n");
        for (int c = 0; c < k; c++) {
            printf("%6d", c);
            for (int p = 0; p < k; p++)
                printf("%6ld", confusion[c * k + p]);
            printf("\n");
        }
    }
    free(confusion);
    replicas_close(&r);
    return st ? cli_report(&err) : 0;
}

int cli_eval(int argc, char **argv)
{
    cnn_error err = {0};
    int device;
    if (cli_default_device(&device, &err))
        return cli_report(&err);
    const char *data = cli_default_data(), *model = NULL, *tta = NULL;
    cli_args a;
    cli_args_init(&a, "eval", argc, argv);
    while (cli_args_next(&a)) {
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_args_is(&a, "--model")) {
            st = cli_args_value(&a, &model, &err);
        } else if (cli_args_is(&a, "--tta")) {
            if (!(st = cli_args_value(&a, &tta, &err)) && strcmp(tta, "flip"))
                st = cnn_fail(&err, CNN_ERR_INPUT, "--tta: '%s' is not a test-time "
                              "augmentation; it takes flip", tta);
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
    return run(model, device, data, tta != NULL);
}
