/* test_network.c: the whole network — parameter layout and initialisation,
 * finite-difference checks of the reference network, and one training step
 * on the device (loss, every gradient, every updated parameter) against the
 * reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/dense.h"
#include "nn/network.h"
#include "ref/optim.h"
#include "ref/network.h"
#include "util/rng.h"
#include "archs.h"
#include "testutil.h"

/* A small network of the reference model's kinds, odd sizes included. */
#define SMALL_ARCH "conv5k3-relu-pool2-conv3k2-relu-flatten-fc7-relu-fc4"
static const arch_shape small_input = {2, 11, 11};

/* EVERY_KIND_ARCH, EVERY_KIND_GAP_ARCH and PAD_ARCH, on odd sizes: */
static const arch_shape every_kind_input = {3, 13, 11};

/* BLOCKS: residual blocks with every kind of shortcut: identity (res1 and,
 * nested in it, res2; a ReLU folded into res1's add, none into res2's),
 * projected at stride 2 with batch norm (res3), projected without it on a
 * change of channels (res4), and on flat features, identity with batch
 * norm (res5) and projected (res6). As above, bn sits where a shortcut
 * also carries its input: a bias whose every path runs into bn, there a
 * projection's included, may have a gradient of 0 (BLOCK_FLAT_ARCH, with a
 * flat projection and its bn, is checked by finite differences, and
 * test_res holds that block's device passes against the reference). */
#define BLOCK_ARCH \
    "conv4k3-relu-res[bn-conv4k3same-relu-res[conv4k3same-relu-conv4k1]-conv4k3same]-relu-" \
    "res[bn-conv6k3s2same-relu-conv6k3same]-relu-res[conv5k1-relu]-flatten-fc7-relu-" \
    "res[bn-relu-fc7]-res[fc5-relu]-relu-fc4"
#define BLOCK_FLAT_ARCH "conv3k3s2-relu-flatten-fc6-relu-res[fc5-relu-bn-fc5]-relu-fc4"
/* A network that opens with blocks: res1's projection (its chain has no
 * parameters) is the first trainable layer, asked for no input gradient. */
#define BLOCK_START_ARCH "res[pool1s2]-relu-res[conv3k3same-relu-conv3k3same]-relu-flatten-fc4"

/* Every bn followed by a relu, which folds into it: spatial, in blocks (one
 * projected with its own bn, which folds none) and flat. */
#define BN_RELU_ARCH \
    "conv4k3same-bn-relu-res[conv4k3same-bn-relu-conv4k3same-bn]-relu-" \
    "res[conv6k3s2same-bn-relu-conv6k3same-bn]-relu-flatten-fc7-bn-relu-fc4"
/* Blocks whose chains end in bn, which computes their add: nested (res2 in
 * res1), projected without a ReLU after it (res3), flat (res6); and res5,
 * inside res4 and ending with it, whose add stays its own (res4's add
 * leaves its gradient in res5's dy). bn also sums the two gradients of the
 * blocks' inputs it writes: res1's, res3's and res4's (through the joined
 * ends before them) and res5's; res2 opens with res1, which takes bn1's. As
 * above, a ReLU sits between each bias and bn (or a shortcut carries the
 * bias past it). */
#define JOIN_ARCH \
    "conv4k3same-relu-bn-res[res[conv4k3same-relu-bn]-relu-conv4k3same-relu-bn]-relu-" \
    "res[conv6k3s2same-relu-bn-relu-conv6k3same-relu-bn]-" \
    "res[conv6k3same-relu-bn-relu-res[conv6k3same-relu-bn]-relu]-relu-flatten-fc7-" \
    "res[relu-bn]-fc4"

static arch parse(const char *spec, arch_shape input, int classes)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse(spec, input, classes, &a, &err), err);
    return a;
}

/* Random tensors for the reference: Glorot-like weights, small biases. */
typedef struct {
    int count;
    double *v[NET_MAX_TENSORS];
    size_t size[NET_MAX_TENSORS];
} tensors;

static tensors ref_tensors(const network *net)
{
    tensors t = {.count = net->ntensors};
    for (int i = 0; i < t.count; i++) {
        t.size[i] = net->tensors[i].count;
        t.v[i] = calloc(t.size[i], sizeof(double));
    }
    return t;
}

static void free_tensors(tensors *t)
{
    for (int i = 0; i < t->count; i++)
        free(t->v[i]);
}

static void random_batch(const arch *a, int n, uint64_t seed, float *x, double *xd,
                         int32_t *labels)
{
    size_t size = (size_t)n * (size_t)arch_size(a->input);
    test_random(x, size, seed, 0, 1);
    for (size_t i = 0; i < size; i++)
        xd[i] = x[i];
    uint64_t s = seed;
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)((s = rng_mix(s)) % (uint64_t)a->classes);
}

START_TEST(reference_model_has_515146_parameters)
{
    arch a = parse(ARCH_DEFAULT, (arch_shape){1, 28, 28}, 10);
    network net;
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), &a, 4, NULL, optim_defaults(NULL), &err), err);
    ck_assert_uint_eq(net.param_count, 515146);
    ck_assert_int_eq(net.ntensors, 8);
    const char *names[] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                           "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    for (int i = 0; i < 8; i++)
        ck_assert_str_eq(net.tensors[i].name, names[i]);
    ck_assert_int_eq(net.tensors[2].shape[0], 64);
    ck_assert_int_eq(net.tensors[2].shape[1], 32);
    ck_assert_int_eq(net.tensors[4].shape[1], 7744);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(net.tensors[i].offset * sizeof(float) % clrt_align(test_rt()), 0);
    network_release(&net);
}
END_TEST

START_TEST(glorot_initialisation)
{
    arch a = parse(SMALL_ARCH, small_input, 4);
    network net;
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), &a, 3, NULL, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(&net, 11, &err), err);
    float first[5 * 2 * 9], again[5 * 2 * 9];
    for (int i = 0; i < net.ntensors; i++) {
        const net_tensor *t = &net.tensors[i];
        float *v = malloc(t->count * sizeof *v);
        TEST_OK(network_tensor_read(&net, t, 0, v, &err), err);
        int glorot = t->decl.init == LAYER_INIT_GLOROT;
        double limit = glorot ? sqrt(6.0 / (t->decl.fan_in + t->decl.fan_out)) : 0;
        double mean = 0;
        float top = 0;
        for (size_t j = 0; j < t->count; j++) {
            ck_assert_double_le(fabs(v[j]), limit);
            top = fmaxf(top, fabsf(v[j]));
            mean += v[j] / (double)t->count;
        }
        if (glorot) /* uniform on [-limit, limit]: spread out, centred */
            ck_assert_double_gt(top, 0.5 * limit);
        if (i == 0)
            memcpy(first, v, sizeof first);
        free(v);
    }
    TEST_OK(network_init(&net, 11, &err), err);
    TEST_OK(network_tensor_read(&net, &net.tensors[0], 0, again, &err), err);
    ck_assert_mem_eq(first, again, sizeof first);
    TEST_OK(network_init(&net, 12, &err), err);
    TEST_OK(network_tensor_read(&net, &net.tensors[0], 0, again, &err), err);
    ck_assert_msg(memcmp(first, again, sizeof first) != 0, "seed has no effect");
    network_release(&net);
}
END_TEST

/* Central differences of the reference network's mean loss against its
 * analytic gradient, for the elements `stride` apart in every tensor. */
static void finite_difference_check(const arch *a, int n, size_t stride)
{
    network net; /* only for the tensor list and shapes */
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), a, n, NULL, optim_defaults(NULL), &err), err);
    tensors p = ref_tensors(&net), g = ref_tensors(&net);
    for (int i = 0; i < p.count; i++) {
        float *f = malloc(p.size[i] * sizeof *f);
        const layer_param *d = &net.tensors[i].decl;
        double scale = d->init == LAYER_INIT_GLOROT ? sqrt(6.0 / (d->fan_in + d->fan_out))
                                                    : 0.1;
        test_random(f, p.size[i], 100 + (uint64_t)i, (float)-scale, (float)scale);
        for (size_t j = 0; j < p.size[i]; j++)
            p.v[i][j] = f[j];
        free(f);
    }
    size_t size = (size_t)n * (size_t)arch_size(a->input);
    float *x = malloc(size * sizeof *x);
    double *xd = malloc(size * sizeof *xd);
    int32_t labels[64];
    random_batch(a, n, 5, x, xd, labels);
    const ref_mode mode = {.training = 1, .seed = 5};
    ref_network_loss(a, &mode, p.v, xd, labels, n, g.v, NULL);
    const double h = 1e-6;
    for (int i = 0; i < p.count; i++) {
        double worst = 0;
        for (size_t j = 0; j < p.size[i]; j += stride) {
            double keep = p.v[i][j];
            p.v[i][j] = keep + h;
            double up = ref_network_loss(a, &mode, p.v, xd, labels, n, NULL, NULL);
            p.v[i][j] = keep - h;
            double down = ref_network_loss(a, &mode, p.v, xd, labels, n, NULL, NULL);
            p.v[i][j] = keep;
            double fd = (up - down) / (2 * h), an = g.v[i][j];
            double e = fabs(fd - an) / fmax(1e-6, fabs(fd) + fabs(an));
            worst = fmax(worst, e);
            ck_assert_msg(fabs(fd - an) <= 1e-7 + 1e-4 * fabs(an),
                          "%s[%zu]: finite difference %.10g, analytic %.10g",
                          net.tensors[i].name, j, fd, an);
        }
    }
    free(x);
    free(xd);
    free_tensors(&p);
    free_tensors(&g);
    network_release(&net);
}

START_TEST(reference_gradients_small_network_every_element)
{
    arch a = parse(SMALL_ARCH, small_input, 4);
    finite_difference_check(&a, 3, 1);
}
END_TEST

START_TEST(reference_gradients_reference_model_every_tensor)
{
    arch a = parse(ARCH_DEFAULT, (arch_shape){1, 28, 28}, 10);
    finite_difference_check(&a, 2, 997); /* a prime stride samples each tensor */
}
END_TEST

/* One device training step against the reference: the loss, every gradient
 * and every parameter after Adam's first step. */
static void train_step_check(const char *spec, arch_shape input, int classes,
                             int max_batch, int n, tuner *tune)
{
    arch a = parse(spec, input, classes);
    network net;
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), &a, max_batch, tune, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(&net, 3, &err), err);
    tensors p = ref_tensors(&net), g = ref_tensors(&net);
    for (int i = 0; i < net.ntensors; i++) {
        float *f = malloc(p.size[i] * sizeof *f);
        TEST_OK(network_tensor_read(&net, &net.tensors[i], 0, f, &err), err);
        for (size_t j = 0; j < p.size[i]; j++)
            p.v[i][j] = f[j];
        free(f);
    }
    size_t size = (size_t)n * (size_t)arch_size(input);
    float *x = malloc(size * sizeof *x);
    double *xd = malloc(size * sizeof *xd);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    random_batch(&a, n, 77, x, xd, labels);

    double correct_ref;
    /* the device network's streams: seed 3 (network_init), epoch 0, step 0 */
    const ref_mode mode = {.training = 1, .seed = 3};
    double loss_ref = ref_network_loss(&a, &mode, p.v, xd, labels, n, g.v, &correct_ref);

    TEST_OK(network_totals_reset(&net, &err), err);
    TEST_OK(network_upload(&net, x, labels, n, &err), err);
    TEST_OK(network_train_step(&net, n, &err), err);
    double loss_sum, correct;
    TEST_OK(network_totals_read(&net, &loss_sum, &correct, &err), err);
    ck_assert_msg(fabs(loss_sum / n - loss_ref) <= 1e-5 * fabs(loss_ref),
                  "loss %.8g, reference %.8g", loss_sum / n, loss_ref);
    ck_assert_double_eq(correct, correct_ref);

    optim_config cfg = optim_defaults(NULL);
    for (int i = 0; i < net.ntensors; i++) {
        const net_tensor *t = &net.tensors[i];
        float *dev = malloc(t->count * sizeof *dev);
        char what[64];
        TEST_OK(network_tensor_read(&net, t, 1, dev, &err), err);
        snprintf(what, sizeof what, "grad %s", t->name);
        test_close(what, dev, g.v[i], t->count, TEST_TOL_GRAD);

        double *m = calloc(t->count, sizeof *m), *v = calloc(t->count, sizeof *v);
        double *state[2] = {m, v};
        ref_adam_step(&cfg, 1, p.v[i], g.v[i], state, NULL, (long)t->count);
        TEST_OK(network_tensor_read(&net, t, 0, dev, &err), err);
        snprintf(what, sizeof what, "updated %s", t->name);
        test_close(what, dev, p.v[i], t->count, TEST_TOL_FORWARD);
        free(m);
        free(v);
        free(dev);
    }
    free(x);
    free(xd);
    free(labels);
    free_tensors(&p);
    free_tensors(&g);
    network_release(&net);
}

START_TEST(reference_gradients_every_kind_every_element)
{
    arch a = parse(EVERY_KIND_ARCH, every_kind_input, 4);
    finite_difference_check(&a, 3, 1);
}
END_TEST

START_TEST(train_step_every_kind)
{
    train_step_check(EVERY_KIND_ARCH, every_kind_input, 4, 8, 5, NULL);
}
END_TEST

START_TEST(reference_gradients_gap_network_every_element)
{
    arch a = parse(EVERY_KIND_GAP_ARCH, every_kind_input, 4);
    finite_difference_check(&a, 3, 1);
}
END_TEST

START_TEST(train_step_gap_network)
{
    train_step_check(EVERY_KIND_GAP_ARCH, every_kind_input, 4, 8, 5, NULL);
}
END_TEST

START_TEST(reference_gradients_block_network_every_element)
{
    arch a = parse(BLOCK_ARCH, every_kind_input, 4);
    finite_difference_check(&a, 3, 1);
    a = parse(BLOCK_START_ARCH, every_kind_input, 4);
    finite_difference_check(&a, 3, 1);
    a = parse(BLOCK_FLAT_ARCH, every_kind_input, 4);
    finite_difference_check(&a, 3, 1);
}
END_TEST

START_TEST(reference_gradients_pad_network_every_element)
{
    arch a = parse(PAD_ARCH, every_kind_input, 4);
    ck_assert_int_eq(a.layers[0].out.h, 7);
    ck_assert_int_eq(a.layers[0].out.w, 6);
    finite_difference_check(&a, 3, 1);
}
END_TEST

START_TEST(train_step_pad_network)
{
    train_step_check(PAD_ARCH, every_kind_input, 4, 8, 5, NULL);
}
END_TEST

START_TEST(train_step_block_network)
{
    train_step_check(BLOCK_ARCH, every_kind_input, 4, 8, 5, NULL);
    train_step_check(BLOCK_START_ARCH, every_kind_input, 4, 8, 5, NULL);
    train_step_check(JOIN_ARCH, every_kind_input, 4, 8, 5, NULL);
}
END_TEST

static int tensor_named(const network *net, const char *name)
{
    for (int i = 0; i < net->ntensors; i++)
        if (!strcmp(net->tensors[i].name, name))
            return i;
    ck_abort_msg("no tensor %s", name);
    return -1;
}

/* The model summary of net as a malloc'd string. */
static char *summary_text(const network *net)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(f);
    network_summary(net, f);
    fclose(f);
    return text;
}

/* A block's tensors sit with its name, projection and batch norm as
 * torchvision's downsample: adjacent, so the node's span holds them. */
START_TEST(block_tensors_and_summary)
{
    arch a = parse(BLOCK_ARCH, every_kind_input, 4);
    network net;
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), &a, 2, NULL, optim_defaults(NULL), &err), err);
    static const char *const names[] = {"res3.proj.weight", "res3.proj_bn.weight",
                                        "res3.proj_bn.bias", "res3.proj_bn.running_mean",
                                        "res3.proj_bn.running_var"};
    int at = tensor_named(&net, names[0]);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(net.tensors[at + i].name, names[i]);
    ck_assert_int_eq(net.tensors[at].shape[0], 6);
    ck_assert_int_eq(net.tensors[at].shape[1], 4);
    ck_assert_int_eq(net.tensors[at].shape[2], 1);
    ck_assert_int_eq(net.tensors[tensor_named(&net, "res4.proj.weight")].shape[0], 5);
    /* no res1 or res2 tensors: identities */
    for (int i = 0; i < net.ntensors; i++)
        ck_assert(strncmp(net.tensors[i].name, "res1.", 5) && strncmp(net.tensors[i].name, "res2.", 5));

    char *text = summary_text(&net);
    /* Keras' Add row, the projection's 24 + 4 * 6 parameters counted;
     * the begins print no row (the names' column is 30 wide for
     * "bn3 (BatchNormalization, relu)") */
    ck_assert_msg(strstr(text, "res3 (Add, relu)               (None, 6, 5, 6)              48\n") &&
                  strstr(text, "res6 (Add, relu)               (None, 5)                    35\n") &&
                  strstr(text, "res4 (Add)                     (None, 6, 5, 5)              30\n") &&
                  strstr(text, "res1 (Add, relu)               (None, 11, 9, 4)              0\n"),
                  "%s", text);
    int rows = 0;
    for (const char *s = text; (s = strstr(s, "res1 (")); s++)
        rows++;
    ck_assert_int_eq(rows, 1);
    free(text);
    network_release(&net);
}
END_TEST

START_TEST(train_step_reference_model_batch_32)
{
    tuner t; /* cached or timed, as a user's run */
    tuner_init(&t);
    train_step_check(ARCH_DEFAULT, (arch_shape){1, 28, 28}, 10, 32, 32, &t);
}
END_TEST

static tuner forcing(const char *list)
{
    tuner t;
    cnn_error err = {0};
    tuner_init(&t);
    TEST_OK(tuner_force(&t, list, &err), err);
    return t;
}

/* Every site on its GPU variant (forced: a CPU would not time them): whole
 * training steps of both every-kind networks, the blocks' and the padded
 * one against the reference. */
START_TEST(train_step_gpu_variants)
{
    static const char gpu[] = "conv.forward=g32,conv.data=gd32,conv.weights=gw32k64,"
                              "fc=gpu-k64,pool=gpu,bn=gpu,adam=gpu,gap=gpu";
    tuner a = forcing(gpu), b = forcing(gpu), c = forcing(gpu), d = forcing(gpu),
          e = forcing(gpu);
    train_step_check(EVERY_KIND_ARCH, every_kind_input, 4, 8, 5, &a);
    train_step_check(EVERY_KIND_GAP_ARCH, every_kind_input, 4, 8, 5, &b);
    train_step_check(BLOCK_ARCH, every_kind_input, 4, 8, 5, &c);
    train_step_check(PAD_ARCH, every_kind_input, 4, 8, 5, &d);
    train_step_check(JOIN_ARCH, every_kind_input, 4, 8, 5, &e);
    char labels[TUNER_SUMMARY_SIZE];
    tuner_summary(&a, labels);
    ck_assert_msg(strstr(labels, "conv1.forward=g32") && strstr(labels, "bn1.reduce=gpu") &&
                  strstr(labels, "adam.update=gpu") && strstr(labels, "fc1=gpu-k64"),
                  "chosen: %s", labels);
    tuner_summary(&c, labels);
    ck_assert_msg(strstr(labels, "res3.proj.forward=g32") &&
                  strstr(labels, "res3.proj.weights=gw32k64") &&
                  strstr(labels, "res3.proj_bn.reduce=gpu"), "chosen: %s", labels);
}
END_TEST

extern const layer_kind layer_bn, layer_conv;

/* What a network folds: its node count, the nodes that join a block's end
 * and those that take a block's shortcut gradient, the convolutions
 * whose padded copy the layer before writes, and those whose dz the layer
 * after writes. */
typedef struct {
    int nodes, joins, feeds, prepadded, dz_written;
} folds;

/* Three training steps, the loss totals, every tensor after them (the
 * moving statistics included) and an inference pass's probabilities, of
 * spec with bn's folds and with bn's rows swapped for `apart` (a copy
 * without some): the same bits, on bn's variant `variant`. f gets each
 * network's folds. */
static void fold_keeps_every_bit(const char *spec, const layer_kind *apart, int variant,
                                 folds f[2])
{
    static const char *const variants[] = {"bn=channel", "bn=gpu"};
    arch a[2] = {parse(spec, every_kind_input, 4), parse(spec, every_kind_input, 4)};
    for (int i = 0; i < a[1].count; i++)
        if (a[1].layers[i].kind == &layer_bn)
            a[1].layers[i].kind = apart;
    enum { N = 6, STEPS = 3 };
    const size_t size = N * (size_t)arch_size(every_kind_input);
    /* a batch per step: uploads read the host arrays after they return */
    float *x = malloc(STEPS * size * sizeof *x), probs[2][N * 4];
    double *xd = malloc(size * sizeof *xd), totals[2][2];
    int32_t labels[STEPS][N];
    for (int step = 0; step < STEPS; step++)
        random_batch(&a[0], N, 40 + (uint64_t)step, x + step * size, xd, labels[step]);
    cnn_error err = {0};
    network net[2];
    tuner t[2];
    for (int k = 0; k < 2; k++) {
        t[k] = forcing(variants[variant]);
        TEST_OK(network_create(&net[k], test_rt(), &a[k], 8, &t[k], optim_defaults(NULL),
                               &err), err);
        f[k] = (folds){.nodes = net[k].nnodes};
        for (int i = 0; i < net[k].nnodes; i++) {
            f[k].joins += net[k].nodes[i].join != NULL;
            f[k].feeds += net[k].nodes[i].feeds != NULL;
            const int conv = net[k].nodes[i].spec->kind == &layer_conv;
            f[k].prepadded += conv && ((const conv_layer *)net[k].nodes[i].op)->prepadded;
            f[k].dz_written += conv && ((const conv_layer *)net[k].nodes[i].op)->dz_written;
        }
        TEST_OK(network_init(&net[k], 5, &err), err);
        TEST_OK(network_totals_reset(&net[k], &err), err);
        for (int step = 0; step < STEPS; step++) {
            TEST_OK(network_upload(&net[k], x + step * size, labels[step], N, &err), err);
            TEST_OK(network_train_step(&net[k], N, &err), err);
        }
        TEST_OK(network_totals_read(&net[k], &totals[k][0], &totals[k][1], &err), err);
        TEST_OK(network_probabilities(&net[k], N, probs[k], &err), err);
    }
    ck_assert_mem_eq(totals[0], totals[1], sizeof totals[0]);
    ck_assert_mem_eq(probs[0], probs[1], sizeof probs[0]);
    ck_assert_int_eq(net[0].ntensors, net[1].ntensors);
    for (int i = 0; i < net[0].ntensors; i++) {
        const net_tensor *t0 = &net[0].tensors[i], *t1 = &net[1].tensors[i];
        ck_assert_str_eq(t0->name, t1->name);
        float *v[2] = {malloc(t0->count * sizeof(float)), malloc(t0->count * sizeof(float))};
        TEST_OK(network_tensor_read(&net[0], t0, 0, v[0], &err), err);
        TEST_OK(network_tensor_read(&net[1], t1, 0, v[1], &err), err);
        ck_assert_msg(!memcmp(v[0], v[1], t0->count * sizeof(float)),
                      "%s of %s differs with bn's folds (%s)", t0->name, spec,
                      variants[variant]);
        free(v[0]);
        free(v[1]);
    }
    for (int k = 0; k < 2; k++)
        network_release(&net[k]);
    free(x);
    free(xd);
}

START_TEST(bn_relu_fold_keeps_every_bit)
{
    folds f[2];
    layer_kind apart = layer_bn;
    apart.flags &= ~LAYER_FUSES_RELU;
    fold_keeps_every_bit(BN_RELU_ARCH, &apart, _i, f);
    ck_assert_int_eq(f[0].nodes + 4, f[1].nodes); /* four ReLUs folded: a node each */
}
END_TEST

/* The same for the blocks' joins folded into bn: res1, res2, res3 and res6
 * join, res5 does not; bn takes the shortcut gradients of res1, res3, res4
 * and res5; no node fewer. */
START_TEST(bn_join_fold_keeps_every_bit)
{
    folds f[2];
    layer_kind apart = layer_bn;
    apart.flags &= ~LAYER_JOINS;
    fold_keeps_every_bit(JOIN_ARCH, &apart, _i, f);
    ck_assert_int_eq(f[0].nodes, f[1].nodes);
    ck_assert_int_eq(f[0].joins, 4);
    ck_assert_int_eq(f[0].feeds, 4);
    ck_assert_int_eq(f[1].joins + f[1].feeds, 0);
}
END_TEST

/* The same for the padded copies bn writes for the convolutions after it
 * (on the CPU variant): conv2 and conv4 after a block's begin (bn keeps
 * writing y, the shortcut), conv3 and conv5 right after a bn (y is not
 * written); the GPU variant writes none. */
START_TEST(bn_padded_copy_keeps_every_bit)
{
    folds f[2];
    layer_kind apart = layer_bn;
    apart.pad_output = NULL;
    fold_keeps_every_bit(BN_RELU_ARCH, &apart, _i, f);
    ck_assert_int_eq(f[0].prepadded, _i ? 0 : 4);
    ck_assert_int_eq(f[1].prepadded, 0);
}
END_TEST

/* The same for dz, which bn's backward writes for the convolution before
 * it, transposed as the convolution reads it (on the CPU variant): conv1
 * to conv5, each right before a bn; the GPU variant writes none. */
START_TEST(bn_transposed_dx_keeps_every_bit)
{
    folds f[2];
    layer_kind apart = layer_bn;
    apart.transpose_dx = NULL;
    fold_keeps_every_bit(BN_RELU_ARCH, &apart, _i, f);
    ck_assert_int_eq(f[0].dz_written, _i ? 0 : 5);
    ck_assert_int_eq(f[1].dz_written, 0);
}
END_TEST

/* A bn with a folded ReLU prints as a conv with one does, its name's
 * column widened to hold it. */
START_TEST(bn_relu_summary)
{
    arch a = parse(BN_RELU_ARCH, every_kind_input, 4);
    network net;
    cnn_error err = {0};
    TEST_OK(network_create(&net, test_rt(), &a, 2, NULL, optim_defaults(NULL), &err), err);
    char *text = summary_text(&net);
    ck_assert_msg(strstr(text, "Layer (type)                   Output Shape            Param #\n"
                               "===================================================="
                               "==========\n"
                               "input (InputLayer)             (None, 13, 11, 3)             0\n"
                               "conv1 (Conv2D)                 (None, 13, 11, 4)           112\n"
                               "bn1 (BatchNormalization, relu) (None, 13, 11, 4)            16\n") &&
                  strstr(text, "bn5 (BatchNormalization)       (None, 7, 6, 6)              24\n") &&
                  strstr(text, "bn6 (BatchNormalization, relu) (None, 7)                    28\n") &&
                  !strstr(text, "(ReLU)"), "%s", text);
    free(text);
    network_release(&net);
}
END_TEST

START_TEST(train_step_partial_batch_both_gemm_paths)
{
    tuner kernel = forcing("fc=kernel"), clblast = forcing("fc=clblast");
    train_step_check(SMALL_ARCH, small_input, 4, 8, 5, &kernel);
    train_step_check(SMALL_ARCH, small_input, 4, 8, 5, &clblast);
    const tune_choice *c = &clblast.choices[clblast.nchoices - 2]; /* Adam's is last */
    ck_assert_str_eq(c->site, "fc2");
    ck_assert_str_eq(c->label, "clblast");
    ck_assert_int_eq(c->how, TUNE_FORCED);
}
END_TEST

/* Each convolution has three sites (forward, data, weights; the first
 * layer computes no input gradient, so it has no data site), the 2x2 pool
 * one, each dense layer one, and Adam one: timed on an empty cache, then read back from it, and timed
 * again on a retune; the layers run what was chosen. */
START_TEST(tuner_chooses_every_site)
{
    static const char *const sites[9] = {
        "conv1.forward", "conv1.weights", "pool1.windows", "conv2.forward", "conv2.data",
        "conv2.weights", "fc1",           "fc2",           "adam.update"};
    test_dir_create(); /* an empty cache, so every site is timed */
    setenv("XDG_CACHE_HOME", test_dir, 1);
    arch a = parse(ARCH_DEFAULT, (arch_shape){1, 28, 28}, 10);
    tuner t[3];
    for (int r = 0; r < 3; r++) {
        network net;
        cnn_error err = {0};
        tuner_init(&t[r]);
        t[r].retune = r == 2;
        TEST_OK(network_create(&net, test_rt(), &a, 32, &t[r], optim_defaults(NULL), &err), err);
        ck_assert_int_eq(t[r].nchoices, 9);
        char expect[512] = "";
        for (int i = 0; i < 9; i++) {
            const tune_choice *c = &t[r].choices[i];
            ck_assert_str_eq(c->site, sites[i]);
            /* The pool's and Adam's other variant is for GPUs: a CPU has
             * nothing to time there. */
            int only = clrt_device_is_cpu(&test_rt()->dev) &&
                       (!strcmp(c->site, "pool1.windows") || !strcmp(c->site, "adam.update"));
            ck_assert_int_eq(c->how, only ? TUNE_ONLY : r == 1 ? TUNE_CACHED : TUNE_TIMED);
            if (r == 1)
                ck_assert_str_eq(c->label, t[0].choices[i].label);
            snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s%s=%s",
                     i ? ";" : "", c->site, c->arithmetic);
        }
        /* conv1 and conv2 are nodes 0 and 2, fc1 and fc2 nodes 4 and 5 */
        static const int forward_site[2] = {0, 3}, weights_site[2] = {1, 5};
        for (int j = 0; j < 2; j++) {
            const conv_layer *cl = net.nodes[2 * j].op;
            const conv_tiles *ti = &cl->tiles;
            char label[TUNE_NAME], key[TUNE_NAME];
            if (ti->gemm) {
                snprintf(label, sizeof label, "g%d", ti->gemm);
            } else if (ti->winograd) {
                snprintf(label, sizeof label, "w%d", ti->winograd);
            } else {
                int len = snprintf(label, sizeof label, "p%d", ti->pixels);
                if (ti->rows > 1)
                    len += snprintf(label + len, sizeof label - (size_t)len, "r%d", ti->rows);
                if (ti->blocks > 1)
                    snprintf(label + len, sizeof label - (size_t)len, "b%d", ti->blocks);
            }
            ck_assert_str_eq(t[r].choices[forward_site[j]].label, label);
            if (ti->weights_gemm) {
                snprintf(label, sizeof label, "gw%dk%d", ti->weights_gemm, ti->gemm_chunk);
                snprintf(key, sizeof key, "gk%d", ti->gemm_chunk);
            } else {
                int len = snprintf(label, sizeof label, "t%d%s", ti->taps,
                                   ti->chunks ? "c8" : "n1");
                if (ti->weights_blocks > 1)
                    snprintf(label + len, sizeof label - (size_t)len, "b%d",
                             ti->weights_blocks);
                snprintf(key, sizeof key, "%s", ti->chunks ? "c8" : "n1");
            }
            ck_assert_str_eq(t[r].choices[weights_site[j]].label, label);
            ck_assert_str_eq(t[r].choices[weights_site[j]].arithmetic, key);
            const char *path = dense_gemm_name(net.nodes[4 + j].op);
            ck_assert_int_eq(strncmp(t[r].choices[6 + j].label, path, strlen(path)), 0);
        }
        char record[512];
        TEST_OK(tuner_arithmetic(&t[r], record, sizeof record, &err), err);
        ck_assert_str_eq(record, expect);
        network_release(&net);
    }
    unsetenv("XDG_CACHE_HOME");
    test_dir_remove();
}
END_TEST

START_TEST(training_is_deterministic)
{
    arch a = parse(SMALL_ARCH, small_input, 4);
    const int n = 6;
    size_t size = (size_t)n * (size_t)arch_size(small_input);
    float *x = malloc(size * sizeof *x), *after[2];
    size_t count = 0;
    double *xd = malloc(size * sizeof *xd);
    int32_t labels[6];
    random_batch(&a, n, 9, x, xd, labels);
    cnn_error err = {0};
    for (int r = 0; r < 2; r++) {
        network net;
        TEST_OK(network_create(&net, test_rt(), &a, n, NULL, optim_defaults(NULL), &err), err);
        TEST_OK(network_init(&net, 1, &err), err);
        for (int step = 0; step < 3; step++) {
            TEST_OK(network_upload(&net, x, labels, n, &err), err);
            TEST_OK(network_train_step(&net, n, &err), err);
        }
        const net_tensor *t = &net.tensors[4]; /* fc1.weight */
        count = t->count;
        after[r] = malloc(count * sizeof(float));
        TEST_OK(network_tensor_read(&net, t, 0, after[r], &err), err);
        network_release(&net);
    }
    ck_assert_mem_eq(after[0], after[1], count * sizeof(float));
    free(after[0]);
    free(after[1]);
    free(x);
    free(xd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("network");
    TCase *tc = tcase_create("network");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, reference_model_has_515146_parameters);
    tcase_add_test(tc, glorot_initialisation);
    tcase_add_test(tc, reference_gradients_small_network_every_element);
    tcase_add_test(tc, reference_gradients_reference_model_every_tensor);
    tcase_add_test(tc, reference_gradients_every_kind_every_element);
    tcase_add_test(tc, reference_gradients_gap_network_every_element);
    tcase_add_test(tc, reference_gradients_block_network_every_element);
    tcase_add_test(tc, reference_gradients_pad_network_every_element);
    tcase_add_test(tc, block_tensors_and_summary);
    tcase_add_test(tc, bn_relu_summary);
    tcase_add_loop_test(tc, bn_relu_fold_keeps_every_bit, 0, 2);
    tcase_add_loop_test(tc, bn_join_fold_keeps_every_bit, 0, 2);
    tcase_add_loop_test(tc, bn_padded_copy_keeps_every_bit, 0, 2);
    tcase_add_loop_test(tc, bn_transposed_dx_keeps_every_bit, 0, 2);
    tcase_add_test(tc, train_step_reference_model_batch_32);
    tcase_add_test(tc, train_step_partial_batch_both_gemm_paths);
    tcase_add_test(tc, tuner_chooses_every_site);
    tcase_add_test(tc, training_is_deterministic);
    suite_add_tcase(s, tc);
    TCase *sim = test_simulator_case();
    tcase_add_test(sim, train_step_every_kind);
    tcase_add_test(sim, train_step_gap_network);
    tcase_add_test(sim, train_step_block_network);
    tcase_add_test(sim, train_step_pad_network);
    tcase_add_test(sim, train_step_gpu_variants);
    suite_add_tcase(s, sim);
    return test_run(s, 0);
}
