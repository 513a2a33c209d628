/* test_conv.c: the convolution layer against its double reference on
 * awkward shapes (strided and padded too) and the reference model's shapes,
 * every variant built as its row says, determinism, Keras' and PyTorch's
 * output sizes and padding, the row's tokens, and finite-difference checks
 * of the reference itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/layer.h"
#include "ref/activation.h"
#include "ref/conv.h"
#include "testutil.h"

/* same selects Keras' 'same' padding, else pad zeros on every side (0:
 * 'valid'). */
typedef struct {
    int n, c, h, w, oc, k, relu, stride, same, pad;
} shape;

/* The output size and padding of s, from conv_axis. */
typedef struct {
    int stride, pad_top, pad_left, oh, ow;
} geometry;

static geometry geometry_of(shape s)
{
    geometry g = {.stride = s.stride};
    ck_assert(conv_axis(s.h, s.k, g.stride, s.same, s.pad, &g.oh, &g.pad_top));
    ck_assert(conv_axis(s.w, s.k, g.stride, s.same, s.pad, &g.ow, &g.pad_left));
    return g;
}

/* tiles NULL: the defaults. */
static cnn_status create(conv_layer *l, shape s, int max_batch,
                         const conv_tiles *tiles, cnn_error *err)
{
    geometry g = geometry_of(s);
    return conv_create(l, test_rt(), max_batch, s.c, s.h, s.w, s.oc, s.k,
                       g.stride, g.pad_top, g.pad_left, g.oh, g.ow, s.relu,
                       tiles, CONV_BACKWARD, err);
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

/* What a run computed: y, dx, dw and db, in that order, as one array. */
typedef struct {
    float *v;
    size_t count;
} results;

/* Runs forward and backward on random data of shape s (in a layer created
 * for max_batch) and compares y, dx, dw, db with the reference. The
 * reference dz is the device's y masked as the layer documents, so a y
 * near 0 cannot flip the mask between the two. With views set, w, b, dw
 * and db are sub-buffers at aligned offsets of larger buffers. tiles NULL:
 * the defaults. keep, when set, receives the results (with dx). */
static void check_tiled(shape s, int max_batch, int with_dx, int views,
                        const conv_tiles *tiles, results *keep)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    geometry g = geometry_of(s);
    int oh = g.oh, ow = g.ow;
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * s.c * s.k * s.k;
    size_t ny = (size_t)s.n * s.oc * oh * ow, nb = (size_t)s.oc;
    float scale = 1.0f / sqrtf((float)(s.c * s.k * s.k));
    float *x = test_random_new(nx, 1, -1, 1), *w = test_random_new(nw, 2, -scale, scale);
    float *b = test_random_new(nb, 3, -0.5f, 0.5f), *dy = test_random_new(ny, 4, -1, 1);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    float *dw = malloc(nw * sizeof *dw), *db = malloc(nb * sizeof *db);
    double *yr = malloc(ny * sizeof *yr), *dz = malloc(ny * sizeof *dz);
    double *dxr = malloc(nx * sizeof *dxr), *dwr = malloc(nw * sizeof *dwr);
    double *dbr = malloc(nb * sizeof *dbr);

    conv_layer l;
    TEST_OK(create(&l, s, max_batch, tiles, &err), err);
    cl_mem bx = test_upload(x, nx), bdy = test_upload(dy, ny);
    cl_mem by = test_poisoned(ny), bdx = test_poisoned(nx);
    cl_mem bw, bb, bdw, bdb, params = NULL, grads = NULL;
    if (views) {
        size_t align = clrt_align(rt), wbytes = nw * sizeof(float);
        size_t boff = (wbytes + 3 * align) / align * align;
        size_t total = (boff + nb * sizeof(float)) / sizeof(float) + 1;
        float *host = test_random_new(total, 5, -1, 1);
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
    TEST_OK(clrt_join(test_rt(), &err), err); /* dw and db were computed beside */
    test_download(by, y, ny);
    test_download(bdw, dw, nw);
    test_download(bdb, db, nb);
    if (with_dx)
        test_download(bdx, dx, nx);

    double *xd = test_widen(x, nx), *wd = test_widen(w, nw), *bd = test_widen(b, nb);
    double *dyd = test_widen(dy, ny), *yd = test_widen(y, ny);
    ref_conv_forward(xd, wd, bd, yr, s.n, s.c, s.h, s.w, s.oc, s.k, g.stride,
                     g.pad_top, g.pad_left, oh, ow, s.relu);
    test_close("conv y", y, yr, ny, TEST_TOL_FORWARD);
    if (s.relu)
        ref_relu_backward(yd, dyd, dz, (long)ny);
    else
        memcpy(dz, dyd, ny * sizeof *dz);
    ref_conv_backward(xd, wd, dz, with_dx ? dxr : NULL, dwr, dbr, s.n, s.c,
                      s.h, s.w, s.oc, s.k, g.stride, g.pad_top, g.pad_left,
                      oh, ow);
    test_close("conv dw", dw, dwr, nw, TEST_TOL_GRAD);
    test_close("conv db", db, dbr, nb, TEST_TOL_GRAD);
    if (with_dx)
        test_close("conv dx", dx, dxr, nx, TEST_TOL_GRAD);
    if (keep) {
        keep->count = ny + nx + nw + nb;
        keep->v = malloc(keep->count * sizeof(float));
        float *const parts[] = {y, dx, dw, db};
        const size_t sizes[] = {ny, nx, nw, nb};
        for (size_t i = 0, at = 0; i < 4; at += sizes[i++])
            memcpy(keep->v + at, parts[i], sizes[i] * sizeof(float));
    }

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

static void check(shape s, int max_batch, int with_dx, int views)
{
    check_tiled(s, max_batch, with_dx, views, NULL, NULL);
}

static const shape awkward[] = {
    {1, 1, 5, 7, 1, 1, 0, 1, 0, 0},    {3, 3, 9, 8, 5, 3, 1, 1, 0, 0},
    {33, 7, 11, 13, 13, 5, 0, 1, 0, 0}, {3, 13, 7, 9, 7, 3, 1, 1, 0, 0},
    {2, 5, 6, 9, 32, 1, 1, 1, 0, 0},   {1, 64, 9, 7, 3, 3, 0, 1, 0, 0},
    {3, 32, 10, 12, 64, 5, 1, 1, 0, 0}, {1, 3, 5, 5, 17, 5, 1, 1, 0, 0},
    /* the forward's last 8 pixels, 24-29 and two repeats, span a padded
     * row's worth of addresses (7), but two rows */
    {2, 9, 6, 5, 64, 3, 1, 1, 1, 0},
};

START_TEST(matches_reference_on_awkward_shapes)
{
    check(awkward[_i], awkward[_i].n, 1, 0);
}
END_TEST

/* {n, c, h, w, oc, k, relu, stride, same, pad}. */
static const shape strided[] = {
    {3, 3, 7, 9, 5, 3, 1, 2, 1, 0},    /* 4x5, one row/column of padding each side */
    {2, 4, 8, 10, 6, 3, 0, 2, 1, 0},   /* 4x5, padding only after */
    {3, 5, 6, 7, 7, 2, 1, 1, 1, 0},    /* K=2 'same': padding only after */
    {5, 3, 11, 12, 9, 5, 0, 2, 0, 0},  /* 4x4, the last column unused */
    {3, 6, 9, 8, 17, 1, 1, 2, 0, 0},   /* K=1: every other pixel */
    {2, 3, 7, 6, 5, 4, 0, 1, 1, 0},    /* K=4 'same': 1 before, 2 after */
    {3, 2, 9, 9, 4, 4, 1, 2, 1, 0},    /* K=4 s2 'same': 1 before, 2 after */
    {3, 4, 10, 10, 5, 3, 0, 3, 0, 0},  /* s3 valid: 3x3, the last row unused */
    {2, 4, 10, 10, 5, 3, 1, 3, 1, 0},  /* s3 'same': 4x4 */
    {2, 3, 3, 4, 4, 5, 0, 1, 1, 0},    /* 'same' with a kernel larger than x */
    {3, 20, 9, 9, 33, 3, 1, 2, 1, 0},  /* several channel blocks */
    /* PyTorch's padding=P: P rows and columns before, at most P used after. */
    {3, 3, 7, 9, 5, 3, 1, 2, 0, 1},    /* s2 p1: 4x5, one used after */
    {2, 4, 8, 10, 6, 3, 0, 2, 0, 1},   /* s2 p1: 4x5, none used after */
    {3, 5, 9, 7, 7, 5, 1, 1, 0, 2},    /* K=5 p2: 9x7 */
    {2, 3, 11, 10, 6, 5, 0, 2, 0, 2},  /* K=5 s2 p2: 6x5 */
    {2, 4, 10, 11, 5, 3, 1, 3, 0, 2},  /* s3 p2: 4x5, windows with 2 zero rows */
    {2, 3, 8, 9, 4, 5, 0, 3, 0, 1},    /* K=5 s3 p1: 2x3 */
    {3, 2, 3, 4, 4, 5, 1, 1, 0, 2},    /* p2, a kernel larger than x: 3x4 */
    {3, 20, 9, 8, 33, 3, 1, 2, 0, 1},  /* s2 p1, several channel blocks */
};

START_TEST(matches_reference_strided_and_padded)
{
    check(strided[_i], strided[_i].n, 1, 0);
}
END_TEST

/* The general kernels in a layer created for a larger batch, with the
 * parameters as views. */
START_TEST(strided_smaller_batch_than_created)
{
    check((shape){5, 7, 13, 11, 19, 3, 1, 2, 1, 0}, 9, 1, 1);
}
END_TEST

/* A layer serves any batch up to the one it was created for. */
START_TEST(smaller_batch_than_created)
{
    check((shape){33, 5, 8, 11, 7, 3, 1, 1, 0, 0}, 40, 1, 0);
}
END_TEST

/* conv1 needs no input gradient; its parameters are views of one buffer. */
START_TEST(model_conv1)
{
    check((shape){32, 1, 28, 28, 32, 3, 1, 1, 0, 0}, 32, 0, 1);
}
END_TEST

START_TEST(model_conv2)
{
    check((shape){32, 32, 13, 13, 64, 3, 1, 1, 0, 0}, 32, 1, 1);
}
END_TEST

/* Every variant the tuner may pick, whether or not it wins here: each of
 * a site's candidates (with the other sites at their defaults) on a
 * 'valid' shape, a strided 'same' one, one with more images than chunks
 * and channels past a block, batch 1 at stride 2, stride 3 with an
 * unused last row and column, and PyTorch's padding (p1 at stride 2 in a
 * layer made for a larger batch, K=5 p2 at strides 1 and 3), in a layer
 * made for a larger batch where it says so. Variants that share an arithmetic key must give the same bits
 * as the first of them. */
typedef struct {
    shape s;
    int max_batch;
} sized;

static const sized variant_shapes[] = {
    {{3, 5, 9, 11, 7, 3, 1, 1, 0, 0}, 3},
    {{3, 20, 9, 9, 33, 3, 1, 2, 1, 0}, 3},
    {{19, 3, 7, 6, 17, 4, 0, 1, 1, 0}, 19},
    {{1, 3, 9, 8, 5, 3, 1, 2, 1, 0}, 4},
    {{5, 4, 10, 10, 5, 3, 0, 3, 0, 0}, 5},
    {{3, 3, 9, 8, 5, 3, 1, 2, 0, 1}, 4},
    {{2, 4, 7, 9, 6, 5, 0, 1, 0, 2}, 2},
    {{2, 3, 11, 10, 5, 5, 1, 3, 0, 2}, 2},
};

/* The GEMM variants also on: partial tiles on every edge of every pass at
 * tiles of 32 and 64 (67 channels in, 70 out, 330 pixels in and out, 603
 * taps, two chunks of 256 pixels); a first layer of one channel, its
 * 2028 pixels two chunks of 1024; and K=5 s2 p2 on the first shape's
 * channels. */
static const sized gemm_shapes[] = {
    {{3, 67, 11, 10, 70, 3, 1, 1, 1, 0}, 3},
    {{3, 1, 28, 28, 32, 3, 1, 1, 0, 0}, 5},
    {{3, 67, 11, 10, 70, 5, 1, 2, 0, 2}, 3},
};

/* Each site's table and its count. */
static const tune_variant *const variants[3] = {conv_forward_variants, conv_data_variants,
                                               conv_weights_variants};

static int variant_count(int site)
{
    return site == 0 ? conv_forward_variant_count
           : site == 1 ? conv_data_variant_count
                       : conv_weights_variant_count;
}

/* Every variant of every site (or only the GPU ones) on each shape. */
static void every_variant_on(const sized *shapes, size_t nshapes, int gpu_only)
{
    for (int site = 0; site < 3; site++)
        for (size_t i = 0; i < nshapes; i++) {
            sized sh = shapes[i];
            const tune_variant *v = variants[site];
            results out[TUNE_MAX_VARIANTS] = {{0}};
            for (int j = 0; j < variant_count(site); j++) {
                if ((gpu_only && !(v[j].where & TUNE_NOT_CPU)) ||
                    !conv_variant_applies(site, j, sh.s.c, sh.s.oc, sh.s.k, sh.s.stride))
                    continue;
                conv_tiles t = conv_tiles_with(conv_default_tiles, site, j);
                check_tiled(sh.s, sh.max_batch, 1, 0, &t, &out[j]);
                int first = 0;
                while (first < j && (!out[first].v ||
                                     strcmp(v[first].arithmetic, v[j].arithmetic)))
                    first++;
                ck_assert_msg(first == j || !memcmp(out[first].v, out[j].v,
                                                    out[j].count * sizeof(float)),
                              "%s and %s (key %s) differ on shape %zu", v[first].label,
                              v[j].label, v[j].arithmetic, i);
            }
            for (int j = 0; j < variant_count(site); j++)
                free(out[j].v);
        }
}

/* Winograd's forward and backward-data on what their tiles meet: odd
 * sizes and 'same' (a last tile half outside), a batch below the layer's,
 * output channels past a block of 8 and of 16, the most input channels the
 * forward takes and the most output channels backward-data takes, input
 * channels past a block of 16, PyTorch's padding, a first layer of one
 * channel, and images narrower than a row of tiles. A site's rows sum
 * alike, so they give the same bits. */
static const sized winograd_shapes[] = {
    {{2, 17, 7, 9, 20, 3, 1, 1, 1, 0}, 3},
    {{1, 64, 5, 6, 9, 3, 0, 1, 1, 0}, 1},
    {{3, 2, 12, 10, 3, 3, 1, 1, 0, 1}, 3},
    {{2, 1, 13, 13, 16, 3, 1, 1, 0, 0}, 2},
    {{2, 33, 7, 7, 64, 3, 0, 1, 1, 0}, 2},
    {{3, 20, 20, 21, 5, 3, 1, 1, 0, 0}, 3},
};

START_TEST(winograd_matches_reference)
{
    const sized sh = winograd_shapes[_i];
    for (int site = 0; site < 2; site++) {
        const tune_variant *v = variants[site];
        results out[TUNE_MAX_VARIANTS] = {{0}};
        int first = -1;
        for (int j = 0; j < variant_count(site); j++) {
            if (strcmp(v[j].arithmetic, "winograd") ||
                !conv_variant_applies(site, j, sh.s.c, sh.s.oc, sh.s.k, sh.s.stride))
                continue;
            conv_tiles t = conv_tiles_with(conv_default_tiles, site, j);
            check_tiled(sh.s, sh.max_batch, 1, 0, &t, &out[j]);
            if (first < 0)
                first = j;
            ck_assert_msg(!memcmp(out[first].v, out[j].v, out[j].count * sizeof(float)),
                          "%s and %s differ", v[first].label, v[j].label);
        }
        ck_assert_int_ge(first, 0);
        for (int j = 0; j < variant_count(site); j++)
            free(out[j].v);
    }
}
END_TEST

/* Winograd's backward-data weights come from its own packing, or from the
 * forward's when that is Winograd's too: the same values either way, so
 * the same dx (no ReLU, so that the forward's bits, which differ, reach no
 * mask). */
START_TEST(winograd_data_packs_alike)
{
    const shape s = {2, 20, 9, 11, 24, 3, 0, 1, 1, 0};
    int wd = 0, wf = 0;
    while (strcmp(conv_data_variants[wd].arithmetic, "winograd"))
        wd++;
    while (strcmp(conv_forward_variants[wf].arithmetic, "winograd"))
        wf++;
    conv_tiles alone = conv_tiles_with(conv_default_tiles, 1, wd);
    conv_tiles both = conv_tiles_with(alone, 0, wf);
    results out[2];
    check_tiled(s, s.n, 1, 0, &alone, &out[0]);
    check_tiled(s, s.n, 1, 0, &both, &out[1]);
    const size_t ny = (size_t)s.n * s.oc * s.h * s.w;
    ck_assert(!memcmp(out[0].v + ny, out[1].v + ny, (out[0].count - ny) * sizeof(float)));
    free(out[0].v);
    free(out[1].v);
}
END_TEST

/* Small enough for a simulated GPU (TEST_SIMULATOR): every edge of a GEMM
 * tile is a partial one here. */
START_TEST(every_variant_matches_reference)
{
    every_variant_on(variant_shapes, sizeof variant_shapes / sizeof variant_shapes[0], 0);
}
END_TEST

START_TEST(gemm_variants_match_reference_on_tile_edges)
{
    every_variant_on(gemm_shapes, sizeof gemm_shapes / sizeof gemm_shapes[0], 1);
}
END_TEST

/* Each row's kernel is built with the options the tuner hashes for it
 * (conv_options of its tiles), at stride 1 and 2 (where it applies; a
 * layer refuses it elsewhere); and no two rows of a site have the same
 * tiles, so no two labels name one kernel. */
START_TEST(every_variant_is_built_as_its_row_says)
{
    static const shape shapes[2] = {{2, 5, 9, 11, 7, 3, 1, 1, 0, 0},
                                    {2, 3, 9, 8, 5, 3, 1, 2, 1, 0}};
    cnn_error err = {0};
    for (int site = 0; site < 3; site++)
        for (int j = 0; j < variant_count(site); j++) {
            const tune_variant *v = &variants[site][j];
            char options[TUNE_OPTIONS];
            conv_options(site, v->tiles, options, sizeof options);
            for (int i = 0; i < 2; i++) {
                conv_layer l;
                conv_tiles t = conv_tiles_with(conv_default_tiles, site, j);
                const shape s = shapes[i];
                if (!conv_variant_applies(site, j, s.c, s.oc, s.k, s.stride)) {
                    /* refused, with nothing to release */
                    ck_assert_int_eq(create(&l, s, 2, &t, &err), CNN_ERR_INPUT);
                    continue;
                }
                TEST_OK(create(&l, s, 2, &t, &err), err);
                cl_kernel k[3] = {l.forward, l.backward_data, l.backward_weights};
                test_built_with(k[site], options, v->label);
                conv_release(&l);
            }
            for (int other = 0; other < j; other++)
                ck_assert_msg(memcmp(variants[site][other].tiles, v->tiles,
                                     sizeof v->tiles),
                              "%s and %s have the same tiles", variants[site][other].label,
                              v->label);
        }
}
END_TEST

/* Two runs of every pass give bit-identical results. */
START_TEST(deterministic)
{
    cnn_error err = {0};
    shape s = {9, 13, 12, 11, 21, 3, 1, 1, 0, 0};
    size_t nx = (size_t)s.n * s.c * s.h * s.w, nw = (size_t)s.oc * s.c * 9;
    size_t ny = (size_t)s.n * s.oc * 10 * 9;
    float *x = test_random_new(nx, 6, -1, 1), *w = test_random_new(nw, 7, -0.1f, 0.1f);
    float *b = test_random_new(s.oc, 8, -1, 1), *dy = test_random_new(ny, 9, -1, 1);
    conv_layer l;
    TEST_OK(create(&l, s, s.n, NULL, &err), err);
    cl_mem bx = test_upload(x, nx), bw = test_upload(w, nw);
    cl_mem bb = test_upload(b, s.oc), bdy = test_upload(dy, ny);
    float *out[2];
    size_t total = ny + nx + nw + s.oc;
    for (int run = 0; run < 2; run++) {
        cl_mem by = test_poisoned(ny), bdx = test_poisoned(nx);
        cl_mem bdw = test_poisoned(nw), bdb = test_poisoned(s.oc);
        TEST_OK(conv_forward(&l, s.n, bx, bw, bb, by, &err), err);
        TEST_OK(conv_backward(&l, s.n, bx, bw, by, bdy, bdx, bdw, bdb, &err), err);
        TEST_OK(clrt_join(test_rt(), &err), err);
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
    const clrt *rt = test_rt();
    /* 'valid' 3x3 on a 2x8 input: no output row. */
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 2, 8, 4, 3, 1, 0, 0, 0, 6, 0,
                                 NULL, CONV_BACKWARD, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "kernel 3"));
    /* Padding as large as the kernel: the first window misses the input. */
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 3, 0, 12, 6, 0,
                                 NULL, CONV_BACKWARD, &err), CNN_ERR_INPUT);
    /* Stride 2, 'same' on 7 rows is 4 of them; a fifth starts at row 7. */
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 7, 7, 4, 3, 2, 1, 1, 5, 4, 0,
                                 NULL, CONV_BACKWARD, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 0, 0, 0, 6, 6, 0,
                                 NULL, CONV_BACKWARD, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "stride 0"));
    TEST_OK(conv_create(&l, rt, 4, 3, 7, 7, 4, 3, 2, 1, 1, 4, 4, 0, NULL, CONV_BACKWARD, &err), err);
    conv_release(&l);
    /* GEMM tiles no kernel has, and chunks not of whole steps. */
    conv_tiles t = conv_default_tiles;
    t.data_gemm = 48;
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 0, 0, 6, 6, 0, &t, CONV_BACKWARD,
                                 &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "GEMM tiles 0, 48, 0"));
    t = conv_default_tiles;
    t.weights_gemm = 32;
    t.gemm_chunk = 40;
    ck_assert_int_eq(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 0, 0, 6, 6, 0, &t, CONV_BACKWARD,
                                 &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "chunk 40"));
    TEST_OK(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 0, 0, 6, 6, 0, NULL, CONV_BACKWARD, &err), err);
    ck_assert_int_eq(conv_forward(&l, 5, NULL, NULL, NULL, NULL, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 5"));
    conv_release(&l);
    /* A layer built without a backward pass refuses it. */
    TEST_OK(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 0, 0, 6, 6, 0, NULL, CONV_WEIGHTS,
                        &err), err);
    ck_assert_ptr_null(l.backward_data);
    ck_assert_int_eq(conv_backward(&l, 4, NULL, NULL, NULL, NULL, l.wf, NULL, NULL, &err),
                     CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "built without it"));
    conv_release(&l);
    TEST_OK(conv_create(&l, rt, 4, 3, 8, 8, 4, 3, 1, 0, 0, 6, 6, 0, NULL, 0, &err), err);
    ck_assert_ptr_null(l.backward_weights);
    ck_assert_int_eq(conv_backward(&l, 4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, &err),
                     CNN_ERR_RUNTIME);
    conv_release(&l);
}
END_TEST

/* Keras' sizes: 'valid' floor((in-k)/s)+1; 'same' ceil(in/s) with the odd
 * padding row after; and PyTorch's padding=P, floor((in+2P-k)/s)+1 with P
 * before (the sizes torch.nn.Conv2d gives). */
START_TEST(output_sizes_and_padding_follow_keras_and_pytorch)
{
    /* {in, k, stride, same, P, out, padding before} */
    static const int cases[][7] = {
        {28, 3, 1, 0, 0, 26, 0}, {28, 3, 1, 1, 0, 28, 1}, {28, 3, 2, 1, 0, 14, 0},
        {7, 3, 2, 1, 0, 4, 1},   {8, 3, 2, 1, 0, 4, 0},   {11, 5, 2, 0, 0, 4, 0},
        {12, 5, 2, 0, 0, 4, 0},  {9, 1, 2, 0, 0, 5, 0},   {7, 4, 1, 1, 0, 7, 1},
        {6, 2, 1, 1, 0, 6, 0},   {10, 3, 3, 0, 0, 3, 0},  {10, 3, 3, 1, 0, 4, 1},
        {3, 5, 1, 1, 0, 3, 2},   {3, 5, 2, 1, 0, 2, 2},   {5, 5, 1, 0, 0, 1, 0},
        {1, 3, 4, 1, 0, 1, 1},
        {28, 3, 1, 0, 1, 28, 1}, {28, 3, 2, 0, 1, 14, 1}, {8, 3, 2, 0, 1, 4, 1},
        {7, 3, 2, 0, 1, 4, 1},   {9, 5, 2, 0, 2, 5, 2},   {10, 3, 3, 0, 1, 4, 1},
        {10, 3, 3, 0, 2, 4, 2},  {1, 3, 1, 0, 1, 1, 1},   {1, 5, 2, 0, 2, 1, 2},
        {3, 5, 1, 0, 1, 1, 1},   {2, 4, 1, 0, 3, 5, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *c = cases[i];
        int out = -1, pad = -1;
        ck_assert(conv_axis(c[0], c[1], c[2], c[3], c[4], &out, &pad));
        ck_assert_msg(out == c[5] && pad == c[6],
                      "in %d k %d s %d same %d P %d: out %d pad %d, want %d %d",
                      c[0], c[1], c[2], c[3], c[4], out, pad, c[5], c[6]);
    }
    int out = -1, pad = -1;
    ck_assert(!conv_axis(3, 5, 1, 0, 0, &out, &pad));
    ck_assert(!conv_axis(2, 5, 2, 0, 1, &out, &pad));
    ck_assert_int_eq(out, -1);
}
END_TEST

extern const layer_kind layer_conv;

/* Parses `token` and works out its shape on a (3, h, w) input through the
 * row, as arch_parse does; returns the status of the first failing step. */
static cnn_status through_row(const char *token, int h, int w, arch_layer *l,
                              cnn_error *err)
{
    memset(l, 0, sizeof *l);
    l->kind = &layer_conv;
    snprintf(l->token, sizeof l->token, "%s", token);
    l->in = (arch_shape){3, h, w};
    cnn_status st = layer_conv.parse(token + strlen(layer_conv.prefix), l, err);
    return st ? st : layer_conv.shape(l, err);
}

START_TEST(row_parses_tokens_and_shapes)
{
    /* {token, in h, in w, filters, k, stride, same, P, out h, out w, pads} */
    static const struct {
        const char *token;
        int h, w, units, k, stride, same, pad, oh, ow, pad_top, pad_left;
    } ok[] = {
        {"conv32k3", 28, 28, 32, 3, 1, 0, 0, 26, 26, 0, 0},
        {"conv32k3same", 28, 28, 32, 3, 1, 1, 0, 28, 28, 1, 1},
        {"conv64k3s2same", 7, 9, 64, 3, 2, 1, 0, 4, 5, 1, 1},
        {"conv64k3s2same", 8, 10, 64, 3, 2, 1, 0, 4, 5, 0, 0},
        {"conv16k5s2", 11, 12, 16, 5, 2, 0, 0, 4, 4, 0, 0},
        {"conv8k2same", 6, 7, 8, 2, 1, 1, 0, 6, 7, 0, 0},
        {"conv4k4same", 7, 6, 4, 4, 1, 1, 0, 7, 6, 1, 1},
        {"conv5k3s3", 10, 10, 5, 3, 3, 0, 0, 3, 3, 0, 0},
        {"conv5k1s2", 9, 8, 5, 1, 2, 0, 0, 5, 4, 0, 0},
        /* Keras allows 'same' with a kernel larger than the input. */
        {"conv2k5same", 3, 4, 2, 5, 1, 1, 0, 3, 4, 2, 2},
        /* PyTorch's padding=P: P before, whatever the stride leaves unused
         * after ('same' at s2 on 8 pads 0 before, 1 after). */
        {"conv8k3s2p1", 8, 7, 8, 3, 2, 0, 1, 4, 4, 1, 1},
        {"conv8k3p1", 28, 28, 8, 3, 1, 0, 1, 28, 28, 1, 1},
        {"conv6k5s2p2", 7, 6, 6, 5, 2, 0, 2, 4, 3, 2, 2},
        {"conv4k3s3p1", 10, 11, 4, 3, 3, 0, 1, 4, 4, 1, 1},
        {"conv4k3s3p2", 10, 11, 4, 3, 3, 0, 2, 4, 5, 2, 2},
        {"conv2k5s2p4", 3, 3, 2, 5, 2, 0, 4, 4, 4, 4, 4},
        /* A kernel larger than the input fits once padded. */
        {"conv4k5p2", 1, 2, 4, 5, 1, 0, 2, 1, 2, 2, 2},
        /* p0: the plain token's layer. */
        {"conv5k3s3p0", 10, 10, 5, 3, 3, 0, 0, 3, 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cnn_error err = {0};
        arch_layer l;
        TEST_OK(through_row(ok[i].token, ok[i].h, ok[i].w, &l, &err), err);
        ck_assert_msg(l.units == ok[i].units && l.k == ok[i].k &&
                          l.stride == ok[i].stride && l.same == ok[i].same &&
                          l.pad == ok[i].pad,
                      "%s parsed as %d %d %d %d %d", ok[i].token, l.units, l.k,
                      l.stride, l.same, l.pad);
        ck_assert_msg(l.out.c == ok[i].units && l.out.h == ok[i].oh &&
                          l.out.w == ok[i].ow && l.pad_top == ok[i].pad_top &&
                          l.pad_left == ok[i].pad_left,
                      "%s on %dx%d: (%d, %d, %d) padded %d, %d", ok[i].token,
                      ok[i].h, ok[i].w, l.out.c, l.out.h, l.out.w, l.pad_top,
                      l.pad_left);
    }

    static const char *const bad[] = {
        "conv32",    "conv32k0",     "conv32k3s0", "conv32k3sam",
        "conv32k3same2", "conv32k", "convk3",      "conv32k3s",
        "conv32k3s2s2", "conv32k3samesame", "conv32k3sames2", "conv32k3x",
        "conv8k3p",  "conv8k3samep1", "conv8k3p1same", "conv8k3p1s2",
        "conv8k3p00", "conv8k3p01",  "conv8k3pp1", "conv8k3p1p1", "conv8k3p1x",
        "conv8k3p2000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cnn_error err = {0};
        arch_layer l;
        ck_assert_int_eq(through_row(bad[i], 28, 28, &l, &err), CNN_ERR_INPUT);
        char want[128];
        snprintf(want, sizeof want, "'%s' is not conv<F>k<K>[s<S>][same|p<P>]",
                 bad[i]);
        ck_assert_msg(strstr(err.msg, want), "%s: %s", bad[i], err.msg);
    }

    cnn_error err = {0};
    arch_layer l;
    ck_assert_int_eq(through_row("conv8k5", 3, 3, &l, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "'conv8k5': a 5x5 kernel is larger than its "
                                  "3x3 input"), "%s", err.msg);
    ck_assert_int_eq(through_row("conv8k5s2", 9, 4, &l, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "its 9x4 input"), "%s", err.msg);
    ck_assert_int_eq(through_row("conv8k5p1", 2, 9, &l, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "'conv8k5p1': a 5x5 kernel is larger than its 2x9 "
                                  "input padded by 1 on every side (4x11)"), "%s", err.msg);
    ck_assert_int_eq(through_row("conv8k7s3p1", 9, 4, &l, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "its 9x4 input padded by 1"), "%s", err.msg);

    /* At most K-1 zeros a side, whatever the input. */
    static const char *const wide[][2] = {{"conv8k3p3", "padding 3 for a 3x3 kernel; "
                                                        "cnn-cl pads 0 to 2"},
                                          {"conv8k3s2p9", "padding 9 for a 3x3"},
                                          {"conv8k1p1", "padding 1 for a 1x1"}};
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        ck_assert_int_eq(through_row(wide[i][0], 28, 28, &l, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, wide[i][0]) && strstr(err.msg, wide[i][1]), "%s",
                      err.msg);
    }

    /* p0 is the plain token: the same fields, so the same layer. */
    arch_layer plain;
    TEST_OK(through_row("conv8k3s2", 9, 8, &plain, &err), err);
    TEST_OK(through_row("conv8k3s2p0", 9, 8, &l, &err), err);
    memcpy(l.token, plain.token, sizeof l.token);
    ck_assert_mem_eq(&l, &plain, sizeof l);
}
END_TEST

/* A reference forward as a function of one of x, w, b (the one passed in
 * place of the fixed array), for ref_numeric_grad. */
typedef struct {
    shape s;
    geometry g;
    const double *x, *w, *b;
    int which; /* 0: x, 1: w, 2: b */
} conv_args;

static void conv_function(void *args, const double *v, double *y)
{
    const conv_args *a = args;
    shape s = a->s;
    geometry g = a->g;
    ref_conv_forward(a->which == 0 ? v : a->x, a->which == 1 ? v : a->w,
                     a->which == 2 ? v : a->b, y, s.n, s.c, s.h, s.w, s.oc,
                     s.k, g.stride, g.pad_top, g.pad_left, g.oh, g.ow, 0);
}

/* {n, c, h, w, oc, k, relu (unused), stride, same, pad}. */
static const shape numeric[] = {
    {2, 3, 6, 5, 4, 3, 0, 1, 0, 0}, /* stride 1 'valid' */
    {2, 2, 7, 6, 3, 3, 0, 2, 1, 0}, /* s2 'same', padding before and after */
    {1, 2, 5, 6, 3, 4, 0, 1, 1, 0}, /* K=4 'same' */
    {2, 2, 8, 10, 3, 2, 0, 3, 0, 0}, /* s3 'valid', unused rows and columns */
    {1, 2, 3, 4, 2, 5, 0, 1, 1, 0}, /* 'same', kernel larger than the input */
    {2, 2, 7, 6, 3, 3, 0, 2, 0, 1}, /* s2 p1 */
    {1, 2, 6, 5, 2, 5, 0, 1, 0, 2}, /* K=5 p2 */
    {2, 2, 8, 7, 3, 3, 0, 3, 0, 2}, /* s3 p2 */
};

/* The reference's gradients against central differences of
 * L = sum(g * y) in double (no ReLU, so L is smooth). */
START_TEST(reference_gradients_match_finite_differences)
{
    shape s = numeric[_i];
    geometry g = geometry_of(s);
    long nx = (long)s.n * s.c * s.h * s.w, nw = (long)s.oc * s.c * s.k * s.k;
    long nb = s.oc, ny = (long)s.n * s.oc * g.oh * g.ow;
    float *r = test_random_new(nx + nw + nb + ny, 10 + _i, -1, 1);
    double *x = test_widen(r, nx), *w = test_widen(r + nx, nw);
    double *b = test_widen(r + nx + nw, nb), *dy = test_widen(r + nx + nw + nb, ny);
    double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    double *db = malloc(nb * sizeof *db), *y = malloc(ny * sizeof *y);
    double *num = malloc((nx + nw + nb) * sizeof *num);
    ref_conv_backward(x, w, dy, dx, dw, db, s.n, s.c, s.h, s.w, s.oc, s.k,
                      g.stride, g.pad_top, g.pad_left, g.oh, g.ow);
    double *vals[] = {x, w, b}, *grad[] = {dx, dw, db};
    long len[] = {nx, nw, nb};
    for (int a = 0; a < 3; a++) {
        conv_args args = {s, g, x, w, b, a};
        ref_numeric_grad(conv_function, &args, vals[a], len[a], dy, y, ny,
                         1e-6, num);
        for (long i = 0; i < len[a]; i++)
            ck_assert_msg(fabs(num[i] - grad[a][i]) <= 1e-7 * (1 + fabs(num[i])),
                          "gradient %d[%ld]: analytic %.12g, numeric %.12g",
                          a, i, grad[a][i], num[i]);
    }
    void *host[] = {r, x, w, b, dy, dx, dw, db, y, num};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, reference_gradients_match_finite_differences, 0,
                        sizeof numeric / sizeof numeric[0]);
    tcase_add_test(tc, output_sizes_and_padding_follow_keras_and_pytorch);
    tcase_add_test(tc, row_parses_tokens_and_shapes);
    tcase_add_loop_test(tc, matches_reference_on_awkward_shapes, 0,
                        sizeof awkward / sizeof awkward[0]);
    tcase_add_loop_test(tc, matches_reference_strided_and_padded, 0,
                        sizeof strided / sizeof strided[0]);
    tcase_add_test(tc, strided_smaller_batch_than_created);
    tcase_add_test(tc, smaller_batch_than_created);
    tcase_add_test(tc, model_conv1);
    tcase_add_test(tc, model_conv2);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, gemm_variants_match_reference_on_tile_edges);
    tcase_add_test(tc, every_variant_is_built_as_its_row_says);
    suite_add_tcase(s, tc);
    TCase *sim = test_simulator_case();
    tcase_add_test(sim, every_variant_matches_reference);
    tcase_add_loop_test(sim, winograd_matches_reference, 0,
                        sizeof winograd_shapes / sizeof winograd_shapes[0]);
    tcase_add_test(sim, winograd_data_packs_alike);
    tcase_add_test(sim, rejects_bad_shapes);
    suite_add_tcase(s, sim);
    return test_run(s, 0);
}
