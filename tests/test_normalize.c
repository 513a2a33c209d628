/* test_normalize.c: the input statistics of --normalize held against a
 * plain double-precision pass (one-channel IDX and three-channel CIFAR-10
 * files of awkward sizes, with and without a limit), their cache (used the
 * second time, never stale after a file changes), the loader applying
 * them, and the loader without them giving x / 255 bit for bit.
 *
 * Tolerance: each statistic within 2e-7 relative of the reference rounded
 * to float (the float's own rounding, with a little room for the
 * reference's summation order). */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/normalize.h"
#include "idxfile.h"
#include "testutil.h"

#define ROWS 5
#define COLS 7
#define IDX_TRAIN 23
#define CIFAR_PIXELS 3072
#define CIFAR_RECORD 3073

/* The five CIFAR-10 training batches' record counts. */
static const int batch_records[5] = {7, 3, 4, 1, 2};
#define CIFAR_TRAIN 17

/* A byte of sample g's pixel p, channel c: each channel in its own range,
 * so a channel mixed up with another shows; `salt` makes another data set
 * of the same size. A channel named `flat` is constant. */
static int flat = -1;
static unsigned char byte_at(int g, int c, int p, unsigned salt)
{
    if (c == flat)
        return 77;
    uint32_t x = (uint32_t)(g * 7919 + p * 104729 + c * 31 + 1) * 2654435761u ^ salt;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (unsigned char)(c * 60 + x % (unsigned)(100 + 40 * c));
}

static void write_idx(unsigned salt)
{
    size_t n = 16 + (size_t)IDX_TRAIN * ROWS * COLS;
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    const unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, IDX_TRAIN, 0, 0, 0, ROWS,
                                    0, 0, 0, COLS};
    memcpy(b, head, 16);
    for (int g = 0; g < IDX_TRAIN; g++)
        for (int p = 0; p < ROWS * COLS; p++)
            b[16 + (size_t)g * ROWS * COLS + (size_t)p] = byte_at(g, 0, p, salt);
    idxfile_raw(test_dir, "train-images-idx3-ubyte", b, n);
    free(b);
    idxfile_labels(test_dir, "train-labels-idx1-ubyte", IDX_TRAIN, 10, 0);
    idxfile_images(test_dir, "t10k-images-idx3-ubyte", 3, ROWS, COLS, 0);
    idxfile_labels(test_dir, "t10k-labels-idx1-ubyte", 3, 10, 0);
}

static void write_cifar(unsigned salt)
{
    int g = 0;
    for (int i = 0; i <= 5; i++) {
        char path[4200];
        snprintf(path, sizeof path, i < 5 ? "%s/data_batch_%d.bin" : "%s/test_batch.bin",
                 test_dir, i + 1);
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        for (int r = 0; r < (i < 5 ? batch_records[i] : 2); r++, g++) {
            unsigned char rec[CIFAR_RECORD];
            rec[0] = (unsigned char)(g % 10);
            for (int p = 0; p < CIFAR_PIXELS; p++)
                rec[1 + p] = byte_at(g, p / 1024, p % 1024, salt);
            ck_assert_uint_eq(fwrite(rec, 1, CIFAR_RECORD, f), CIFAR_RECORD);
        }
        ck_assert_int_eq(fclose(f), 0);
    }
}

/* The reference: sum and sum of squares of x / 255 in double over the
 * first n samples' channel c, the naive way. */
static void reference(int n, int c, int plane, unsigned salt, double *mean, double *std)
{
    double sum = 0, sq = 0, total = (double)n * plane;
    for (int g = 0; g < n; g++)
        for (int p = 0; p < plane; p++) {
            double x = byte_at(g, c, p, salt) / 255.0;
            sum += x;
            sq += x * x;
        }
    *mean = sum / total;
    *std = sqrt(sq / total - *mean * *mean);
}

static void expect_close(const char *what, int c, float got, double want)
{
    ck_assert_msg(fabs(got - (float)want) <= 2e-7 * fabs(want),
                  "%s of channel %d: %.9g, the reference %.9g", what, c, (double)got, want);
}

/* Checks n's statistics against the reference over the first n samples. */
static void expect_stats(const norm_stats *s, int channels, int n, int plane,
                         unsigned salt)
{
    ck_assert_int_eq(s->channels, channels);
    for (int c = 0; c < channels; c++) {
        double mean, std;
        reference(n, c, plane, salt, &mean, &std);
        expect_close("mean", c, s->mean[c], mean);
        if (c == flat)
            ck_assert_float_eq(s->std[c], 1.0f);
        else
            expect_close("std", c, s->std[c], std);
    }
}

static void open_data(dataset *ds)
{
    cnn_error err = {0};
    TEST_OK(dataset_open(test_dir, ds, &err), err);
}

START_TEST(idx_statistics_match_the_reference)
{
    write_idx(0);
    dataset ds;
    open_data(&ds);
    cnn_error err = {0};
    norm_stats s;
    const uint64_t limits[] = {0, 11, 1, 1000};
    for (int i = 0; i < 4; i++) {
        TEST_OK(norm_compute(&ds.train, limits[i], &s, &err), err);
        int n = limits[i] && limits[i] < IDX_TRAIN ? (int)limits[i] : IDX_TRAIN;
        expect_stats(&s, 1, n, ROWS * COLS, 0);
    }
}
END_TEST

START_TEST(cifar_statistics_match_the_reference)
{
    write_cifar(0);
    dataset ds;
    open_data(&ds);
    cnn_error err = {0};
    norm_stats s;
    /* all, within the first file, and ending inside the third */
    const uint64_t limits[] = {0, 5, 12};
    for (int i = 0; i < 3; i++) {
        TEST_OK(norm_compute(&ds.train, limits[i], &s, &err), err);
        expect_stats(&s, 3, limits[i] ? (int)limits[i] : CIFAR_TRAIN, 1024, 0);
    }
}
END_TEST

START_TEST(constant_channel_keeps_std_one)
{
    flat = 1;
    write_cifar(0);
    dataset ds;
    open_data(&ds);
    cnn_error err = {0};
    norm_stats s;
    TEST_OK(norm_compute(&ds.train, 0, &s, &err), err);
    expect_stats(&s, 3, CIFAR_TRAIN, 1024, 0);
    ck_assert_float_eq(s.mean[1], (float)(77 / 255.0));
    /* the constant channel is shifted to 0, never divided by zero */
    float x[3] = {0.5f, 77 / 255.0f, 0.25f};
    norm_apply(&s, x, 1);
    ck_assert_float_eq(x[1], 77 / 255.0f - s.mean[1]);
    ck_assert(isfinite(x[0]) && isfinite(x[2]));
    flat = -1;
}
END_TEST

/* The one cache entry the folder holds. */
static const char *cache_entry(void)
{
    static char path[4200];
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache/cnn-cl", test_dir);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "normalize-", 10)) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    ck_assert_int_eq(found, 1);
    return path;
}

START_TEST(cache_is_used_and_never_stale)
{
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/cache", test_dir);
    setenv("XDG_CACHE_HOME", cache, 1);
    write_idx(0);
    dataset ds;
    open_data(&ds);
    cnn_error err = {0};
    norm_stats s;
    int cached = -1;
    TEST_OK(norm_cached(&ds.train, 13, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 0);
    expect_stats(&s, 1, 13, ROWS * COLS, 0);
    TEST_OK(norm_cached(&ds.train, 13, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 1);
    expect_stats(&s, 1, 13, ROWS * COLS, 0);

    /* What the entry says is what is served: the data is not read again. */
    const char *entry = cache_entry();
    FILE *f = fopen(entry, "w");
    ck_assert_ptr_nonnull(f);
    fputs("mean 0.25\nstd 2\n", f);
    ck_assert_int_eq(fclose(f), 0);
    TEST_OK(norm_cached(&ds.train, 13, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 1);
    ck_assert_float_eq(s.mean[0], 0.25f);
    ck_assert_float_eq(s.std[0], 2.0f);

    /* Another limit is another entry. */
    TEST_OK(norm_cached(&ds.train, 14, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 0);
    expect_stats(&s, 1, 14, ROWS * COLS, 0);

    /* A damaged entry is computed again. */
    f = fopen(entry, "w");
    ck_assert_ptr_nonnull(f);
    fputs("mean x\n", f);
    ck_assert_int_eq(fclose(f), 0);
    TEST_OK(norm_cached(&ds.train, 13, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 0);
    expect_stats(&s, 1, 13, ROWS * COLS, 0);

    /* The training images rewritten in place, same size, their
     * modification time set back: new statistics, not the cached ones. */
    struct stat before;
    char images[4200];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", test_dir);
    ck_assert_int_eq(stat(images, &before), 0);
    write_idx(12345);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    ck_assert_int_eq(utimensat(AT_FDCWD, images, times, 0), 0);
    open_data(&ds);
    TEST_OK(norm_cached(&ds.train, 13, &s, &cached, &err), err);
    ck_assert_int_eq(cached, 0);
    expect_stats(&s, 1, 13, ROWS * COLS, 12345);
    unsetenv("XDG_CACHE_HOME");
}
END_TEST

/* Streams split's first `n` samples in file order; checks every pixel of
 * each, to the bit, against its byte / 255, normalised by norm when given. */
static void expect_loaded(const dataset_split *split, const norm_stats *norm, int n)
{
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, split, 4, (uint64_t)n, 0, 0, 2, &err), err);
    if (norm)
        TEST_OK(loader_set_norm(l, norm, &err), err);
    TEST_OK(loader_start(l, 0, 0, &err), err);
    int g = 0;
    loader_batch *b;
    for (;;) {
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        for (int i = 0; i < b->count; i++, g++)
            for (int p = 0; p < CIFAR_PIXELS; p++) {
                int c = p / 1024;
                float x = byte_at(g, c, p % 1024, 0) / 255.0f;
                if (norm && norm->channels)
                    x = (x - norm->mean[c]) / norm->std[c];
                float got = b->images[(size_t)i * CIFAR_PIXELS + (size_t)p];
                ck_assert_msg(!memcmp(&got, &x, sizeof x), "sample %d pixel %d: %.9g, "
                              "want %.9g", g, p, (double)got, (double)x);
            }
        loader_release(l, b);
    }
    ck_assert_int_eq(g, n);
    loader_close(l);
}

START_TEST(loader_applies_the_statistics)
{
    write_cifar(0);
    dataset ds;
    open_data(&ds);
    cnn_error err = {0};
    norm_stats s, none = {0};
    TEST_OK(norm_compute(&ds.train, 0, &s, &err), err);
    expect_loaded(&ds.train, &s, 9);
    /* Without statistics, x / 255 to the bit, as before --normalize. */
    expect_loaded(&ds.train, NULL, 9);
    expect_loaded(&ds.train, &none, 9);
    /* Statistics of another channel count are refused. */
    loader *l;
    norm_stats one = {.channels = 1, .mean = {0.5f}, .std = {1.0f}};
    TEST_OK(loader_open(&l, &ds.train, 4, 0, 0, 0, 2, &err), err);
    ck_assert_int_eq(loader_set_norm(l, &one, &err), CNN_ERR_INPUT);
    ck_assert_str_eq(err.msg, "input statistics of 1 channel for images of 3");
    loader_close(l);
}
END_TEST

START_TEST(text_reads_back_to_the_same_floats)
{
    float v[3] = {0.130660474f, 1.0f / 3.0f, 1e-7f}, back[3];
    char text[256];
    norm_format(v, 3, text, sizeof text);
    ck_assert_int_eq(norm_parse(text, 3, back), 0);
    ck_assert(!memcmp(v, back, sizeof v));
    ck_assert_int_eq(norm_parse(text, 2, back), -1);
    ck_assert_int_eq(norm_parse("0.5,0.25", 3, back), -1);
    ck_assert_int_eq(norm_parse("0.5,nan,1", 3, back), -1);
    ck_assert_int_eq(norm_parse("0.5 ", 1, back), -1);
    ck_assert_int_eq(norm_parse("", 1, back), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("normalize");
    TCase *tc = tcase_create("normalize");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, idx_statistics_match_the_reference);
    tcase_add_test(tc, cifar_statistics_match_the_reference);
    tcase_add_test(tc, constant_channel_keeps_std_one);
    tcase_add_test(tc, cache_is_used_and_never_stale);
    tcase_add_test(tc, loader_applies_the_statistics);
    tcase_add_test(tc, text_reads_back_to_the_same_floats);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
