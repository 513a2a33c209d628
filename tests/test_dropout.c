/* test_dropout.c: the dropout kernel against its double reference (the
 * masks agree exactly), the mask's statistics, its dependence on the key
 * and on nothing else, inference as the identity, a finite-difference check
 * of the reference, and the drop<R> token through the layer table's row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dropout.h"
#include "nn/layer.h"
#include "ref/activation.h"
#include "ref/dropout.h"
#include "testutil.h"

extern const layer_kind layer_drop;

static const uint64_t KEY = 0x5eed0001;

/* The device's forward (backward when `back`) of x, (n, size), in a layer
 * created for max_batch, into a poisoned buffer; returned malloc'd. */
static float *run_from(int max_batch, int n, long size, double rate, int training,
                       uint64_t key, int first, int back, const float *x)
{
    cnn_error err = {0};
    size_t count = (size_t)n * size;
    dropout_layer l;
    TEST_OK(dropout_create(&l, test_rt(), max_batch, size, rate, &err), err);
    cl_mem in = test_upload(x, count), out = test_poisoned(count);
    if (back)
        TEST_OK(dropout_backward(&l, n, training, key, first, in, out, &err), err);
    else
        TEST_OK(dropout_forward(&l, n, training, key, first, in, out, &err), err);
    float *y = malloc(count * sizeof *y);
    test_download(out, y, count);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    dropout_release(&l);
    return y;
}

/* The same for a batch that is a whole one. */
static float *run(int max_batch, int n, long size, double rate, int training,
                  uint64_t key, int back, const float *x)
{
    return run_from(max_batch, n, size, rate, training, key, 0, back, x);
}

/* How many of y's count values are zero. */
static size_t zeros(const float *y, size_t count)
{
    size_t z = 0;
    for (size_t i = 0; i < count; i++)
        z += y[i] == 0;
    return z;
}

typedef struct {
    int n;
    long size;
} shape;

static const shape shapes[] = {{3, 5 * 7 * 9}, {1, 1}, {5, 13}, {7, 65}};
static const double rates[] = {0, 0.25, 0.5, 0.9};

/* Training forward and backward against the reference. Inputs are bounded
 * away from 0, so a zero in an output is a dropped element, and the zero
 * patterns (the masks) must be equal, not merely close. */
START_TEST(dropout_matches_reference)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
            shape sh = shapes[s];
            double rate = rates[r];
            size_t count = (size_t)sh.n * sh.size;
            for (int back = 0; back < 2; back++) {
                float *x = test_random_new(count, 1 + back, 0.5f, 1.5f);
                float *y = run(sh.n, sh.n, sh.size, rate, 1, KEY, back, x);
                double *xd = test_widen(x, count), *yr = malloc(count * sizeof *yr);
                if (back)
                    ref_dropout_backward(xd, yr, (long)count, rate, KEY, 1);
                else
                    ref_dropout_forward(xd, yr, (long)count, rate, KEY, 1);
                for (size_t i = 0; i < count; i++)
                    ck_assert_msg((y[i] == 0) == (yr[i] == 0),
                                  "rate %g, %s: element %zu is %g on the "
                                  "device, %g in the reference", rate,
                                  back ? "backward" : "forward", i,
                                  (double)y[i], yr[i]);
                test_close(back ? "dropout dx" : "dropout y", y, yr, count,
                           TEST_TOL_FORWARD);
                free(x), free(y), free(xd), free(yr);
            }
        }
}
END_TEST

/* Over 100003 elements the kept fraction is 1 - rate within 0.01 (the
 * standard deviation is at most 0.0016). */
START_TEST(dropout_keeps_one_minus_rate)
{
    enum { N = 100003 };
    float *x = test_random_new(N, 3, 0.5f, 1.5f);
    for (size_t r = 1; r < sizeof rates / sizeof rates[0]; r++) {
        float *y = run(1, 1, N, rates[r], 1, KEY, 0, x);
        double kept = 1 - (double)zeros(y, N) / N;
        ck_assert_msg(fabs(kept - (1 - rates[r])) <= 0.01,
                      "rate %g keeps %.4f", rates[r], kept);
        free(y);
    }
    free(x);
}
END_TEST

/* Another key draws another mask: at rate 0.5 about half the elements
 * change between kept and dropped. */
START_TEST(dropout_key_changes_mask)
{
    enum { N = 3 * 5 * 7 * 9 };
    float *x = test_random_new(N, 4, 0.5f, 1.5f);
    float *a = run(3, 3, N / 3, 0.5, 1, KEY, 0, x);
    float *b = run(3, 3, N / 3, 0.5, 1, KEY + 1, 0, x);
    size_t differ = 0;
    for (size_t i = 0; i < N; i++)
        differ += (a[i] == 0) != (b[i] == 0);
    ck_assert_msg(differ > N * 4 / 10 && differ < N * 6 / 10,
                  "%zu of %d mask bits differ", differ, N);
    free(x), free(a), free(b);
}
END_TEST

/* The same key gives bit-identical outputs, and the mask depends on the
 * flat index alone: batches of other sizes, layers of other sample sizes
 * and so other launch sizes agree on the elements they share. */
START_TEST(dropout_mask_depends_on_key_and_index_only)
{
    enum { SIZE = 5 * 7 * 9, N = 5 * SIZE };
    float *x = test_random_new(N, 5, 0.5f, 1.5f);
    float *a = run(5, 5, SIZE, 0.5, 1, KEY, 0, x);
    float *again = run(5, 5, SIZE, 0.5, 1, KEY, 0, x);
    ck_assert_mem_eq(a, again, N * sizeof *a);
    struct {
        int max_batch, n;
        long size;
    } others[] = {{8, 1, SIZE}, {2, 2, SIZE}, {100, 61, 7}, {1, 1, 1},
                  {1, 1, N - 3}};
    for (size_t o = 0; o < sizeof others / sizeof others[0]; o++) {
        size_t count = (size_t)others[o].n * others[o].size;
        float *b = run(others[o].max_batch, others[o].n, others[o].size, 0.5,
                       1, KEY, 0, x);
        ck_assert_mem_eq(a, b, count * sizeof *b);
        free(b);
    }
    free(x), free(a), free(again);
}
END_TEST

/* Inference copies bit for bit, signed zeros, infinities and NaNs
 * included, in both directions; so does training at rate 0 on finite
 * values. */
/* A part of a batch (a device's slice in data-parallel training) gets the
 * masks its samples get in the whole batch, both ways. */
START_TEST(dropout_slice_gets_the_whole_batch_masks)
{
    const int n = 7, first = 3, part = 3;
    const long size = 37;
    float x[7 * 37];
    for (int i = 0; i < n * size; i++)
        x[i] = 1.0f + (float)(i % 5);
    for (int back = 0; back < 2; back++) {
        float *whole = run(n, n, size, 0.5, 1, KEY, back, x);
        float *slice = run_from(n, part, size, 0.5, 1, KEY, first, back, x + first * size);
        for (long i = 0; i < part * size; i++)
            ck_assert_float_eq(slice[i], whole[first * size + i]);
        float *start = run(n, part, size, 0.5, 1, KEY, back, x + first * size);
        ck_assert(memcmp(start, slice, (size_t)(part * size) * sizeof *start));
        free(whole);
        free(slice);
        free(start);
    }
}
END_TEST

START_TEST(dropout_inference_is_identity)
{
    enum { N = 3 * 5 * 7 * 9 };
    float *x = test_random_new(N, 6, -1e3f, 1e3f);
    x[0] = -0.0f, x[1] = INFINITY, x[2] = -INFINITY, x[3] = 1e-37f;
    x[4] = 3.4e38f;
    for (int back = 0; back < 2; back++) {
        float *y = run(3, 3, N / 3, 0.9, 0, KEY, back, x);
        ck_assert_mem_eq(x, y, N * sizeof *x);
        free(y);
        y = run(3, 3, N / 3, 0, 1, KEY, back, x);
        ck_assert_mem_eq(x, y, N * sizeof *x);
        free(y);
    }
    x[5] = NAN;
    float *y = run(3, 3, N / 3, 0.5, 0, KEY, 0, x);
    ck_assert_mem_eq(x, y, N * sizeof *x);
    free(x), free(y);
}
END_TEST

typedef struct {
    long count;
    double rate;
} fd_args;

static void forward_fn(void *args, const double *x, double *y)
{
    fd_args *a = args;
    ref_dropout_forward(x, y, a->count, a->rate, KEY, 1);
}

/* The reference backward against central differences of its forward, with
 * the mask fixed by the key. */
START_TEST(dropout_reference_gradient_matches_finite_differences)
{
    enum { N = 3 * 5 * 7 };
    float r[2 * N];
    test_random(r, 2 * N, 7, -1, 1);
    double x[N], dy[N], y[N], dx[N], fd[N];
    for (int i = 0; i < N; i++)
        x[i] = r[i], dy[i] = r[N + i];
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        fd_args args = {N, rates[k]};
        ref_dropout_backward(dy, dx, N, rates[k], KEY, 1);
        ref_numeric_grad(forward_fn, &args, x, N, dy, y, N, 1e-5, fd);
        for (int i = 0; i < N; i++)
            ck_assert_msg(fabs(fd[i] - dx[i]) <= 1e-7 * (1 + fabs(fd[i])),
                          "rate %g, dx[%d]: analytic %.12g, numeric %.12g",
                          rates[k], i, dx[i], fd[i]);
    }
}
END_TEST

START_TEST(dropout_rejects_bad_input)
{
    cnn_error err = {0};
    dropout_layer l;
    ck_assert_int_eq(dropout_create(&l, test_rt(), 0, 10, 0.5, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(dropout_create(&l, test_rt(), 2, 0, 0.5, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(dropout_create(&l, test_rt(), 2, 10, 1, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(dropout_create(&l, test_rt(), 2, 10, -0.1, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "[0, 1)"));
    TEST_OK(dropout_create(&l, test_rt(), 2, 10, 0.5, &err), err);
    ck_assert_int_eq(dropout_forward(&l, 3, 1, KEY, 0, NULL, NULL, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 3"));
    ck_assert_int_eq(dropout_backward(&l, 0, 1, KEY, 0, NULL, NULL, &err),
                     CNN_ERR_INPUT);
    dropout_release(&l);
}
END_TEST

/* Parses `token` (starting with "drop") through the row. */
static cnn_status parse(const char *token, arch_layer *l, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->kind = &layer_drop;
    strcpy(l->token, token);
    return layer_drop.parse(token + strlen(layer_drop.prefix), l, err);
}

START_TEST(dropout_token_parses)
{
    static const struct {
        const char *token;
        double rate;
    } good[] = {{"drop0.25", 0.25}, {"drop0.5", 0.5}, {"drop0", 0},
                {"drop0.0", 0}, {"drop0.999", 0.999}, {"drop00.1", 0.1}};
    cnn_error err = {0};
    arch_layer l;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        TEST_OK(parse(good[i].token, &l, &err), err);
        ck_assert_msg(l.rate == good[i].rate, "%s: rate %g", good[i].token,
                      l.rate);
    }
    l.in = (arch_shape){3, 5, 7};
    TEST_OK(layer_drop.shape(&l, &err), err);
    ck_assert(l.out.c == 3 && l.out.h == 5 && l.out.w == 7);
    l.in = (arch_shape){10, 1, 1};
    TEST_OK(layer_drop.shape(&l, &err), err);
    ck_assert(l.out.c == 10 && l.out.h == 1 && l.out.w == 1);
    ck_assert_str_eq(layer_drop.keras, "Dropout");
    ck_assert_uint_eq(layer_drop.flags, 0);
    ck_assert_ptr_null(layer_drop.params);
}
END_TEST

START_TEST(dropout_token_rejects)
{
    static const char *const malformed[] = {
        "drop", "drop.5", "drop0.", "drop0.5x", "drop-0.1", "drop+0.5",
        "drop0.5.5", "drop1e-1", "drop 0.5", "dropx"};
    static const char *const out_of_range[] = {"drop1", "drop1.5", "drop1.0",
                                               "drop10", "drop0.99999999999"};
    cnn_error err = {0};
    arch_layer l;
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        ck_assert_msg(parse(malformed[i], &l, &err) == CNN_ERR_INPUT,
                      "%s accepted", malformed[i]);
        ck_assert_msg(strstr(err.msg, malformed[i]) != NULL, "%s", err.msg);
        ck_assert_msg(strstr(err.msg, "drop<R>") != NULL, "%s", err.msg);
    }
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        ck_assert_msg(parse(out_of_range[i], &l, &err) == CNN_ERR_INPUT,
                      "%s accepted", out_of_range[i]);
        ck_assert_msg(strstr(err.msg, out_of_range[i]) != NULL, "%s", err.msg);
        ck_assert_msg(strstr(err.msg, "[0, 1)") != NULL, "%s", err.msg);
    }
}
END_TEST

/* The row's device adapters against its reference adapters: a (3, 5, 7)
 * input, forward and backward in training, then inference. */
START_TEST(dropout_row_matches_its_reference)
{
    enum { N = 3, SIZE = 3 * 5 * 7, COUNT = N * SIZE };
    cnn_error err = {0};
    arch_layer spec;
    TEST_OK(parse("drop0.25", &spec, &err), err);
    spec.in = (arch_shape){3, 5, 7};
    TEST_OK(layer_drop.shape(&spec, &err), err);
    layer_env env = {.rt = test_rt(), .max_batch = 4};
    layer_node nd = {.spec = &spec};
    TEST_OK(layer_node_create(&nd, &env, &err), err);
    float *x = test_random_new(COUNT, 8, 0.5f, 1.5f);
    float *dy = test_random_new(COUNT, 9, 0.5f, 1.5f);
    float y[COUNT], dx[COUNT];
    double *xd = test_widen(x, COUNT), *dyd = test_widen(dy, COUNT);
    double yr[COUNT], dxr[COUNT];
    nd.y = test_poisoned(COUNT);
    nd.dy = test_upload(dy, COUNT);
    cl_mem bx = test_upload(x, COUNT), bdx = test_poisoned(COUNT);
    for (int training = 1; training >= 0; training--) {
        layer_pass p = {.n = N, .training = training, .key = KEY};
        TEST_OK(layer_drop.forward(&nd, &p, bx, &err), err);
        TEST_OK(layer_drop.backward(&nd, &p, bx, bdx, &err), err);
        TEST_OK(layer_drop.backward(&nd, &p, bx, NULL, &err), err);
        test_download(nd.y, y, COUNT);
        test_download(bdx, dx, COUNT);
        ref_pass rp = {.n = N, .training = training, .key = KEY};
        layer_drop.ref_forward(&spec, &rp, NULL, xd, yr);
        layer_drop.ref_backward(&spec, &rp, NULL, xd, yr, dyd, dxr, NULL);
        for (int i = 0; i < COUNT; i++)
            ck_assert((y[i] == 0) == (yr[i] == 0) &&
                      (dx[i] == 0) == (dxr[i] == 0));
        ck_assert_uint_eq(zeros(y, COUNT) > 0, training);
        test_close("row y", y, yr, COUNT, TEST_TOL_FORWARD);
        test_close("row dx", dx, dxr, COUNT, TEST_TOL_FORWARD);
    }
    layer_node_release(&nd);
    ck_assert_ptr_null(nd.op);
    clReleaseMemObject(nd.y);
    clReleaseMemObject(nd.dy);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdx);
    free(x), free(dy), free(xd), free(dyd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dropout_reference_gradient_matches_finite_differences);
    tcase_add_test(tc, dropout_token_parses);
    tcase_add_test(tc, dropout_token_rejects);
    tcase_add_test(tc, dropout_rejects_bad_input);
    tcase_add_test(tc, dropout_matches_reference);
    tcase_add_test(tc, dropout_keeps_one_minus_rate);
    tcase_add_test(tc, dropout_key_changes_mask);
    tcase_add_test(tc, dropout_mask_depends_on_key_and_index_only);
    tcase_add_test(tc, dropout_inference_is_identity);
    tcase_add_test(tc, dropout_slice_gets_the_whole_batch_masks);
    tcase_add_test(tc, dropout_row_matches_its_reference);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
