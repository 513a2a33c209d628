/* test_idx.c: IDX parsing of good files and of every fault the reader must
 * name: each fault is CNN_ERR_INPUT with one line naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/idx.h"
#include "idxfile.h"
#include "testutil.h"

/* Each test gets its own folder, and its own cache of decompressed files in
 * it. */
static void setup(void)
{
    test_dir_create();
    setenv("XDG_CACHE_HOME", test_path("cache"), 1);
}

/* Asserts that opening `path` as `magic` fails as input error whose single
 * line names the file and contains `fault`. */
static void expect_fault(const char *path, uint32_t magic, const char *fault)
{
    cnn_error err = {0};
    idx_file f;
    ck_assert_int_eq(idx_open(path, magic, &f, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "message does not start "
                  "with the file name: %s", err.msg);
    ck_assert_msg(strstr(err.msg, fault), "'%s' not in: %s", fault, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

static void expect_split_fault(const char *fault)
{
    cnn_error err = {0};
    dataset ds;
    ck_assert_int_eq(dataset_format_idx.open(test_dir, &ds, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, fault), "'%s' not in: %s", fault, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

/* Labels i % classes: the largest is classes - 1 once n >= classes. */
static void write_set_classes(const char *prefix, uint32_t n, uint32_t rows, int gzip,
                              int classes)
{
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, gzip ? ".gz" : "");
    idxfile_images(test_dir, name, n, rows, rows, gzip);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, gzip ? ".gz" : "");
    idxfile_labels(test_dir, name, n, classes, gzip);
}

static void write_set(const char *prefix, uint32_t n, uint32_t rows, int gzip)
{
    write_set_classes(prefix, n, rows, gzip, 10);
}

START_TEST(reads_raw_images_and_labels)
{
    cnn_error err = {0};
    idx_file f;
    const char *p = idxfile_images(test_dir, "img", 7, 5, 3, 0);
    TEST_OK(idx_open(p, IDX_IMAGES, &f, &err), err);
    ck_assert_uint_eq(f.count, 7);
    ck_assert_uint_eq(f.rows, 5);
    ck_assert_uint_eq(f.cols, 3);
    ck_assert_int_eq(f.data_offset, 16);
    ck_assert_str_eq(f.path, p);
    idx_file l;
    p = idxfile_labels(test_dir, "lab", 7, 10, 0);
    TEST_OK(idx_open(p, IDX_LABELS, &l, &err), err);
    ck_assert_uint_eq(l.count, 7);
    ck_assert_int_eq(l.data_offset, 8);
    /* a split of one part: record r's pixels at 16 + 15 r, its label at 8 + r */
    dataset_split s;
    TEST_OK(idx_split_make(&f, &l, &s, &err), err);
    ck_assert_int_eq(s.shape.c, 1);
    ck_assert_int_eq(s.shape.h, 5);
    ck_assert_int_eq(s.shape.w, 3);
    ck_assert_uint_eq(s.count, 7);
    ck_assert_int_eq(s.nparts, 1);
    ck_assert_int_eq(s.part[0].images.offset, 16);
    ck_assert_uint_eq(s.part[0].images.stride, 15);
    ck_assert_int_eq(s.part[0].labels.offset, 8);
    ck_assert_uint_eq(s.part[0].labels.stride, 1);
    ck_assert_str_eq(s.part[0].labels.name, p);
}
END_TEST

START_TEST(gzip_is_decompressed_once_into_the_cache)
{
    cnn_error err = {0};
    idx_file f, again;
    char path[4096];
    snprintf(path, sizeof path, "%s", idxfile_images(test_dir, "img.gz", 9, 4, 4, 1));
    TEST_OK(idx_open(path, IDX_IMAGES, &f, &err), err);
    ck_assert_uint_eq(f.count, 9);
    ck_assert_ptr_nonnull(strstr(f.path, "/cache/cnn-cl/img-"));
    struct stat st1, st2;
    ck_assert_int_eq(stat(f.path, &st1), 0);
    ck_assert_int_eq(st1.st_size, 16 + 9 * 16);
    TEST_OK(idx_open(path, IDX_IMAGES, &again, &err), err);
    ck_assert_str_eq(again.path, f.path);
    ck_assert_int_eq(stat(again.path, &st2), 0);
    ck_assert_int_eq(st1.st_ino, st2.st_ino); /* reused, not rewritten */
}
END_TEST

START_TEST(whole_dataset_opens_raw_or_gzip)
{
    write_set("train", 20, 6, 1);
    write_set("t10k", 5, 6, 0);
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_format_idx.open(test_dir, &ds, &err), err);
    ck_assert_str_eq(ds.format, "IDX");
    ck_assert_uint_eq(ds.train.count, 20);
    ck_assert_uint_eq(ds.test.count, 5);
    ck_assert_int_eq(ds.shape.c, 1);
    ck_assert_int_eq(ds.shape.h, 6);
    ck_assert_int_eq(ds.shape.w, 6);
    ck_assert_int_eq(ds.classes, 10);
}
END_TEST

START_TEST(classes_are_the_largest_training_label_plus_one)
{
    write_set_classes("train", 20, 6, 0, 4);
    write_set_classes("t10k", 5, 6, 1, 2);
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_format_idx.open(test_dir, &ds, &err), err);
    ck_assert_int_eq(ds.classes, 4);
    /* labels 0, 1, 2, 3, 0, ...: the first 3 is at index 3 */
    char from[4200], fault[4400];
    snprintf(from, sizeof from, "%s/train-labels-idx1-ubyte: label 3 at index 3 implies "
             "4 classes", test_dir);
    ck_assert_str_eq(ds.classes_from, from);
    /* a test label the training labels never reach */
    write_set_classes("t10k", 7, 6, 1, 5);
    snprintf(fault, sizeof fault, "t10k-labels-idx1-ubyte.gz: label 4 at index 4 is "
             "outside 0..3 (%s)", from);
    expect_split_fault(fault);
}
END_TEST

START_TEST(wrong_magic)
{
    expect_fault(idxfile_labels(test_dir, "lab", 3, 10, 0), IDX_IMAGES, "wrong magic number 2049");
}
END_TEST

START_TEST(header_too_short)
{
    unsigned char head[10] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    expect_fault(idxfile_raw(test_dir, "short", head, sizeof head), IDX_IMAGES, "header is 10 bytes");
    expect_fault(idxfile_raw(test_dir, "tiny", head, 2), IDX_IMAGES, "too short");
}
END_TEST

START_TEST(data_shorter_than_header_says)
{
    const char *p = idxfile_images(test_dir, "img", 4, 3, 3, 0);
    ck_assert_int_eq(truncate(p, 16 + 3 * 9 + 4), 0);
    expect_fault(p, IDX_IMAGES, "shorter than the 36");
}
END_TEST

START_TEST(data_longer_than_header_says)
{
    const char *p = idxfile_images(test_dir, "img", 4, 3, 3, 0);
    ck_assert_int_eq(truncate(p, 16 + 4 * 9 + 5), 0);
    expect_fault(p, IDX_IMAGES, "5 bytes after");
}
END_TEST

START_TEST(zero_and_overflowing_dimensions)
{
    unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    expect_fault(idxfile_raw(test_dir, "zero-count", head, 16), IDX_IMAGES, "zero items");
    unsigned char zero_rows[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 28};
    expect_fault(idxfile_raw(test_dir, "zero-rows", zero_rows, 16), IDX_IMAGES, "zero image dimension");
    unsigned char huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_fault(idxfile_raw(test_dir, "huge", huge, 16), IDX_IMAGES, "overflows");
}
END_TEST

START_TEST(corrupt_gzip)
{
    const char *p = idxfile_images(test_dir, "img.gz", 50, 10, 10, 1);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size / 2), 0);
    expect_fault(p, IDX_IMAGES, "corrupt gzip data");
    /* a failed decompression leaves nothing in the cache */
    char cache[256];
    snprintf(cache, sizeof cache, "%s/cache/cnn-cl", test_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", cache);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(missing_file_and_folder)
{
    char path[256];
    snprintf(path, sizeof path, "%s/nothing-here", test_dir);
    expect_fault(path, IDX_IMAGES, "No such file");
    snprintf(path, sizeof path, "%s/a-folder", test_dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    expect_fault(path, IDX_IMAGES, "is a folder");
}
END_TEST

START_TEST(counts_differ)
{
    write_set("train", 20, 6, 0);
    write_set("t10k", 5, 6, 0);
    idxfile_labels(test_dir, "train-labels-idx1-ubyte", 19, 10, 0);
    expect_split_fault("holds 19 labels but");
}
END_TEST

START_TEST(label_outside_classes)
{
    write_set("train", 20, 6, 0);
    write_set("t10k", 13, 6, 0);
    idxfile_labels(test_dir, "t10k-labels-idx1-ubyte", 13, 13, 0);
    expect_split_fault("t10k-labels-idx1-ubyte: label 10 at index 10 is outside 0..9 (");
    expect_split_fault("train-labels-idx1-ubyte: label 9 at index 9 implies 10 classes)");
}
END_TEST

START_TEST(train_and_test_sizes_differ)
{
    write_set("train", 20, 6, 0);
    write_set("t10k", 5, 7, 0);
    expect_split_fault("images are 7 x 7 but the training images are 6 x 6");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, test_dir_remove);
    tcase_add_test(tc, reads_raw_images_and_labels);
    tcase_add_test(tc, gzip_is_decompressed_once_into_the_cache);
    tcase_add_test(tc, whole_dataset_opens_raw_or_gzip);
    tcase_add_test(tc, classes_are_the_largest_training_label_plus_one);
    tcase_add_test(tc, wrong_magic);
    tcase_add_test(tc, header_too_short);
    tcase_add_test(tc, data_shorter_than_header_says);
    tcase_add_test(tc, data_longer_than_header_says);
    tcase_add_test(tc, zero_and_overflowing_dimensions);
    tcase_add_test(tc, corrupt_gzip);
    tcase_add_test(tc, missing_file_and_folder);
    tcase_add_test(tc, counts_differ);
    tcase_add_test(tc, label_outside_classes);
    tcase_add_test(tc, train_and_test_sizes_differ);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
