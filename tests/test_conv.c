/* test_conv.c: the convolution layer against its double reference on
 * awkward shapes and the reference model's shapes, determinism, and a
 * finite-difference check of the reference itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "ref/activation.h"
#include "ref/conv.h"
#include "testutil.h"

typedef struct {
    int n, c, h, w, oc, k, relu;
} shape;

static double *widen(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static float *random_floats(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    test_random(x, n, seed, lo, hi);
    return x;
}

/* Sub-buffer `bytes` at `offset` of parent, for parameters that live inside
 * one larger buffer as the trainer keeps them. */
static cl_mem view(cl_mem parent, size_t offset, size_t bytes)
{
    cnn_error err = {0};
    cl_mem v;
    TEST_OK(clrt_sub_buffer(parent, offset, bytes, &v, &err), err);
    return v;
}

/* Runs forward and backward on random data of shape s (in a layer created
 * for max_batch) and compares y, dx, dw, db with the reference. The
 * reference dz is the device's y masked as the layer documents, so a y
 * near 0 cannot flip the mask between the two. With views set, w, b, dw
 * and db are sub-buffers at aligned offsets of larger buffers. */
static void check(shape s, int max_batch, int with_dx, int views)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    int oh = s.h - s.k + 1, ow = s.w - s.k + 1;
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * s.c * s.k * s.k;
    size_t ny = (size_t)s.n * s.oc * oh * ow, nb = (size_t)s.oc;
    float scale = 1.0f / sqrtf((float)(s.c * s.k * s.k));
    float *x = random_floats(nx, 1, -1, 1), *w = random_floats(nw, 2, -scale, scale);
    float *b = random_floats(nb, 3, -0.5f, 0.5f), *dy = random_floats(ny, 4, -1, 1);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    float *dw = malloc(nw * sizeof *dw), *db = malloc(nb * sizeof *db);
    double *yr = malloc(ny * sizeof *yr), *dz = malloc(ny * sizeof *dz);
    double *dxr = malloc(nx * sizeof *dxr), *dwr = malloc(nw * sizeof *dwr);
    double *dbr = malloc(nb * sizeof *dbr);

    conv_layer l;
    TEST_OK(conv_create(&l, rt, max_batch, s.c, s.h, s.w, s.oc, s.k, s.relu, &err), err);
    cl_mem bx = test_upload(x, nx), bdy = test_upload(dy, ny);
    cl_mem by = test_poisoned(ny), bdx = test_poisoned(nx);
    cl_mem bw, bb, bdw, bdb, params = NULL, grads = NULL;
    if (views) {
        size_t align = clrt_align(rt), wbytes = nw * sizeof(float);
        size_t boff = (wbytes + 3 * align) / align * align;
        size_t total = (boff + nb * sizeof(float)) / sizeof(float) + 1;
        float *host = random_floats(total, 5, -1, 1);
        memcpy(host + align / sizeof(float), w, wbytes);
        memcpy(host + boff / sizeof(float), b, nb * sizeof(float));
        params = test_upload(host, total);
        grads = test_poisoned(total);
        free(host);
        bw = view(params, align, wbytes);
        bb = view(params, boff, nb * sizeof(float));
        bdw = view(grads, align, wbytes);
        bdb = view(grads, boff, nb * sizeof(float));
    } else {
        bw = test_upload(w, nw);
        bb = test_upload(b, nb);
        bdw = test_poisoned(nw);
        bdb = test_poisoned(nb);
    }

    TEST_OK(conv_forward(&l, s.n, bx, bw, bb, by, &err), err);
    TEST_OK(conv_backward(&l, s.n, bx, bw, by, bdy, with_dx ? bdx : NULL, bdw,
                          bdb, &err), err);
    test_download(by, y, ny);
    test_download(bdw, dw, nw);
    test_download(bdb, db, nb);
    if (with_dx)
        test_download(bdx, dx, nx);

    double *xd = widen(x, nx), *wd = widen(w, nw), *bd = widen(b, nb);
    double *dyd = widen(dy, ny), *yd = widen(y, ny);
    ref_conv_forward(xd, wd, bd, yr, s.n, s.c, s.h, s.w, s.oc, s.k, s.relu);
    test_close("conv y", y, yr, ny, TEST_TOL_FORWARD);
    if (s.relu)
        ref_relu_backward(yd, dyd, dz, (long)ny);
    else
        memcpy(dz, dyd, ny * sizeof *dz);
    ref_conv_backward(xd, wd, dz, with_dx ? dxr : NULL, dwr, dbr, s.n, s.c,
                      s.h, s.w, s.oc, s.k);
    test_close("conv dw", dw, dwr, nw, TEST_TOL_GRAD);
    test_close("conv db", db, dbr, nb, TEST_TOL_GRAD);
    if (with_dx)
        test_close("conv dx", dx, dxr, nx, TEST_TOL_GRAD);

    cl_mem mems[] = {bx, bdy, by, bdx, bw, bb, bdw, bdb, params, grads};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            clReleaseMemObject(mems[i]);
    conv_release(&l);
    void *host[] = {x, w, b, dy, y, dx, dw, db, yr, dz, dxr, dwr, dbr,
                    xd, wd, bd, dyd, yd};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

static const shape awkward[] = {
    {1, 1, 5, 7, 1, 1, 0},    {3, 3, 9, 8, 5, 3, 1},
    {33, 7, 11, 13, 13, 5, 0}, {3, 13, 7, 9, 7, 3, 1},
    {2, 5, 6, 9, 32, 1, 1},   {1, 64, 9, 7, 3, 3, 0},
    {3, 32, 10, 12, 64, 5, 1}, {1, 3, 5, 5, 17, 5, 1},
};

START_TEST(matches_reference_on_awkward_shapes)
{
    check(awkward[_i], awkward[_i].n, 1, 0);
}
END_TEST

/* A layer serves any batch up to the one it was created for. */
START_TEST(smaller_batch_than_created)
{
    check((shape){33, 5, 8, 11, 7, 3, 1}, 40, 1, 0);
}
END_TEST

/* conv1 needs no input gradient; its parameters are views of one buffer. */
START_TEST(model_conv1)
{
    check((shape){32, 1, 28, 28, 32, 3, 1}, 32, 0, 1);
}
END_TEST

START_TEST(model_conv2)
{
    check((shape){32, 32, 13, 13, 64, 3, 1}, 32, 1, 1);
}
END_TEST

/* Two runs of every pass give bit-identical results. */
START_TEST(deterministic)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    shape s = {9, 13, 12, 11, 21, 3, 1};
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * s.c * 9;
    size_t ny = (size_t)s.n * s.oc * 10 * 9;
    float *x = random_floats(nx, 6, -1, 1), *w = random_floats(nw, 7, -0.1f, 0.1f);
    float *b = random_floats(s.oc, 8, -1, 1), *dy = random_floats(ny, 9, -1, 1);
    conv_layer l;
    TEST_OK(conv_create(&l, rt, s.n, s.c, s.h, s.w, s.oc, s.k, s.relu, &err), err);
    cl_mem bx = test_upload(x, nx), bw = test_upload(w, nw);
    cl_mem bb = test_upload(b, s.oc), bdy = test_upload(dy, ny);
    float *out[2];
    size_t total = ny + nx + nw + s.oc;
    for (int run = 0; run < 2; run++) {
        cl_mem by = test_poisoned(ny), bdx = test_poisoned(nx);
        cl_mem bdw = test_poisoned(nw), bdb = test_poisoned(s.oc);
        TEST_OK(conv_forward(&l, s.n, bx, bw, bb, by, &err), err);
        TEST_OK(conv_backward(&l, s.n, bx, bw, by, bdy, bdx, bdw, bdb, &err), err);
        out[run] = malloc(total * sizeof(float));
        test_download(by, out[run], ny);
        test_download(bdx, out[run] + ny, nx);
        test_download(bdw, out[run] + ny + nx, nw);
        test_download(bdb, out[run] + ny + nx + nw, s.oc);
        clReleaseMemObject(by);
        clReleaseMemObject(bdx);
        clReleaseMemObject(bdw);
        clReleaseMemObject(bdb);
    }
    ck_assert_mem_eq(out[0], out[1], total * sizeof(float));
    clReleaseMemObject(bx);
    clReleaseMemObject(bw);
    clReleaseMemObject(bb);
    clReleaseMemObject(bdy);
    conv_release(&l);
    free(out[0]);
    free(out[1]);
    free(x);
    free(w);
    free(b);
    free(dy);
}
END_TEST

START_TEST(rejects_bad_shapes)
{
    cnn_error err = {0};
    conv_layer l;
    ck_assert_int_eq(conv_create(&l, test_rt(), 4, 3, 2, 8, 4, 3, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "kernel 3"));
    TEST_OK(conv_create(&l, test_rt(), 4, 3, 8, 8, 4, 3, 0, &err), err);
    ck_assert_int_eq(conv_forward(&l, 5, NULL, NULL, NULL, NULL, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 5"));
    conv_release(&l);
}
END_TEST

/* The reference's gradients against central differences of
 * L = sum(g * y) in double (no ReLU, so L is smooth). */
START_TEST(reference_gradients_match_finite_differences)
{
    enum { N = 2, C = 3, H = 6, WD = 5, OC = 4, K = 3, OH = 4, OW = 3 };
    enum { NX = N * C * H * WD, NW = OC * C * K * K, NY = N * OC * OH * OW };
    double x[NX], w[NW], b[OC], g[NY], y[NY], dx[NX], dw[NW], db[OC];
    float r[NX + NW + OC + NY];
    test_random(r, sizeof r / sizeof r[0], 10, -1, 1);
    double *all[] = {x, w, b, g};
    size_t len[] = {NX, NW, OC, NY}, at = 0;
    for (int a = 0; a < 4; a++)
        for (size_t i = 0; i < len[a]; i++)
            all[a][i] = r[at++];
    ref_conv_backward(x, w, g, dx, dw, db, N, C, H, WD, OC, K);
    double *grad[] = {dx, dw, db};
    const double eps = 1e-6;
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < len[a]; i++) {
            double keep = all[a][i], lp = 0, lm = 0;
            all[a][i] = keep + eps;
            ref_conv_forward(x, w, b, y, N, C, H, WD, OC, K, 0);
            for (int j = 0; j < NY; j++)
                lp += g[j] * y[j];
            all[a][i] = keep - eps;
            ref_conv_forward(x, w, b, y, N, C, H, WD, OC, K, 0);
            for (int j = 0; j < NY; j++)
                lm += g[j] * y[j];
            all[a][i] = keep;
            double fd = (lp - lm) / (2 * eps);
            ck_assert_msg(fabs(fd - grad[a][i]) <= 1e-7 * (1 + fabs(fd)),
                          "gradient %d[%zu]: analytic %.12g, numeric %.12g",
                          a, i, grad[a][i], fd);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reference_gradients_match_finite_differences);
    tcase_add_test(tc, rejects_bad_shapes);
    tcase_add_loop_test(tc, matches_reference_on_awkward_shapes, 0,
                        sizeof awkward / sizeof awkward[0]);
    tcase_add_test(tc, smaller_batch_than_created);
    tcase_add_test(tc, model_conv1);
    tcase_add_test(tc, model_conv2);
    tcase_add_test(tc, deterministic);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
