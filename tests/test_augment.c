/* test_augment.c: --augment's transforms against their plain reference on
 * odd sizes (flips are exact mirrors, crops read only the padded image,
 * whose border is zero, cutouts zero a square clipped at the edges and
 * nothing else), their draws (fixed by seed, epoch and index; other
 * epochs and other steps draw otherwise), the list's parser, and the
 * loader applying them to CIFAR-10-format colour data, each image as its
 * sample's draws say. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/shuffle.h"
#include "ref/augment.h"
#include "testutil.h"

/* Odd sizes, one of them narrower than the padding below, and MNIST's. */
static const int shapes[][3] = {{3, 7, 5}, {1, 1, 1}, {3, 5, 9}, {2, 3, 2}, {1, 28, 28}};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

static augment parsed(const char *text)
{
    cnn_error err = {0};
    augment a;
    TEST_OK(augment_parse(text, "--augment", &a, &err), err);
    return a;
}

/* An image of n floats in the middle of a buffer of NaN, so a read past
 * either end shows up in the output and a write past it in the 32 guard
 * floats on either side; *base is what to free. */
static float *guarded(size_t n, float **base)
{
    *base = malloc((n + 64) * sizeof **base);
    ck_assert_ptr_nonnull(*base);
    for (size_t i = 0; i < n + 64; i++)
        (*base)[i] = NAN;
    return *base + 32;
}

/* Applies `text` to random images of every shape under 200 keys, and holds
 * each result against `expect` (the reference with the same draws). */
static void against_reference(const char *text,
                              void (*expect)(const float *in, float *out, int c, int h,
                                             int w, uint64_t key))
{
    augment a = parsed(text);
    for (int s = 0; s < NSHAPES; s++) {
        int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        size_t n = (size_t)c * h * w;
        float *ibase, *sbase;
        float *img = guarded(n, &ibase), *scratch = guarded(n, &sbase);
        float *in = test_random_new(n, 7 + (uint64_t)s, 0.01f, 1.0f);
        float *ref = malloc(n * sizeof *ref);
        for (uint64_t key = 0; key < 200; key++) {
            memcpy(img, in, n * sizeof *img);
            augment_apply(&a, augment_key(3, 1, key), img, scratch, c, h, w);
            expect(in, ref, c, h, w, augment_key(3, 1, key));
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(img[i] == ref[i], "%s on %dx%dx%d, key %llu: pixel %zu is "
                              "%g, the reference's %g", text, c, h, w,
                              (unsigned long long)key, i, (double)img[i], (double)ref[i]);
            for (int g = 0; g < 32; g++)
                ck_assert_msg(isnan(ibase[g]) && isnan(img[n + (size_t)g]),
                              "%s on %dx%dx%d wrote outside the image", text, c, h, w);
        }
        free(in);
        free(ref);
        free(ibase);
        free(sbase);
    }
}

static void expect_flip(const float *in, float *out, int c, int h, int w, uint64_t key)
{
    if (augment_draw_flip(key, 0))
        ref_augment_flip(in, out, c, h, w);
    else
        memcpy(out, in, (size_t)c * h * w * sizeof *out);
}

START_TEST(flip_is_the_reference_and_a_mirror)
{
    against_reference("flip", expect_flip);
    /* The reference is a mirror: twice is the image, and a row reads
     * backwards. */
    float in[3 * 7 * 5], once[3 * 7 * 5], twice[3 * 7 * 5];
    test_random(in, 105, 1, 0, 1);
    ref_augment_flip(in, once, 3, 7, 5);
    ref_augment_flip(once, twice, 3, 7, 5);
    ck_assert_mem_eq(in, twice, sizeof in);
    for (int x = 0; x < 5; x++)
        ck_assert(once[2 * 35 + 3 * 5 + x] == in[2 * 35 + 3 * 5 + 4 - x]);
    /* Half the samples are mirrored. */
    int flips = 0;
    for (uint64_t i = 0; i < 10000; i++)
        flips += augment_draw_flip(augment_key(1, 0, i), 0);
    ck_assert_msg(flips > 4800 && flips < 5200, "%d of 10000 flipped", flips);
}
END_TEST

/* Draws 5000 pairs with `draw` and checks that every pair of [0, ny) x
 * [0, nx) comes up, and nothing outside. */
static void draws_cover(void (*draw)(uint64_t key, int *a, int *b), int ny, int nx,
                        const char *what)
{
    int seen[16][16] = {{0}};
    ck_assert(ny <= 16 && nx <= 16);
    for (uint64_t k = 0; k < 5000; k++) {
        int a, b;
        draw(augment_key(2, 0, k), &a, &b);
        ck_assert_msg(a >= 0 && a < ny && b >= 0 && b < nx, "%s drew (%d, %d)", what, a, b);
        seen[a][b] = 1;
    }
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
            ck_assert_msg(seen[y][x], "%s never drew (%d, %d)", what, y, x);
}

static int crop_pad;

static void draw_crop(uint64_t key, int *dy, int *dx)
{
    augment_draw_crop(key, 0, crop_pad, dy, dx);
}

static void expect_crop(const float *in, float *out, int c, int h, int w, uint64_t key)
{
    int dy, dx;
    draw_crop(key, &dy, &dx);
    ref_augment_crop(in, out, c, h, w, crop_pad, dy, dx);
}

START_TEST(crop_is_the_reference_within_the_padded_image)
{
    static const char *lists[] = {"crop:1", "crop:2", "crop:3", "crop:6"};
    for (int i = 0; i < 4; i++) {
        crop_pad = atoi(lists[i] + 5);
        against_reference(lists[i], expect_crop);
        /* Every corner of the padded image is drawn, none outside. */
        draws_cover(draw_crop, 2 * crop_pad + 1, 2 * crop_pad + 1, lists[i]);
    }
    /* The border reads as zero: the window at the padded image's corner
     * holds the image's corner and zeros. */
    float ones[2 * 3 * 4], out[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        ones[i] = 1;
    ref_augment_crop(ones, out, 2, 3, 4, 2, 0, 0);
    for (int ch = 0; ch < 2; ch++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                ck_assert(out[(ch * 3 + y) * 4 + x] == (y >= 2 && x >= 2 ? 1.0f : 0.0f));
}
END_TEST

static int cutout_size;

/* The centres on a 7x5 image. */
static void draw_cutout_7x5(uint64_t key, int *cy, int *cx)
{
    augment_draw_cutout(key, 0, 7, 5, cy, cx);
}

static void expect_cutout(const float *in, float *out, int c, int h, int w, uint64_t key)
{
    int cy, cx;
    augment_draw_cutout(key, 0, h, w, &cy, &cx);
    ref_augment_cutout(in, out, c, h, w, cutout_size, cy, cx);
}

START_TEST(cutout_is_the_reference_and_a_clipped_square)
{
    /* Sizes odd and even, and larger than every image (29, 255). */
    static const char *lists[] = {"cutout:1", "cutout:2", "cutout:3", "cutout:8", "cutout:29",
                                  "cutout:255"};
    for (int i = 0; i < 6; i++) {
        cutout_size = atoi(lists[i] + 7);
        against_reference(lists[i], expect_cutout);
    }
    /* Every centre of a 7x5 image is drawn, none outside. */
    draws_cover(draw_cutout_7x5, 7, 5, "cutout on 7x5");
    /* Each step draws from its own sub-stream: two cutouts of one list
     * rarely share a centre (1 in 784 on 28x28). */
    int same = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        int y1, x1, y2, x2;
        augment_draw_cutout(augment_key(2, 0, k), 1, 28, 28, &y1, &x1);
        augment_draw_cutout(augment_key(2, 0, k), 2, 28, 28, &y2, &x2);
        same += y1 == y2 && x1 == x2;
    }
    ck_assert_msg(same < 10, "steps 1 and 2 drew the same centre for %d of 1000 keys", same);
    /* The square, worked by hand on 2x7x5 (rows [y0, y1), columns [x0,
     * x1) are 0 in both channels, the rest as it was): inside, at each
     * edge and corner, and larger than the image. */
    static const int cases[][7] = {
        /* size, cy, cx, y0, y1, x0, x1 */
        {3, 3, 2, 2, 5, 1, 4}, {4, 3, 2, 1, 5, 0, 4}, {4, 0, 0, 0, 2, 0, 2},
        {4, 6, 4, 4, 7, 2, 5}, {1, 6, 0, 6, 7, 0, 1}, {5, 0, 4, 0, 3, 2, 5},
        {40, 1, 3, 0, 7, 0, 5},
    };
    float in[2 * 7 * 5], out[2 * 7 * 5];
    test_random(in, 70, 9, 0.01f, 1);
    for (int i = 0; i < (int)(sizeof cases / sizeof *cases); i++) {
        const int *t = cases[i];
        ref_augment_cutout(in, out, 2, 7, 5, t[0], t[1], t[2]);
        for (int ch = 0; ch < 2; ch++)
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 5; x++) {
                    int at = (ch * 7 + y) * 5 + x;
                    int inside = y >= t[3] && y < t[4] && x >= t[5] && x < t[6];
                    ck_assert_msg(out[at] == (inside ? 0.0f : in[at]), "cutout:%d at (%d, %d): "
                                  "pixel (%d, %d, %d) is %g", t[0], t[1], t[2], ch, y, x,
                                  (double)out[at]);
                }
    }
}
END_TEST

static void expect_both(const float *in, float *out, int c, int h, int w, uint64_t key)
{
    float *mid = malloc((size_t)c * h * w * sizeof *mid);
    ck_assert_ptr_nonnull(mid);
    if (augment_draw_flip(key, 0))
        ref_augment_flip(in, mid, c, h, w);
    else
        memcpy(mid, in, (size_t)c * h * w * sizeof *mid);
    int dy, dx;
    augment_draw_crop(key, 1, 2, &dy, &dx);
    ref_augment_crop(mid, out, c, h, w, 2, dy, dx);
    free(mid);
}

/* flip, crop:2, then cutout:8 at step 2. */
static void expect_three(const float *in, float *out, int c, int h, int w, uint64_t key)
{
    float *mid = malloc((size_t)c * h * w * sizeof *mid);
    ck_assert_ptr_nonnull(mid);
    expect_both(in, mid, c, h, w, key);
    int cy, cx;
    augment_draw_cutout(key, 2, h, w, &cy, &cx);
    ref_augment_cutout(mid, out, c, h, w, 8, cy, cx);
    free(mid);
}

START_TEST(a_list_applies_in_order)
{
    against_reference("flip,crop:2", expect_both);
    against_reference("flip,crop:2,cutout:8", expect_three);
}
END_TEST

/* The draws are a function of (seed, epoch, index): the same triple the
 * same image, another epoch (or seed) other draws. */
START_TEST(draws_follow_seed_epoch_and_index)
{
    augment a = parsed("flip,crop:3,cutout:4");
    enum { C = 3, H = 9, W = 7, N = C * H * W };
    float in[N], x[N], y[N], scratch[N];
    test_random(in, N, 5, 0.01f, 1);
    int epoch_differs = 0, seed_differs = 0;
    for (uint64_t i = 0; i < 64; i++) {
        memcpy(x, in, sizeof x);
        memcpy(y, in, sizeof y);
        augment_apply(&a, augment_key(1, 4, i), x, scratch, C, H, W);
        augment_apply(&a, augment_key(1, 4, i), y, scratch, C, H, W);
        ck_assert_mem_eq(x, y, sizeof x);
        memcpy(y, in, sizeof y);
        augment_apply(&a, augment_key(1, 5, i), y, scratch, C, H, W);
        epoch_differs += memcmp(x, y, sizeof x) != 0;
        memcpy(y, in, sizeof y);
        augment_apply(&a, augment_key(2, 4, i), y, scratch, C, H, W);
        seed_differs += memcmp(x, y, sizeof x) != 0;
    }
    ck_assert_msg(epoch_differs > 48, "epochs 4 and 5 differ on %d of 64", epoch_differs);
    ck_assert_msg(seed_differs > 48, "seeds 1 and 2 differ on %d of 64", seed_differs);
    ck_assert_uint_ne(augment_key(1, 4, 0), augment_key(1, 0, 4));
}
END_TEST

START_TEST(parse_text_and_refusals)
{
    static const char *good[][2] = {{"flip", "flip"}, {"crop:2", "crop:2"},
                                    {"flip,crop:02", "flip,crop:2"}, {"none", "none"},
                                    {"crop:4,flip", "crop:4,flip"}, {"cutout:8", "cutout:8"},
                                    {"cutout:255,flip,cutout:1", "cutout:255,flip,cutout:1"}};
    for (int i = 0; i < (int)(sizeof good / sizeof *good); i++) {
        augment a = parsed(good[i][0]);
        char text[128];
        augment_text(&a, text, sizeof text);
        ck_assert_str_eq(text, good[i][1]);
    }
    static const char *bad[] = {"", "flip,", ",flip", "crop", "crop:", "crop:0", "crop:256",
                                "crop:2x", "crop:-1", "crop:+2", "flop", "flip:1",
                                "none,flip", "flip,flip,flip,flip,flip,flip,flip,flip,flip",
                                "cutout", "cutout:", "cutout:0", "cutout:256", "cutout:x",
                                "cutout:8x", "cutout:-8"};
    for (int i = 0; i < (int)(sizeof bad / sizeof *bad); i++) {
        cnn_error err = {0};
        augment a;
        ck_assert_int_eq(augment_parse(bad[i], "--augment", &a, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, "--augment: ") == err.msg &&
                      strstr(err.msg, augment_forms), "'%s': %s", bad[i], err.msg);
        ck_assert_int_eq(a.n, 0);
    }
}
END_TEST

/* CIFAR-10's format: records of a label and 3x32x32 bytes. */
static void write_cifar(int records)
{
    for (int b = 0; b < 6; b++) {
        char name[32];
        snprintf(name, sizeof name, b < 5 ? "data_batch_%d.bin" : "test_batch.bin", b + 1);
        FILE *f = fopen(test_path(name), "wb");
        ck_assert_ptr_nonnull(f);
        for (int r = 0; r < records + b; r++) {
            unsigned char rec[3073];
            rec[0] = (unsigned char)((r + b) % 10);
            for (int p = 1; p < 3073; p++)
                rec[p] = (unsigned char)(1 + (r * 131 + b * 17 + p * 7) % 254);
            ck_assert_uint_eq(fwrite(rec, 1, sizeof rec, f), sizeof rec);
        }
        ck_assert_int_eq(fclose(f), 0);
    }
}

/* Streams an epoch into imgs (in the epoch's order). */
static void stream(loader *l, uint64_t epoch, float *imgs, size_t pixels)
{
    cnn_error err = {0};
    TEST_OK(loader_start(l, epoch, 0, &err), err);
    size_t at = 0;
    loader_batch *b;
    for (;;) {
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        memcpy(imgs + at * pixels, b->images, (size_t)b->count * pixels * sizeof *imgs);
        at += (size_t)b->count;
        loader_release(l, b);
    }
}

START_TEST(loader_augments_colour_images_by_their_index)
{
    write_cifar(3); /* 3 + 4 + 5 + 6 + 7 = 25 training images */
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    ck_assert_int_eq(ds.train.count, 25);
    const size_t pixels = 3 * 32 * 32;
    float *plain = malloc(25 * pixels * sizeof *plain), *aug = malloc(25 * pixels * sizeof *aug);
    float *ref = malloc(pixels * sizeof *ref);
    augment a = parsed("flip,crop:2,cutout:8");
    loader *lp, *la;
    TEST_OK(loader_open(&lp, &ds.train, 7, 0, 11, 1, 2, &err), err);
    TEST_OK(loader_open(&la, &ds.train, 7, 0, 11, 1, 3, &err), err);
    loader_set_augment(la, &a);
    int changed = 0;
    for (uint64_t epoch = 0; epoch < 2; epoch++) {
        stream(lp, epoch, plain, pixels);
        stream(la, epoch, aug, pixels);
        shuffle order;
        shuffle_init(&order, 11, epoch, 25);
        for (uint64_t pos = 0; pos < 25; pos++) {
            uint64_t key = augment_key(11, epoch, shuffle_at(&order, pos));
            expect_three(plain + pos * pixels, ref, 3, 32, 32, key);
            ck_assert_msg(!memcmp(aug + pos * pixels, ref, pixels * sizeof *ref),
                          "epoch %llu, position %llu: not its sample's draws",
                          (unsigned long long)epoch, (unsigned long long)pos);
            changed += memcmp(aug + pos * pixels, plain + pos * pixels,
                              pixels * sizeof *ref) != 0;
        }
    }
    ck_assert_int_gt(changed, 40);
    loader_close(lp);
    loader_close(la);
    free(plain);
    free(aug);
    free(ref);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, flip_is_the_reference_and_a_mirror);
    tcase_add_test(tc, crop_is_the_reference_within_the_padded_image);
    tcase_add_test(tc, cutout_is_the_reference_and_a_clipped_square);
    tcase_add_test(tc, a_list_applies_in_order);
    tcase_add_test(tc, draws_follow_seed_epoch_and_index);
    tcase_add_test(tc, parse_text_and_refusals);
    tcase_add_test(tc, loader_augments_colour_images_by_their_index);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
