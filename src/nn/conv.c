/* conv.c: the convolution layer's host side (see conv.h and kernels/conv.cl
 * for the layouts). Each call enqueues a weight repacking (cheap: the weights
 * change every step) and the kernels of the pass; nothing is allocated per
 * call. */
#include "nn/conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/conv.h"

/* Without a tuner: 8 chunks of the batch in the weight gradient are
 * enough work-items to keep a CPU's cores busy, few enough that the second
 * stage stays negligible (a GPU does better with a chunk per image). */
const conv_tiles conv_default_tiles = {.pixels = 8, .blocks = 1, .rows = 1,
                                       .data_pixels = 8, .data_blocks = 1, .taps = 4,
                                       .weights_blocks = 1, .chunks = 8, .gemm = 0,
                                       .data_gemm = 0, .weights_gemm = 0, .gemm_chunk = 0};

/* The sites' candidates. A row's tiles are the fields of conv_tiles its
 * site sets, in this order: forward (pixels, blocks, gemm, rows, 0 meaning
 * 1, winograd), data (data_pixels, data_blocks, data_gemm, data_winograd,
 * data_rows, 0 meaning 1), weights (taps, chunks,
 * weights_gemm, gemm_chunk, weights_blocks, 0 meaning 1); a GEMM row keeps
 * the defaults of the fields it does not use. site_program makes a row's
 * kernel's options from them. The tile sizes keep every sum's order
 * (backward-data skips only products that are zero), and the forward and
 * data GEMMs sum in that order too, so they share one arithmetic key; the
 * weight gradient's chunks do not, and its GEMM sums chunks of pixels
 * rather than of images. Winograd's forward and backward-data sum
 * transformed values, a key of their own, so only a timing of every key
 * (bench, --retune, several workers) takes them. */
const tune_variant conv_forward_variants[] = {
    {"p4", "direct", TUNE_ANYWHERE, {4, 1, 0}},
    {"p8", "direct", TUNE_ANYWHERE, {8, 1, 0}},
    {"p16", "direct", TUNE_ANYWHERE, {16, 1, 0}},
    {"p4b2", "direct", TUNE_CPU_DEFAULT, {4, 2, 0}},
    {"p8b2", "direct", TUNE_ANYWHERE, {8, 2, 0}},
    {"p4b4", "direct", TUNE_ANYWHERE, {4, 4, 0}},
    {"p16r4", "direct", TUNE_ANYWHERE, {16, 1, 0, 4}},
    {"g64", "direct", TUNE_NOT_CPU, {8, 1, 64}},
    {"g32", "direct", TUNE_NOT_CPU, {8, 1, 32}},
    {"w16", "winograd", TUNE_ANYWHERE, {8, 1, 0, 0, 16}},
    {"w8", "winograd", TUNE_ANYWHERE, {8, 1, 0, 0, 8}},
    {"w4", "winograd", TUNE_ANYWHERE, {8, 1, 0, 0, 4}},
};
const tune_variant conv_data_variants[] = {
    {"d4", "direct", TUNE_ANYWHERE, {4, 1, 0}},
    {"d8", "direct", TUNE_ANYWHERE, {8, 1, 0}},
    {"d16", "direct", TUNE_ANYWHERE, {16, 1, 0}},
    {"d4b2", "direct", TUNE_CPU_DEFAULT, {4, 2, 0}},
    {"d8b2", "direct", TUNE_ANYWHERE, {8, 2, 0}},
    {"gd64", "direct", TUNE_NOT_CPU, {8, 1, 64}},
    {"gd32", "direct", TUNE_NOT_CPU, {8, 1, 32}},
    {"wd8", "winograd", TUNE_ANYWHERE, {8, 2, 0, 8, 1}},
    {"wd8r2", "winograd", TUNE_ANYWHERE, {8, 1, 0, 8, 2}},
    {"wd4r2", "winograd", TUNE_ANYWHERE, {8, 2, 0, 4, 2}},
    {"wd4r4", "winograd", TUNE_ANYWHERE, {8, 1, 0, 4, 4}},
};
const tune_variant conv_weights_variants[] = {
    {"t4c8", "c8", TUNE_ANYWHERE, {4, 8, 0, 0}},
    {"t8c8", "c8", TUNE_ANYWHERE, {8, 8, 0, 0}},
    {"t12c8", "c8", TUNE_ANYWHERE, {12, 8, 0, 0}},
    {"t4n1", "n1", TUNE_ANYWHERE, {4, 0, 0, 0}},
    {"t8n1", "n1", TUNE_ANYWHERE, {8, 0, 0, 0}},
    {"t12n1", "n1", TUNE_ANYWHERE, {12, 0, 0, 0}},
    {"t4c8b2", "c8", TUNE_ANYWHERE, {4, 8, 0, 0, 2}},
    {"t8c8b2", "c8", TUNE_CPU_DEFAULT, {8, 8, 0, 0, 2}},
    {"t4n1b2", "n1", TUNE_ANYWHERE, {4, 0, 0, 0, 2}},
    {"t8n1b2", "n1", TUNE_ANYWHERE, {8, 0, 0, 0, 2}},
    {"gw64k256", "gk256", TUNE_NOT_CPU, {4, 8, 64, 256}},
    {"gw32k256", "gk256", TUNE_NOT_CPU, {4, 8, 32, 256}},
    {"gw64k1024", "gk1024", TUNE_NOT_CPU, {4, 8, 64, 1024}},
    {"gw32k64", "gk64", TUNE_NOT_CPU, {4, 8, 32, 64}},
};
const int conv_forward_variant_count =
    sizeof conv_forward_variants / sizeof *conv_forward_variants;
const int conv_data_variant_count = sizeof conv_data_variants / sizeof *conv_data_variants;
const int conv_weights_variant_count =
    sizeof conv_weights_variants / sizeof *conv_weights_variants;

/* base with site `site`'s fields set from a row's tiles, in the order
 * above. */
static conv_tiles with_row(conv_tiles base, int site, const int *n)
{
    if (site == 0) {
        base.pixels = n[0];
        base.blocks = n[1];
        base.gemm = n[2];
        base.rows = n[3] ? n[3] : 1;
        base.winograd = n[4];
    } else if (site == 1) {
        base.data_pixels = n[0];
        base.data_blocks = n[1];
        base.data_gemm = n[2];
        base.data_winograd = n[3];
        base.data_rows = n[4] ? n[4] : 1;
    } else {
        base.taps = n[0];
        base.chunks = n[1];
        base.weights_gemm = n[2];
        base.gemm_chunk = n[3];
        base.weights_blocks = n[4] ? n[4] : 1;
    }
    return base;
}

conv_tiles conv_tiles_with(conv_tiles base, int site, int index)
{
    const tune_variant *v = site == 0   ? conv_forward_variants
                            : site == 1 ? conv_data_variants
                                        : conv_weights_variants;
    return with_row(base, site, v[index].tiles);
}

/* The most input channels of Winograd's forward, the groups of 16 tiles
 * a work-item takes, and the most output channels of its backward-data
 * (conv_winograd.cl's CONV_WC, CONV_WV and CONV_WDO). */
#define CONV_WINOGRAD_MAX_C 64
#define CONV_WINOGRAD_GROUPS 2
#define CONV_WINOGRAD_MAX_OC 64

/* Whether Winograd's kernels take a k x k kernel at that stride, summing
 * over `channels` (the forward's input, backward-data's output ones), at
 * most `most` of them. */
static int winograd_fits(int channels, int most, int k, int stride)
{
    return k == 3 && stride == 1 && channels <= most;
}

/* The floats past xpad's planes that Winograd's windows may read: up to
 * 7 rows past the last plane and 34 floats past a row (conv_winograd.cl). */
static size_t winograd_slack(const conv_layer *l) { return (size_t)8 * l->wp + 64; }

int conv_variant_applies(int site, int index, int c, int oc, int k, int stride)
{
    const conv_tiles t = conv_tiles_with(conv_default_tiles, site, index);
    return site == 0   ? !t.winograd || winograd_fits(c, CONV_WINOGRAD_MAX_C, k, stride)
           : site == 1 ? !t.data_winograd || winograd_fits(oc, CONV_WINOGRAD_MAX_OC, k, stride)
                       : 1;
}

/* The GEMM tile side site `site` runs with under t, 0 for conv.cl's
 * kernel. */
static int site_gemm(const conv_tiles *t, int site)
{
    return site == 0 ? t->gemm : site == 1 ? t->data_gemm : t->weights_gemm;
}

/* The kernel file site `site`'s kernel comes from under t, and the -D
 * options its program is built with into options: conv_gpu.cl with the
 * GEMM's tile side, else conv.cl with the pass's tile sizes. */
static const char *site_program(const conv_tiles *t, int site, char *options, size_t size)
{
    int gemm = site_gemm(t, site);
    if (gemm)
        snprintf(options, size, "-DCONV_GT=%d", gemm);
    else if (site == 0 && t->winograd)
        snprintf(options, size, "-DCONV_WT=%d", t->winograd);
    else if (site == 1 && t->data_winograd)
        snprintf(options, size, "-DCONV_WDT=%d -DCONV_WDR=%d -DCONV_DB=%d",
                 t->data_winograd, t->data_rows, t->data_blocks);
    else if (site == 0)
        /* one row unnamed, as one block of the weights below */
        snprintf(options, size, t->rows > 1 ? "-DCONV_P=%d -DCONV_B=%d -DCONV_R=%d"
                                            : "-DCONV_P=%d -DCONV_B=%d",
                 t->pixels, t->blocks, t->rows);
    else if (site == 1)
        snprintf(options, size, "-DCONV_DP=%d -DCONV_DB=%d", t->data_pixels,
                 t->data_blocks);
    else
        /* one block unnamed, so that the older rows' programs and cache
         * entries stay as they were */
        snprintf(options, size, t->weights_blocks > 1 ? "-DCONV_T=%d -DCONV_WB=%d"
                                                      : "-DCONV_T=%d",
                 t->taps, t->weights_blocks);
    return gemm ? "conv_gpu"
           : (site == 0 && t->winograd) || (site == 1 && t->data_winograd) ? "conv_winograd"
                                                                           : "conv";
}

void conv_options(int site, const int *tiles, char *buf, size_t size)
{
    conv_tiles t = with_row(conv_default_tiles, site, tiles);
    site_program(&t, site, buf, size);
}

static size_t pad16(int v) { return (size_t)(v + 15) / 16 * 16; }

static int ckkpad(const conv_layer *l)
{
    int ckk = l->c * l->k * l->k, t = l->tiles.taps;
    return (ckk + t - 1) / t * t;
}

int conv_axis(int in, int k, int stride, int same, int pad, int *out, int *before)
{
    if (!same) {
        if (k > in + 2 * pad)
            return 0;
        *out = (in + 2 * pad - k) / stride + 1;
        *before = pad;
        return 1;
    }
    *out = (in + stride - 1) / stride;
    int total = (*out - 1) * stride + k - in;
    *before = total > 0 ? total / 2 : 0;
    return 1;
}

void conv_release(conv_layer *l)
{
    cl_kernel *ks[] = {&l->pack, &l->pad, &l->forward, &l->dz, &l->backward_data,
                       &l->backward_weights, &l->backward_weights_sum, &l->winograd_pack,
                       &l->winograd_pack_data};
    cl_mem *ms[] = {&l->wf, &l->wb, &l->dzt, &l->part, &l->xpad, &l->taps,
                    &l->data_taps, &l->u};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        clrt_release_kernel(ks[i]);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        clrt_release_mem(ms[i]);
}

/* Whether windows of k at stride, the first starting at -pad, out of them,
 * each overlap an axis of `in` values. */
static int windows_fit(int in, int k, int stride, int pad, int out)
{
    return pad >= 0 && pad < k && out >= 1 &&
           (long)(out - 1) * stride - pad < in;
}

/* conv_gpu.cl's GEMMs run in work-groups of 16 x 16 (their
 * reqd_work_group_size), the GPU-shaped kernels' size. */
_Static_assert(16 * 16 == CLRT_WORK_GROUP, "conv_gpu.cl's work-groups are 16 x 16");

/* conv.cl's kernels run in work-groups of 16 work-items along the first
 * dimension, which each bounds-checks: one shape for every layer and batch,
 * so a compiler that specializes a kernel per work-group shape (PoCL)
 * builds it once. */
static const size_t conv_local[3] = {16, 1, 1};

/* Gets site `site`'s kernel for the layer's tiles, built as site_program
 * says, checked to run on the device in the work-groups it is launched in. */
static cnn_status site_kernel(const conv_layer *l, int site, cl_kernel *out,
                              cnn_error *err)
{
    static const char *const names[3][3] = {
        {"conv_forward", "conv_forward_strided", "conv_gpu_forward"},
        {"conv_backward_data", "conv_backward_data_strided", "conv_gpu_data"},
        {"conv_backward_weights", "conv_backward_weights_strided", "conv_gpu_weights"}};
    char options[TUNE_OPTIONS];
    const char *file = site_program(&l->tiles, site, options, sizeof options);
    int gemm = site_gemm(&l->tiles, site) != 0;
    const char *name = site == 0 && l->tiles.winograd        ? "conv_winograd_forward"
                       : site == 1 && l->tiles.data_winograd ? "conv_winograd_data"
                                                             : names[site][gemm ? 2 : l->stride > 1];
    cnn_status st = clrt_kernels_from(l->rt, file, options, 1, &name, &out, err);
    return st ? st : clrt_kernel_fits(l->rt, *out, name, gemm ? CLRT_WORK_GROUP : conv_local[0],
                                      err);
}

/* Fills the GEMMs' tables of where each step of their sums reads (see
 * conv.h), those the layer's variants use. */
static cnn_status write_taps(conv_layer *l, cnn_error *err)
{
    int k = l->k, kk = k * k, ckk = l->c * kk, steps = kk * l->oc, ohw = l->oh * l->ow;
    int h = l->padded ? l->hp : l->h, w = l->padded ? l->wp : l->w;
    size_t n = (size_t)(ckk > 4 * steps ? ckk : 4 * steps);
    int *v = malloc(n * sizeof *v);
    if (!v)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of memory for a convolution's "
                        "tables of %zu ints", n);
    cnn_status st = CNN_OK;
    if (l->taps) {
        for (int t = 0; t < ckk; t++)
            v[t] = (t / kk * h + t % kk / k) * w + t % k;
        st = clrt_write(l->rt, l->taps, v, (size_t)ckk * sizeof *v, err);
    }
    if (st == CNN_OK && l->data_taps) {
        /* Step t = (ky*K + kx)*OC + o, as conv_backward_data sums. */
        for (int t = 0; t < steps; t++) {
            int *d = v + 4 * t, tap = t / l->oc;
            d[0] = tap / k;
            d[1] = tap % k;
            d[2] = t % l->oc * ohw;
            d[3] = 0;
        }
        st = clrt_write(l->rt, l->data_taps, v, 4 * (size_t)steps * sizeof *v, err);
    }
    free(v);
    return st;
}

/* Whether tiles asks for GEMMs the variants have: tiles of 32 or 64 a
 * side, chunks of a positive multiple of 16 pixels. */
static int gemm_tiles_valid(const conv_tiles *t)
{
    const int sides[3] = {t->gemm, t->data_gemm, t->weights_gemm};
    for (int i = 0; i < 3; i++)
        if (sides[i] && sides[i] != 32 && sides[i] != 64)
            return 0;
    return !t->weights_gemm || (t->gemm_chunk > 0 && t->gemm_chunk % 16 == 0);
}

cnn_status conv_create(conv_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int oc, int k, int stride, int pad_top,
                       int pad_left, int oh, int ow, int relu,
                       const conv_tiles *tiles, int backward, cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || c < 1 || oc < 1 || k < 1 || h < 1 || w < 1 ||
        stride < 1 || !windows_fit(h, k, stride, pad_top, oh) ||
        !windows_fit(w, k, stride, pad_left, ow))
        return cnn_fail(err, CNN_ERR_INPUT,
                        "convolution: bad shape (batch %d, %d channels "
                        "%dx%d, %d outputs %dx%d, kernel %d, stride %d, "
                        "padding %d, %d); every window must overlap the input",
                        max_batch, c, h, w, oc, oh, ow, k, stride, pad_top,
                        pad_left);
    if (tiles && tiles->winograd && !winograd_fits(c, CONV_WINOGRAD_MAX_C, k, stride))
        return cnn_fail(err, CNN_ERR_INPUT, "convolution: Winograd's forward takes a 3x3 "
                        "kernel at stride 1 and at most %d input channels, not %dx%d at "
                        "stride %d with %d; choose a direct variant",
                        CONV_WINOGRAD_MAX_C, k, k, stride, c);
    if (tiles && tiles->data_winograd && (backward & CONV_DATA) &&
        !winograd_fits(oc, CONV_WINOGRAD_MAX_OC, k, stride))
        return cnn_fail(err, CNN_ERR_INPUT, "convolution: Winograd's backward-data takes a "
                        "3x3 kernel at stride 1 and at most %d output channels, not %dx%d "
                        "at stride %d with %d; choose a direct variant",
                        CONV_WINOGRAD_MAX_OC, k, k, stride, oc);
    if (tiles && !gemm_tiles_valid(tiles))
        return cnn_fail(err, CNN_ERR_INPUT, "convolution: GEMM tiles %d, %d, %d "
                        "(32 or 64, or 0 for none) or chunk %d (a multiple "
                        "of 16)", tiles->gemm, tiles->data_gemm,
                        tiles->weights_gemm, tiles->gemm_chunk);
    *l = (conv_layer){.rt = rt, .max_batch = max_batch, .c = c, .h = h,
                      .w = w, .oc = oc, .k = k, .relu = relu != 0,
                      .tiles = tiles ? *tiles : conv_default_tiles,
                      .stride = stride, .pad_top = pad_top,
                      .pad_left = pad_left, .oh = oh, .ow = ow,
                      .backward = backward & CONV_BACKWARD};
    /* The rows and columns the windows cover, padding included. */
    l->hp = (oh - 1) * stride + k;
    l->wp = (ow - 1) * stride + k;
    const conv_tiles *t = &l->tiles;
    /* Winograd's windows read past x's end (conv_winograd.cl), so it
     * always reads the copy, which has room for them. */
    l->padded = pad_top || pad_left || l->hp > h || l->wp > w || t->winograd;
    size_t kk = (size_t)k * k, rows = (size_t)max_batch * oh * ow + 1;
    if (t->weights_gemm)
        l->splits = (int)((rows - 1 + (size_t)t->gemm_chunk - 1) / (size_t)t->gemm_chunk);
    else
        l->splits = t->chunks && t->chunks < max_batch ? t->chunks : max_batch;
    const int data = l->backward & CONV_DATA, weights = l->backward & CONV_WEIGHTS,
              data_winograd = data && t->data_winograd;
    l->uses_dzt = (weights && !t->weights_gemm) || (data && !t->data_gemm);

    const char *names[] = {"conv_pack_weights", "conv_pad", "conv_dz",
                           t->weights_gemm ? "conv_gpu_weights_sum"
                                           : "conv_backward_weights_sum"};
    cl_kernel *const kernels[] = {&l->pack, &l->pad, &l->dz,
                                  &l->backward_weights_sum};
    struct {
        cl_mem *m;
        size_t words; /* of 4 bytes: floats, or the tables' ints */
    } buffers[] = {{&l->wf, t->gemm || t->winograd ? 0 : pad16(oc) * c * kk},
                   {&l->u, t->winograd ? (size_t)16 * c * pad16(oc) : 0},
                   {&l->wb, data_winograd ? 16 * pad16(c) * oc
                            : data        ? pad16(c) * oc * kk
                                          : 0},
                   {&l->dzt, l->uses_dzt ? rows * pad16(oc) : 0},
                   {&l->part, !weights ? 0
                              : t->weights_gemm
                                  ? (size_t)l->splits * oc * (c * kk + 1)
                                  : (size_t)l->splits * (ckkpad(l) + 1) * pad16(oc)},
                   {&l->xpad, l->padded ? (size_t)max_batch * c * l->hp * l->wp +
                                              (t->winograd ? winograd_slack(l) : 0)
                                        : 0},
                   {&l->taps, t->gemm || (weights && t->weights_gemm) ? (size_t)c * kk : 0},
                   {&l->data_taps, data && t->data_gemm ? 4 * kk * oc : 0}};
    cl_kernel *const passes[3] = {&l->forward, &l->backward_data, &l->backward_weights};
    cnn_status st = clrt_kernels(rt, 4, names, kernels, err);
    for (int i = 0; st == CNN_OK && i < (t->weights_gemm ? 3 : 4); i++)
        st = clrt_kernel_fits(rt, *kernels[i], names[i], conv_local[0], err);
    /* Winograd's weight transforms take no tile options: the common
     * program's, as conv_pack_weights */
    const struct {
        int used;
        const char *name;
        cl_kernel *k;
    } wpacks[2] = {{t->winograd, "conv_winograd_pack", &l->winograd_pack},
                   {data_winograd && !t->winograd, "conv_winograd_pack_data",
                    &l->winograd_pack_data}};
    for (int i = 0; st == CNN_OK && i < 2; i++)
        if (wpacks[i].used) {
            st = clrt_kernels(rt, 1, &wpacks[i].name, (cl_kernel *const[]){wpacks[i].k}, err);
            if (st == CNN_OK)
                st = clrt_kernel_fits(rt, *wpacks[i].k, wpacks[i].name, conv_local[0], err);
        }
    const int built[3] = {1, data, weights};
    for (int site = 0; st == CNN_OK && site < 3; site++)
        if (built[site])
            st = site_kernel(l, site, passes[site], err);
    for (size_t i = 0; st == CNN_OK && i < sizeof buffers / sizeof buffers[0]; i++)
        if (buffers[i].words)
            st = clrt_buffer(rt, buffers[i].words * sizeof(float), buffers[i].m, err);
    if (st == CNN_OK)
        st = write_taps(l, err);
    /* dzt's last row stays zero from here on: conv_dz writes the others;
     * so does the room past xpad's planes, which conv_pad never writes, and
     * wb's lanes past C, which Winograd's forward packing never writes. */
    const float zero = 0;
    cl_int rc;
    if (st == CNN_OK && t->winograd && data &&
        (rc = clEnqueueFillBuffer(rt->queue, l->wb, &zero, sizeof zero, 0,
                                  buffers[2].words * sizeof(float), 0, NULL, NULL)) !=
            CL_SUCCESS)
        st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    if (st == CNN_OK && t->winograd &&
        (rc = clEnqueueFillBuffer(rt->queue, l->xpad, &zero, sizeof zero,
                                  (size_t)max_batch * c * l->hp * l->wp * sizeof(float),
                                  winograd_slack(l) * sizeof(float), 0, NULL,
                                  NULL)) != CL_SUCCESS)
        st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    if (st == CNN_OK && l->uses_dzt &&
        (rc = clEnqueueFillBuffer(rt->queue, l->dzt, &zero, sizeof zero,
                                  (rows - 1) * pad16(oc) * sizeof(float),
                                  pad16(oc) * sizeof(float), 0, NULL,
                                  NULL)) != CL_SUCCESS)
        st = clrt_fail(err, "clEnqueueFillBuffer", rc);
    if (st) {
        conv_release(l);
        return cnn_fail_context(err, "creating a convolution layer");
    }
    return CNN_OK;
}

/* Packs w (OC, C, K, K) into wf for the forward's kernel when forward is
 * set, and into wb for backward-data's when data is: one launch for either
 * or both; see conv_pack_weights. */
static cnn_status pack(const conv_layer *l, cl_mem w, int forward, int data,
                       cnn_error *err)
{
    size_t kk = (size_t)l->k * l->k;
    size_t rows_f = forward ? kk * l->c : 0, rows_d = data ? kk * l->oc : 0,
           lanes_f = forward ? pad16(l->oc) : 0, lanes_d = data ? pad16(l->c) : 0;
    size_t global[3] = {rows_f > rows_d ? rows_f : rows_d,
                        (lanes_f > lanes_d ? lanes_f : lanes_d) / 16,
                        (size_t)(forward + data)};
    int layout = forward ? 0 : 1;
    cnn_status st = clrt_set_args(l->pack, err, 7, sizeof w, &w, sizeof l->wf, &l->wf,
                                  sizeof l->wb, &l->wb, sizeof l->oc, &l->oc, sizeof l->c,
                                  &l->c, sizeof l->k, &l->k, sizeof layout, &layout);
    return st ? st : clrt_launch(l->rt, l->pack, 3, global, conv_local, NULL, err);
}

/* A pass's useful multiply-adds, for the benchmark's per-kernel GFLOPS
 * (the same count for the forward and both gradients). */
static double pass_flop(const conv_layer *l, int n)
{
    return 2.0 * n * l->oc * l->c * l->k * l->k * l->oh * l->ow;
}

/* Sets the arguments a strided kernel takes after its first `first`: the
 * stride and the output size. */
static cnn_status set_stride(const conv_layer *l, cl_kernel kernel, cl_uint first,
                             cnn_error *err)
{
    const int *v[] = {&l->stride, &l->oh, &l->ow};
    for (cl_uint i = 0; i < sizeof v / sizeof v[0]; i++)
        CLRT_CALL(err, clSetKernelArg, (kernel, first + i, sizeof(int), v[i]));
    return CNN_OK;
}

/* The input the forward kernel reads: x, or its zero-padded copy (made
 * here, and read again by the weight gradient) when the layer pads; *h, *w
 * its size. */
static cnn_status padded_input(const conv_layer *l, int n, cl_mem x, cl_mem *out,
                               int *h, int *w, cnn_error *err)
{
    *out = x;
    *h = l->h;
    *w = l->w;
    if (!l->padded)
        return CNN_OK;
    *out = l->xpad;
    *h = l->hp;
    *w = l->wp;
    if (l->prepadded)
        return CNN_OK;
    size_t global[2] = {(size_t)l->hp, (size_t)n * l->c};
    cnn_status st = clrt_set_args(l->pad, err, 8, sizeof x, &x, sizeof l->xpad, &l->xpad,
                                  sizeof l->h, &l->h, sizeof l->w, &l->w, sizeof l->hp,
                                  &l->hp, sizeof l->wp, &l->wp, sizeof l->pad_top,
                                  &l->pad_top, sizeof l->pad_left, &l->pad_left);
    return st ? st : clrt_launch(l->rt, l->pad, 2, global, conv_local, NULL, err);
}

cnn_status conv_input_padded(conv_layer *l, cnn_error *err)
{
    if (!l->padded)
        return CNN_OK;
    size_t bytes;
    CLRT_CALL(err, clGetMemObjectInfo, (l->xpad, CL_MEM_SIZE, sizeof bytes, &bytes, NULL));
    const float zero = 0;
    CLRT_CALL(err, clEnqueueFillBuffer, (l->rt->queue, l->xpad, &zero, sizeof zero, 0, bytes,
                                         0, NULL, NULL));
    l->prepadded = 1;
    return CNN_OK;
}

cl_mem conv_transposed_dz(const conv_layer *l)
{
    const int gemm = l->tiles.weights_gemm || ((l->backward & CONV_DATA) && l->tiles.data_gemm);
    return l->uses_dzt && !l->relu && !gemm ? l->dzt : NULL;
}

void conv_dz_written(conv_layer *l) { l->dz_written = 1; }

/* Launches k on the queue, or beside its chain after `after` where that
 * is a fork's event (clrt_fork; NULL while profiling, when all is one
 * queue). */
static cnn_status launch(const conv_layer *l, cl_kernel k, cl_uint dims, const size_t *global,
                         const size_t *local, cl_event after, cnn_error *err)
{
    return after ? clrt_launch_beside(l->rt, k, dims, global, local, after, err)
                 : clrt_launch(l->rt, k, dims, global, local, NULL, err);
}

/* Launches a conv_gpu.cl GEMM with tiles of `tile` a side over `cols`
 * columns and `rows` rows of its result, `depth` times (its third global
 * dimension), in work-groups of 16 x 16 (gemm_kernel checked them); beside
 * the queue's chain after `after` where it is not NULL (launch). */
static cnn_status launch_gemm(const conv_layer *l, cl_kernel kernel, int tile,
                              int cols, int rows, int depth, cl_event after,
                              cnn_error *err)
{
    size_t t = (size_t)tile;
    size_t global[3] = {((size_t)cols + t - 1) / t * 16,
                        ((size_t)rows + t - 1) / t * 16, (size_t)depth};
    const size_t local[3] = {16, 16, 1};
    return launch(l, kernel, 3, global, local, after, err);
}

/* The forward as a GEMM: its arguments after y are the same for every
 * stride. */
static cnn_status forward_gemm(const conv_layer *l, int n, cl_mem in, int h, int wd,
                               cl_mem w, cl_mem b, cl_mem y, cnn_error *err)
{
    int cols = n * l->oh * l->ow, has_bias = b != NULL;
    cnn_status st = clrt_set_args(
        l->forward, err, 16, sizeof in, &in, sizeof w, &w, sizeof b, &b, sizeof y, &y,
        sizeof l->taps, &l->taps, sizeof l->c, &l->c, sizeof h, &h, sizeof wd, &wd, sizeof l->k, &l->k,
        sizeof l->oc, &l->oc, sizeof l->stride, &l->stride, sizeof l->oh, &l->oh,
        sizeof l->ow, &l->ow, sizeof cols, &cols, sizeof l->relu, &l->relu,
        sizeof has_bias, &has_bias);
    return st ? st : launch_gemm(l, l->forward, l->tiles.gemm, cols, l->oc, 1, NULL, err);
}

/* The forward of conv.cl, on the weights packed into wf. */
static cnn_status forward_direct(const conv_layer *l, int n, cl_mem in, int h, int wd,
                                 cl_mem w, cl_mem b, cl_mem y, cnn_error *err)
{
    int has_bias = b != NULL;
    size_t p = (size_t)l->tiles.pixels, r = l->tiles.rows > 1 ? (size_t)l->tiles.rows : 1;
    size_t bk = (size_t)l->tiles.blocks;
    /* as conv_forward_loops numbers its work-items */
    size_t tiles = r > 1 ? ((size_t)l->oh + r - 1) / r * (((size_t)l->ow + p / r - 1) / (p / r))
                         : ((size_t)l->oh * l->ow + p - 1) / p;
    size_t global[3] = {tiles, (pad16(l->oc) / 16 + bk - 1) / bk, (size_t)n};
    /* backward-data's weights too, in the same launch: a layer built with
     * that pass runs it after this forward, before w changes. */
    cnn_status st = pack(l, w, 1, (l->backward & CONV_DATA) && !l->tiles.data_winograd, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 11, sizeof in, &in, sizeof l->wf, &l->wf,
                           sizeof b, &b, sizeof y, &y, sizeof l->c, &l->c, sizeof h, &h,
                           sizeof wd, &wd, sizeof l->k, &l->k, sizeof l->oc, &l->oc,
                           sizeof l->relu, &l->relu, sizeof has_bias, &has_bias);
    if (st == CNN_OK && l->stride > 1)
        st = set_stride(l, l->forward, 11, err);
    return st ? st : clrt_launch(l->rt, l->forward, 3, global, conv_local, NULL, err);
}

/* The forward by conv_winograd.cl: w transformed into u, and packed or
 * transformed for backward-data in the same launch when the layer has that
 * pass, then the tiles. */
static cnn_status forward_winograd(const conv_layer *l, int n, cl_mem in, int h, int wd,
                                   cl_mem w, cl_mem b, cl_mem y, cnn_error *err)
{
    int has_bias = b != NULL, wt = l->tiles.winograd, wr = 16 / wt;
    size_t ty = ((size_t)l->oh + 1) / 2, tx = ((size_t)l->ow + 1) / 2;
    size_t g_pack[2] = {(size_t)l->c, ((size_t)l->oc + 15) / 16};
    size_t groups = (tx + wt - 1) / wt * ((ty + wr - 1) / wr);
    size_t global[1] = {(groups * n + CONV_WINOGRAD_GROUPS - 1) / CONV_WINOGRAD_GROUPS};
    const int data = (l->backward & CONV_DATA) != 0;
    cl_mem wb = data && !l->tiles.data_winograd ? l->wb : NULL,
           ud = data && l->tiles.data_winograd ? l->wb : NULL;
    cnn_status st = clrt_set_args(l->winograd_pack, err, 6, sizeof w, &w, sizeof l->u, &l->u,
                                  sizeof wb, &wb, sizeof ud, &ud, sizeof l->oc, &l->oc,
                                  sizeof l->c, &l->c);
    if (st == CNN_OK)
        st = clrt_launch(l->rt, l->winograd_pack, 2, g_pack, conv_local, NULL, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->forward, err, 11, sizeof in, &in, sizeof l->u, &l->u,
                           sizeof b, &b, sizeof y, &y, sizeof l->c, &l->c, sizeof h, &h,
                           sizeof wd, &wd, sizeof l->oc, &l->oc, sizeof l->relu, &l->relu,
                           sizeof has_bias, &has_bias, sizeof n, &n);
    return st ? st : clrt_launch(l->rt, l->forward, 1, global, conv_local, NULL, err);
}

cnn_status conv_forward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                        cl_mem b, cl_mem y, cnn_error *err)
{
    cl_mem in;
    int h, wd;
    cnn_status st = layer_check_batch("convolution", n, l->max_batch, err);
    if (st == CNN_OK)
        st = padded_input(l, n, x, &in, &h, &wd, err);
    if (st == CNN_OK)
        st = l->tiles.gemm       ? forward_gemm(l, n, in, h, wd, w, b, y, err)
             : l->tiles.winograd ? forward_winograd(l, n, in, h, wd, w, b, y, err)
                                 : forward_direct(l, n, in, h, wd, w, b, y, err);
    if (st)
        return st;
    clrt_profile_flop(l->rt, pass_flop(l, n));
    return CNN_OK;
}

/* dw and db from dzt by conv.cl's kernels: partial sums per chunk of the
 * batch, then their sum. in (h, wd) is x or its padded copy. */
static cnn_status weights_direct(const conv_layer *l, int n, cl_mem in, int h, int wd,
                                 cl_mem dw, cl_mem db, cl_event after, cnn_error *err)
{
    int ocpad = (int)pad16(l->oc), ckk = l->c * l->k * l->k, ckkp = ckkpad(l);
    int nper = (n + l->splits - 1) / l->splits;
    int splits = (n + nper - 1) / nper;
    int wb = l->tiles.weights_blocks;
    size_t g_w[3] = {(size_t)(ckkp / l->tiles.taps), (size_t)(ocpad / 16 + wb - 1) / wb,
                     (size_t)splits};
    cnn_status st = clrt_set_args(l->backward_weights, err, 10, sizeof in, &in,
                                  sizeof l->dzt, &l->dzt, sizeof l->part, &l->part,
                                  sizeof l->c, &l->c, sizeof h, &h, sizeof wd, &wd,
                                  sizeof l->k, &l->k, sizeof ocpad, &ocpad,
                                  sizeof nper, &nper, sizeof n, &n);
    if (st == CNN_OK && l->stride > 1)
        st = set_stride(l, l->backward_weights, 10, err);
    if (st || (st = launch(l, l->backward_weights, 3, g_w, conv_local, after, err)))
        return st;
    clrt_profile_flop(l->rt, pass_flop(l, n));
    size_t g_sum[2] = {(size_t)ckk + 1, (size_t)ocpad / 16};
    st = clrt_set_args(l->backward_weights_sum, err, 7, sizeof l->part,
                       &l->part, sizeof dw, &dw, sizeof db, &db, sizeof ckk,
                       &ckk, sizeof ckkp, &ckkp, sizeof l->oc, &l->oc,
                       sizeof splits, &splits);
    return st ? st : launch(l, l->backward_weights_sum, 2, g_sum, conv_local, after, err);
}

/* dw and db from y and dy by conv_gpu.cl's GEMM over chunks of the
 * output pixels, then the chunks' sum. */
static cnn_status weights_gemm(const conv_layer *l, int n, cl_mem in, int h, int wd,
                               cl_mem y, cl_mem dy, cl_mem dw, cl_mem db, cl_event after,
                               cnn_error *err)
{
    int ckk = l->c * l->k * l->k, cols = n * l->oh * l->ow;
    int chunk = l->tiles.gemm_chunk, chunks = (cols + chunk - 1) / chunk;
    cnn_status st = clrt_set_args(
        l->backward_weights, err, 16, sizeof in, &in, sizeof dy, &dy, sizeof y, &y,
        sizeof l->part, &l->part, sizeof l->taps, &l->taps, sizeof l->c, &l->c, sizeof h, &h, sizeof wd, &wd,
        sizeof l->k, &l->k, sizeof l->oc, &l->oc, sizeof l->stride, &l->stride,
        sizeof l->oh, &l->oh, sizeof l->ow, &l->ow, sizeof cols, &cols,
        sizeof chunk, &chunk, sizeof l->relu, &l->relu);
    if (st || (st = launch_gemm(l, l->backward_weights, l->tiles.weights_gemm,
                                ckk + 1, l->oc, chunks, after, err)))
        return st;
    clrt_profile_flop(l->rt, pass_flop(l, n));
    size_t g_sum[1] = {(size_t)l->oc * (ckk + 1)};
    st = clrt_set_args(l->backward_weights_sum, err, 6, sizeof l->part, &l->part,
                       sizeof dw, &dw, sizeof db, &db, sizeof ckk, &ckk,
                       sizeof l->oc, &l->oc, sizeof chunks, &chunks);
    return st ? st : launch(l, l->backward_weights_sum, 1, g_sum, NULL, after, err);
}

/* dzt's zero row, which the backward-data kernels read for a tap outside
 * dz: the one past a batch of max_batch images. */
static int dzt_zero_row(const conv_layer *l) { return l->max_batch * l->oh * l->ow; }

/* dx from dzt and the weights packed into wb, by conv.cl's kernel. */
static cnn_status data_direct(const conv_layer *l, int n, cl_mem dx, cnn_error *err)
{
    int zero = dzt_zero_row(l);
    size_t dp = (size_t)l->tiles.data_pixels;
    size_t dbk = (size_t)l->tiles.data_blocks;
    /* Groups of pixels at stride 1, else of cells of S x S pixels times
     * the S row phases. */
    size_t s = (size_t)l->stride, groups = l->stride == 1
        ? ((size_t)l->h * l->w + dp - 1) / dp
        : s * ((((size_t)l->h + s - 1) / s * (((size_t)l->w + s - 1) / s) + dp - 1) / dp);
    size_t g_dx[3] = {groups, (pad16(l->c) / 16 + dbk - 1) / dbk, (size_t)n};
    cnn_status st = clrt_set_args(l->backward_data, err, 14, sizeof l->dzt, &l->dzt,
                                  sizeof l->wb, &l->wb, sizeof dx, &dx, sizeof l->c,
                                  &l->c, sizeof l->h, &l->h, sizeof l->w, &l->w,
                                  sizeof l->k, &l->k, sizeof l->oc, &l->oc,
                                  sizeof l->stride, &l->stride, sizeof l->pad_top,
                                  &l->pad_top, sizeof l->pad_left, &l->pad_left,
                                  sizeof l->oh, &l->oh, sizeof l->ow, &l->ow,
                                  sizeof zero, &zero);
    return st ? st : clrt_launch(l->rt, l->backward_data, 3, g_dx, conv_local, NULL, err);
}

/* dx from dzt by conv_winograd.cl: w transformed into wb (unless the
 * forward's launches did), then the tiles. */
static cnn_status data_winograd(const conv_layer *l, int n, cl_mem w, cl_mem dx,
                                cnn_error *err)
{
    int zero = dzt_zero_row(l), dt = l->tiles.data_winograd,
        dr = l->tiles.data_rows;
    size_t g_pack[2] = {(size_t)l->oc, pad16(l->c) / 16};
    size_t groups = (((size_t)l->w + 1) / 2 + dt - 1) / dt *
                    ((((size_t)l->h + 1) / 2 + dr - 1) / dr);
    size_t global[1] = {groups * n};
    cnn_status st = CNN_OK;
    if (!l->tiles.winograd &&
        !(st = clrt_set_args(l->winograd_pack_data, err, 4, sizeof w, &w, sizeof l->wb,
                             &l->wb, sizeof l->oc, &l->oc, sizeof l->c, &l->c)))
        st = clrt_launch(l->rt, l->winograd_pack_data, 2, g_pack, conv_local, NULL, err);
    if (st == CNN_OK)
        st = clrt_set_args(l->backward_data, err, 13, sizeof l->dzt, &l->dzt, sizeof l->wb,
                           &l->wb, sizeof dx, &dx, sizeof l->c, &l->c, sizeof l->h, &l->h,
                           sizeof l->w, &l->w, sizeof l->oc, &l->oc, sizeof l->oh, &l->oh,
                           sizeof l->ow, &l->ow, sizeof l->pad_top, &l->pad_top,
                           sizeof l->pad_left, &l->pad_left, sizeof zero, &zero, sizeof n, &n);
    return st ? st : clrt_launch(l->rt, l->backward_data, 1, global, conv_local, NULL, err);
}

/* dx from y, dy and wb by conv_gpu.cl's GEMM. */
static cnn_status data_gemm(const conv_layer *l, int n, cl_mem y, cl_mem dy, cl_mem dx,
                            cnn_error *err)
{
    int cols = n * l->h * l->w;
    cnn_status st = clrt_set_args(
        l->backward_data, err, 17, sizeof dy, &dy, sizeof y, &y, sizeof l->wb, &l->wb,
        sizeof dx, &dx, sizeof l->data_taps, &l->data_taps, sizeof l->c, &l->c, sizeof l->h, &l->h, sizeof l->w, &l->w,
        sizeof l->k, &l->k, sizeof l->oc, &l->oc, sizeof l->stride, &l->stride,
        sizeof l->pad_top, &l->pad_top, sizeof l->pad_left, &l->pad_left,
        sizeof l->oh, &l->oh, sizeof l->ow, &l->ow, sizeof cols, &cols,
        sizeof l->relu, &l->relu);
    return st ? st : launch_gemm(l, l->backward_data, l->tiles.data_gemm, cols, l->c,
                                 1, NULL, err);
}

/* dz, dy masked by the ReLU, transposed into dzt for the conv.cl kernels
 * that read it (the GEMMs mask dy themselves). */
static cnn_status transpose_dz(const conv_layer *l, int n, cl_mem y, cl_mem dy,
                               cnn_error *err)
{
    int ohw = l->oh * l->ow;
    size_t g_dz[2] = {(size_t)n * ((ohw + 15) / 16), pad16(l->oc) / 16};
    cnn_status st = clrt_set_args(l->dz, err, 7, sizeof y, &y, sizeof dy, &dy,
                                  sizeof l->dzt, &l->dzt, sizeof l->oc, &l->oc,
                                  sizeof ohw, &ohw, sizeof l->relu, &l->relu,
                                  sizeof n, &n);
    return st ? st : clrt_launch(l->rt, l->dz, 2, g_dz, conv_local, NULL, err);
}

/* dx: the weights packed for backward-data (unless the forward's
 * launches packed them, or Winograd's kernel transforms them), then its
 * kernel (on dzt, unless a GEMM). */
static cnn_status backward_data(const conv_layer *l, int n, cl_mem w, cl_mem y,
                                cl_mem dy, cl_mem dx, cnn_error *err)
{
    cnn_status st;
    if ((l->tiles.gemm && !l->tiles.data_winograd && (st = pack(l, w, 0, 1, err))) ||
        (st = l->tiles.data_gemm       ? data_gemm(l, n, y, dy, dx, err)
              : l->tiles.data_winograd ? data_winograd(l, n, w, dx, err)
                                       : data_direct(l, n, dx, err)))
        return st;
    clrt_profile_flop(l->rt, pass_flop(l, n));
    return CNN_OK;
}

cnn_status conv_backward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                         cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw, cl_mem db,
                         cnn_error *err)
{
    cnn_status st = layer_check_batch("convolution", n, l->max_batch, err);
    if (st)
        return st;
    if (!(l->backward & CONV_WEIGHTS) || (dx && !(l->backward & CONV_DATA)))
        return cnn_fail(err, CNN_ERR_RUNTIME, "convolution: a backward pass "
                        "asked of a layer built without it");

    /* dz once for the conv.cl kernels that read it, then dw and db, then
     * dx. */
    if (!l->dz_written && (!l->tiles.weights_gemm || (dx && !l->tiles.data_gemm)) &&
        (st = transpose_dz(l, n, y, dy, err)))
        return st;

    /* The forward left x's padded copy in xpad (conv.h). dw and db beside
     * the chain, which goes on to dx and the layers below: nothing there
     * writes what they read (x or its copy, dz, y, dy) before the join. */
    cl_mem in = l->padded ? l->xpad : x;
    int h = l->padded ? l->hp : l->h, wd = l->padded ? l->wp : l->w;
    /* A first layer computes no dx: nothing to go beside. */
    cl_event ready = NULL;
    if (dx && (st = clrt_fork(l->rt, &ready, err)))
        return st;
    st = l->tiles.weights_gemm ? weights_gemm(l, n, in, h, wd, y, dy, dw, db, ready, err)
                               : weights_direct(l, n, in, h, wd, dw, db, ready, err);
    if (ready)
        clReleaseEvent(ready);
    return st || !dx ? st : backward_data(l, n, w, y, dy, dx, err);
}

/* The layer table's row: token conv<F>k<K>[s<S>][same|p<P>], Keras'
 * Conv2D(F, K, strides=S, padding='valid' or 'same'), or with p<P>
 * PyTorch's Conv2d(C, F, K, stride=S, padding=P). */

static cnn_status conv_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    l->units = (int)layer_parse_number(&rest);
    if (*rest == 'k') {
        rest++;
        l->k = (int)layer_parse_number(&rest);
    }
    l->stride = 1;
    if (*rest == 's' && strncmp(rest, "same", 4) != 0) {
        rest++;
        l->stride = (int)layer_parse_number(&rest);
    }
    l->same = strncmp(rest, "same", 4) == 0;
    if (l->same) {
        rest += 4;
    } else if (*rest == 'p') {
        /* p0 is the plain token's layer; other numbers start at 1. */
        if (*++rest == '0')
            rest++;
        else
            l->pad = (int)layer_parse_number(&rest);
    }
    if (l->units < 1 || l->k < 1 || l->stride < 1 || l->pad < 0 || *rest)
        return layer_bad_token(l, err);
    /* Fewer zeros than the kernel's side, so every window overlaps the
     * input (conv_create's rule); PyTorch takes more, and gives windows
     * that see only zeros. */
    if (l->pad >= l->k)
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': padding %d for a %dx%d "
                        "kernel; cnn-cl pads 0 to %d, less than the kernel's side",
                        l->token, l->pad, l->k, l->k, l->k - 1);
    return CNN_OK;
}

/* 'valid' needs the kernel to fit in its input, p<P> in its input with P
 * zeros on every side; 'same' pads the input to fit. */
static cnn_status conv_shape(arch_layer *l, cnn_error *err)
{
    int oh, ow;
    if (!conv_axis(l->in.h, l->k, l->stride, l->same, l->pad, &oh, &l->pad_top) ||
        !conv_axis(l->in.w, l->k, l->stride, l->same, l->pad, &ow, &l->pad_left)) {
        char padded[64] = "";
        if (l->pad)
            snprintf(padded, sizeof padded, " padded by %d on every side (%dx%d)",
                     l->pad, l->in.h + 2 * l->pad, l->in.w + 2 * l->pad);
        return cnn_fail(err, CNN_ERR_INPUT, "--arch: '%s': a %dx%d kernel is larger "
                        "than its %dx%d input%s", l->token, l->k, l->k, l->in.h,
                        l->in.w, padded);
    }
    l->out = (arch_shape){l->units, oh, ow};
    return CNN_OK;
}

static int conv_params(const arch_layer *l, layer_param *out)
{
    int kk = l->k * l->k;
    out[0] = (layer_param){.what = "weight", .ndim = 4,
                           .shape = {l->units, l->in.c, l->k, l->k},
                           .init = LAYER_INIT_GLOROT, .fan_in = l->in.c * kk,
                           .fan_out = l->units * kk, .trainable = 1};
    out[1] = (layer_param){.what = "bias", .ndim = 1, .shape = {l->units},
                           .init = LAYER_INIT_ZERO, .trainable = 1};
    return 2;
}

typedef struct {
    const layer_node *nd;
    const layer_env *env;
    conv_tiles base; /* the sites chosen so far */
    int site;        /* 0 forward, 1 data, 2 weights */
    const int *row;  /* each candidate's row in its site's table */
    conv_layer l;
} conv_timing;

static cnn_status create_node_layer(conv_layer *out, const layer_node *nd,
                                    const layer_env *env, const conv_tiles *tiles,
                                    cnn_error *err)
{
    const arch_layer *l = nd->spec;
    return conv_create(out, env->rt, env->max_batch, l->in.c, l->in.h, l->in.w,
                       l->units, l->k, l->stride, l->pad_top, l->pad_left, l->out.h,
                       l->out.w, nd->relu, tiles,
                       env->tune && env->tune->forward_only ? 0
                       : env->input_gradient ? CONV_BACKWARD : CONV_WEIGHTS,
                       err);
}

/* The scratch buffers: x, w, b, y, dy, dx, dw, db. The timing's layer is
 * the node's with the site's candidate `index`; a backward site's pass
 * follows a forward (conv.h), run once here. */
static cnn_status time_create(void *ctx, int index, const cl_mem *b, cnn_error *err)
{
    conv_timing *t = ctx;
    conv_tiles tiles = conv_tiles_with(t->base, t->site, t->row[index]);
    cnn_status st = create_node_layer(&t->l, t->nd, t->env, &tiles, err);
    if (st == CNN_OK && t->site &&
        (st = conv_forward(&t->l, t->env->max_batch, b[0], b[1], b[2], b[3], err)))
        conv_release(&t->l);
    return st;
}

/* The site's own kernels: the forward; backward-data alone, with the dz
 * its conv.cl kernel reads; or the backward without dx (the weights). */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    const conv_timing *t = ctx;
    const conv_layer *l = &t->l;
    int n = t->env->max_batch;
    cnn_status st = CNN_OK;
    if (t->site == 0)
        return conv_forward(l, n, b[0], b[1], b[2], b[3], err);
    if (t->site == 2)
        return conv_backward(l, n, b[0], b[1], b[3], b[4], NULL, b[6], b[7], err);
    if (!l->tiles.data_gemm)
        st = transpose_dz(l, n, b[3], b[4], err);
    return st ? st : backward_data(l, n, b[1], b[3], b[4], b[5], err);
}

static void time_release(void *ctx)
{
    conv_timing *t = ctx;
    conv_release(&t->l);
}

/* The tuner's options of each site's rows. */
static void forward_options(const int *tiles, char *buf, size_t size)
{
    conv_options(0, tiles, buf, size);
}

static void data_options(const int *tiles, char *buf, size_t size)
{
    conv_options(1, tiles, buf, size);
}

static void weights_options(const int *tiles, char *buf, size_t size)
{
    conv_options(2, tiles, buf, size);
}

/* Three sites per layer, "<name>.forward", ".data" and ".weights", each
 * timed with the ones before it chosen; a layer asked for no input gradient
 * has no ".data". */
static cnn_status conv_row_create(layer_node *nd, const layer_env *env, cnn_error *err)
{
    const struct {
        const char *suffix, *kind;
        const tune_variant *v;
        int n;
        tune_options_fn options;
    } sites[3] = {
        {"forward", "conv.forward", conv_forward_variants, conv_forward_variant_count,
         forward_options},
        {"data", "conv.data", conv_data_variants, conv_data_variant_count, data_options},
        {"weights", "conv.weights", conv_weights_variants, conv_weights_variant_count,
         weights_options},
    };
    const arch_layer *l = nd->spec;
    size_t n = (size_t)env->max_batch, in = (size_t)arch_size(l->in),
           out = (size_t)arch_size(l->out),
           wsize = (size_t)l->units * l->in.c * l->k * l->k;
    conv_timing t = {.nd = nd, .env = env, .base = conv_default_tiles};
    tune_timing timing = {.rt = env->rt, .nbufs = 8,
                          .counts = {n * in, wsize, (size_t)l->units, n * out, n * out,
                                     n * in, wsize, (size_t)l->units},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    for (int i = 0; i < 3; i++) {
        if ((i == 1 && !env->input_gradient) || (i > 0 && env->tune && env->tune->forward_only))
            continue;
        char name[TUNE_NAME], shape[160];
        snprintf(name, sizeof name, "%s.%s", l->name, sites[i].suffix);
        snprintf(shape, sizeof shape, "%s in=%dx%dx%d relu=%d batch=%d", l->token,
                 l->in.c, l->in.h, l->in.w, nd->relu, env->max_batch);
        const tune_site site = {.name = name, .kind = sites[i].kind, .shape_key = shape,
                                .dev = &env->rt->dev, .options = sites[i].options};
        /* the rows that apply to this layer, and where each is in its table */
        tune_variant v[TUNE_MAX_VARIANTS];
        int row[TUNE_MAX_VARIANTS], nv = 0, chosen;
        for (int j = 0; j < sites[i].n; j++)
            if (conv_variant_applies(i, j, l->in.c, l->units, l->k, l->stride)) {
                row[nv] = j;
                v[nv++] = sites[i].v[j];
            }
        t.site = i;
        t.row = row;
        cnn_status st = tuner_choose(env->tune, &site, v, nv, tune_time, &timing, &chosen, err);
        if (st)
            return st;
        t.base = conv_tiles_with(t.base, i, row[chosen]);
    }
    return create_node_layer(nd->op, nd, env, &t.base, err);
}

static void conv_row_release(layer_node *nd) { conv_release(nd->op); }

static cnn_status conv_row_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                                   cnn_error *err)
{
    return conv_forward(nd->op, p->n, x, nd->params[0]->param, nd->params[1]->param,
                        nd->y, err);
}

static cnn_status conv_row_backward(layer_node *nd, const layer_pass *p, cl_mem x,
                                    cl_mem dx, cnn_error *err)
{
    return conv_backward(nd->op, p->n, x, nd->params[0]->param, nd->y, nd->dy, dx,
                         nd->params[0]->grad, nd->params[1]->grad, err);
}

static int conv_row_padded_input(const layer_node *nd, layer_padded *out)
{
    const conv_layer *l = nd->op;
    *out = (layer_padded){l->xpad, l->hp, l->wp, l->pad_top, l->pad_left};
    return l->padded;
}

static cnn_status conv_row_input_padded(layer_node *nd, cnn_error *err)
{
    return conv_input_padded(nd->op, err);
}

static cl_mem conv_row_transposed_dy(const layer_node *nd)
{
    return conv_transposed_dz(nd->op);
}

static void conv_row_dy_written(layer_node *nd) { conv_dz_written(nd->op); }

static void conv_ref_forward(const arch_layer *l, const ref_pass *p,
                             double *const *params, const double *x, double *y)
{
    ref_conv_forward(x, params[0], params[1], y, p->n, l->in.c, l->in.h, l->in.w,
                     l->units, l->k, l->stride, l->pad_top, l->pad_left, l->out.h,
                     l->out.w, 0);
}

static void conv_ref_backward(const arch_layer *l, const ref_pass *p,
                              double *const *params, const double *x, const double *y,
                              const double *dy, double *dx, double *const *grads)
{
    (void)y;
    ref_conv_backward(x, params[0], dy, dx, grads[0], grads[1], p->n, l->in.c,
                      l->in.h, l->in.w, l->units, l->k, l->stride, l->pad_top,
                      l->pad_left, l->out.h, l->out.w);
}

static double conv_flops(const arch_layer *l)
{
    return 2.0 * l->units * l->in.c * l->k * l->k * l->out.h * l->out.w;
}

/* ONNX's explicit pads, [top, left, bottom, right], of conv_axis's
 * padding: after the last row or column, 'same' has the total padding
 * less the part before, and p<P> has P (of which the windows may use
 * less: they are the same either way). */
static int pad_after(int in, int k, int stride, int out, int before, int pad)
{
    int total = (out - 1) * stride + k - in;
    return total - before > pad ? total - before : pad;
}

static cnn_status conv_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    const char *in[] = {io->x, layer_onnx_tensor(io, 0), layer_onnx_tensor(io, 1)};
    const int bottom = pad_after(l->in.h, l->k, l->stride, l->out.h, l->pad_top, l->pad),
              right = pad_after(l->in.w, l->k, l->stride, l->out.w, l->pad_left, l->pad);
    const onnx_attr a[] = {ONNX_INTS("kernel_shape", l->k, l->k),
                           ONNX_INTS("strides", l->stride, l->stride),
                           ONNX_INTS("pads", l->pad_top, l->pad_left, bottom, right)};
    /* pads, a's last, only where there is padding */
    const int padded = l->pad_top || l->pad_left || bottom || right;
    io->y = onnx_graph_node(io->g, "Conv", l->name, in, 3, a, padded ? 3 : 2);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_conv = {
    .prefix = "conv", .syntax = "conv<F>k<K>[s<S>][same|p<P>]", .keras = "Conv2D",
    .flags = LAYER_FUSES_RELU | LAYER_SPATIAL,
    .parse = conv_parse, .shape = conv_shape, .params = conv_params,
    .op_size = sizeof(conv_layer),
    .create = conv_row_create, .release = conv_row_release,
    .forward = conv_row_forward, .backward = conv_row_backward,
    .padded_input = conv_row_padded_input, .input_padded = conv_row_input_padded,
    .transposed_dy = conv_row_transposed_dy, .dy_written = conv_row_dy_written,
    .ref_forward = conv_ref_forward, .ref_backward = conv_ref_backward,
    .flops = conv_flops, .onnx = conv_onnx,
};
