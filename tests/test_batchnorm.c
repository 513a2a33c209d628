/* test_batchnorm.c: the batch-normalisation layer against its double
 * reference on awkward shapes (spatial and flat, batch 1 included), in
 * training and inference, with a ReLU folded in and without, and with a
 * block's add folded in; the folds against batch norm and the ReLU layer,
 * or the block's add, run apart, bit for bit; the padded copy of y the
 * forward may write, against y; dx written transposed, against dx; the
 * reference against hand-computed values and finite differences; and the
 * "bn" row: its parser, shape, parameters and adapters. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/layer.h"
#include "nn/res.h"
#include "ref/activation.h"
#include "ref/batchnorm.h"
#include "ref/res.h"
#include "testutil.h"

extern const layer_kind layer_bn;

typedef struct {
    int n, c, h, w;
} shape;

/* Random per-channel parameters: gamma, beta, running mean, running var. */
static void random_params(float *p[4], int c, uint64_t seed)
{
    static const float range[4][2] = {{0.5f, 1.5f}, {-0.5f, 0.5f},
                                      {-0.5f, 0.5f}, {0.5f, 2.0f}};
    for (int i = 0; i < 4; i++)
        p[i] = test_random_new((size_t)c, seed + i, range[i][0], range[i][1]);
}

/* The reference of a layer with a ReLU folded in (relu), given the
 * device's output y of the same forward: y = max(y, 0) in place, and dy
 * (of the ReLU's output) masked where the device's y is not positive, as
 * the device's backward reads it. Taking the device's y for the mask keeps
 * an output within rounding of 0 from flipping it. */
static void ref_fold(int relu, double *yr, const float *y, const double *dy, double *dym,
                     size_t count)
{
    if (!relu) {
        memcpy(dym, dy, count * sizeof *dy);
        return;
    }
    ref_relu_forward(yr, yr, (long)count);
    double *yd = test_widen(y, count);
    ref_relu_backward(yd, dy, dym, (long)count);
    free(yd);
}

/* A training forward, its backward, then an inference forward, all on the
 * device from random data of shape s (in a layer created for max_batch,
 * a ReLU folded in when relu, a block's add of a random shortcut when
 * join, and a second gradient of y too), against the reference: y, the
 * moved running statistics, dx, dgamma, dbeta, and the inference y from the
 * device's moved statistics; with join, the masked dy the backward keeps
 * (with the second gradient added). The training x sits off zero
 * so a one-pass variance would lose digits; beta, and the inference x
 * about 0, spread the outputs on both sides of the ReLU's 0. */
static void check(shape s, int max_batch, int with_dx, int relu, int join, int variant)
{
    cnn_error err = {0};
    int hw = s.h * s.w;
    size_t nx = (size_t)s.n * s.c * hw, nc = (size_t)s.c;
    float *x = test_random_new(nx, 1, 2, 4), *dy = test_random_new(nx, 2, -1, 1);
    float *xi = test_random_new(nx, 4, -1, 1), *sc = test_random_new(nx, 5, -1, 1);
    float *ds = test_random_new(nx, 6, -1, 1);
    float *p[4];
    random_params(p, s.c, 3);
    float *y = malloc(nx * sizeof *y), *dx = malloc(nx * sizeof *dx);
    float *yi = malloc(nx * sizeof *yi), *rm = malloc(nc * sizeof *rm);
    float *rv = malloc(nc * sizeof *rv), *dg = malloc(nc * sizeof *dg);
    float *db = malloc(nc * sizeof *db);

    batchnorm_layer l;
    TEST_OK(batchnorm_create(&l, test_rt(), max_batch, s.c, s.h, s.w, relu, variant, &err),
            err);
    ck_assert_int_eq(l.gpu, batchnorm_variants[variant].tiles[0] == BATCHNORM_PER_CHUNK);
    cl_mem bx = test_upload(x, nx), bdy = test_upload(dy, nx), bxi = test_upload(xi, nx);
    cl_mem bs = join ? test_upload(sc, nx) : NULL, bds = join ? test_upload(ds, nx) : NULL,
           bp[4];
    for (int i = 0; i < 4; i++)
        bp[i] = test_upload(p[i], nc);
    cl_mem by = test_poisoned(nx), byi = test_poisoned(nx);
    cl_mem bdx = test_poisoned(nx), bdg = test_poisoned(nc);
    cl_mem bdb = test_poisoned(nc);
    TEST_OK(batchnorm_forward(&l, s.n, 1, bx, bs, bp[0], bp[1], bp[2], bp[3], by,
                              &err), err);
    TEST_OK(batchnorm_backward(&l, s.n, bx, by, bp[0], bp[1], bdy, bds, join,
                               with_dx ? bdx : NULL, bdg, bdb, &err), err);
    TEST_OK(batchnorm_forward(&l, s.n, 0, bxi, bs, bp[0], bp[1], bp[2], bp[3], byi,
                              &err), err);
    test_download(by, y, nx);
    test_download(byi, yi, nx);
    test_download(bp[2], rm, nc);
    test_download(bp[3], rv, nc);
    test_download(bdg, dg, nc);
    test_download(bdb, db, nc);
    if (with_dx)
        test_download(bdx, dx, nx);

    /* the second gradient added as a float, res_accumulate's sum */
    for (size_t i = 0; i < nx && join; i++)
        dy[i] += ds[i];
    double *xd = test_widen(x, nx), *dyd = test_widen(dy, nx), *pd[4];
    for (int i = 0; i < 4; i++)
        pd[i] = test_widen(p[i], nc);
    double *yr = malloc(nx * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    double *dgr = malloc(nc * sizeof *dgr), *dbr = malloc(nc * sizeof *dbr);
    double *dym = malloc(nx * sizeof *dym);
    double *sd = test_widen(sc, nx);
    ref_batchnorm_forward(xd, pd[0], pd[1], pd[2], pd[3], yr, s.n, s.c, hw, 1);
    if (join)
        ref_res_add(yr, sd, yr, (long)nx, 0);
    ref_fold(relu, yr, y, dyd, dym, nx);
    test_close("bn y (training)", y, yr, nx, TEST_TOL_FORWARD);
    if (join) { /* dy masked, bit for bit */
        float *kept = malloc(nx * sizeof *kept);
        test_download(bdy, kept, nx);
        for (size_t i = 0; i < nx; i++)
            ck_assert_msg(kept[i] == dym[i], "kept dy[%zu] %g, masked %g", i, kept[i], dym[i]);
        free(kept);
    }
    test_close("bn running_mean", rm, pd[2], nc, TEST_TOL_FORWARD);
    test_close("bn running_var", rv, pd[3], nc, TEST_TOL_FORWARD);
    ref_batchnorm_backward(xd, pd[0], dym, dxr, dgr, dbr, s.n, s.c, hw);
    test_close("bn dgamma", dg, dgr, nc, TEST_TOL_GRAD);
    test_close("bn dbeta", db, dbr, nc, TEST_TOL_GRAD);
    if (with_dx)
        test_close("bn dx", dx, dxr, nx, TEST_TOL_GRAD);
    double *rmd = test_widen(rm, nc), *rvd = test_widen(rv, nc), *xid = test_widen(xi, nx);
    ref_batchnorm_forward(xid, pd[0], pd[1], rmd, rvd, yr, s.n, s.c, hw, 0);
    if (join)
        ref_res_add(yr, sd, yr, (long)nx, 0);
    ref_fold(relu, yr, yi, dyd, dym, nx);
    test_close("bn y (inference)", yi, yr, nx, TEST_TOL_FORWARD);
    if (relu) { /* the fold had outputs on both sides of 0 */
        size_t cut = 0;
        for (size_t i = 0; i < nx; i++)
            cut += (y[i] == 0.0f) + (yi[i] == 0.0f);
        ck_assert_msg(cut > 0 && cut < 2 * nx, "%zu of %zu outputs cut", cut, 2 * nx);
    }

    cl_mem mems[] = {bx, bdy, bxi, bp[0], bp[1], bp[2], bp[3], by, byi, bdx, bdg,
                     bdb, bs, bds};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        clrt_release_mem(&mems[i]);
    batchnorm_release(&l);
    void *host[] = {x, dy, p[0], p[1], p[2], p[3], y, dx, yi, rm, rv, dg, db,
                    xd, dyd, pd[0], pd[1], pd[2], pd[3], yr, dxr, dgr, dbr,
                    rmd, rvd, dym, xi, xid, sc, sd, ds};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}

/* Spatial and flat ((N, C, 1, 1), after a flatten or dense layer); channel
 * values fewer and more than a work-group; batch 1 flat, where the batch
 * variance is 0 over a single value; for the GPU variant, channels of one
 * chunk (1024 values on PoCL) and of many, a partial last chunk, and more
 * chunks (258) than work-items per group. */
static const shape awkward[] = {
    {3, 5, 7, 9},   {5, 17, 1, 1},   {2, 3, 13, 13},  {1, 4, 1, 1},
    {33, 7, 5, 5},  {1, 3, 1, 7},    {7, 1, 30, 31},  {5, 3, 16, 16},
    {3, 2, 1025, 1}, {257, 1, 32, 32},
};
enum { AWKWARD = sizeof awkward / sizeof awkward[0] };

/* Each shape as each variant: nothing folded in, a ReLU, and a block's add
 * before a ReLU. */
START_TEST(matches_reference_on_awkward_shapes)
{
    const shape s = awkward[_i / (3 * batchnorm_variant_count)];
    const int fold = _i % 3;
    check(s, s.n, 1, fold > 0, fold > 1, _i / 3 % batchnorm_variant_count);
}
END_TEST

/* A layer serves any batch up to the one it was created for; a first layer
 * needs no dx. With a ReLU folded in, and a block's add without one. */
START_TEST(smaller_batch_without_dx)
{
    for (int v = 0; v < batchnorm_variant_count; v++)
        for (int relu = 0; relu < 2; relu++) {
            check((shape){3, 6, 4, 5}, 8, 0, relu, !relu, v);
            if (batchnorm_variants[v].tiles[0] == BATCHNORM_PER_CHUNK)
                check((shape){3, 2, 40, 40}, 8, 0, relu, !relu, v);
        }
}
END_TEST

/* Batch norm with the ReLU folded in against batch norm and the ReLU layer
 * run apart, bit for bit: training forward, backward (through the ReLU
 * layer's backward apart) with and without dx, the moving statistics and
 * an inference forward, each variant. The channels of (3, 6, 5, 7) give
 * the ReLU its edge cases: 0 random; 1 constant with gamma < 0 and
 * beta = -0.0, so y is -0.0 (in inference too: the running mean is that
 * constant); 2 the same with gamma > 0 and beta = +0.0; 3 a NaN among its
 * values (in training the statistics and so every y are NaN; in inference
 * one y); 4 random; 5 an infinity. dy holds -0.0 in channel 0 and NaN in
 * channel 3, where the ReLU cuts every value in training. */
enum { SN = 3, SC = 6, SH = 5, SW = 7, SX = SN * SC * SH * SW, SHW = SH * SW };

static void special_inputs(float *x, float *dy, float *p[4])
{
    test_random(x, SX, 60, -2, 2);
    test_random(dy, SX, 61, -1, 1);
    random_params(p, SC, 62);
    for (int i = 0; i < SN; i++)
        for (int k = 0; k < SHW; k++) {
            const size_t at = ((size_t)i * SC) * SHW + k;
            x[at + 1 * SHW] = x[at + 2 * SHW] = 2.0f;
            if (k % 5 == 0)
                dy[at] = -0.0f;
            dy[at + 3 * SHW] = NAN;
        }
    x[(size_t)1 * SC * SHW + 3 * SHW + 4] = NAN;
    x[(size_t)2 * SC * SHW + 5 * SHW + 9] = INFINITY;
    p[0][1] = -0.75f, p[1][1] = -0.0f, p[2][1] = 2.0f;
    p[0][2] = 0.75f, p[1][2] = 0.0f, p[2][2] = 2.0f;
}

/* The outputs of one run: y, dx, dgamma, dbeta, running mean and variance
 * after the training forward, and the inference y. */
typedef struct {
    float y[SX], dx[SX], dg[SC], db[SC], rm[SC], rv[SC], yi[SX];
} bn_run;

/* A training step's outputs into out: y, dx, dgamma, dbeta and the moved
 * running statistics, which are then set back to special_inputs' (p) for
 * the inference forward. */
static void take_training(cl_mem y, cl_mem dx, cl_mem dg, cl_mem db, const cl_mem bp[4],
                          float *const p[4], bn_run *out)
{
    cnn_error err = {0};
    test_download(y, out->y, SX);
    test_download(dx, out->dx, SX);
    test_download(dg, out->dg, SC);
    test_download(db, out->db, SC);
    test_download(bp[2], out->rm, SC);
    test_download(bp[3], out->rv, SC);
    for (int i = 2; i < 4; i++)
        TEST_OK(clrt_write(test_rt(), bp[i], p[i], SC * sizeof(float), &err), err);
}

/* Runs layer l (relu folded or not) on the special inputs; with apart, a
 * ReLU layer after its forwards and before its backward. */
static void special_run(int variant, int fold, int with_dx, bn_run *out)
{
    cnn_error err = {0};
    float x[SX], dy[SX], *p[4];
    special_inputs(x, dy, p);
    batchnorm_layer l;
    relu_layer r;
    TEST_OK(batchnorm_create(&l, test_rt(), SN, SC, SH, SW, fold, variant, &err), err);
    TEST_OK(relu_create(&r, test_rt(), &err), err);
    cl_mem bx = test_upload(x, SX), bdy = test_upload(dy, SX), bp[4];
    for (int i = 0; i < 4; i++)
        bp[i] = test_upload(p[i], SC);
    cl_mem bz = test_poisoned(SX), by = test_poisoned(SX), bdz = test_poisoned(SX);
    cl_mem bdx = test_poisoned(SX), bdg = test_poisoned(SC), bdb = test_poisoned(SC);
    cl_mem y = fold ? bz : by, dz = fold ? bdy : bdz;
    TEST_OK(batchnorm_forward(&l, SN, 1, bx, NULL, bp[0], bp[1], bp[2], bp[3], bz, &err),
            err);
    if (!fold) {
        TEST_OK(relu_forward(&r, SX, bz, by, &err), err);
        TEST_OK(relu_backward(&r, SX, by, bdy, bdz, &err), err);
    }
    TEST_OK(batchnorm_backward(&l, SN, bx, fold ? bz : NULL, bp[0], bp[1], dz, NULL, 0,
                               with_dx ? bdx : NULL, bdg, bdb, &err), err);
    take_training(y, bdx, bdg, bdb, bp, p, out);
    TEST_OK(batchnorm_forward(&l, SN, 0, bx, NULL, bp[0], bp[1], bp[2], bp[3], bz, &err),
            err);
    if (!fold)
        TEST_OK(relu_forward(&r, SX, bz, by, &err), err);
    test_download(y, out->yi, SX);
    if (!fold) { /* the cases are there: batch norm gave -0.0 and NaN */
        float z[SX];
        test_download(bz, z, SX);
        ck_assert(z[1 * SHW] == 0.0f && signbit(z[1 * SHW]));
        ck_assert(isnan(z[(size_t)1 * SC * SHW + 3 * SHW + 4]));
        ck_assert(isinf(z[(size_t)2 * SC * SHW + 5 * SHW + 9]));
    }
    cl_mem mems[] = {bx, bdy, bp[0], bp[1], bp[2], bp[3], bz, by, bdz, bdx, bdg, bdb};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        clReleaseMemObject(mems[i]);
    relu_release(&r);
    batchnorm_release(&l);
    for (int i = 0; i < 4; i++)
        free(p[i]);
}

START_TEST(fold_matches_relu_apart_bit_for_bit)
{
    const int variant = _i / 2, with_dx = _i % 2;
    bn_run *run = malloc(2 * sizeof *run);
    ck_assert_ptr_nonnull(run);
    for (int fold = 0; fold < 2; fold++)
        special_run(variant, fold, with_dx, &run[fold]);
    const struct {
        const char *what;
        size_t at, size;
    } parts[] = {
        {"y", offsetof(bn_run, y), sizeof run->y},
        {"dx", offsetof(bn_run, dx), with_dx ? sizeof run->dx : 0},
        {"dgamma", offsetof(bn_run, dg), sizeof run->dg},
        {"dbeta", offsetof(bn_run, db), sizeof run->db},
        {"running_mean", offsetof(bn_run, rm), sizeof run->rm},
        {"running_var", offsetof(bn_run, rv), sizeof run->rv},
        {"y (inference)", offsetof(bn_run, yi), sizeof run->yi},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        ck_assert_msg(!memcmp((char *)&run[0] + parts[i].at, (char *)&run[1] + parts[i].at,
                              parts[i].size),
                      "%s of variant %s differs with the ReLU folded in", parts[i].what,
                      batchnorm_variants[variant].label);
    free(run);
}
END_TEST

/* A block's add folded in (y = bn(x) + s, then a ReLU after the block when
 * relu), and the sum of y's two gradients (dy and ds, where y is also
 * another block's input), against batch norm and res.h's joins run apart,
 * bit for bit, on the special inputs, a shortcut of -0.0, +0.0, NaN and
 * random values, and ds random with -0.0 where dy is: training forward, the
 * add's gradient (kept in dy, written by res_accumulate and
 * res_add_backward apart), dx, dgamma, dbeta, the moving statistics and an
 * inference forward. */
static void join_run(int variant, int fold, int relu, bn_run *out, float *g)
{
    cnn_error err = {0};
    float x[SX], dy[SX], sc[SX], ds[SX], *p[4];
    special_inputs(x, dy, p);
    test_random(sc, SX, 63, -2, 2);
    test_random(ds, SX, 64, -1, 1);
    for (int i = 0; i < SX; i++)
        ds[i] = dy[i] == 0.0f ? -0.0f : ds[i];
    for (int k = 0; k < SHW; k++) /* channel 1's y is -0.0, channel 2's +0.0 */
        sc[1 * SHW + k] = sc[2 * SHW + k] = k % 2 ? -0.0f : 0.0f;
    sc[4 * SHW + 3] = NAN;
    batchnorm_layer l;
    res_joins j;
    TEST_OK(batchnorm_create(&l, test_rt(), SN, SC, SH, SW, fold && relu, variant, &err),
            err);
    TEST_OK(res_joins_create(&j, test_rt(), &err), err);
    cl_mem bx = test_upload(x, SX), bdy = test_upload(dy, SX), bs = test_upload(sc, SX),
           bds = test_upload(ds, SX), bp[4];
    for (int i = 0; i < 4; i++)
        bp[i] = test_upload(p[i], SC);
    cl_mem bz = test_poisoned(SX), by = test_poisoned(SX), bg = test_poisoned(SX);
    cl_mem bdx = test_poisoned(SX), bdg = test_poisoned(SC), bdb = test_poisoned(SC);
    cl_mem y = fold ? bz : by, kept = fold ? bdy : bg;
    TEST_OK(batchnorm_forward(&l, SN, 1, bx, fold ? bs : NULL, bp[0], bp[1], bp[2], bp[3],
                              bz, &err), err);
    if (!fold) {
        TEST_OK(res_add(&j, SX, bz, bs, by, relu, &err), err);
        TEST_OK(res_accumulate(&j, SX, bdy, bds, &err), err);
        TEST_OK(res_add_backward(&j, SX, by, bdy, bg, relu, &err), err);
    }
    TEST_OK(batchnorm_backward(&l, SN, bx, y, bp[0], bp[1], kept, fold ? bds : NULL, fold,
                               bdx, bdg, bdb, &err), err);
    test_download(kept, g, SX);
    take_training(y, bdx, bdg, bdb, bp, p, out);
    TEST_OK(batchnorm_forward(&l, SN, 0, bx, fold ? bs : NULL, bp[0], bp[1], bp[2], bp[3],
                              bz, &err), err);
    if (!fold)
        TEST_OK(res_add(&j, SX, bz, bs, by, relu, &err), err);
    test_download(y, out->yi, SX);
    cl_mem mems[] = {bx, bdy, bs, bds, bp[0], bp[1], bp[2], bp[3], bz, by, bg, bdx, bdg, bdb};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        clReleaseMemObject(mems[i]);
    res_joins_release(&j);
    batchnorm_release(&l);
    for (int i = 0; i < 4; i++)
        free(p[i]);
}

/* Whether special_inputs' dy is a zero at i. */
static int dy_zero(int i)
{
    return i % (SC * SHW) < SHW && i % (SC * SHW) % 5 == 0;
}

START_TEST(join_matches_add_apart_bit_for_bit)
{
    const int variant = _i / 2, relu = _i % 2;
    bn_run *run = malloc(2 * sizeof *run);
    float *g = malloc(2 * SX * sizeof *g);
    ck_assert_ptr_nonnull(run);
    ck_assert_ptr_nonnull(g);
    for (int fold = 0; fold < 2; fold++)
        join_run(variant, fold, relu, &run[fold], g + fold * SX);
    ck_assert_msg(!memcmp(run, run + 1, sizeof *run) && !memcmp(g, g + SX, SX * sizeof *g),
                  "variant %s differs with the add folded in (relu %d)",
                  batchnorm_variants[variant].label, relu);
    /* the cases are there: -0.0 and NaN sums, or gradients cut by the ReLU */
    int negative_zero = 0, nan = 0, cut = 0;
    for (int i = 0; i < SX; i++) {
        negative_zero += run->y[i] == 0.0f && signbit(run->y[i]);
        nan += isnan(run->yi[i]);
        cut += g[i] == 0.0f && !(dy_zero(i));
    }
    ck_assert_msg(relu ? cut > 0 : negative_zero > 0 && nan > 0, "-0.0 %d, NaN %d, cut %d",
                  negative_zero, nan, cut);
    free(run);
    free(g);
}
END_TEST

/* Whether row v sums as the first row ("channel") does: a block row. */
static int channel_keyed(int v)
{
    return !strcmp(batchnorm_variants[v].arithmetic, batchnorm_variants[0].arithmetic);
}

/* A block row against the one-channel row, bit for bit: the join's run
 * (training forward with the add and ReLU, the kept gradient with ds, dx,
 * dgamma, dbeta, the moving statistics, inference), six channels, so that
 * a block runs past the last. */
START_TEST(block_rows_match_channel_bit_for_bit)
{
    bn_run *run = malloc(2 * sizeof *run);
    float *g = malloc(2 * SX * sizeof *g);
    ck_assert_ptr_nonnull(run);
    ck_assert_ptr_nonnull(g);
    int blocks = 0;
    for (int v = 1; v < batchnorm_variant_count; v++) {
        if (!channel_keyed(v))
            continue;
        blocks++;
        for (int relu = 0; relu < 2; relu++) {
            join_run(0, 1, relu, &run[0], g);
            join_run(v, 1, relu, &run[1], g + SX);
            ck_assert_msg(!memcmp(run, run + 1, sizeof *run) &&
                              !memcmp(g, g + SX, SX * sizeof *g),
                          "row %s differs from %s (relu %d)", batchnorm_variants[v].label,
                          batchnorm_variants[0].label, relu);
        }
    }
    ck_assert_int_ge(blocks, 1);
    free(run);
    free(g);
}
END_TEST

/* The padded copy of y the forward also writes (batchnorm_pad_output):
 * each case's geometry, then training or inference, y kept or not, a join
 * on odd cases. Its inside holds y's bits and its padding stays zero in
 * every plane (a row's last vector, stored whole where it may, must not
 * reach another plane); y holds the bits of a forward without the copy
 * when kept, and is not written when not; the same for each row that
 * sums as the first (a block of channels walks them image by image). The
 * GPU variant declines. */
static const struct {
    shape s;
    int hp, wp, top, left;
} padded_cases[] = {
    {{3, 3, 7, 7}, 9, 9, 1, 1},     /* 'same': a row's vector reaches 2 rows on */
    {{2, 2, 28, 28}, 30, 30, 1, 1}, /* two vectors a row */
    {{2, 3, 14, 14}, 15, 15, 0, 0}, /* padding after only (stride 2) */
    {{2, 2, 8, 9}, 7, 7, 0, 0},     /* rows and columns past the copy */
    {{1, 2, 3, 3}, 5, 5, 1, 1},     /* too little room: tails in pieces */
};
enum { PADDED_CASES = sizeof padded_cases / sizeof padded_cases[0] };

START_TEST(padded_output_copies_y_bit_for_bit)
{
    const int ci = _i / 4 % PADDED_CASES, training = _i % 2, keep_y = _i / 2 % 2,
              join = ci % 2, row = _i / (4 * PADDED_CASES);
    if (!channel_keyed(row))
        return;
    const shape sh = padded_cases[ci].s;
    const int hp = padded_cases[ci].hp, wp = padded_cases[ci].wp,
              top = padded_cases[ci].top, left = padded_cases[ci].left;
    const size_t planes = (size_t)sh.n * sh.c, nx = planes * sh.h * sh.w,
                 np = planes * hp * wp;
    cnn_error err = {0};
    float *x = test_random_new(nx, 81 + _i, -2.0f, 2.0f),
          *sc = test_random_new(nx, 82 + _i, -1.0f, 1.0f), *p[4];
    random_params(p, sh.c, 83);
    batchnorm_layer plain, padded;
    TEST_OK(batchnorm_create(&plain, test_rt(), sh.n, sh.c, sh.h, sh.w, 1, 0, &err), err);
    TEST_OK(batchnorm_create(&padded, test_rt(), sh.n, sh.c, sh.h, sh.w, 1, row, &err), err);
    float *zeros = calloc(np, sizeof *zeros);
    cl_mem bx = test_upload(x, nx), bs = join ? test_upload(sc, nx) : NULL,
           bxp = test_upload(zeros, np), by0 = test_poisoned(nx), by = test_poisoned(nx),
           bp[2][4];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            bp[k][i] = test_upload(p[i], sh.c);
    ck_assert_int_eq(batchnorm_pad_output(&padded, bxp, hp, wp, top, left, keep_y), 1);
    TEST_OK(batchnorm_forward(&plain, sh.n, training, bx, bs, bp[0][0], bp[0][1], bp[0][2],
                              bp[0][3], by0, &err), err);
    TEST_OK(batchnorm_forward(&padded, sh.n, training, bx, bs, bp[1][0], bp[1][1],
                              bp[1][2], bp[1][3], by, &err), err);
    float *y0 = malloc(nx * sizeof *y0), *y = malloc(nx * sizeof *y),
          *xp = malloc(np * sizeof *xp);
    test_download(by0, y0, nx);
    test_download(by, y, nx);
    test_download(bxp, xp, np);
    for (size_t i = 0; i < nx; i++)
        if (keep_y)
            ck_assert_msg(memcmp(&y[i], &y0[i], sizeof y[i]) == 0, "y[%zu]: %g, not %g", i,
                          y[i], y0[i]);
        else
            ck_assert_msg(isnan(y[i]), "y[%zu] written (%g) though not kept", i, y[i]);
    for (size_t pl = 0; pl < planes; pl++)
        for (int r = 0; r < hp; r++)
            for (int c = 0; c < wp; c++) {
                const int iy = r - top, ix = c - left;
                const float want = iy >= 0 && iy < sh.h && ix >= 0 && ix < sh.w
                                       ? y0[(pl * sh.h + iy) * sh.w + ix]
                                       : 0.0f;
                const float got = xp[(pl * hp + r) * wp + c];
                ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                              "case %d: plane %zu, (%d, %d): %g, not %g", ci, pl, r, c, got,
                              want);
            }
    /* The GPU variant has no padded copy. */
    if (batchnorm_variant_count > 1) {
        batchnorm_layer gpu;
        TEST_OK(batchnorm_create(&gpu, test_rt(), sh.n, sh.c, sh.h, sh.w, 1, 1, &err), err);
        ck_assert_int_eq(batchnorm_pad_output(&gpu, bxp, hp, wp, top, left, keep_y), 0);
        batchnorm_release(&gpu);
    }
    batchnorm_release(&plain);
    batchnorm_release(&padded);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            clReleaseMemObject(bp[k][i]);
    cl_mem bufs[] = {bx, bs, bxp, by0, by};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    for (int i = 0; i < 4; i++)
        free(p[i]);
    free(x), free(sc), free(zeros), free(y0), free(y), free(xp);
}
END_TEST

/* dx written transposed for the convolution before (batchnorm_transpose_dx):
 * each case's geometry (a smaller batch than the layer's on some), then no
 * ReLU, a ReLU (its mask from x), a ReLU after a join (from y) or a ReLU
 * with a second gradient. Row q of dzt, lane ch, holds dx[n][ch][p] (q = n
 * HW + p) with the bits of a backward writing dx; the lanes past C are
 * zero; the rows past the batch's are not written; dgamma, dbeta and the
 * dy written back are the same; for each row that sums as the first. The
 * GPU variant declines. */
static const struct {
    int n, max_batch, c, hw;
} transposed_cases[] = {
    {3, 3, 20, 49},  /* two blocks of channels, a partial tile an image */
    {2, 3, 3, 25},   /* one block mostly zeros, rows past the batch */
    {5, 5, 16, 1},   /* flat: a tile's pixels in five images */
    {2, 2, 33, 150}, /* three blocks, a work-item's tiles past an image's */
};
enum { TRANSPOSED_CASES = sizeof transposed_cases / sizeof transposed_cases[0] };

START_TEST(transposed_dx_holds_dx_bit_for_bit)
{
    const int ci = _i / 4 % TRANSPOSED_CASES, mode = _i % 4, relu = mode > 0,
              join = mode == 2, has_ds = mode == 3, row = _i / (4 * TRANSPOSED_CASES);
    if (!channel_keyed(row))
        return;
    const int n = transposed_cases[ci].n, c = transposed_cases[ci].c,
              hw = transposed_cases[ci].hw, max_batch = transposed_cases[ci].max_batch,
              cpad = (c + 15) / 16 * 16;
    const size_t nx = (size_t)n * c * hw, rows = (size_t)max_batch * hw + 1,
                 nt = rows * cpad;
    cnn_error err = {0};
    float *x = test_random_new(nx, 91 + _i, -2.0f, 2.0f),
          *sc = test_random_new(nx, 92 + _i, -1.0f, 1.0f),
          *g = test_random_new(nx, 93 + _i, -1.0f, 1.0f), *p[4];
    random_params(p, c, 94);
    batchnorm_layer l[2];
    cl_mem by[2], bdy[2], bdg[2], bdb[2], bp[2][4];
    cl_mem bx = test_upload(x, nx), bs = join ? test_upload(sc, nx) : NULL,
           bds = has_ds ? test_upload(sc, nx) : NULL, bdx = test_poisoned(nx),
           bdzt = test_poisoned(nt);
    for (int k = 0; k < 2; k++) {
        TEST_OK(batchnorm_create(&l[k], test_rt(), max_batch, c, hw, 1, relu, k ? row : 0,
                                 &err),
                err);
        by[k] = test_poisoned(nx);
        bdy[k] = test_upload(g, nx);
        bdg[k] = test_poisoned(c);
        bdb[k] = test_poisoned(c);
        for (int i = 0; i < 4; i++)
            bp[k][i] = test_upload(p[i], c);
    }
    ck_assert_int_eq(batchnorm_transpose_dx(&l[1], bdzt), 1);
    for (int k = 0; k < 2; k++) {
        TEST_OK(batchnorm_forward(&l[k], n, 1, bx, bs, bp[k][0], bp[k][1], bp[k][2],
                                  bp[k][3], by[k], &err), err);
        TEST_OK(batchnorm_backward(&l[k], n, bx, by[k], bp[k][0], bp[k][1], bdy[k], bds, join,
                                   bdx, bdg[k], bdb[k], &err), err);
    }
    float *dx = malloc(nx * sizeof *dx), *dzt = malloc(nt * sizeof *dzt),
          *v[2] = {malloc(nx * sizeof(float)), malloc(nx * sizeof(float))};
    test_download(bdx, dx, nx);
    test_download(bdzt, dzt, nt);
    for (size_t q = 0; q < rows; q++)
        for (int ch = 0; ch < cpad; ch++) {
            const float got = dzt[q * cpad + ch];
            if (q >= (size_t)n * hw)
                ck_assert_msg(isnan(got), "case %d: row %zu past the batch written", ci, q);
            else if (ch >= c)
                ck_assert_msg(got == 0.0f, "case %d: row %zu, lane %d past C: %g", ci, q, ch,
                              got);
            else {
                const float want = dx[((q / hw) * c + ch) * hw + q % hw];
                ck_assert_msg(!memcmp(&got, &want, sizeof got),
                              "case %d mode %d: row %zu, channel %d: %g, not %g", ci, mode, q,
                              ch, got, want);
            }
        }
    const struct {
        cl_mem *b;
        size_t count;
        const char *what;
    } same[] = {{bdg, c, "dgamma"}, {bdb, c, "dbeta"}, {bdy, nx, "dy"}};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 2; k++)
            test_download(same[i].b[k], v[k], same[i].count);
        ck_assert_msg(!memcmp(v[0], v[1], same[i].count * sizeof(float)),
                      "case %d mode %d: %s differs", ci, mode, same[i].what);
    }
    if (batchnorm_variant_count > 1) {
        batchnorm_layer gpu;
        TEST_OK(batchnorm_create(&gpu, test_rt(), max_batch, c, hw, 1, relu, 1, &err), err);
        ck_assert_int_eq(batchnorm_transpose_dx(&gpu, bdzt), 0);
        batchnorm_release(&gpu);
    }
    for (int k = 0; k < 2; k++) {
        batchnorm_release(&l[k]);
        cl_mem bufs[] = {by[k], bdy[k], bdg[k], bdb[k], bp[k][0], bp[k][1], bp[k][2],
                         bp[k][3]};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            clReleaseMemObject(bufs[i]);
        free(v[k]);
    }
    cl_mem bufs[] = {bx, bs, bds, bdx, bdzt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            clReleaseMemObject(bufs[i]);
    for (int i = 0; i < 4; i++)
        free(p[i]);
    free(x), free(sc), free(g), free(dx), free(dzt);
}
END_TEST

START_TEST(rejects_bad_shapes)
{
    cnn_error err = {0};
    batchnorm_layer l;
    ck_assert_int_eq(batchnorm_create(&l, test_rt(), 4, 0, 3, 3, 0, 0, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "0 channels"));
    ck_assert_int_eq(
        batchnorm_create(&l, test_rt(), 4, 3, 2, 2, 1, batchnorm_variant_count, &err),
        CNN_ERR_INPUT);
    TEST_OK(batchnorm_create(&l, test_rt(), 4, 3, 2, 2, 1, 0, &err), err);
    ck_assert_int_eq(batchnorm_forward(&l, 5, 1, NULL, NULL, NULL, NULL, NULL, NULL,
                                       NULL, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 5"));
    ck_assert_int_eq(batchnorm_backward(&l, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,
                                        NULL, NULL, &err), CNN_ERR_INPUT);
    batchnorm_release(&l);
}
END_TEST

/* Two channels of (n = 2, hw = 2): channel 0 is 1, 2, 3, 4 (mean 2.5,
 * biased variance 1.25, unbiased 5/3); channel 1 is constant. */
START_TEST(reference_matches_hand_computed_values)
{
    const double x[8] = {1, 2, 7, 7, 3, 4, 7, 7};
    const double gamma[2] = {2, 3}, beta[2] = {0.5, -1};
    double rm[2] = {1, 0}, rv[2] = {1, 4}, y[8];
    ref_batchnorm_forward(x, gamma, beta, rm, rv, y, 2, 2, 2, 1);
    double sd = sqrt(1.25 + 1e-3);
    const double want[8] = {2 * -1.5 / sd + 0.5, 2 * -0.5 / sd + 0.5, -1, -1,
                            2 * 0.5 / sd + 0.5, 2 * 1.5 / sd + 0.5, -1, -1};
    for (int i = 0; i < 8; i++)
        ck_assert_double_eq_tol(y[i], want[i], 1e-12);
    ck_assert_double_eq_tol(rm[0], 0.99 + 0.01 * 2.5, 1e-12);
    ck_assert_double_eq_tol(rm[1], 0.01 * 7, 1e-12);
    ck_assert_double_eq_tol(rv[0], 0.99 + 0.01 * 5.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(rv[1], 0.99 * 4, 1e-12);

    /* Inference uses the running statistics and leaves them alone. */
    ref_batchnorm_forward(x, gamma, beta, rm, rv, y, 2, 2, 2, 0);
    ck_assert_double_eq_tol(y[0], 2 * (1 - rm[0]) / sqrt(rv[0] + 1e-3) + 0.5,
                            1e-12);
    ck_assert_double_eq_tol(rm[0], 0.99 + 0.01 * 2.5, 1e-12);
}
END_TEST

/* Finite differences run through the training forward with x, gamma, beta
 * packed as z = (x, gamma, beta). */
typedef struct {
    int n, c, hw; /* c <= 8 */
} fd_args;

static void forward_packed(void *a, const double *z, double *y)
{
    fd_args *f = a;
    size_t nx = (size_t)f->n * f->c * f->hw;
    double rm[8] = {0}, rv[8] = {0};
    ref_batchnorm_forward(z, z + nx, z + nx + f->c, rm, rv, y, f->n, f->c,
                          f->hw, 1);
}

/* The reference's dx, dgamma, dbeta against central differences of
 * L = sum(dy * y), spatial and flat. */
START_TEST(reference_gradients_match_finite_differences)
{
    static const shape shapes[] = {{2, 3, 2, 3}, {5, 4, 1, 1}, {1, 2, 1, 2}};
    shape s = shapes[_i];
    int hw = s.h * s.w;
    size_t nx = (size_t)s.n * s.c * hw, nz = nx + 2 * (size_t)s.c;
    float *r = test_random_new(nz + nx, 20 + _i, -1, 1);
    double *z = test_widen(r, nz), *dy = test_widen(r + nz, nx);
    for (int ch = 0; ch < s.c; ch++)
        z[nx + ch] += 1.5; /* gamma away from 0 */
    double *y = malloc(nx * sizeof *y), *num = malloc(nz * sizeof *num);
    double *ana = malloc(nz * sizeof *ana);
    fd_args a = {s.n, s.c, hw};
    ref_numeric_grad(forward_packed, &a, z, (long)nz, dy, y, (long)nx, 1e-6,
                     num);
    ref_batchnorm_backward(z, z + nx, dy, ana, ana + nx, ana + nx + s.c, s.n,
                           s.c, hw);
    for (size_t i = 0; i < nz; i++)
        ck_assert_msg(fabs(num[i] - ana[i]) <= 1e-7 * (1 + fabs(num[i])),
                      "gradient [%zu]: analytic %.12g, numeric %.12g", i,
                      ana[i], num[i]);
    free(r), free(z), free(dy), free(y), free(num), free(ana);
}
END_TEST

static arch_layer token(const char *text, arch_shape in)
{
    arch_layer l = {.kind = &layer_bn, .in = in};
    snprintf(l.token, sizeof l.token, "%s", text);
    return l;
}

START_TEST(row_parses_bn_only)
{
    cnn_error err = {0};
    arch_layer l = token("bn", (arch_shape){5, 7, 9});
    TEST_OK(layer_bn.parse("", &l, &err), err);
    const char *bad[] = {"bn2", "bnx", "bn3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = token(bad[i], (arch_shape){5, 7, 9});
        ck_assert_int_eq(layer_bn.parse(bad[i] + 2, &l, &err), CNN_ERR_INPUT);
        ck_assert_ptr_nonnull(strstr(err.msg, bad[i]));
    }
    ck_assert_str_eq(layer_bn.prefix, "bn");
    ck_assert_str_eq(layer_bn.keras, "BatchNormalization");
    /* a block's projection follows suit; a following relu folds in, and so
     * does the add of a block bn ends */
    ck_assert_uint_eq(layer_bn.flags, LAYER_NORM | LAYER_FUSES_RELU | LAYER_JOINS);
}
END_TEST

START_TEST(row_keeps_the_shape_and_declares_four_tensors)
{
    cnn_error err = {0};
    const arch_shape ins[] = {{5, 7, 9}, {17, 1, 1}};
    for (int k = 0; k < 2; k++) {
        arch_layer l = token("bn", ins[k]);
        TEST_OK(layer_bn.shape(&l, &err), err);
        ck_assert_int_eq(l.out.c, ins[k].c);
        ck_assert_int_eq(l.out.h, ins[k].h);
        ck_assert_int_eq(l.out.w, ins[k].w);
        layer_param p[LAYER_MAX_PARAMS];
        ck_assert_int_eq(layer_bn.params(&l, p), 4);
        const char *what[] = {"weight", "bias", "running_mean", "running_var"};
        const layer_init init[] = {LAYER_INIT_ONE, LAYER_INIT_ZERO,
                                   LAYER_INIT_ZERO, LAYER_INIT_ONE};
        for (int i = 0; i < 4; i++) {
            ck_assert_str_eq(p[i].what, what[i]);
            ck_assert_int_eq(p[i].ndim, 1);
            ck_assert_int_eq(p[i].shape[0], ins[k].c);
            ck_assert_int_eq(p[i].init, init[i]);
            ck_assert_int_eq(p[i].trainable, i < 2);
        }
    }
}
END_TEST

/* The row's device adapters against its reference adapters, through a
 * hand-built node: a training forward and backward, then inference; with
 * a ReLU folded in (the node's relu), against the reference rows of bn and
 * relu. The running statistics' grads start at zero and must stay so. */
START_TEST(row_adapters_match_reference_row)
{
    const int relu = _i;
    cnn_error err = {0};
    enum { N = 3, C = 4, H = 3, W = 5, NX = N * C * H * W };
    arch_layer spec = token("bn", (arch_shape){C, H, W});
    spec.out = spec.in;
    float *x = test_random_new(NX, 30, -1, 3), *dy = test_random_new(NX, 31, -1, 1);
    float *p[4];
    random_params(p, C, 32);
    const float zero[C] = {0};
    net_tensor t[4];
    layer_node nd = {.spec = &spec, .nparams = 4, .relu = relu};
    for (int i = 0; i < 4; i++) {
        t[i] = (net_tensor){.param = test_upload(p[i], C),
                            .grad = test_upload(zero, C)};
        nd.params[i] = &t[i];
    }
    nd.y = test_poisoned(NX);
    nd.dy = test_upload(dy, NX);
    cl_mem bx = test_upload(x, NX), bdx = test_poisoned(NX);
    layer_env env = {.rt = test_rt(), .max_batch = N};
    TEST_OK(layer_node_create(&nd, &env, &err), err);
    layer_pass train = {.n = N, .training = 1}, infer = {.n = N};
    ref_pass rtrain = {.n = N, .training = 1}, rinfer = {.n = N};
    TEST_OK(layer_bn.forward(&nd, &train, bx, &err), err);
    TEST_OK(layer_bn.backward(&nd, &train, bx, bdx, &err), err);

    double *xd = test_widen(x, NX), *dyd = test_widen(dy, NX), *pd[4], *gd[4];
    for (int i = 0; i < 4; i++) {
        pd[i] = test_widen(p[i], C);
        gd[i] = test_widen(zero, C);
    }
    double yr[NX], dxr[NX], dym[NX];
    float out[NX], got[4][C];
    layer_bn.ref_forward(&spec, &rtrain, pd, xd, yr);
    test_download(nd.y, out, NX);
    ref_fold(relu, yr, out, dyd, dym, NX);
    layer_bn.ref_backward(&spec, &rtrain, pd, xd, yr, dym, dxr, gd);
    test_close("bn row y", out, yr, NX, TEST_TOL_FORWARD);
    test_download(bdx, out, NX);
    test_close("bn row dx", out, dxr, NX, TEST_TOL_GRAD);
    for (int i = 0; i < 4; i++) {
        test_download(t[i].param, got[i], C);
        test_close("bn row param", got[i], pd[i], C, TEST_TOL_FORWARD);
        test_download(t[i].grad, got[i], C);
        test_close("bn row grad", got[i], gd[i], C, TEST_TOL_GRAD);
    }
    ck_assert_mem_eq(got[2], zero, sizeof zero);
    ck_assert_mem_eq(got[3], zero, sizeof zero);

    TEST_OK(layer_bn.forward(&nd, &infer, bx, &err), err);
    layer_bn.ref_forward(&spec, &rinfer, pd, xd, yr);
    test_download(nd.y, out, NX);
    ref_fold(relu, yr, out, dyd, dym, NX);
    test_close("bn row y (inference)", out, yr, NX, TEST_TOL_FORWARD);

    layer_node_release(&nd);
    ck_assert_ptr_null(nd.op);
    layer_node_release(&nd); /* safe twice, as on a half-built node */
    for (int i = 0; i < 4; i++) {
        clReleaseMemObject(t[i].param);
        clReleaseMemObject(t[i].grad);
        free(p[i]), free(pd[i]), free(gd[i]);
    }
    clReleaseMemObject(nd.y);
    clReleaseMemObject(nd.dy);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdx);
    free(x), free(dy), free(xd), free(dyd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reference_matches_hand_computed_values);
    tcase_add_loop_test(tc, reference_gradients_match_finite_differences, 0, 3);
    tcase_add_test(tc, rejects_bad_shapes);
    tcase_add_loop_test(tc, matches_reference_on_awkward_shapes, 0,
                        AWKWARD * 3 * batchnorm_variant_count);
    tcase_add_test(tc, smaller_batch_without_dx);
    tcase_add_loop_test(tc, fold_matches_relu_apart_bit_for_bit, 0,
                        2 * batchnorm_variant_count);
    tcase_add_loop_test(tc, join_matches_add_apart_bit_for_bit, 0,
                        2 * batchnorm_variant_count);
    tcase_add_test(tc, block_rows_match_channel_bit_for_bit);
    tcase_add_loop_test(tc, padded_output_copies_y_bit_for_bit, 0,
                        PADDED_CASES * 4 * batchnorm_variant_count);
    tcase_add_loop_test(tc, transposed_dx_holds_dx_bit_for_bit, 0,
                        TRANSPOSED_CASES * 4 * batchnorm_variant_count);
    tcase_add_test(tc, row_parses_bn_only);
    tcase_add_test(tc, row_keeps_the_shape_and_declares_four_tensors);
    tcase_add_loop_test(tc, row_adapters_match_reference_row, 0, 2);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
