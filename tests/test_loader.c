/* test_loader.c: the streaming batch ring — order, reproducibility, partial
 * batches, resume, ownership under a slow consumer, bounded memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/idx.h"
#include "idxfile.h"
#include "data/loader.h"
#include "testutil.h"

static dataset_split split;

static void make_split(uint32_t n, uint32_t rows)
{
    cnn_error err = {0};
    char path[4096];
    idx_file images, labels;
    snprintf(path, sizeof path, "%s", idxfile_images(test_dir, "images", n, rows, rows, 0));
    TEST_OK(idx_open(path, IDX_IMAGES, &images, &err), err);
    snprintf(path, sizeof path, "%s", idxfile_labels(test_dir, "labels", n, 10, 0));
    TEST_OK(idx_open(path, IDX_LABELS, &labels, &err), err);
    TEST_OK(idx_split_make(&images, &labels, &split, &err), err);
}

/* The sample index spelled by an image's first three pixels. */
static long sample_of(const float *img)
{
    long v = 0;
    for (int p = 2; p >= 0; p--)
        v = v * 256 + (long)(img[p] * 255.0f + 0.5f);
    return v;
}

/* Streams one epoch from `first` and appends the sample order to `order`;
 * returns how many samples came. Checks labels and batch shapes. */
static long run_epoch(loader *l, uint64_t epoch, long first, long *order,
                      int batch, int *last_count)
{
    cnn_error err = {0};
    TEST_OK(loader_start(l, epoch, first, &err), err);
    long n = 0, expect_index = first;
    loader_batch *b;
    for (;;) {
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        ck_assert_int_eq(b->index, expect_index++);
        ck_assert_int_le(b->count, batch);
        for (int i = 0; i < b->count; i++) {
            long s = sample_of(b->images + (size_t)i * 16);
            ck_assert_int_eq(b->labels[i], s % 10);
            order[n++] = s;
        }
        *last_count = b->count;
        loader_release(l, b);
    }
    return n;
}

START_TEST(epoch_is_a_permutation_with_partial_last_batch)
{
    make_split(103, 4);
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, &split, 10, 0, 5, 1, 3, &err), err);
    ck_assert_int_eq(loader_batches(l), 11);
    long order[103];
    int last;
    ck_assert_int_eq(run_epoch(l, 0, 0, order, 10, &last), 103);
    ck_assert_int_eq(last, 3);
    int seen[103] = {0};
    for (int i = 0; i < 103; i++) {
        ck_assert_int_lt(order[i], 103);
        ck_assert_int_eq(seen[order[i]]++, 0);
    }
    loader_close(l);
}
END_TEST

START_TEST(reproducible_per_epoch_and_different_between_epochs)
{
    make_split(500, 4);
    cnn_error err = {0};
    loader *a, *b;
    TEST_OK(loader_open(&a, &split, 32, 0, 9, 1, 4, &err), err);
    TEST_OK(loader_open(&b, &split, 7, 0, 9, 1, 2, &err), err);
    long oa0[500], oa1[500], ob1[500];
    int last;
    run_epoch(a, 0, 0, oa0, 32, &last);
    run_epoch(a, 1, 0, oa1, 32, &last);
    run_epoch(b, 1, 0, ob1, 7, &last); /* other loader, batch size, ring */
    ck_assert_mem_eq(oa1, ob1, sizeof oa1);
    ck_assert_msg(memcmp(oa0, oa1, sizeof oa0) != 0, "epochs 0 and 1 agree");
    loader_close(a);
    loader_close(b);
}
END_TEST

/* Shares of every batch, read by loaders of their own, put back together
 * in order, are the whole batches; a bad share is refused. */
START_TEST(shares_make_up_the_batch)
{
    make_split(103, 4);
    cnn_error err = {0};
    loader *whole, *share[3];
    TEST_OK(loader_open(&whole, &split, 10, 0, 5, 1, 2, &err), err);
    long all[103], parts[3][103];
    int last;
    run_epoch(whole, 2, 0, all, 10, &last);
    /* Shares of 2, 1 and 2 of 5 slices. */
    const int first[3] = {0, 2, 3}, n[3] = {2, 1, 2};
    for (int k = 0; k < 3; k++) {
        TEST_OK(loader_open(&share[k], &split, 10, 0, 5, 1, 2, &err), err);
        TEST_OK(loader_set_share(share[k], first[k], n[k], 5, &err), err);
        TEST_OK(loader_start(share[k], 2, 0, &err), err);
    }
    long at = 0, got[3] = {0};
    for (long batch = 0; batch < 11; batch++) {
        for (int k = 0; k < 3; k++) {
            loader_batch *b;
            TEST_OK(loader_next(share[k], &b, &err), err);
            ck_assert_ptr_nonnull(b);
            ck_assert_int_eq(b->total, batch < 10 ? 10 : 3);
            ck_assert_int_eq(b->first, loader_slice(b->total, first[k], 5));
            ck_assert_int_eq(b->count,
                             loader_slice(b->total, first[k] + n[k], 5) - b->first);
            for (int i = 0; i < b->count; i++) {
                parts[k][got[k]++] = sample_of(b->images + (size_t)i * 16);
                ck_assert_int_eq(parts[k][got[k] - 1], all[at++]);
            }
            loader_release(share[k], b);
        }
    }
    ck_assert_int_eq(at, 103);
    for (int k = 0; k < 3; k++)
        loader_close(share[k]);
    ck_assert_int_eq(loader_set_share(whole, 4, 2, 5, &err), CNN_ERR_INPUT);
    ck_assert_int_eq(loader_set_share(whole, 0, 0, 5, &err), CNN_ERR_INPUT);
    loader_close(whole);
}
END_TEST

START_TEST(resume_mid_epoch_continues_the_order)
{
    make_split(200, 4);
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, &split, 16, 0, 3, 1, 3, &err), err);
    long whole[200], tail[200];
    int last;
    ck_assert_int_eq(run_epoch(l, 4, 0, whole, 16, &last), 200);
    ck_assert_int_eq(run_epoch(l, 4, 5, tail, 16, &last), 200 - 5 * 16);
    ck_assert_mem_eq(tail, whole + 5 * 16, (200 - 5 * 16) * sizeof(long));
    ck_assert_int_eq(loader_start(l, 0, 99, &err), CNN_ERR_INPUT);
    loader_close(l);
}
END_TEST

START_TEST(limit_and_file_order)
{
    make_split(100, 4);
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, &split, 8, 30, 1, 0, 2, &err), err);
    ck_assert_uint_eq(loader_samples(l), 30);
    long order[100];
    int last;
    ck_assert_int_eq(run_epoch(l, 0, 0, order, 8, &last), 30);
    for (int i = 0; i < 30; i++)
        ck_assert_int_eq(order[i], i);
    ck_assert_int_eq(last, 6);
    loader_close(l);
}
END_TEST

START_TEST(slow_consumer_never_shares_a_buffer)
{
    make_split(300, 4);
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, &split, 4, 0, 2, 1, 3, &err), err);
    TEST_OK(loader_start(l, 0, 0, &err), err);
    /* Hold two batches at a time, dawdling, and check that neither changes
     * while held and that the two are never the same buffer. */
    loader_batch *held[2] = {NULL, NULL};
    float snap[2][4 * 16];
    int k = 0;
    for (;;) {
        loader_batch *b;
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        loader_batch *other = held[1 - k];
        ck_assert_ptr_ne(b, other);
        if (other) {
            usleep(300);
            ck_assert_mem_eq(other->images, snap[1 - k], sizeof snap[0]);
        }
        if (held[k])
            loader_release(l, held[k]);
        held[k] = b;
        memcpy(snap[k], b->images, sizeof snap[k]);
        k = 1 - k;
    }
    for (int i = 0; i < 2; i++)
        if (held[i])
            loader_release(l, held[i]);
    loader_close(l);
}
END_TEST

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

START_TEST(memory_is_bounded_by_the_ring)
{
    /* Ten times MNIST's training set, as sparse files (zero pixels): a full
     * epoch must not grow the process by more than the ring. */
    const uint32_t n = 600000;
    unsigned char head[16] = {0, 0, 8, 3, n >> 24, (n >> 16) & 255, (n >> 8) & 255,
                              n & 255, 0, 0, 0, 28, 0, 0, 0, 28};
    char path[4096];
    cnn_error err = {0};
    idx_file images, labels;
    snprintf(path, sizeof path, "%s", idxfile_raw(test_dir, "big-images", head, 16));
    ck_assert_int_eq(truncate(path, 16 + (off_t)n * 784), 0);
    TEST_OK(idx_open(path, IDX_IMAGES, &images, &err), err);
    head[3] = 1;
    snprintf(path, sizeof path, "%s", idxfile_raw(test_dir, "big-labels", head, 8));
    ck_assert_int_eq(truncate(path, 8 + (off_t)n), 0);
    TEST_OK(idx_open(path, IDX_LABELS, &labels, &err), err);
    TEST_OK(idx_split_make(&images, &labels, &split, &err), err);

    loader *l;
    TEST_OK(loader_open(&l, &split, 32, 0, 1, 1, 4, &err), err);
    TEST_OK(loader_start(l, 0, 0, &err), err);
    long before = rss_kib(), peak = before, batches = 0;
    loader_batch *b;
    for (;;) {
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        if (++batches % 1000 == 0) {
            long now = rss_kib();
            peak = now > peak ? now : peak;
        }
        loader_release(l, b);
    }
    ck_assert_int_eq(batches, (n + 31) / 32);
    loader_close(l);
    ck_assert_msg(peak - before < 4096, "grew by %ld KiB over an epoch", peak - before);
}
END_TEST

START_TEST(read_failure_is_reported)
{
    make_split(64, 4);
    cnn_error err = {0};
    loader *l;
    TEST_OK(loader_open(&l, &split, 8, 0, 1, 0, 2, &err), err);
    ck_assert_int_eq(truncate(split.part[0].images.path, 16 + 10 * 16), 0);
    TEST_OK(loader_start(l, 0, 0, &err), err);
    loader_batch *b;
    cnn_status st;
    while ((st = loader_next(l, &b, &err)) == CNN_OK && b)
        loader_release(l, b);
    ck_assert_int_eq(st, CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "read failed at image"));
    loader_close(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, epoch_is_a_permutation_with_partial_last_batch);
    tcase_add_test(tc, reproducible_per_epoch_and_different_between_epochs);
    tcase_add_test(tc, resume_mid_epoch_continues_the_order);
    tcase_add_test(tc, shares_make_up_the_batch);
    tcase_add_test(tc, limit_and_file_order);
    tcase_add_test(tc, slow_consumer_never_shares_a_buffer);
    tcase_add_test(tc, memory_is_bounded_by_the_ring);
    tcase_add_test(tc, read_failure_is_reported);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
