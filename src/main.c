/* main.c: command dispatch only. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: cnn-cl <command> [options]\n"
    "\n"
    "Trains a convolutional network on MNIST-style IDX data or CIFAR-10's\n"
    "binary batches, on any OpenCL device.\n"
    "\n"
    "commands:\n"
    "  train     train the network (cnn-cl train --help)\n"
    "  eval      test loss, accuracy and confusion matrix of a checkpoint\n"
    "  predict   classify test images or a PGM or PPM image with a checkpoint\n"
    "  export    write a checkpoint as an ONNX model\n"
    "  devices   list the OpenCL devices and their --device index\n"
    "  bench     time the training step on a device\n"
    "  plot      draw a metrics log as an SVG (cnn-cl plot --help)\n"
    "\n"
    "  --help     this text\n"
    "  --version  the version\n"
    "\n"
    "exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input\n";

int main(int argc, char **argv)
{
    /* Past a file-size limit (ulimit -f), a write fails with EFBIG and is
     * reported like a full disk, instead of the signal killing a save. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("cnn-cl %s\n", CNN_CL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "devices"))
        return cli_devices(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval"))
        return cli_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "predict"))
        return cli_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "export"))
        return cli_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench"))
        return cli_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot"))
        return cli_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "train"))
        return cli_train(argc - 2, argv + 2);
    fprintf(stderr, "cnn-cl: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
