/* predict.c: `cnn-cl predict` — a checkpoint's predictions for the first
 * test images, or for a user's own PGM or PPM image. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "nn/loss.h"

static const char usage[] =
    "usage: cnn-cl predict --model FILE [--device N] [--data DIR] [--first N]\n"
    "                      [--image FILE.pgm|FILE.ppm] [--probabilities]\n"
    "\n"
    "Prints the predicted class and its probability for the first N test\n"
    "images of DIR (default 5; $CNN_CL_DATA, else datasets/mnist), or for an\n"
    "image of the model's input size (28x28 for MNIST, 32x32 for CIFAR-10):\n"
    "a grey PGM (P2 or P5) for a one-channel model, a colour PPM (P3 or P6)\n"
    "for a three-channel one, drawn as the data set is (MNIST: white on\n"
    "black). Inputs are normalised as the checkpoint was trained (train\n"
    "--normalize). --model FILE.onnx imports an ONNX model (see README).\n"
    "\n"
    "  --probabilities  also print every class's probability, in class order,\n"
    "                   each as it reads back as the same float (%.9g)\n";

/* Test images read and classified at a time. */
#define PREDICT_BATCH 256

/* --probabilities: the line under a prediction. */
static void print_probabilities(const float *p, int k)
{
    fputs("  probabilities:", stdout);
    for (int c = 0; c < k; c++)
        printf(" %.9g", (double)p[c]);
    putchar('\n');
}

static cnn_status predict_test(cnn_cl_model *m, const char *data, long first, int all,
                               cnn_error *err)
{
    cnn_cl_error e;
    cnn_cl_data *d;
    cnn_status st = cli_api(cnn_cl_data_open(data, &d, &e), &e, err);
    if (st == CNN_OK && (st = cli_api(cnn_cl_model_check(m, d, &e), &e, err)))
        cnn_cl_data_close(d);
    if (st)
        return st;
    int c, h, w, k = cnn_cl_model_classes(m);
    cnn_cl_model_input(m, &c, &h, &w);
    size_t pixels = (size_t)c * (size_t)h * (size_t)w;
    long long n = cnn_cl_data_count(d, CNN_CL_TEST_SPLIT);
    n = first < n ? first : n;
    unsigned char *images = malloc(PREDICT_BATCH * pixels);
    int *labels = malloc(PREDICT_BATCH * sizeof *labels);
    float *probs = malloc((size_t)PREDICT_BATCH * (size_t)k * sizeof *probs);
    if (!images || !labels || !probs)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    for (long long at = 0; st == CNN_OK && at < n; at += PREDICT_BATCH) {
        int count = n - at < PREDICT_BATCH ? (int)(n - at) : PREDICT_BATCH;
        if ((st = cli_api(cnn_cl_data_read(d, CNN_CL_TEST_SPLIT, at, count, images, labels,
                                           &e), &e, err)) ||
            (st = cli_api(cnn_cl_predict_bytes(m, images, count, probs, &e), &e, err)))
            break;
        for (int i = 0; i < count; i++) {
            const float *p = probs + (size_t)i * (size_t)k;
            int best = loss_argmax(p, k);
            printf("Image %lld: Predicted = %d, Actual = %d (probability %.4f)\n",
                   at + i + 1, best, labels[i], (double)p[best]);
            if (all)
                print_probabilities(p, k);
        }
    }
    free(images);
    free(labels);
    free(probs);
    cnn_cl_data_close(d);
    return st;
}

static cnn_status predict_image(cnn_cl_model *m, const char *path, int all, cnn_error *err)
{
    cnn_cl_error e;
    int c, h, w, k = cnn_cl_model_classes(m);
    cnn_cl_model_input(m, &c, &h, &w);
    float *pixels = malloc((size_t)c * (size_t)h * (size_t)w * sizeof *pixels);
    float *probs = malloc((size_t)k * sizeof *probs);
    cnn_status st = pixels && probs ? CNN_OK
                                    : cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK && !(st = cli_api(cnn_cl_image_read(path, c, h, w, pixels, &e), &e,
                                       err)) &&
        !(st = cli_api(cnn_cl_predict_floats(m, pixels, 1, probs, &e), &e, err))) {
        int best = loss_argmax(probs, k);
        printf("%s: Predicted = %d (probability %.4f)\n", path, best, (double)probs[best]);
        if (all)
            print_probabilities(probs, k);
    }
    free(pixels);
    free(probs);
    return st;
}

int cli_predict(int argc, char **argv)
{
    cnn_error err = {0};
    int device;
    if (cli_default_device(&device, &err))
        return cli_report(&err);
    const char *data = cli_default_data(), *model = NULL, *image = NULL;
    long first = 0;
    int all = 0;
    cli_args a;
    cli_args_init(&a, "predict", argc, argv);
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
        } else if (cli_args_is(&a, "--first")) {
            st = cli_args_int(&a, 1, 0x7fffffffL, &first, &err);
        } else if (cli_args_is(&a, "--image")) {
            st = cli_args_value(&a, &image, &err);
        } else if (cli_args_is(&a, "--probabilities")) {
            all = 1;
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (!model) {
        cnn_fail(&err, CNN_ERR_INPUT, "predict needs --model FILE; see `cnn-cl predict --help`");
        return cli_report(&err);
    }
    if (!image && !first)
        first = 5;
    cnn_cl_error e;
    cnn_cl_device *dev;
    cnn_cl_model *m = NULL;
    cnn_status st = cli_device_open(device, NULL, &dev, &err);
    if (st == CNN_OK)
        st = cli_api(cnn_cl_model_load(dev, model, &m, &e), &e, &err);
    if (st == CNN_OK) {
        if (*cnn_cl_model_note(m))
            fprintf(stderr, "note: %s\n", cnn_cl_model_note(m));
        if (image)
            st = predict_image(m, image, all, &err);
        if (st == CNN_OK && first)
            st = predict_test(m, data, first, all, &err);
    }
    cnn_cl_model_free(m);
    cnn_cl_device_close(dev);
    return st ? cli_report(&err) : 0;
}
