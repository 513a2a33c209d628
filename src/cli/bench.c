/* bench.c: `cnn-cl bench` — times the training step on a device: the whole
 * step by the wall clock, and each kernel by its profiling events. Numbers
 * for docs/ come from here, not from tests. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "arch.h"
#include "cli.h"
#include "network.h"
#include "rng.h"

static const char usage[] =
    "usage: cnn-cl bench [--device N] [--batch N] [--steps N] [--arch SPEC]\n"
    "                    [--input CxHxW] [--classes N] [--gemm auto|clblast|kernel]\n"
    "                    [--retune]\n"
    "\n"
    "Times training steps (forward, backward, Adam) of the network on random\n"
    "data: the whole step by the wall clock, waiting once per step, then each\n"
    "kernel's device time from profiling events. Defaults: the reference\n"
    "model, input 1x28x28 (3x32x32 for CIFAR-10), 10 classes, batch 32, 50\n"
    "steps, kernel variants as cached, else chosen by timing ($CNN_CL_GEMM or\n"
    "--gemm forces the dense layers'). --retune times every variant afresh and\n"
    "rewrites the cache.\n";

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Floating-point operations of one training step per sample: forward, and
 * backward to the weights and (except for the first layer that has them) to
 * the input. Only the kinds that count (convolutions, GEMMs) say. */
static double train_flop(const arch *a)
{
    double flop = 0;
    int first = 1;
    for (int i = 0; i < a->count; i++) {
        const arch_layer *l = &a->layers[i];
        if (!l->kind->flops)
            continue;
        double fwd = l->kind->flops(l);
        flop += fwd * (first ? 2 : 3);
        first = 0;
    }
    return flop;
}

static cnn_status time_steps(network *net, int batch, int steps, double *ms,
                             cnn_error *err)
{
    double t0 = now_ms();
    for (int s = 0; s < steps; s++) {
        cnn_status st = network_train_step(net, batch, err);
        if (st)
            return st;
        CLRT_CALL(err, clFinish, (net->rt->queue));
    }
    *ms = (now_ms() - t0) / steps;
    return CNN_OK;
}

static int run(int device, int batch, int steps, const char *spec, tuner *tune,
               arch_shape input, int classes)
{
    cnn_error err = {0};
    arch a;
    if (arch_parse(spec, input, classes, &a, &err))
        return cli_report(&err);
    size_t pixels = (size_t)arch_size(input);
    clrt rt;
    if (clrt_open(&rt, device, &err))
        return cli_report(&err);
    network net;
    float *x = malloc((size_t)batch * pixels * sizeof *x);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    if (!x || !labels) {
        cnn_fail(&err, CNN_ERR_RUNTIME, "out of host memory");
        goto fail_alloc;
    }
    for (size_t i = 0; i < (size_t)batch * pixels; i++)
        x[i] = rng_uniform_float(1, i);
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)(rng_bits(2, (uint64_t)i) % (uint64_t)classes);

    if (network_create(&net, &rt, &a, batch, tune, adam_defaults(), &err))
        goto fail_alloc;
    double ms, kernel_ms;
    if (network_init(&net, 1, &err) || network_upload(&net, x, labels, batch, &err) ||
        time_steps(&net, batch, 3, &ms, &err) ||      /* warm-up */
        time_steps(&net, batch, steps, &ms, &err))
        goto fail;
    double flop = train_flop(&a) * batch;
    char variants[512];
    tuner_summary(tune, variants, sizeof variants);
    printf("device %d: %s (%s)\n", device, rt.dev.name, rt.dev.platform_name);
    printf("arch %s, input %dx%dx%d, %d classes, batch %d, %d steps, variants: %s\n",
           spec, input.c, input.h, input.w, classes, batch, steps, variants);
    printf("training step: %.2f ms (%.0f images/s, %.1f GFLOPS, %.1f s per "
           "60000-image epoch)\n", ms, batch / ms * 1e3, flop / ms * 1e-6,
           60000.0 / batch * ms * 1e-3);
    if (clrt_profile_start(&rt, &err) || time_steps(&net, batch, steps, &ms, &err))
        goto fail;
    printf("kernels (device time from profiling events, %d profiled steps):\n", steps);
    if (clrt_profile_report(&rt, stdout, steps, &kernel_ms, &err))
        goto fail;
    printf("  %-32s %9.3f ms/step (cnn-cl's kernels; CLBlast's own GEMM kernels are "
           "not counted)\n", "total", kernel_ms / steps);
    network_release(&net);
    clrt_close(&rt);
    free(x);
    free(labels);
    return 0;
fail:
    network_release(&net);
fail_alloc:
    clrt_close(&rt);
    free(x);
    free(labels);
    return cli_report(&err);
}

int cli_bench(int argc, char **argv)
{
    cnn_error err = {0};
    int device;
    tuner tune;
    tuner_init(&tune);
    const char *gemm = getenv("CNN_CL_GEMM"), *gemm_source = "CNN_CL_GEMM";
    if (clrt_default_device(&device, &err))
        return cli_report(&err);
    long batch = 32, steps = 50, classes = 10;
    arch_shape input = {1, 28, 28};
    const char *spec = ARCH_DEFAULT;
    cli_args a;
    cli_args_init(&a, "bench", argc, argv);
    while (cli_args_next(&a)) {
        const char *text;
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_option_device(&a, &device, &st, &err)) {
            /* taken */
        } else if (cli_args_is(&a, "--batch")) {
            st = cli_args_int(&a, 1, 65536, &batch, &err);
        } else if (cli_args_is(&a, "--steps")) {
            st = cli_args_int(&a, 1, 100000, &steps, &err);
        } else if (cli_args_is(&a, "--arch")) {
            st = cli_args_value(&a, &spec, &err);
        } else if (cli_args_is(&a, "--input")) {
            if (!(st = cli_args_value(&a, &text, &err)))
                st = cli_parse_shape("--input", text, &input, &err);
        } else if (cli_args_is(&a, "--classes")) {
            st = cli_args_int(&a, 1, 65536, &classes, &err);
        } else if (cli_args_is(&a, "--gemm")) {
            st = cli_args_value(&a, &gemm, &err);
            gemm_source = "--gemm";
        } else if (cli_args_is(&a, "--retune")) {
            tune.retune = 1;
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (cli_force_gemm(&tune, gemm_source, gemm, &err))
        return cli_report(&err);
    return run(device, (int)batch, (int)steps, spec, &tune, input, (int)classes);
}
