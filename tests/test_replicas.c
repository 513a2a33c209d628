/* test_replicas.c: data-parallel training on two devices of one process
 * (the suite runs with POCL_DEVICES="pthread pthread"): the summed
 * gradients are the whole batch's, dropout included; the devices' weights
 * and batch norm's moving statistics stay identical, and a second run
 * repeats the first bit for bit; a batch smaller than the workers leaves a
 * device idle without breaking either; the totals are the job's. One
 * worker steps as one network does, bit for bit, with steps queued ahead.
 * Each also on a network of residual blocks, whose nodes' gradients are
 * read back as each node's backward ends, a block's begin last. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallel/replicas.h"
#include "util/rng.h"
#include "testutil.h"

/* Dropout and odd sizes; no batch norm, whose statistics are a slice's. */
#define GRAD_ARCH "conv5k3s2same-relu-drop0.25-pool2-conv3k2-relu-flatten-fc7-relu-drop0.5-fc4"
/* Every kind with state, for the weights staying identical. */
#define STATE_ARCH "conv5k3same-relu-bn-drop0.25-pool2-flatten-fc7-relu-fc4"
/* Residual blocks, identity and projected at stride 2: no batch norm for
 * the gradients, with it for the state. */
#define BLOCK_GRAD_ARCH "conv4k3same-relu-res[conv4k3same-relu-conv4k3same]-relu-" \
    "res[conv5k3s2same-relu-conv5k3same]-relu-flatten-fc4"
#define BLOCK_STATE_ARCH "conv4k3same-relu-res[conv4k3same-relu-bn-conv4k3same]-relu-" \
    "res[conv5k3s2same-relu-conv5k3same-bn]-relu-flatten-fc4"
static const arch_shape input = {2, 11, 9};

static const int both[2] = {0, 1};

static arch parse(const char *spec)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse(spec, input, 4, &a, &err), err);
    return a;
}

/* A batch of n random samples as the loader gives it, whole. */
static loader_batch make_batch(int n, uint64_t seed)
{
    loader_batch b = {.count = n, .total = n};
    size_t size = (size_t)n * (size_t)arch_size(input);
    b.images = malloc(size * sizeof *b.images);
    b.labels = malloc((size_t)n * sizeof *b.labels);
    test_random(b.images, size, seed, 0, 1);
    for (int i = 0; i < n; i++)
        b.labels[i] = (int32_t)(rng_mix(seed + (uint64_t)i) % 4);
    return b;
}

static void free_batch(loader_batch *b)
{
    free(b->images);
    free(b->labels);
}

/* Two devices, seeded alike. */
static void open_two(replicas *r, const char *spec, int batch)
{
    cnn_error err = {0};
    arch a = parse(spec);
    TEST_OK(replicas_open(r, NULL, both, 2, test_kernels(), &err), err);
    TEST_OK(replicas_create(r, &a, batch, NULL, optim_defaults(NULL), &err), err);
    for (int d = 0; d < 2; d++)
        TEST_OK(network_init(&r->net[d], 5, &err), err);
    TEST_OK(replicas_totals_set(r, 0, 0, &err), err);
}

/* One whole training step: the job's totals after it into loss and correct. */
static void step(replicas *r, const loader_batch *b, double *loss, double *correct)
{
    cnn_error err = {0};
    replicas_step s = {0};
    TEST_OK(replicas_train_step(r, b, 0, &s, &err), err);
    TEST_OK(replicas_step_wait(r, &s, loss, correct, &err), err);
}

/* The flat parameters of device d. */
static float *params(replicas *r, int d)
{
    cnn_error err = {0};
    size_t n = r->net[d].param_floats;
    float *p = malloc(n * sizeof *p);
    TEST_OK(clrt_read(&r->rt[d], r->net[d].params, p, n * sizeof *p, &err), err);
    return p;
}

static void summed_gradients(const char *spec)
{
    const int n = 7;
    cnn_error err = {0};
    loader_batch b = make_batch(n, 11);
    /* One network on the whole batch, with the same variants (the first). */
    arch a = parse(spec);
    network one;
    TEST_OK(network_create(&one, test_rt(), &a, n, NULL, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(&one, 5, &err), err);
    TEST_OK(network_totals_reset(&one, &err), err);
    TEST_OK(network_upload(&one, b.images, b.labels, n, &err), err);
    TEST_OK(network_gradients(&one, n, NULL, NULL, &err), err);
    double loss, correct;
    TEST_OK(network_totals_read(&one, &loss, &correct, &err), err);

    replicas r;
    double job_loss, job_correct;
    open_two(&r, spec, n);
    step(&r, &b, &job_loss, &job_correct);
    ck_assert_int_eq(r.slice_n[0] + r.slice_n[1], n);
    ck_assert_int_eq(r.stop, 0);
    for (int i = 0; i < one.ntensors; i++) {
        const net_tensor *t = &one.tensors[i];
        float *g = malloc(t->count * sizeof *g);
        TEST_OK(network_tensor_read(&one, t, 1, g, &err), err);
        double diff = 0, big = 0;
        for (size_t j = 0; j < t->count; j++) {
            diff = fmax(diff, fabs((double)g[j] - r.sum[t->offset + j]));
            big = fmax(big, fabs((double)g[j]));
        }
        ck_assert_msg(big > 0 && diff <= 1e-6 * big, "%s: max |a-b| %.3g of max %.3g",
                      t->name, diff, big);
        free(g);
    }
    ck_assert_msg(fabs(job_loss - loss) <= 1e-6 * loss, "loss %.9g, whole %.9g",
                  job_loss, loss);
    ck_assert_double_eq(job_correct, correct);
    replicas_close(&r);
    network_release(&one);
    free_batch(&b);
}

START_TEST(summed_gradients_are_the_whole_batch)
{
    summed_gradients(GRAD_ARCH);
    summed_gradients(BLOCK_GRAD_ARCH);
}
END_TEST

/* Three steps, the last one a batch of one sample (the second device
 * idle); returns device 0's parameters after checking device 1 has the
 * same. */
static float *three_steps(const char *spec)
{
    replicas r;
    open_two(&r, spec, 6);
    const int sizes[3] = {6, 5, 1};
    double loss_before = 0;
    for (int k = 0; k < 3; k++) {
        loader_batch b = make_batch(sizes[k], 20 + (uint64_t)k);
        double loss, correct;
        for (int d = 0; d < 2; d++)
            network_set_stream(&r.net[d], 5, 0);
        step(&r, &b, &loss, &correct);
        /* The running loss only grows, an idle device's share included. */
        ck_assert_msg(loss > loss_before, "step %d: loss sum %g after %g", k, loss,
                      loss_before);
        loss_before = loss;
        free_batch(&b);
    }
    ck_assert_int_eq(r.slice_n[1], 1);
    ck_assert_int_eq(r.slice_n[0], 0);
    float *p0 = params(&r, 0), *p1 = params(&r, 1);
    ck_assert_mem_eq(p0, p1, r.net[0].param_floats * sizeof *p0);
    ck_assert_int_eq(r.net[0].optim.step, 3);
    ck_assert_int_eq(r.net[1].optim.step, 3);
    /* The moving statistics moved (they are not only the initial ones). */
    const net_tensor *mean = NULL;
    for (int i = 0; i < r.net[0].ntensors; i++)
        if (!r.net[0].tensors[i].decl.trainable && !mean)
            mean = &r.net[0].tensors[i];
    ck_assert_ptr_nonnull(mean);
    ck_assert(p0[mean->offset] != 0.0f);
    free(p1);
    replicas_close(&r);
    return p0;
}

static void identical_and_repeated(const char *spec)
{
    float *a = three_steps(spec), *b = three_steps(spec);
    arch s = parse(spec);
    network n;
    cnn_error err = {0};
    TEST_OK(network_create(&n, test_rt(), &s, 1, NULL, optim_defaults(NULL), &err), err);
    ck_assert_mem_eq(a, b, n.param_floats * sizeof *a);
    network_release(&n);
    free(a);
    free(b);
}

START_TEST(devices_stay_identical_and_runs_repeat)
{
    identical_and_repeated(STATE_ARCH);
    identical_and_repeated(BLOCK_STATE_ARCH);
}
END_TEST

/* One worker, the trainer's one-device case, with each step enqueued before
 * the one before it is waited for: the network's own steps bit for bit,
 * and its totals. */
static void one_worker(const char *spec)
{
    cnn_error err = {0};
    arch a = parse(spec);
    network one;
    TEST_OK(network_create(&one, test_rt(), &a, 6, NULL, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(&one, 5, &err), err);
    TEST_OK(network_totals_reset(&one, &err), err);
    replicas r;
    const int device = test_device();
    TEST_OK(replicas_open(&r, NULL, &device, 1, test_kernels(), &err), err);
    TEST_OK(replicas_create(&r, &a, 6, NULL, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(&r.net[0], 5, &err), err);
    TEST_OK(replicas_totals_set(&r, 0, 0, &err), err);
    const int sizes[3] = {6, 5, 1};
    loader_batch b[3];
    replicas_step s[2] = {{0}};
    double loss, correct;
    for (int k = 0; k < 3; k++) {
        b[k] = make_batch(sizes[k], 20 + (uint64_t)k);
        network_set_stream(&one, 5, 0);
        network_set_stream(&r.net[0], 5, 0);
        TEST_OK(network_upload(&one, b[k].images, b[k].labels, sizes[k], &err), err);
        TEST_OK(network_train_step(&one, sizes[k], &err), err);
        TEST_OK(replicas_train_step(&r, &b[k], 0, &s[k % 2], &err), err);
        if (k)
            TEST_OK(replicas_step_wait(&r, &s[(k - 1) % 2], &loss, &correct, &err), err);
    }
    TEST_OK(replicas_step_wait(&r, &s[0], &loss, &correct, &err), err);
    double whole_loss, whole_correct;
    TEST_OK(network_totals_read(&one, &whole_loss, &whole_correct, &err), err);
    ck_assert_double_eq(loss, whole_loss);
    ck_assert_double_eq(correct, whole_correct);
    size_t n = one.param_floats;
    float *p = params(&r, 0), *q = malloc(n * sizeof *q);
    TEST_OK(clrt_read(test_rt(), one.params, q, n * sizeof *q, &err), err);
    ck_assert_mem_eq(p, q, n * sizeof *p);
    free(p);
    free(q);
    for (int k = 0; k < 3; k++)
        free_batch(&b[k]);
    replicas_close(&r);
    network_release(&one);
}

START_TEST(one_worker_steps_as_one_network)
{
    one_worker(STATE_ARCH);
    one_worker(BLOCK_STATE_ARCH);
}
END_TEST

START_TEST(bad_device_lists_are_refused)
{
    replicas r;
    cnn_error err = {0};
    const int twice[2] = {1, 1};
    ck_assert_int_eq(replicas_open(&r, NULL, twice, 2, NULL, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "device 1 is listed twice"));
    ck_assert_int_eq(replicas_open(&r, NULL, both, 0, NULL, &err), CNN_ERR_INPUT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replicas");
    TCase *tc = tcase_create("replicas");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, summed_gradients_are_the_whole_batch);
    tcase_add_test(tc, devices_stay_identical_and_runs_repeat);
    tcase_add_test(tc, one_worker_steps_as_one_network);
    tcase_add_test(tc, bad_device_lists_are_refused);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
