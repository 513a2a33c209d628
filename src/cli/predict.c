/* predict.c: `cnn-cl predict` — a checkpoint's predictions for the first
 * test images, or for a user's own PGM or PPM image. */
#include <stdio.h>
#include <stdlib.h>

#include "train/checkpoint.h"
#include "cli.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/normalize.h"
#include "nn/loss.h"
#include "data/pnm.h"

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

#define PREDICT_BATCH 256

/* --probabilities: the line under a prediction. */
static void print_probabilities(const float *p, int k)
{
    fputs("  probabilities:", stdout);
    for (int c = 0; c < k; c++)
        printf(" %.9g", (double)p[c]);
    putchar('\n');
}

static cnn_status predict_test(network *net, const norm_stats *norm, const char *data,
                               long first, int all, cnn_error *err)
{
    dataset ds;
    arch_shape in = net->arch.input;
    cnn_status st = dataset_open(data, &ds, err);
    if (st == CNN_OK)
        st = dataset_check_model(&ds, data, (dataset_shape){in.c, in.h, in.w},
                                 net->arch.classes, err);
    if (st)
        return st;
    loader *l;
    if ((st = loader_open(&l, &ds.test, net->max_batch, (uint64_t)first, 0, 0, 2, err)))
        return st;
    if ((st = loader_set_norm(l, norm, err))) {
        loader_close(l);
        return st;
    }
    int k = net->arch.classes;
    float *probs = malloc((size_t)net->max_batch * (size_t)k * sizeof *probs);
    long shown = 0;
    if (!probs)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK)
        st = loader_start(l, 0, 0, err);
    while (st == CNN_OK) {
        loader_batch *b;
        if ((st = loader_next(l, &b, err)) || !b)
            break;
        if (!(st = network_upload(net, b->images, b->labels, b->count, err)))
            st = network_probabilities(net, b->count, probs, err);
        for (int i = 0; st == CNN_OK && i < b->count; i++) {
            const float *p = probs + (size_t)i * (size_t)k;
            int c = loss_argmax(p, k);
            printf("Image %ld: Predicted = %d, Actual = %d (probability %.4f)\n", ++shown,
                   c, b->labels[i], (double)p[c]);
            if (all)
                print_probabilities(p, k);
        }
        loader_release(l, b);
    }
    free(probs);
    loader_close(l);
    return st;
}

static cnn_status predict_image(network *net, const norm_stats *norm, const char *path,
                                int all, cnn_error *err)
{
    arch_shape in = net->arch.input;
    int k = net->arch.classes;
    float *pixels = malloc((size_t)arch_size(in) * sizeof *pixels);
    float *probs = malloc((size_t)k * sizeof *probs);
    int32_t label = 0; /* unused by the forward pass */
    cnn_status st = pixels && probs ? CNN_OK
                                    : cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK && !(st = pnm_read(path, in.c, in.h, in.w, pixels, err)))
        norm_apply(norm, pixels, (size_t)in.h * (size_t)in.w);
    if (st == CNN_OK && !(st = network_upload(net, pixels, &label, 1, err)) &&
        !(st = network_probabilities(net, 1, probs, err))) {
        int c = loss_argmax(probs, k);
        printf("%s: Predicted = %d (probability %.4f)\n", path, c, (double)probs[c]);
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
    clrt rt;
    network net;
    checkpoint_meta meta;
    tuner tune;
    tuner_init(&tune);
    tune.quick = tune.forward_only = 1;
    tune.progress = stderr;
    if (cli_force_gemm(&tune, NULL, &err) ||
        clrt_open(&rt, device, cli_kernels(), &err))
        return cli_report(&err);
    cnn_status st = checkpoint_open_network(model, &rt, PREDICT_BATCH, &tune, &net, &meta, &err);
    if (st == CNN_OK) {
        if (*meta.note)
            fprintf(stderr, "note: %s\n", meta.note);
        if (image)
            st = predict_image(&net, &meta.norm, image, all, &err);
        if (st == CNN_OK && first)
            st = predict_test(&net, &meta.norm, data, first, all, &err);
        network_release(&net);
    }
    clrt_close(&rt);
    return st ? cli_report(&err) : 0;
}
