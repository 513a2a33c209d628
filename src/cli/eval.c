/* eval.c: `cnn-cl eval` — test loss and accuracy of a checkpoint, per class,
 * and the confusion matrix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

static void report(const char *model, const char *data, cnn_cl_model *m,
                   const cnn_cl_data *d, int tta, double loss, double accuracy,
                   const long *confusion)
{
    long epochs = cnn_cl_model_epochs(m);
    int k = cnn_cl_model_classes(m);
    if (epochs < 0)
        printf("model: %s (%s, imported from ONNX)\n", model, cnn_cl_model_spec(m));
    else
        printf("model: %s (%s, %ld epoch%s)\n", model, cnn_cl_model_spec(m), epochs,
               epochs == 1 ? "" : "s");
    printf("data: %s (%s): %lld test images\n", data, cnn_cl_data_format(d),
           cnn_cl_data_count(d, CNN_CL_TEST_SPLIT));
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

static int run(const char *model, int device, const char *data, int tta)
{
    cnn_error err = {0};
    cnn_cl_error e;
    cnn_cl_device *dev = NULL;
    cnn_cl_data *d = NULL;
    cnn_cl_model *m = NULL;
    long *confusion = NULL;
    double loss, accuracy;
    cnn_status st = cli_device_open(device, NULL, &dev, &err);
    if (st == CNN_OK)
        st = cli_api(cnn_cl_data_open(data, &d, &e), &e, &err);
    if (st == CNN_OK)
        st = cli_api(cnn_cl_model_load(dev, model, &m, &e), &e, &err);
    if (st == CNN_OK) {
        if (*cnn_cl_model_note(m))
            fprintf(stderr, "note: %s\n", cnn_cl_model_note(m));
        size_t k = (size_t)cnn_cl_model_classes(m);
        if (!(confusion = calloc(k * k, sizeof *confusion)))
            st = cnn_fail(&err, CNN_ERR_RUNTIME, "out of host memory");
    }
    if (st == CNN_OK)
        st = cli_api(cnn_cl_evaluate(m, d, tta ? CNN_CL_TTA_FLIP : 0, &loss, &accuracy,
                                     confusion, &e), &e, &err);
    if (st == CNN_OK)
        report(model, data, m, d, tta, loss, accuracy, confusion);
    free(confusion);
    cnn_cl_model_free(m);
    cnn_cl_data_close(d);
    cnn_cl_device_close(dev);
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
