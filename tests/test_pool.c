/* test_pool.c: the max-pooling and ReLU layers (the shape-preserving layers
 * between the convolutions) against their double references on awkward
 * shapes, and the references' backward passes against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "pool.h"
#include "ref/activation.h"
#include "ref/pool.h"
#include "testutil.h"

typedef struct {
    int n, c, h, w;
} shape;

static double *widen(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* Runs forward and backward on x (and a random dy) for shape s and compares
 * both with the reference. Outputs start poisoned. */
static void check_pool(shape s, const float *x, uint64_t seed)
{
    cnn_error err = {0};
    size_t in = (size_t)s.n * s.c * s.h * s.w;
    size_t out = (size_t)s.n * s.c * (s.h / 2) * (s.w / 2);
    float *dy = malloc(out * sizeof *dy), *y = malloc(out * sizeof *y);
    float *dx = malloc(in * sizeof *dx);
    double *yr = malloc(out * sizeof *yr), *dxr = malloc(in * sizeof *dxr);
    test_random(dy, out, seed, -1, 1);
    double *xd = widen(x, in), *dyd = widen(dy, out);
    ref_maxpool_forward(xd, yr, s.n, s.c, s.h, s.w);
    ref_maxpool_backward(xd, dyd, dxr, s.n, s.c, s.h, s.w);

    pool_layer l;
    TEST_OK(pool_create(&l, test_rt(), s.c, s.h, s.w, &err), err);
    cl_mem bx = test_upload(x, in), bdy = test_upload(dy, out);
    cl_mem by = test_poisoned(out), bdx = test_poisoned(in);
    TEST_OK(pool_forward(&l, s.n, bx, by, &err), err);
    TEST_OK(pool_backward(&l, s.n, bx, bdy, bdx, &err), err);
    test_download(by, y, out);
    test_download(bdx, dx, in);
    test_close("pool y", y, yr, out, TEST_TOL_FORWARD);
    test_close("pool dx", dx, dxr, in, TEST_TOL_GRAD);

    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
    pool_release(&l);
    free(dy), free(y), free(dx), free(yr), free(dxr), free(xd), free(dyd);
}

static const shape shapes[] = {
    {1, 1, 5, 5},   {3, 3, 7, 11}, {33, 7, 13, 5}, {1, 32, 26, 26},
    {3, 1, 11, 2},  {2, 4, 2, 13},  {4, 32, 26, 26},
};

START_TEST(pool_matches_reference)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        shape s = shapes[i];
        size_t in = (size_t)s.n * s.c * s.h * s.w;
        float *x = malloc(in * sizeof *x);
        test_random(x, in, 10 + i, -2, 2);
        check_pool(s, x, 20 + i);
        free(x);
    }
}
END_TEST

/* Inputs drawn from {0, 1, 2}: most windows tie, and the winner must be the
 * first maximum in row-major order in the kernel as in the reference. */
START_TEST(pool_ties_go_to_first_maximum)
{
    shape s = {3, 7, 13, 11};
    size_t in = (size_t)s.n * s.c * s.h * s.w;
    float *x = malloc(in * sizeof *x);
    test_random(x, in, 5, 0, 3);
    for (size_t i = 0; i < in; i++)
        x[i] = floorf(x[i]);
    check_pool(s, x, 6);
    free(x);
}
END_TEST

START_TEST(pool_is_deterministic)
{
    cnn_error err = {0};
    shape s = {3, 7, 11, 13};
    size_t in = (size_t)s.n * s.c * s.h * s.w, out = in; /* out is enough */
    float *x = malloc(in * sizeof *x), *a = malloc(in * sizeof *a);
    float *b = malloc(in * sizeof *b);
    test_random(x, in, 7, -1, 1);
    pool_layer l;
    TEST_OK(pool_create(&l, test_rt(), s.c, s.h, s.w, &err), err);
    cl_mem bx = test_upload(x, in), bdy = test_upload(x, out);
    cl_mem d1 = test_poisoned(in), d2 = test_poisoned(in);
    TEST_OK(pool_backward(&l, s.n, bx, bdy, d1, &err), err);
    TEST_OK(pool_backward(&l, s.n, bx, bdy, d2, &err), err);
    test_download(d1, a, in);
    test_download(d2, b, in);
    ck_assert_mem_eq(a, b, in * sizeof *a);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(d1);
    clReleaseMemObject(d2);
    pool_release(&l);
    free(x), free(a), free(b);
}
END_TEST

START_TEST(pool_rejects_bad_shapes)
{
    cnn_error err = {0};
    pool_layer l;
    ck_assert_int_eq(pool_create(&l, test_rt(), 3, 1, 8, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(pool_create(&l, test_rt(), 0, 4, 4, &err), CNN_ERR_INPUT);
    TEST_OK(pool_create(&l, test_rt(), 3, 4, 4, &err), err);
    cl_mem b = test_poisoned(1);
    ck_assert_int_eq(pool_forward(&l, 0, b, b, &err), CNN_ERR_INPUT);
    clReleaseMemObject(b);
    pool_release(&l);
}
END_TEST

static void pool_function(void *args, const double *x, double *y)
{
    const shape *s = args;
    ref_maxpool_forward(x, y, s->n, s->c, s->h, s->w);
}

static void relu_function(void *args, const double *x, double *y)
{
    ref_relu_forward(x, y, *(const long *)args);
}

/* Compares a reference backward pass's dx, given dy, with central
 * differences of its forward pass f, in double. */
static void check_numeric(ref_function f, void *args, double *x, long n,
                          const double *dy, long m, const double *dx,
                          const char *what)
{
    double *y = malloc(m * sizeof *y), *num = malloc(n * sizeof *num);
    ref_numeric_grad(f, args, x, n, dy, y, m, 1e-6, num);
    for (long i = 0; i < n; i++)
        ck_assert_msg(fabs(num[i] - dx[i]) < 1e-7, "%s dx[%ld] = %.12g, "
                      "numeric %.12g", what, i, dx[i], num[i]);
    free(y), free(num);
}

START_TEST(pool_reference_gradient_is_numeric)
{
    shape s = {2, 3, 5, 7};
    long n = 2 * 3 * 5 * 7, m = 2 * 3 * 2 * 3;
    float *xf = malloc(n * sizeof *xf), *r = malloc(m * sizeof *r);
    test_random(xf, n, 41, -1, 1);
    test_random(r, m, 42, -1, 1);
    double *x = widen(xf, n), *dy = widen(r, m), *dx = malloc(n * sizeof *dx);
    ref_maxpool_backward(x, dy, dx, s.n, s.c, s.h, s.w);
    check_numeric(pool_function, &s, x, n, dy, m, dx, "pool");
    free(xf), free(r), free(x), free(dy), free(dx);
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
    double *x = widen(xf, n), *dy = widen(r, n), *y = malloc(n * sizeof *y);
    double *dx = malloc(n * sizeof *dx);
    ref_relu_forward(x, y, n);
    ref_relu_backward(y, dy, dx, n);
    check_numeric(relu_function, &n, x, n, dy, n, dx, "relu");
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
        double *xd = widen(x, n), *dyd = widen(dy, n);
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
    tcase_add_test(tc, pool_matches_reference);
    tcase_add_test(tc, pool_ties_go_to_first_maximum);
    tcase_add_test(tc, pool_is_deterministic);
    tcase_add_test(tc, pool_rejects_bad_shapes);
    tcase_add_test(tc, pool_reference_gradient_is_numeric);
    tcase_add_test(tc, relu_reference_gradient_is_numeric);
    tcase_add_test(tc, relu_layer_matches_reference);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
