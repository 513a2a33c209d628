/* test_pool.c: the max-pooling and ReLU layers against their double
 * references on awkward shapes, the max-pool's exact selection and routing,
 * its parser and shapes through the layer table's row, and the references'
 * backward passes against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/activation.h"
#include "nn/layer.h"
#include "nn/pool.h"
#include "ref/activation.h"
#include "ref/pool.h"
#include "testutil.h"

extern const layer_kind layer_pool;

/* A batch of n inputs of c channels of h x w, pooled p x p at stride s. */
typedef struct {
    int n, c, h, w, p, s;
} shape;

static size_t in_size(shape s) { return (size_t)s.n * s.c * s.h * s.w; }

static size_t out_size(shape s)
{
    return (size_t)s.n * s.c * ((s.h - s.p) / s.s + 1) * ((s.w - s.p) / s.s + 1);
}

/* Runs the device's forward on x and backward on dy for shape s as
 * pool_variants[variant], outputs poisoned first; y and dx receive the
 * results. */
static void run_pool(shape s, int variant, const float *x, const float *dy, float *y,
                     float *dx)
{
    cnn_error err = {0};
    size_t in = in_size(s), out = out_size(s);
    pool_layer l;
    TEST_OK(pool_create(&l, test_rt(), s.n, s.c, s.h, s.w, s.p, s.s, variant, &err),
            err);
    /* A variant with a work-group size runs its own kernels where it has
     * them, in groups of at most that size. */
    const size_t wg = (size_t)pool_variants[variant].tiles[0];
    ck_assert_int_eq(l.wg != 0, wg && s.p == 2 && s.s == 2);
    ck_assert_uint_le(l.wg, wg);
    cl_mem bx = test_upload(x, in), bdy = test_upload(dy, out);
    cl_mem by = test_poisoned(out), bdx = test_poisoned(in);
    TEST_OK(pool_forward(&l, s.n, bx, by, &err), err);
    TEST_OK(pool_backward(&l, s.n, bx, bdy, bdx, &err), err);
    test_download(by, y, out);
    test_download(bdx, dx, in);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
    pool_release(&l);
}

/* The device's y and dx for x and dy against the reference's, for every
 * variant: within the tolerances, or bit for bit when exact (max selects a
 * value of x, and dy holding small integers sums exactly in any order).
 * The variants share one arithmetic key, so they must agree bit for bit. */
static void check_pool_variant(shape s, int variant, const float *x, const float *dy,
                               int exact, float *y0, float *dx0, int compare);

static void check_pool(shape s, const float *x, const float *dy, int exact)
{
    size_t in = in_size(s), out = out_size(s);
    float *y0 = malloc(out * sizeof *y0), *dx0 = malloc(in * sizeof *dx0);
    for (int v = 0; v < pool_variant_count; v++)
        check_pool_variant(s, v, x, dy, exact, y0, dx0, v > 0);
    free(y0), free(dx0);
}

static void check_pool_variant(shape s, int variant, const float *x, const float *dy,
                               int exact, float *y0, float *dx0, int compare)
{
    size_t in = in_size(s), out = out_size(s);
    float *y = malloc(out * sizeof *y), *dx = malloc(in * sizeof *dx);
    double *yr = malloc(out * sizeof *yr), *dxr = malloc(in * sizeof *dxr);
    double *xd = test_widen(x, in), *dyd = test_widen(dy, out);
    ref_maxpool_forward(xd, yr, s.n, s.c, s.h, s.w, s.p, s.s);
    ref_maxpool_backward(xd, dyd, dxr, s.n, s.c, s.h, s.w, s.p, s.s);
    run_pool(s, variant, x, dy, y, dx);
    if (!compare) {
        memcpy(y0, y, out * sizeof *y);
        memcpy(dx0, dx, in * sizeof *dx);
    } else {
        ck_assert_msg(!memcmp(y, y0, out * sizeof *y), "pool%ds%d: %s's y differs",
                      s.p, s.s, pool_variants[variant].label);
        ck_assert_msg(!memcmp(dx, dx0, in * sizeof *dx), "pool%ds%d: %s's dx differs",
                      s.p, s.s, pool_variants[variant].label);
    }
    if (exact) {
        for (size_t i = 0; i < out; i++)
            ck_assert_msg(y[i] == (float)yr[i], "pool%ds%d y[%zu] = %.9g, "
                          "the reference's winner %.9g", s.p, s.s, i,
                          (double)y[i], yr[i]);
        for (size_t i = 0; i < in; i++)
            ck_assert_msg(dx[i] == (float)dxr[i], "pool%ds%d dx[%zu] = %.9g, "
                          "reference %.9g", s.p, s.s, i, (double)dx[i],
                          dxr[i]);
    } else {
        test_close("pool y", y, yr, out, TEST_TOL_FORWARD);
        test_close("pool dx", dx, dxr, in, TEST_TOL_GRAD);
    }
    free(y), free(dx), free(yr), free(dxr), free(xd), free(dyd);
}

/* 2x2 stride 2 (the fast path) and windows that do not divide their input,
 * overlap (s < p), skip inputs (s > p) or cover it whole. */
static const shape shapes[] = {
    {1, 1, 5, 5, 2, 2},    {3, 3, 7, 11, 2, 2},  {33, 7, 13, 5, 2, 2},
    {1, 32, 26, 26, 2, 2}, {3, 1, 11, 2, 2, 2},  {2, 4, 2, 13, 2, 2},
    {4, 32, 26, 26, 2, 2}, {3, 5, 11, 11, 2, 2}, {3, 5, 10, 11, 3, 3},
    {5, 17, 9, 8, 3, 2},   {3, 5, 11, 9, 2, 1},  {3, 17, 13, 11, 4, 3},
    {5, 5, 11, 13, 2, 3},  {3, 5, 6, 7, 1, 1},   {3, 17, 7, 7, 7, 1},
    {3, 5, 9, 8, 5, 4},    {5, 64, 16, 16, 2, 2}, {3, 3, 3, 3, 2, 2},
};
enum { SHAPES = sizeof shapes / sizeof shapes[0] };

START_TEST(pool_matches_reference)
{
    shape s = shapes[_i];
    size_t in = in_size(s), out = out_size(s);
    float *x = malloc(in * sizeof *x), *dy = malloc(out * sizeof *dy);
    test_random(x, in, 10 + _i, -2, 2);
    test_random(dy, out, 40 + _i, -1, 1);
    check_pool(s, x, dy, 0);
    free(x), free(dy);
}
END_TEST

/* x with (ties 1) or without many ties in its windows, dy small integers:
 * y is bit for bit the reference winner's value and dx bit for bit the sum
 * of dy over the windows the reference says an input wins, so a kernel
 * that picks another winner, or routes dy anywhere else, fails. */
static void check_exact(int ties)
{
    for (int i = 0; i < SHAPES; i++) {
        shape s = shapes[i];
        size_t in = in_size(s), out = out_size(s);
        float *x = malloc(in * sizeof *x), *dy = malloc(out * sizeof *dy);
        test_random(x, in, 70 + i, ties ? 0 : -2, ties ? 3 : 2);
        test_random(dy, out, 90 + i, -8, 9);
        for (size_t j = 0; j < out; j++)
            dy[j] = floorf(dy[j]);
        for (size_t j = 0; ties && j < in; j++)
            x[j] = floorf(x[j]);
        check_pool(s, x, dy, 1);
        free(x), free(dy);
    }
}

START_TEST(pool_selects_and_routes_exactly)
{
    check_exact(0);
}
END_TEST

/* Inputs drawn from {0, 1, 2}: most windows tie, and the winner must be the
 * first maximum in row-major order in the kernel as in the reference. */
START_TEST(pool_ties_go_to_first_maximum)
{
    check_exact(1);
}
END_TEST

START_TEST(pool_rejects_bad_shapes)
{
    cnn_error err = {0};
    pool_layer l;
    ck_assert_int_eq(pool_create(&l, test_rt(), 4, 3, 1, 8, 2, 2, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(pool_create(&l, test_rt(), 4, 3, 8, 8, 9, 1, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "window 9"));
    ck_assert_int_eq(pool_create(&l, test_rt(), 4, 0, 4, 4, 2, 2, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(pool_create(&l, test_rt(), 4, 3, 4, 4, 0, 2, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(pool_create(&l, test_rt(), 4, 3, 4, 4, 2, 0, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(
        pool_create(&l, test_rt(), 4, 3, 4, 4, 2, 2, pool_variant_count, &err),
        CNN_ERR_INPUT);
    ck_assert_int_eq(pool_create(&l, test_rt(), 0, 3, 4, 4, 2, 2, 0, &err),
                     CNN_ERR_INPUT);
    TEST_OK(pool_create(&l, test_rt(), 4, 3, 4, 4, 3, 1, 0, &err), err);
    cl_mem b = test_poisoned(1);
    ck_assert_int_eq(pool_forward(&l, 0, b, b, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(pool_backward(&l, 5, b, b, b, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 5"));
    clReleaseMemObject(b);
    pool_release(&l);
}
END_TEST

/* Parses `token` through the row and shapes it for input `in`. */
static cnn_status parse_and_shape(const char *token, arch_shape in,
                                  arch_layer *l, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->kind = &layer_pool;
    snprintf(l->token, sizeof l->token, "%s", token);
    l->in = in;
    cnn_status st = layer_pool.parse(token + strlen("pool"), l, err);
    return st ? st : layer_pool.shape(l, err);
}

START_TEST(pool_row_parses_and_shapes)
{
    static const struct {
        const char *token;
        int h, w, p, s, oh, ow;
    } good[] = {
        {"pool2", 26, 26, 2, 2, 13, 13}, {"pool2", 11, 11, 2, 2, 5, 5},
        {"pool3", 10, 11, 3, 3, 3, 3},   {"pool3s2", 9, 8, 3, 2, 4, 3},
        {"pool2s1", 5, 7, 2, 1, 4, 6},   {"pool4s3", 13, 11, 4, 3, 4, 3},
        {"pool8", 8, 8, 8, 8, 1, 1},     {"pool1s2", 5, 4, 1, 2, 3, 2},
    };
    cnn_error err = {0};
    arch_layer l;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        TEST_OK(parse_and_shape(good[i].token, (arch_shape){5, good[i].h,
                                good[i].w}, &l, &err), err);
        ck_assert_int_eq(l.k, good[i].p);
        ck_assert_int_eq(l.stride, good[i].s);
        ck_assert_int_eq(l.out.c, 5);
        ck_assert_int_eq(l.out.h, good[i].oh);
        ck_assert_int_eq(l.out.w, good[i].ow);
    }
    static const char *bad[] = {"pool", "pool0", "pool2s0", "pool2s",
                                "pools2", "pool2x", "pool2s2s2", "pool-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        ck_assert_int_eq(parse_and_shape(bad[i], (arch_shape){5, 8, 8}, &l,
                                         &err), CNN_ERR_INPUT);
        char quoted[40];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        ck_assert_msg(strstr(err.msg, quoted) && strstr(err.msg, "pool<P>"),
                      "%s: %s", bad[i], err.msg);
    }
    ck_assert_int_eq(parse_and_shape("pool9", (arch_shape){5, 8, 8}, &l, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "'pool9': cannot pool a 8x8 input") &&
                      strstr(err.msg, "9x9 window"), "%s", err.msg);
    ck_assert_int_eq(parse_and_shape("pool3", (arch_shape){5, 8, 2}, &l, &err),
                     CNN_ERR_INPUT);
}
END_TEST

static void pool_function(void *args, const double *x, double *y)
{
    const shape *s = args;
    ref_maxpool_forward(x, y, s->n, s->c, s->h, s->w, s->p, s->s);
}

static void relu_function(void *args, const double *x, double *y)
{
    ref_relu_forward(x, y, *(const long *)args);
}

/* Distinct inputs, spaced far wider than the step, so no perturbation
 * changes a window's winner; windows of every kind, overlapping ones
 * included. */
START_TEST(pool_reference_gradient_is_numeric)
{
    static const shape cases[] = {
        {2, 3, 5, 7, 2, 2}, {2, 2, 9, 8, 3, 2}, {1, 3, 5, 6, 2, 1},
        {2, 2, 10, 11, 4, 3}, {1, 2, 7, 7, 2, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        shape s = cases[c];
        long n = (long)in_size(s), m = (long)out_size(s);
        float *r = malloc(m * sizeof *r);
        test_random(r, m, 42 + c, -1, 1);
        double *x = malloc(n * sizeof *x), *dy = test_widen(r, m);
        double *dx = malloc(n * sizeof *dx);
        for (long i = 0; i < n; i++) /* a permutation of 0 .. n-1, scaled */
            x[i] = (double)(i * 7919 % n) / n - 0.5;
        ref_maxpool_backward(x, dy, dx, s.n, s.c, s.h, s.w, s.p, s.s);
        test_numeric_grad(pool_function, &s, x, n, dy, m, dx, "pool");
        free(r), free(x), free(dy), free(dx);
    }
}
END_TEST

START_TEST(relu_reference_gradient_is_numeric)
{
    long n = 101;
    float *xf = malloc(n * sizeof *xf), *r = malloc(n * sizeof *r);
    test_random(xf, n, 43, -1, 1);
    for (long i = 0; i < n; i++) /* keep the kink out of the step's reach */
        if (fabsf(xf[i]) < 1e-3f)
            xf[i] = 0.5f;
    test_random(r, n, 44, -1, 1);
    double *x = test_widen(xf, n), *dy = test_widen(r, n), *y = malloc(n * sizeof *y);
    double *dx = malloc(n * sizeof *dx);
    ref_relu_forward(x, y, n);
    ref_relu_backward(y, dy, dx, n);
    test_numeric_grad(relu_function, &n, x, n, dy, n, dx, "relu");
    free(xf), free(r), free(x), free(dy), free(y), free(dx);
}
END_TEST

START_TEST(relu_layer_matches_reference)
{
    static const size_t counts[] = {1, 3, 1031, 70001};
    cnn_error err = {0};
    relu_layer l;
    TEST_OK(relu_create(&l, test_rt(), &err), err);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
        float *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
        test_random(x, n, 50 + c, -2, 2);
        test_random(dy, n, 60 + c, -1, 1);
        double *xd = test_widen(x, n), *dyd = test_widen(dy, n);
        double *yr = malloc(n * sizeof *yr), *dxr = malloc(n * sizeof *dxr);
        ref_relu_forward(xd, yr, (long)n);
        ref_relu_backward(yr, dyd, dxr, (long)n);
        cl_mem bx = test_upload(x, n), bdy = test_upload(dy, n);
        cl_mem by = test_poisoned(n), bdx = test_poisoned(n);
        TEST_OK(relu_forward(&l, n, bx, by, &err), err);
        TEST_OK(relu_backward(&l, n, by, bdy, bdx, &err), err);
        test_download(by, y, n);
        test_download(bdx, dx, n);
        test_close("relu y", y, yr, n, TEST_TOL_FORWARD);
        test_close("relu dx", dx, dxr, n, TEST_TOL_GRAD);
        clReleaseMemObject(bx);
        clReleaseMemObject(bdy);
        clReleaseMemObject(by);
        clReleaseMemObject(bdx);
        free(x), free(dy), free(y), free(dx), free(xd), free(dyd), free(yr),
            free(dxr);
    }
    ck_assert_int_eq(relu_forward(&l, 0, NULL, NULL, &err), CNN_ERR_INPUT);
    relu_release(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, pool_matches_reference, 0, SHAPES);
    tcase_add_test(tc, pool_selects_and_routes_exactly);
    tcase_add_test(tc, pool_ties_go_to_first_maximum);
    tcase_add_test(tc, pool_rejects_bad_shapes);
    tcase_add_test(tc, pool_row_parses_and_shapes);
    tcase_add_test(tc, pool_reference_gradient_is_numeric);
    tcase_add_test(tc, relu_reference_gradient_is_numeric);
    tcase_add_test(tc, relu_layer_matches_reference);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
