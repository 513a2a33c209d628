/* test_metrics_log.c: the per-epoch CSV log — a round trip through the
 * file, the rewrite that --resume relies on, every malformed file rejected
 * with its line named, and writes that leave no temporary behind. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "idxfile.h"
#include "train/metrics_log.h"
#include "testutil.h"

static metrics_row row(int epoch)
{
    return (metrics_row){epoch, 2.0 / epoch, 1 - 0.5 / epoch, 2.1 / epoch,
                         1 - 0.6 / epoch, 12.3456 + epoch, 4321.06 * epoch,
                         1e-3 / epoch};
}

/* The number of entries in test_dir other than . and .. */
static int entries(void)
{
    DIR *d = opendir(test_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

START_TEST(round_trip)
{
    metrics_row rows[5];
    for (int i = 0; i < 5; i++)
        rows[i] = row(i + 1);
    rows[4].epoch = 9; /* epochs need only increase */
    rows[2].val_loss = NAN; /* a diverged epoch is still logged */
    cnn_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path("log.csv"));
    TEST_OK(metrics_log_write(path, rows, 5, &err), err);

    metrics_row *back;
    int count;
    TEST_OK(metrics_log_read(path, &back, &count, &err), err);
    ck_assert_int_eq(count, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(back[i].epoch, rows[i].epoch);
        if (i == 2)
            ck_assert(isnan(back[i].val_loss));
        else
            ck_assert_double_eq_tol(back[i].val_loss, rows[i].val_loss, 5e-7);
        ck_assert_double_eq_tol(back[i].loss, rows[i].loss, 5e-7);
        ck_assert_double_eq_tol(back[i].accuracy, rows[i].accuracy, 5e-7);
        ck_assert_double_eq_tol(back[i].val_accuracy, rows[i].val_accuracy, 5e-7);
        ck_assert_double_eq_tol(back[i].seconds, rows[i].seconds, 5e-4);
        ck_assert_double_eq_tol(back[i].images_per_second,
                                rows[i].images_per_second, 0.05);
        ck_assert_double_eq_tol(back[i].lr, rows[i].lr, 1e-6 * rows[i].lr);
    }
    free(back);

    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,accuracy,val_loss,val_accuracy,seconds,"
                           "images_per_second,lr\n");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "1,2.000000,0.500000,2.100000,0.400000,13.346,4321.1,0.001\n");
    fclose(f);
}
END_TEST

/* What the training loop does on --resume: read the epochs done, add one,
 * rewrite the whole log over the old one. */
START_TEST(rewrite_keeps_earlier_rows)
{
    metrics_row rows[4] = {row(1), row(2), row(3), row(4)};
    cnn_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path("log.csv"));
    TEST_OK(metrics_log_write(path, rows, 3, &err), err);
    metrics_row *done;
    int count;
    TEST_OK(metrics_log_read(path, &done, &count, &err), err);
    ck_assert_int_eq(count, 3);
    done = realloc(done, 4 * sizeof *done);
    ck_assert_ptr_nonnull(done);
    done[count++] = rows[3];
    TEST_OK(metrics_log_write(path, done, count, &err), err);
    free(done);
    TEST_OK(metrics_log_read(path, &done, &count, &err), err);
    ck_assert_int_eq(count, 4);
    ck_assert_int_eq(done[3].epoch, 4);
    ck_assert_int_eq(done[0].epoch, 1);
    free(done);
    ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(header_only_is_an_empty_log)
{
    cnn_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path("log.csv"));
    TEST_OK(metrics_log_write(path, NULL, 0, &err), err);
    metrics_row sentinel, *rows = &sentinel;
    int count = -1;
    TEST_OK(metrics_log_read(path, &rows, &count, &err), err);
    ck_assert_int_eq(count, 0);
    ck_assert_ptr_null(rows);
}
END_TEST

/* Asserts that reading `text` as a log fails as input error, in one line
 * that starts with the file's name and holds `fault`. */
static void expect_fault(const char *text, size_t n, const char *fault)
{
    const char *path = idxfile_raw(test_dir, "bad.csv", text, n);
    cnn_error err = {0};
    metrics_row *rows = NULL;
    int count = -1;
    ck_assert_int_eq(metrics_log_read(path, &rows, &count, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "message does not start "
                  "with the file name: %s", err.msg);
    ck_assert_msg(strstr(err.msg, fault), "'%s' not in: %s", fault, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
    ck_assert_ptr_null(rows);
    ck_assert_int_eq(count, 0);
}

/* The faults of a row are read in an older log's format. */
#define HEADER METRICS_LOG_HEADER_V1 "\n"
#define ROW1 "1,0.5,0.9,0.6,0.8,10.5,5000.0\n"
#define FAULT(text, fault) expect_fault(text, sizeof(text) - 1, fault)

START_TEST(malformed_files_name_the_line)
{
    FAULT("", "is empty, expected the header");
    FAULT("epoch,loss\n" ROW1, "line 1: header is 'epoch,loss'");
    FAULT("Epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second\n",
          "line 1: header is");
    FAULT(HEADER ROW1 "2,0.4,0.9,0.5,0.8,10.5\n", "line 3: 6 comma-separated fields, expected 7");
    FAULT(METRICS_LOG_HEADER "\n" ROW1, "line 2: 7 comma-separated fields, expected 8");
    FAULT(METRICS_LOG_HEADER "\n1,0.5,0.9,0.6,0.8,10.5,5000.0,x\n",
          "line 2: lr 'x' is not a number");
    FAULT(HEADER "1,0.5,0.9,0.6,0.8,10.5,5000.0,7\n", "line 2: 8 comma-separated fields");
    FAULT(HEADER "1,0.5,abc,0.6,0.8,10.5,5000.0\n", "line 2: accuracy 'abc' is not a number");
    FAULT(HEADER "1,0.5,0.9,,0.8,10.5,5000.0\n", "line 2: val_loss '' is not a number");
    FAULT(HEADER "1,0.5,0.9,0.6,0.8 ,10.5,5000.0\n", "line 2: val_accuracy '0.8 '");
    FAULT(HEADER "0,0.5,0.9,0.6,0.8,10.5,5000.0\n", "line 2: epoch '0' is not a positive integer");
    FAULT(HEADER "1.5,0.5,0.9,0.6,0.8,10.5,5000.0\n", "line 2: epoch '1.5'");
    FAULT(HEADER "99999999999,0.5,0.9,0.6,0.8,10.5,5000.0\n", "line 2: epoch '99999999999'");
    FAULT(HEADER ROW1 ROW1, "line 3: epoch 1 does not follow epoch 1");
    FAULT(HEADER ROW1 "\n" "2,0.4,0.9,0.5,0.8,10.5,5000.0\n", "line 3: is empty");
    FAULT(HEADER ROW1 "2,0.4,0.9\0,0.5,0.8,10.5,5000.0\n", "line 3: holds a NUL byte");
}
END_TEST

/* Also in an older log's format, which has no rate. */
START_TEST(crlf_and_missing_final_newline_are_accepted)
{
    static const char text[] = METRICS_LOG_HEADER_V1 "\r\n1,0.5,0.9,0.6,0.8,10.5,5000.0\r\n"
                               "3,0.4,0.9,0.5,0.8,10.5,5000.0";
    const char *path = idxfile_raw(test_dir, "log.csv", text, sizeof text - 1);
    cnn_error err = {0};
    metrics_row *rows;
    int count;
    TEST_OK(metrics_log_read(path, &rows, &count, &err), err);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(rows[1].epoch, 3);
    ck_assert_double_eq(rows[1].images_per_second, 5000.0);
    ck_assert(isnan(rows[1].lr));
    free(rows);
}
END_TEST

START_TEST(missing_file_and_folder)
{
    cnn_error err = {0};
    metrics_row *rows;
    int count;
    ck_assert_int_eq(metrics_log_read(test_path("none.csv"), &rows, &count, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "none.csv: cannot open: No such file"));
    ck_assert_int_eq(metrics_log_read(test_dir, &rows, &count, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a regular file"));
}
END_TEST

START_TEST(writes_are_atomic)
{
    metrics_row rows[2] = {row(1), row(2)};
    cnn_error err = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path("log.csv"));
    TEST_OK(metrics_log_write(path, rows, 1, &err), err);
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    mode_t mask = umask(0);
    umask(mask);
    ck_assert_int_eq(before.st_mode & 0777, 0666 & ~mask); /* not mkstemp's 0600 */
    TEST_OK(metrics_log_write(path, rows, 2, &err), err);
    ck_assert_int_eq(stat(path, &after), 0);
    /* replaced by a rename, not rewritten in place */
    ck_assert_int_ne(before.st_ino, after.st_ino);
    ck_assert_int_eq(entries(), 1);

    /* a folder that does not exist: an input error, nothing left behind */
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no/log.csv", test_dir);
    ck_assert_int_eq(metrics_log_write(missing, rows, 2, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no/log.csv: cannot create"));
    ck_assert_int_eq(entries(), 1);

    /* a folder in the way: the rename fails, the temporary is removed */
    ck_assert_int_eq(mkdir(test_path("taken"), 0755), 0);
    ck_assert_int_eq(metrics_log_write(test_path("taken"), rows, 2, &err), CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot rename"));
    ck_assert_int_eq(entries(), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_log");
    TCase *tc = tcase_create("metrics_log");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, rewrite_keeps_earlier_rows);
    tcase_add_test(tc, header_only_is_an_empty_log);
    tcase_add_test(tc, malformed_files_name_the_line);
    tcase_add_test(tc, crlf_and_missing_final_newline_are_accepted);
    tcase_add_test(tc, missing_file_and_folder);
    tcase_add_test(tc, writes_are_atomic);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
