/* test_avgpool.c: the average-pooling and global-average-pooling layers
 * against their double references on awkward shapes, their parsers and
 * shapes through the layer table's rows, the three pooling rows run on the
 * device against their reference adapters, and the references' backward
 * passes against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/avgpool.h"
#include "nn/gap.h"
#include "nn/layer.h"
#include "ref/activation.h"
#include "ref/avgpool.h"
#include "ref/gap.h"
#include "testutil.h"

extern const layer_kind layer_avgpool, layer_gap, layer_pool;

/* A batch of n inputs of c channels of h x w, pooled p x p at stride s
 * (p and s unused by gap). */
typedef struct {
    int n, c, h, w, p, s;
} shape;

static size_t in_size(shape s) { return (size_t)s.n * s.c * s.h * s.w; }

static size_t out_size(shape s)
{
    return (size_t)s.n * s.c * ((s.h - s.p) / s.s + 1) * ((s.w - s.p) / s.s + 1);
}

/* Windows that do not divide their input, overlap (s < p), skip inputs
 * (s > p) or cover it whole. */
static const shape shapes[] = {
    {3, 5, 10, 11, 3, 3}, {3, 17, 11, 11, 2, 2}, {5, 5, 9, 8, 3, 2},
    {3, 5, 11, 9, 2, 1},  {3, 17, 13, 11, 4, 3}, {5, 5, 11, 13, 2, 3},
    {3, 5, 6, 7, 1, 1},   {3, 17, 7, 7, 7, 1},   {32, 32, 26, 26, 2, 2},
};

START_TEST(avgpool_matches_reference)
{
    cnn_error err = {0};
    shape s = shapes[_i];
    size_t in = in_size(s), out = out_size(s);
    float *x = test_random_new(in, 10 + _i, -2, 2);
    float *dy = test_random_new(out, 30 + _i, -1, 1);
    float *y = malloc(out * sizeof *y), *dx = malloc(in * sizeof *dx);
    double *xd = test_widen(x, in), *dyd = test_widen(dy, out);
    double *yr = malloc(out * sizeof *yr), *dxr = malloc(in * sizeof *dxr);
    ref_avgpool_forward(xd, yr, s.n, s.c, s.h, s.w, s.p, s.s);
    ref_avgpool_backward(dyd, dxr, s.n, s.c, s.h, s.w, s.p, s.s);

    avgpool_layer l;
    TEST_OK(avgpool_create(&l, test_rt(), s.n, s.c, s.h, s.w, s.p, s.s,
                           &err), err);
    cl_mem bx = test_upload(x, in), bdy = test_upload(dy, out);
    cl_mem by = test_poisoned(out), bdx = test_poisoned(in);
    TEST_OK(avgpool_forward(&l, s.n, bx, by, &err), err);
    TEST_OK(avgpool_backward(&l, s.n, bdy, bdx, &err), err);
    test_download(by, y, out);
    test_download(bdx, dx, in);
    test_close("avgpool y", y, yr, out, TEST_TOL_FORWARD);
    test_close("avgpool dx", dx, dxr, in, TEST_TOL_GRAD);

    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
    avgpool_release(&l);
    free(x), free(dy), free(y), free(dx), free(xd), free(dyd), free(yr),
        free(dxr);
}
END_TEST

/* Planes smaller than, equal to and larger than the GPU forward's 64
 * work-items, and not multiples of them. */
static const shape gap_shapes[] = {
    {3, 5, 7, 5, 0, 0}, {5, 17, 1, 1, 0, 0}, {1, 1, 1, 1, 0, 0},
    {32, 64, 11, 11, 0, 0}, {3, 3, 26, 26, 0, 0}, {5, 3, 8, 8, 0, 0},
    {3, 2, 9, 15, 0, 0},
};
enum { GAP_SHAPES = sizeof gap_shapes / sizeof gap_shapes[0] };

/* Each shape as each variant. */
START_TEST(gap_matches_reference)
{
    cnn_error err = {0};
    const int variant = _i % gap_variant_count;
    _i /= gap_variant_count;
    shape s = gap_shapes[_i];
    size_t in = in_size(s), out = (size_t)s.n * s.c;
    float *x = test_random_new(in, 50 + _i, -2, 2);
    float *dy = test_random_new(out, 60 + _i, -1, 1);
    float *y = malloc(out * sizeof *y), *dx = malloc(in * sizeof *dx);
    double *xd = test_widen(x, in), *dyd = test_widen(dy, out);
    double *yr = malloc(out * sizeof *yr), *dxr = malloc(in * sizeof *dxr);
    ref_gap_forward(xd, yr, s.n, s.c, s.h, s.w);
    ref_gap_backward(dyd, dxr, s.n, s.c, s.h, s.w);

    gap_layer l;
    TEST_OK(gap_create(&l, test_rt(), s.n, s.c, s.h, s.w, variant, &err), err);
    /* A variant with work-items per plane sums it in a tree of at most
     * that many. */
    const size_t tree = (size_t)gap_variants[variant].tiles[0];
    ck_assert_int_eq(l.local != 0, tree != 0);
    ck_assert_uint_le(l.local, tree);
    cl_mem bx = test_upload(x, in), bdy = test_upload(dy, out);
    cl_mem by = test_poisoned(out), bdx = test_poisoned(in);
    TEST_OK(gap_forward(&l, s.n, bx, by, &err), err);
    TEST_OK(gap_backward(&l, s.n, bdy, bdx, &err), err);
    test_download(by, y, out);
    test_download(bdx, dx, in);
    test_close("gap y", y, yr, out, TEST_TOL_FORWARD);
    test_close("gap dx", dx, dxr, in, TEST_TOL_GRAD);

    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
    gap_release(&l);
    free(x), free(dy), free(y), free(dx), free(xd), free(dyd), free(yr),
        free(dxr);
}
END_TEST

START_TEST(rejects_bad_shapes)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    avgpool_layer a;
    ck_assert_int_eq(avgpool_create(&a, rt, 4, 3, 8, 8, 9, 1, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "window 9"));
    ck_assert_int_eq(avgpool_create(&a, rt, 4, 3, 8, 2, 3, 1, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(avgpool_create(&a, rt, 4, 3, 8, 8, 0, 1, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(avgpool_create(&a, rt, 4, 3, 8, 8, 2, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(avgpool_create(&a, rt, 0, 3, 8, 8, 2, 2, &err),
                     CNN_ERR_INPUT);
    TEST_OK(avgpool_create(&a, rt, 4, 3, 8, 8, 2, 2, &err), err);
    cl_mem b = test_poisoned(1);
    ck_assert_int_eq(avgpool_forward(&a, 0, b, b, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(avgpool_backward(&a, 5, b, b, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 5"));
    avgpool_release(&a);

    gap_layer g;
    ck_assert_int_eq(gap_create(&g, rt, 4, 0, 8, 8, 0, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(gap_create(&g, rt, 4, 3, 0, 8, 0, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(gap_create(&g, rt, 0, 3, 8, 8, 0, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(gap_create(&g, rt, 4, 3, 8, 8, gap_variant_count, &err),
                     CNN_ERR_INPUT);
    TEST_OK(gap_create(&g, rt, 4, 3, 8, 8, 0, &err), err);
    ck_assert_int_eq(gap_forward(&g, 5, b, b, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(gap_backward(&g, 0, b, b, &err), CNN_ERR_INPUT);
    gap_release(&g);
    clReleaseMemObject(b);
}
END_TEST

/* Parses `token` through kind's row and shapes it for input `in`. */
static cnn_status parse_and_shape(const layer_kind *kind, const char *token,
                                  arch_shape in, arch_layer *l,
                                  cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->token, sizeof l->token, "%s", token);
    l->in = in;
    cnn_status st = kind->parse(token + strlen(kind->prefix), l, err);
    return st ? st : kind->shape(l, err);
}

/* A token that fails to parse or shape, with a message quoting it and
 * containing `also`. */
static void check_bad(const layer_kind *kind, const char *token,
                      arch_shape in, const char *also)
{
    cnn_error err = {0};
    arch_layer l;
    ck_assert_int_eq(parse_and_shape(kind, token, in, &l, &err),
                     CNN_ERR_INPUT);
    char quoted[40];
    snprintf(quoted, sizeof quoted, "'%s'", token);
    ck_assert_msg(strstr(err.msg, quoted) && strstr(err.msg, also),
                  "%s: %s", token, err.msg);
}

START_TEST(rows_parse_and_shape)
{
    cnn_error err = {0};
    arch_layer l;
    TEST_OK(parse_and_shape(&layer_avgpool, "avgpool3s2", (arch_shape){5, 9, 8},
                            &l, &err), err);
    ck_assert_int_eq(l.k, 3);
    ck_assert_int_eq(l.stride, 2);
    ck_assert(l.out.c == 5 && l.out.h == 4 && l.out.w == 3);
    TEST_OK(parse_and_shape(&layer_avgpool, "avgpool2", (arch_shape){3, 11, 11},
                            &l, &err), err);
    ck_assert(l.k == 2 && l.stride == 2);
    ck_assert(l.out.c == 3 && l.out.h == 5 && l.out.w == 5);
    TEST_OK(parse_and_shape(&layer_gap, "gap", (arch_shape){17, 7, 5}, &l,
                            &err), err);
    ck_assert(l.out.c == 17 && l.out.h == 1 && l.out.w == 1);
    TEST_OK(parse_and_shape(&layer_gap, "gap", (arch_shape){4, 1, 1}, &l,
                            &err), err);
    ck_assert(l.out.c == 4 && l.out.h == 1 && l.out.w == 1);

    arch_shape in = {5, 8, 8};
    const char *bad[] = {"avgpoolx", "avgpool", "avgpool0", "avgpool2s0",
                         "avgpool2s", "avgpool3x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_bad(&layer_avgpool, bad[i], in, "avgpool<P>[s<S>]");
    check_bad(&layer_avgpool, "avgpool9", in, "9x9 window is larger");
    check_bad(&layer_gap, "gap2", in, "is not gap");
    check_bad(&layer_gap, "gapx", in, "is not gap");
}
END_TEST

/* Runs kind's row on the device on a batch of n inputs of shape in: create,
 * forward, backward (and backward with no dx, which does nothing), against
 * the row's reference adapters; release leaves no state behind. */
static void check_row(const layer_kind *kind, const char *token,
                      arch_shape in, int n)
{
    cnn_error err = {0};
    arch_layer l;
    TEST_OK(parse_and_shape(kind, token, in, &l, &err), err);
    size_t nx = (size_t)n * arch_size(l.in), ny = (size_t)n * arch_size(l.out);
    float *x = test_random_new(nx, 80, -2, 2), *dy = test_random_new(ny, 81, -1, 1);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    double *xd = test_widen(x, nx), *dyd = test_widen(dy, ny);
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    ref_pass p = {.n = n, .training = 1};
    kind->ref_forward(&l, &p, NULL, xd, yr);
    kind->ref_backward(&l, &p, NULL, xd, yr, dyd, dxr, NULL);

    layer_node nd = {.spec = &l};
    layer_env env = {.rt = test_rt(), .max_batch = n + 2};
    nd.y = test_poisoned(ny);
    nd.dy = test_upload(dy, ny);
    cl_mem bx = test_upload(x, nx), bdx = test_poisoned(nx);
    TEST_OK(layer_node_create(&nd, &env, &err), err);
    layer_pass dp = {.n = n, .training = 1};
    TEST_OK(kind->forward(&nd, &dp, bx, &err), err);
    TEST_OK(kind->backward(&nd, &dp, bx, NULL, &err), err);
    TEST_OK(kind->backward(&nd, &dp, bx, bdx, &err), err);
    test_download(nd.y, y, ny);
    test_download(bdx, dx, nx);
    test_close(token, y, yr, ny, TEST_TOL_FORWARD);
    test_close(token, dx, dxr, nx, TEST_TOL_GRAD);
    layer_node_release(&nd);
    ck_assert_ptr_null(nd.op);
    layer_node_release(&nd);

    clReleaseMemObject(nd.y);
    clReleaseMemObject(nd.dy);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdx);
    free(x), free(dy), free(y), free(dx), free(xd), free(dyd), free(yr),
        free(dxr);
}

START_TEST(rows_run_as_their_references)
{
    check_row(&layer_pool, "pool2", (arch_shape){5, 11, 11}, 3);
    check_row(&layer_pool, "pool3s2", (arch_shape){5, 9, 8}, 3);
    check_row(&layer_avgpool, "avgpool4s3", (arch_shape){17, 13, 11}, 5);
    check_row(&layer_gap, "gap", (arch_shape){17, 7, 5}, 3);
}
END_TEST

/* A node whose row fails to create is left with no state to release. */
START_TEST(rows_fail_cleanly)
{
    cnn_error err = {0};
    arch_layer l = {.kind = &layer_avgpool, .k = 3, .stride = 1,
                    .in = {2, 2, 2}, .out = {2, 1, 1}};
    layer_node nd = {.spec = &l};
    layer_env env = {.rt = test_rt(), .max_batch = 4};
    ck_assert_int_eq(layer_node_create(&nd, &env, &err), CNN_ERR_INPUT);
    ck_assert_ptr_null(nd.op);
    layer_node_release(&nd);
}
END_TEST

static void avgpool_function(void *args, const double *x, double *y)
{
    const shape *s = args;
    ref_avgpool_forward(x, y, s->n, s->c, s->h, s->w, s->p, s->s);
}

static void gap_function(void *args, const double *x, double *y)
{
    const shape *s = args;
    ref_gap_forward(x, y, s->n, s->c, s->h, s->w);
}

START_TEST(avgpool_reference_gradient_is_numeric)
{
    static const shape cases[] = {
        {2, 3, 5, 7, 2, 2}, {2, 2, 9, 8, 3, 2}, {1, 3, 5, 6, 2, 1},
        {2, 2, 10, 11, 4, 3}, {1, 2, 7, 7, 2, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        shape s = cases[c];
        long n = (long)in_size(s), m = (long)out_size(s);
        float *xf = test_random_new(n, 41 + c, -1, 1);
        float *r = test_random_new(m, 51 + c, -1, 1);
        double *x = test_widen(xf, n), *dy = test_widen(r, m);
        double *dx = malloc(n * sizeof *dx);
        ref_avgpool_backward(dy, dx, s.n, s.c, s.h, s.w, s.p, s.s);
        test_numeric_grad(avgpool_function, &s, x, n, dy, m, dx, "avgpool");
        free(xf), free(r), free(x), free(dy), free(dx);
    }
}
END_TEST

START_TEST(gap_reference_gradient_is_numeric)
{
    static const shape cases[] = {{2, 3, 7, 5, 0, 0}, {3, 2, 1, 1, 0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        shape s = cases[c];
        long n = (long)in_size(s), m = (long)s.n * s.c;
        float *xf = test_random_new(n, 61 + c, -1, 1);
        float *r = test_random_new(m, 71 + c, -1, 1);
        double *x = test_widen(xf, n), *dy = test_widen(r, m);
        double *dx = malloc(n * sizeof *dx);
        ref_gap_backward(dy, dx, s.n, s.c, s.h, s.w);
        test_numeric_grad(gap_function, &s, x, n, dy, m, dx, "gap");
        free(xf), free(r), free(x), free(dy), free(dx);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("avgpool");
    TCase *tc = tcase_create("avgpool");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, avgpool_matches_reference, 0,
                        sizeof shapes / sizeof shapes[0]);
    tcase_add_loop_test(tc, gap_matches_reference, 0, GAP_SHAPES * gap_variant_count);
    tcase_add_test(tc, rejects_bad_shapes);
    tcase_add_test(tc, rows_parse_and_shape);
    tcase_add_test(tc, rows_run_as_their_references);
    tcase_add_test(tc, rows_fail_cleanly);
    tcase_add_test(tc, avgpool_reference_gradient_is_numeric);
    tcase_add_test(tc, gap_reference_gradient_is_numeric);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
