/* test_dataset.c: telling data folders apart, CIFAR-10's batches (shape,
 * counts, classes, every fault named in one line), the loader streaming
 * across its files, the validation split, and a model's fit to a data set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/cifar.h"
#include "data/dataset.h"
#include "data/holdout.h"
#include "idxfile.h"
#include "data/loader.h"
#include "data/records.h"
#include "testutil.h"

#define PIXELS 3072
#define RECORD 3073

/* The five training batches' record counts, and the test batch's. */
static const int batch_records[5] = {7, 3, 4, 1, 2};
#define TRAIN 17
#define TEST 5

/* Byte p of sample g's image (g counts the training records, then the test
 * ones): g itself first, so a loaded image tells its sample, then a value
 * that differs between the planes and along each. */
static unsigned char pixel(int g, int p)
{
    return (unsigned char)(p == 0 ? g : g * 7 + p / 1024 * 85 + p % 1024);
}

static int label(int g) { return g % 10; }

/* Writes dir/name with records g0 .. g0 + n - 1. */
static const char *write_batch(const char *name, int g0, int n)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int g = g0; g < g0 + n; g++) {
        unsigned char rec[RECORD];
        rec[0] = (unsigned char)label(g);
        for (int p = 0; p < PIXELS; p++)
            rec[1 + p] = pixel(g, p);
        ck_assert_uint_eq(fwrite(rec, 1, RECORD, f), RECORD);
    }
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static const char *batch_name(int i)
{
    static char name[32];
    if (i == 5)
        return "test_batch.bin";
    snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
    return name;
}

static void write_cifar(void)
{
    int g = 0;
    for (int i = 0; i < 5; i++) {
        write_batch(batch_name(i), g, batch_records[i]);
        g += batch_records[i];
    }
    write_batch("test_batch.bin", TRAIN, TEST);
}

/* Asserts that opening test_dir fails as input error in one line that
 * starts with `file` (a name in test_dir, or "" for the folder itself) and
 * holds `fault`. */
static void expect_fault(const char *file, const char *fault)
{
    cnn_error err = {0};
    dataset ds;
    char start[4200];
    snprintf(start, sizeof start, "%s%s%s", test_dir, *file ? "/" : "", file);
    ck_assert_int_eq(dataset_open(test_dir, &ds, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, start) == err.msg, "message does not start "
                  "with %s: %s", start, err.msg);
    ck_assert_msg(strstr(err.msg, fault), "'%s' not in: %s", fault, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

START_TEST(cifar_shape_counts_and_parts)
{
    write_cifar();
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    ck_assert_str_eq(ds.format, "CIFAR-10");
    ck_assert_int_eq(ds.classes, 10);
    ck_assert_str_eq(ds.classes_from, "CIFAR-10 has 10 classes");
    ck_assert_int_eq(ds.shape.c, 3);
    ck_assert_int_eq(ds.shape.h, 32);
    ck_assert_int_eq(ds.shape.w, 32);
    ck_assert_uint_eq(ds.train.count, TRAIN);
    ck_assert_uint_eq(ds.test.count, TEST);
    ck_assert_int_eq(ds.train.nparts, 5);
    ck_assert_int_eq(ds.test.nparts, 1);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(ds.train.part[i].count, (uint64_t)batch_records[i]);
        ck_assert_ptr_nonnull(strstr(ds.train.part[i].images.name, batch_name(i)));
    }
    ck_assert_int_eq(ds.train.shape.c, 3);
    ck_assert_int_eq(ds.test.shape.w, 32);
}
END_TEST

/* Streams one epoch; checks every sample's pixels (planar, scaled by
 * 1/255) and label against the sample its first pixel names, and appends
 * the samples in the order they came. */
static int run_epoch(loader *l, uint64_t epoch, int first_g, int *order)
{
    cnn_error err = {0};
    TEST_OK(loader_start(l, epoch, 0, &err), err);
    int n = 0;
    loader_batch *b;
    for (;;) {
        TEST_OK(loader_next(l, &b, &err), err);
        if (!b)
            break;
        for (int i = 0; i < b->count; i++) {
            const float *img = b->images + (size_t)i * PIXELS;
            int g = (int)(img[0] * 255.0f + 0.5f);
            ck_assert_int_ge(g, first_g);
            for (int p = 0; p < PIXELS; p++)
                ck_assert_float_eq(img[p], pixel(g, p) / 255.0f);
            ck_assert_int_eq(b->labels[i], label(g));
            order[n++] = g;
        }
        loader_release(l, b);
    }
    return n;
}

START_TEST(loader_streams_across_the_batch_files)
{
    write_cifar();
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    loader *l;
    int order[TRAIN];
    /* in file order, batches of 5 straddle the files' boundaries */
    TEST_OK(loader_open(&l, &ds.train, 5, 0, 1, 0, 2, &err), err);
    ck_assert_int_eq(loader_batches(l), 4);
    ck_assert_int_eq(run_epoch(l, 0, 0, order), TRAIN);
    for (int i = 0; i < TRAIN; i++)
        ck_assert_int_eq(order[i], i);
    loader_close(l);
    /* shuffled: a permutation of all five files' records */
    TEST_OK(loader_open(&l, &ds.train, 3, 0, 7, 1, 3, &err), err);
    ck_assert_int_eq(run_epoch(l, 2, 0, order), TRAIN);
    int seen[TRAIN] = {0}, moved = 0;
    for (int i = 0; i < TRAIN; i++) {
        ck_assert_int_lt(order[i], TRAIN);
        ck_assert_int_eq(seen[order[i]]++, 0);
        moved += order[i] != i;
    }
    ck_assert_int_gt(moved, 0);
    loader_close(l);
    /* the test split, with a limit */
    TEST_OK(loader_open(&l, &ds.test, 2, 4, 0, 0, 2, &err), err);
    ck_assert_int_eq(run_epoch(l, 0, TRAIN, order), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(order[i], TRAIN + i);
    loader_close(l);
}
END_TEST

/* Of the 15 samples --limit keeps, 0.2 holds out the last 3 (Keras:
 * int(15 * 0.8) = 12 train), before shuffling: samples 12..14, which
 * straddle batch files 3 and 4; the 12 trained on are 0..11, shuffled. */
START_TEST(validation_split_holds_out_the_last_samples)
{
    write_cifar();
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    dataset_split fit, held;
    TEST_OK(holdout_divide(&ds.train, 15, 0.2, &fit, &held, &err), err);
    ck_assert_uint_eq(fit.count, 12);
    ck_assert_uint_eq(held.count, 3);
    loader *l;
    int order[TRAIN];
    TEST_OK(loader_open(&l, &held, 2, 0, 1, 0, 2, &err), err);
    ck_assert_int_eq(run_epoch(l, 0, 0, order), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(order[i], 12 + i);
    loader_close(l);
    TEST_OK(loader_open(&l, &fit, 5, 0, 7, 1, 2, &err), err);
    ck_assert_int_eq(run_epoch(l, 1, 0, order), 12);
    int seen[TRAIN] = {0}, moved = 0;
    for (int i = 0; i < 12; i++) {
        ck_assert_int_lt(order[i], 12);
        ck_assert_int_eq(seen[order[i]]++, 0);
        moved += order[i] != i;
    }
    ck_assert_int_gt(moved, 0);
    loader_close(l);
    /* the whole split, and one from the middle of a file to its end */
    TEST_OK(holdout_divide(&ds.train, TRAIN, 0.5, &fit, &held, &err), err);
    ck_assert_uint_eq(fit.count, 8);
    ck_assert_uint_eq(held.count, 9);
    dataset_split mid = holdout_range(&ds.train, 8, 2);
    ck_assert_int_eq(mid.nparts, 1);
    TEST_OK(loader_open(&l, &mid, 4, 0, 1, 0, 2, &err), err);
    ck_assert_int_eq(run_epoch(l, 0, 0, order), 2);
    ck_assert_int_eq(order[0], 8);
    ck_assert_int_eq(order[1], 9);
    loader_close(l);
    /* a side left empty is refused with both counts */
    ck_assert_int_eq(holdout_divide(&ds.train, 4, 0.8, &fit, &held, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "of 4 samples leaves 0 for training and 4 for "
                         "validation"), "%s", err.msg);
    ck_assert_int_eq(holdout_divide(&ds.train, 17, 1e-20, &fit, &held, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "leaves 17 for training and 0 for validation"), "%s",
                  err.msg);
}
END_TEST

START_TEST(missing_batch_file)
{
    write_cifar();
    char path[4200];
    snprintf(path, sizeof path, "%s/data_batch_3.bin", test_dir);
    ck_assert_int_eq(unlink(path), 0);
    expect_fault("data_batch_3.bin", "missing; a CIFAR-10 folder holds");
    write_cifar();
    snprintf(path, sizeof path, "%s/test_batch.bin", test_dir);
    ck_assert_int_eq(unlink(path), 0);
    expect_fault("test_batch.bin", "missing");
}
END_TEST

START_TEST(only_some_files)
{
    write_batch("test_batch.bin", 0, 2);
    expect_fault("data_batch_1.bin", "missing");
}
END_TEST

START_TEST(size_not_whole_records)
{
    write_cifar();
    const char *p = write_batch("data_batch_2.bin", 7, 3);
    ck_assert_int_eq(truncate(p, 3 * RECORD + 5), 0);
    expect_fault("data_batch_2.bin", "is 9224 bytes, not a whole number of 3073-byte "
                 "CIFAR-10 records (3 records and 5 bytes)");
    write_batch("data_batch_2.bin", 7, 3);
    ck_assert_int_eq(truncate(write_batch("test_batch.bin", 0, 1), 100), 0);
    expect_fault("test_batch.bin", "is 100 bytes, not a whole number");
}
END_TEST

START_TEST(empty_file)
{
    write_cifar();
    ck_assert_int_eq(truncate(write_batch("data_batch_5.bin", 0, 1), 0), 0);
    expect_fault("data_batch_5.bin", "is empty");
}
END_TEST

START_TEST(label_outside_ten_classes)
{
    write_cifar();
    const char *p = write_batch("data_batch_4.bin", 14, 1);
    FILE *f = fopen(p, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputc(10, f), 10);
    ck_assert_int_eq(fclose(f), 0);
    expect_fault("data_batch_4.bin", "label 10 at index 0 is outside 0..9 (CIFAR-10 has 10 "
                 "classes)");
    write_batch("data_batch_4.bin", 14, 1);
    p = write_batch("test_batch.bin", TRAIN, TEST);
    f = fopen(p, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 3 * RECORD, SEEK_SET), 0);
    ck_assert_int_eq(fputc(255, f), 255);
    ck_assert_int_eq(fclose(f), 0);
    expect_fault("test_batch.bin", "label 255 at index 3 is outside");
}
END_TEST

START_TEST(folder_in_a_file_place)
{
    write_cifar();
    char path[4200];
    snprintf(path, sizeof path, "%s/data_batch_1.bin", test_dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    expect_fault("data_batch_1.bin", "is a folder, not a CIFAR-10 batch file");
}
END_TEST

START_TEST(folder_of_neither_format)
{
    expect_fault("", "holds no data set; a data folder holds the IDX files "
                 "train-images-idx3-ubyte");
    write_batch("data_batch_6.bin", 0, 1); /* not one of CIFAR-10's names */
    expect_fault("", "data_batch_1.bin ... data_batch_5.bin and test_batch.bin");
    cnn_error err = {0};
    dataset ds;
    ck_assert_int_eq(dataset_open("/nonexistent/mnist", &ds, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/mnist: no such data folder"));
    ck_assert_ptr_nonnull(strstr(err.msg, "fetch-datasets.sh"));
}
END_TEST

START_TEST(idx_files_make_an_idx_folder)
{
    idxfile_images(test_dir, "train-images-idx3-ubyte.gz", 12, 5, 4, 1);
    idxfile_labels(test_dir, "train-labels-idx1-ubyte.gz", 12, 3, 1);
    idxfile_images(test_dir, "t10k-images-idx3-ubyte", 6, 5, 4, 0);
    idxfile_labels(test_dir, "t10k-labels-idx1-ubyte", 6, 3, 0);
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    ck_assert_str_eq(ds.format, "IDX");
    ck_assert_int_eq(ds.classes, 3);
    ck_assert_int_eq(ds.shape.c, 1);
    ck_assert_int_eq(ds.shape.h, 5);
    ck_assert_int_eq(ds.shape.w, 4);
    /* one IDX file present makes the folder IDX, the others then missing */
    char path[4200];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", test_dir);
    ck_assert_int_eq(unlink(path), 0);
    write_cifar();
    expect_fault("t10k-labels-idx1-ubyte", "cannot open: No such file");
}
END_TEST

START_TEST(model_must_fit_the_data)
{
    write_cifar();
    cnn_error err = {0};
    dataset ds;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    TEST_OK(dataset_check_model(&ds, "dir", (dataset_shape){3, 32, 32}, 10, &err), err);
    TEST_OK(dataset_check_model(&ds, "dir", (dataset_shape){3, 32, 32}, 12, &err), err);
    ck_assert_int_eq(dataset_check_model(&ds, "datasets/cifar10",
                                         (dataset_shape){1, 28, 28}, 10, &err),
                     CNN_ERR_INPUT);
    ck_assert_str_eq(err.msg, "datasets/cifar10: images are 3x32x32 but the model takes "
                     "1x28x28");
    ck_assert_int_eq(dataset_check_model(&ds, "d", (dataset_shape){3, 32, 31}, 10, &err),
                     CNN_ERR_INPUT);
    ck_assert_int_eq(dataset_check_model(&ds, "d", (dataset_shape){1, 32, 32}, 10, &err),
                     CNN_ERR_INPUT);
    /* the test labels are 7, 8, 9, 0, 1: a five-class model stops at the 7 */
    ck_assert_int_eq(dataset_check_model(&ds, "dir", (dataset_shape){3, 32, 32}, 5, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "test_batch.bin: label 7 at index 0 is outside "
                                          "0..4 (the model has 5 classes)"));
    TEST_OK(dataset_check_model(&ds, "dir", (dataset_shape){3, 32, 32}, 10, &err), err);
}
END_TEST

START_TEST(label_scan_reports_the_largest)
{
    write_cifar();
    cnn_error err = {0};
    dataset ds;
    records_label largest;
    TEST_OK(dataset_open(test_dir, &ds, &err), err);
    /* the first 9 is the second file's third record: labels 0..6, then 7, 8, 9 */
    TEST_OK(records_check_labels(&ds.train, 10, "", &largest, &err), err);
    ck_assert_int_eq(largest.label, 9);
    ck_assert_int_eq(largest.part, 1);
    ck_assert_uint_eq(largest.index, 2);
    TEST_OK(records_check_labels(&ds.test, 10, "", &largest, &err), err);
    ck_assert_int_eq(largest.label, 9); /* test labels 7, 8, 9, 0, 1 */
    ck_assert_int_eq(largest.part, 0);
    ck_assert_uint_eq(largest.index, 2);
    /* the second file's labels 7, 8, 9 are the first out of 7 classes */
    ck_assert_int_eq(records_check_labels(&ds.train, 7, "seven asked for", NULL, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "data_batch_2.bin: label 7 at index 0 is outside "
                                          "0..6 (seven asked for)"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, cifar_shape_counts_and_parts);
    tcase_add_test(tc, loader_streams_across_the_batch_files);
    tcase_add_test(tc, validation_split_holds_out_the_last_samples);
    tcase_add_test(tc, missing_batch_file);
    tcase_add_test(tc, only_some_files);
    tcase_add_test(tc, size_not_whole_records);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, label_outside_ten_classes);
    tcase_add_test(tc, folder_in_a_file_place);
    tcase_add_test(tc, folder_of_neither_format);
    tcase_add_test(tc, idx_files_make_an_idx_folder);
    tcase_add_test(tc, model_must_fit_the_data);
    tcase_add_test(tc, label_scan_reports_the_largest);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
