/* bench.c: `cnn-cl bench` — times the training step on a device: the whole
 * step by the wall clock, and each kernel by its profiling events. Numbers
 * for docs/ come from here, not from tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nn/arch.h"
#include "cli.h"
#include "util/clock.h"
#include "parallel/comm.h"
#include "nn/network.h"
#include "parallel/replicas.h"
#include "train/checkpoint.h"
#include "runtime/peak.h"
#include "util/rng.h"

static const char usage[] =
    "usage: cnn-cl bench [--device N[,N...]] [--batch N] [--steps N] [--arch SPEC]\n"
    "                    [--input CxHxW] [--classes N] [--model FILE]\n"
    "                    [--gemm auto|clblast|kernel]\n"
    "                    [--json] [--retune] [--variants LIST] [--peak]\n"
    "\n"
    "Times training steps (forward, backward, Adam) of the network on random\n"
    "data: the whole step by the wall clock, waiting once per step, then each\n"
    "kernel's device time from profiling events. Defaults: the reference\n"
    "model, input 1x28x28 (3x32x32 for CIFAR-10), 10 classes, batch 32, 50\n"
    "steps, kernel variants as cached, else chosen by timing ($CNN_CL_GEMM or\n"
    "--gemm forces the dense layers'). --model takes the arch, input and\n"
    "classes of a checkpoint or an ONNX model (FILE.onnx) instead, the options\n"
    "after it overriding them. --retune times every variant afresh and\n"
    "rewrites the cache. --variants forces some: a site or a kind, '=', a\n"
    "label, joined by ',' (conv2.forward=p8b2,conv.weights=t8c8,fc=kernel);\n"
    "the labels are those bench prints. A kind's rule holds where its sites\n"
    "have the label; a rule no site takes is an error.\n"
    "\n"
    "The profiled steps are timed by the wall clock too: the busy share is\n"
    "their kernel time over their wall time. Kernel times count cnn-cl's own\n"
    "kernels, not CLBlast's. --json prints the figures as one JSON object.\n"
    "\n"
    "The roof: the device's FP32 multiply-add rate and memory bandwidth, measured\n"
    "after the steps (about a second) with vectorised kernels of their own; each\n"
    "convolution's and GEMM's rate is given as its share of that rate. --peak\n"
    "measures and prints the roof alone.\n"
    "\n"
    "With a --device list, or under mpirun, it times data-parallel steps instead\n"
    "(--batch is the whole batch): the step, the part spent until the devices'\n"
    "gradients are summed, the wait for the exchange after that, and the last\n"
    "step's timeline per layer (rank 0 prints).\n";

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
    double t0 = clock_seconds() * 1e3;
    for (int s = 0; s < steps; s++) {
        cnn_status st = network_train_step(net, batch, err);
        if (st)
            return st;
        CLRT_CALL(err, clFinish, (net->rt->queue));
    }
    *ms = (clock_seconds() * 1e3 - t0) / steps;
    return CNN_OK;
}

/* What one bench measured. The profiled steps record an event per launch,
 * which costs time of its own, so they are timed apart from step_ms and
 * the busy share compares their kernel time with their own wall time. */
typedef struct {
    const char *spec;
    arch_shape input;
    int classes, batch, steps;
    double step_ms;          /* wall clock per step, unprofiled */
    double flop;             /* per step */
    double profiled_step_ms; /* wall clock per step, profiled */
    double kernel_ms;        /* summed kernel device time per profiled step */
    clrt_kernel_time *kernels; /* summed over all profiled steps */
    int nkernels;
    peak_figures peak;       /* the device's roof */
} bench_result;

static void print_peak_text(const peak_figures *p)
{
    printf("roof (measured): %.1f GFLOPS (FP32 multiply-add), %.1f GB/s (read + write)\n",
           p->gflops, p->gbps);
}

static void print_text(const clrt *rt, int device, const char *variants,
                       const bench_result *b)
{
    printf("device %d: %s (%s)\n", device, rt->dev.name, rt->dev.platform_name);
    printf("arch %s, input %dx%dx%d, %d classes, batch %d, %d steps, variants: %s\n",
           b->spec, b->input.c, b->input.h, b->input.w, b->classes, b->batch, b->steps,
           variants);
    printf("training step: %.2f ms (%.0f images/s, %.1f GFLOPS, %.1f s per "
           "60000-image epoch)\n", b->step_ms, b->batch / b->step_ms * 1e3,
           b->flop / b->step_ms * 1e-6, 60000.0 / b->batch * b->step_ms * 1e-3);
    print_peak_text(&b->peak);
    printf("kernels (device time from profiling events, %d profiled steps of %.2f ms):\n",
           b->steps, b->profiled_step_ms);
    for (int i = 0; i < b->nkernels; i++) {
        const clrt_kernel_time *k = &b->kernels[i];
        printf("  %-32s %5.1f calls/step %9.3f ms/call %9.3f ms/step", k->name,
               (double)k->calls / b->steps, k->ms / k->calls, k->ms / b->steps);
        if (k->flop > 0)
            printf(" %7.1f GFLOPS %5.1f%% of the roof", k->flop / k->ms * 1e-6,
                   100 * k->flop / k->ms * 1e-6 / b->peak.gflops);
        putchar('\n');
    }
    printf("  %-32s %9.3f ms/step (cnn-cl's kernels; CLBlast's own GEMM kernels are "
           "not counted)\n", "total", b->kernel_ms);
    printf("busy share: %.1f%% of the profiled steps' wall time\n",
           100 * b->kernel_ms / b->profiled_step_ms);
}

/* The same figures as one JSON object on stdout. */
static cnn_status print_json(const clrt *rt, const char *variants, const bench_result *b,
                             cnn_error *err)
{
    json_t *kernels = json_array();
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:[i,i,i], s:i, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
        "s:f, s:o}",
        "device", rt->dev.name, "platform", rt->dev.platform_name, "arch", b->spec,
        "input", b->input.c, b->input.h, b->input.w, "classes", b->classes,
        "batch", b->batch, "steps", b->steps, "variants", variants,
        "step_ms", b->step_ms, "images_per_second", b->batch / b->step_ms * 1e3,
        "gflops", b->flop / b->step_ms * 1e-6, "profiled_step_ms", b->profiled_step_ms,
        "kernel_ms_per_step", b->kernel_ms, "busy_share", b->kernel_ms / b->profiled_step_ms,
        "peak_gflops", b->peak.gflops, "peak_gbps", b->peak.gbps, "kernels", kernels);
    int failed = !kernels || !o;
    for (int i = 0; !failed && i < b->nkernels; i++) {
        const clrt_kernel_time *k = &b->kernels[i];
        json_t *e = json_pack("{s:s, s:f, s:f}", "name", k->name, "calls_per_step",
                              (double)k->calls / b->steps, "ms_per_step", k->ms / b->steps);
        /* The array owns e from here, even when appending fails. gflops only
         * for the kernels whose launches say what they compute. */
        double gflops = k->flop / k->ms * 1e-6;
        failed = json_array_append_new(kernels, e) ||
                 (k->flop > 0 &&
                  (json_object_set_new(e, "gflops", json_real(gflops)) ||
                   json_object_set_new(e, "share_of_peak",
                                       json_real(gflops / b->peak.gflops))));
    }
    if (!failed)
        failed = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) ||
                 putchar('\n') == EOF || fflush(stdout);
    json_decref(o);
    return failed ? cnn_fail(err, CNN_ERR_RUNTIME, "cannot write the JSON report")
                  : CNN_OK;
}

/* The benchmark's data: `batch` images of `pixels` random values and their
 * labels below `classes`, the same on every run and rank. Both malloc'd;
 * NULL, and CNN_ERR_RUNTIME, when memory runs out. */
static cnn_status random_batch(int batch, size_t pixels, int classes, float **x,
                               int32_t **labels, cnn_error *err)
{
    *x = malloc((size_t)batch * pixels * sizeof **x);
    *labels = malloc((size_t)batch * sizeof **labels);
    if (!*x || !*labels) {
        free(*x);
        free(*labels);
        *x = NULL;
        *labels = NULL;
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    }
    for (size_t i = 0; i < (size_t)batch * pixels; i++)
        (*x)[i] = rng_uniform_float(1, i);
    for (int i = 0; i < batch; i++)
        (*labels)[i] = (int32_t)(rng_bits(2, (uint64_t)i) % (uint64_t)classes);
    return CNN_OK;
}

/* --peak: the roof alone. */
static cnn_status print_peak(const clrt *rt, int device, const peak_figures *p, int json,
                             cnn_error *err)
{
    if (!json) {
        printf("device %d: %s (%s)\n", device, rt->dev.name, rt->dev.platform_name);
        print_peak_text(p);
        return CNN_OK;
    }
    json_t *o = json_pack("{s:s, s:s, s:f, s:f}", "device", rt->dev.name, "platform",
                          rt->dev.platform_name, "peak_gflops", p->gflops, "peak_gbps",
                          p->gbps);
    int failed = !o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) ||
                 putchar('\n') == EOF || fflush(stdout);
    json_decref(o);
    return failed ? cnn_fail(err, CNN_ERR_RUNTIME, "cannot write the JSON report") : CNN_OK;
}

static int run(int device, int batch, int steps, const char *spec, tuner *tune,
               arch_shape input, int classes, int json, int peak_only)
{
    cnn_error err = {0};
    arch a;
    if (arch_parse(spec, input, classes, &a, &err))
        return cli_report(&err);
    size_t pixels = (size_t)arch_size(input);
    clrt rt;
    if (clrt_open(&rt, device, cli_kernels(), &err))
        return cli_report(&err);
    cnn_status st;
    if (peak_only) {
        peak_figures peak;
        if (!(st = peak_measure(&rt, &peak, &err)))
            st = print_peak(&rt, device, &peak, json, &err);
        clrt_close(&rt);
        return st ? cli_report(&err) : 0;
    }
    network net;
    bench_result b = {.spec = spec, .input = input, .classes = classes, .batch = batch,
                      .steps = steps, .flop = train_flop(&a) * batch};
    float *x;
    int32_t *labels;
    st = random_batch(batch, pixels, classes, &x, &labels, &err);
    if (st)
        goto fail_alloc;

    if ((st = network_create(&net, &rt, &a, batch, tune, optim_defaults(NULL), &err)))
        goto fail_alloc;
    double warm_ms;
    if ((st = tuner_forced_taken(tune, &err)) || (st = network_init(&net, 1, &err)) ||
        (st = network_upload(&net, x, labels, batch, &err)) ||
        (st = time_steps(&net, batch, 3, &warm_ms, &err)) ||
        (st = time_steps(&net, batch, steps, &b.step_ms, &err)) ||
        (st = clrt_profile_start(&rt, &err)) ||
        (st = time_steps(&net, batch, steps, &b.profiled_step_ms, &err)) ||
        (st = clrt_profile_collect(&rt, &b.kernels, &b.nkernels, &err)) ||
        (st = peak_measure(&rt, &b.peak, &err)))
        goto done;
    for (int i = 0; i < b.nkernels; i++)
        b.kernel_ms += b.kernels[i].ms / steps;
    char variants[TUNER_SUMMARY_SIZE];
    tuner_summary(tune, variants);
    if (json)
        st = print_json(&rt, variants, &b, &err);
    else
        print_text(&rt, device, variants, &b);
done:
    free(b.kernels);
    network_release(&net);
fail_alloc:
    clrt_close(&rt);
    free(x);
    free(labels);
    return st ? cli_report(&err) : 0;
}

/* Data-parallel steps through replicas.h on random data: every rank makes
 * the same batch and takes its share, as the loader would. */
static int run_parallel(comm *c, const int *devices, int ndev, int batch, int steps,
                        const char *spec, tuner *tune, arch_shape input, int classes)
{
    cnn_error err = {0};
    arch a;
    replicas r;
    memset(&r, 0, sizeof r);
    cnn_status st = arch_parse(spec, input, classes, &a, &err);
    if (st == CNN_OK)
        st = replicas_open(&r, c, devices, ndev, cli_kernels(), &err);
    if (st == CNN_OK)
        st = replicas_create(&r, &a, batch, tune, optim_defaults(NULL), &err);
    /* Under mpirun the other ranks' sites run rank 0's labels, which beat
     * a kind's rule there, so only a lone process can tell. */
    if (st == CNN_OK && !cli_mpi_launched())
        st = tuner_forced_taken(tune, &err);
    size_t pixels = (size_t)arch_size(input);
    loader_batch b = {.total = batch};
    b.first = loader_slice(batch, r.first_worker, r.workers);
    b.count = loader_slice(batch, r.first_worker + r.ndev, r.workers) - b.first;
    float *x = NULL;
    int32_t *labels = NULL;
    if (st == CNN_OK)
        st = random_batch(batch, pixels, classes, &x, &labels, &err);
    b.images = x ? x + (size_t)b.first * pixels : NULL;
    b.labels = labels ? labels + b.first : NULL;
    for (int d = 0; d < r.ndev && st == CNN_OK; d++)
        st = network_init(&r.net[d], 1, &err);
    double t0 = 0, loss, correct;
    replicas_step step = {0};
    for (int s = 0; s < 3 + steps && st == CNN_OK; s++) {
        if (s == 3) { /* after the warm-up */
            memset(&r.timing, 0, sizeof r.timing);
            t0 = clock_seconds() * 1e3;
        }
        if (!(st = replicas_train_step(&r, &b, 0, &step, &err)))
            st = replicas_step_wait(&r, &step, &loss, &correct, &err);
    }
    for (int d = 0; d < r.ndev && st == CNN_OK; d++)
        if (clFinish(r.rt[d].queue) != CL_SUCCESS)
            st = cnn_fail(&err, CNN_ERR_RUNTIME, "clFinish failed on device %d",
                          devices[d]);
    double step_ms = (clock_seconds() * 1e3 - t0) / steps;
    if (st == CNN_OK && comm_rank(c) == 0) {
        const replicas_timing *t = &r.timing;
        char variants[TUNER_SUMMARY_SIZE];
        tuner_summary(tune, variants);
        for (int d = 0; d < r.ndev; d++)
            printf("device %d: %s (%s)\n", devices[d], r.rt[d].dev.name,
                   r.rt[d].dev.platform_name);
        printf("arch %s, input %dx%dx%d, %d classes, variants: %s\n", spec, input.c,
               input.h, input.w, classes, variants);
        char job[160];
        replicas_describe(&r, batch, job, sizeof job);
        printf("%s; %d steps\n", job, steps);
        printf("training step: %.2f ms (%.0f images/s); rank 0 per step: %.2f ms until "
               "its gradients are summed, %.2f ms waiting for the exchange after that\n",
               step_ms, batch / step_ms * 1e3, t->wait_s * 1e3 / (double)t->steps,
               t->exchange_s * 1e3 / (double)t->steps);
        printf("last step, ms from its start (layers in the order their gradients "
               "come):\n  %-12s %10s %14s %14s\n", "layer", "floats", "summed, sent",
               "exchange done");
        for (int i = r.net[0].nnodes - 1; i >= 0; i--) {
            size_t off, count;
            network_node_span(&r.net[0], i, &off, &count);
            if (count)
                printf("  %-12s %10zu %14.3f %14.3f\n", r.net[0].nodes[i].spec->name,
                       count, t->ready_ms[i], t->done_ms[i]);
        }
    }
    free(x);
    free(labels);
    replicas_close(&r);
    return st ? cli_report(&err) : 0;
}

int cli_bench(int argc, char **argv)
{
    cnn_error err = {0};
    int device, devices[REPLICAS_MAX_DEVICES], ndev = 1;
    tuner tune;
    tuner_init(&tune);
    tune.progress = stderr;
    const char *gemm = NULL;
    if (cli_default_device(&device, &err))
        return cli_report(&err);
    devices[0] = device;
    long batch = 32, steps = 50, classes = 10;
    arch_shape input = {1, 28, 28};
    const char *spec = ARCH_DEFAULT;
    checkpoint_meta meta; /* --model's */
    arch from;
    int json = 0, peak_only = 0;
    cli_args a;
    cli_args_init(&a, "bench", argc, argv);
    while (cli_args_next(&a)) {
        const char *text;
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_option_devices(&a, devices, REPLICAS_MAX_DEVICES, &ndev, &st,
                                      &err)) {
            device = devices[0];
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
        } else if (cli_args_is(&a, "--model")) {
            const char *model;
            if (!(st = cli_args_value(&a, &model, &err)) &&
                !(st = checkpoint_read_arch(model, &meta, &from, &err))) {
                spec = meta.arch;
                input = from.input;
                classes = from.classes;
            }
        } else if (cli_args_is(&a, "--gemm")) {
            st = cli_args_value(&a, &gemm, &err);
        } else if (cli_args_is(&a, "--retune")) {
            tune.retune = 1;
        } else if (cli_args_is(&a, "--variants")) {
            if (!(st = cli_args_value(&a, &text, &err)))
                st = tuner_force(&tune, text, &err);
        } else if (cli_args_is(&a, "--json")) {
            json = 1;
        } else if (cli_args_is(&a, "--peak")) {
            peak_only = 1;
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (cli_force_gemm(&tune, gemm, &err))
        return cli_report(&err);
    int launched = cli_mpi_launched();
    if (ndev == 1 && !launched)
        return run(device, (int)batch, (int)steps, spec, &tune, input, (int)classes,
                   json, peak_only);
    if (peak_only) {
        cnn_fail(&err, CNN_ERR_INPUT, "--peak measures one device; give one --device, "
                 "without mpirun");
        return cli_report(&err);
    }
    if (json) {
        cnn_fail(&err, CNN_ERR_INPUT, "--json: data-parallel figures are printed as "
                 "text; leave --json out, or bench one device");
        return cli_report(&err);
    }
    comm *c;
    if (comm_init(&c, launched, &err)) {
        comm_finalize(c);
        return cli_report(&err);
    }
    if (comm_rank(c))
        tune.progress = NULL;
    int code = run_parallel(c, devices, ndev, (int)batch, (int)steps, spec, &tune, input,
                            (int)classes);
    if (code && comm_size(c) > 1)
        comm_abort(c, code);
    comm_finalize(c);
    return code;
}
