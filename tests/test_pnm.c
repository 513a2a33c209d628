/* test_pnm.c: PGM and PPM reading — P2, P5, P3 and P6, 8- and 16-bit
 * samples, comments wherever the format allows them, colour split into
 * planes, and every fault named in one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "idxfile.h"
#include "data/pnm.h"
#include "testutil.h"

/* header followed by n raw bytes, written to test_dir/name */
static const char *pgm_file(const char *name, const char *header,
                            const unsigned char *data, size_t n)
{
    size_t h = strlen(header);
    unsigned char *bytes = malloc(h + n + 1);
    ck_assert_ptr_nonnull(bytes);
    memcpy(bytes, header, h);
    if (n)
        memcpy(bytes + h, data, n);
    const char *path = idxfile_raw(test_dir, name, bytes, h + n);
    free(bytes);
    return path;
}

static const char *text_file(const char *name, const char *text)
{
    return pgm_file(name, text, NULL, 0);
}

START_TEST(reads_p2_with_comments_everywhere)
{
    const char *p = text_file("a.pgm",
        "P2 # plain\n# a comment line\n3# width\n2\n#maxval next\n15\n"
        "0 1 2 # comments between values too\n15\n 7\t8\n");
    float px[6];
    cnn_error err = {0};
    TEST_OK(pnm_read(p, 1, 2, 3, px, &err), err);
    const float want[6] = {0, 1, 2, 15, 7, 8};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(px[i], want[i] / 15.0f);
}
END_TEST

START_TEST(reads_p5_mnist_sized)
{
    unsigned char data[28 * 28];
    for (int i = 0; i < 28 * 28; i++)
        data[i] = (unsigned char)(i * 7);
    /* the comment's newline is the one whitespace before the raster */
    const char *p = pgm_file("digit.pgm", "P5\n# from a scanner\n28 28\n255#end\n",
                             data, sizeof data);
    float px[28 * 28];
    cnn_error err = {0};
    TEST_OK(pnm_read(p, 1, 28, 28, px, &err), err);
    for (int i = 0; i < 28 * 28; i++)
        ck_assert_float_eq(px[i], data[i] / 255.0f);
    ck_assert_float_eq(px[0], 0.0f); /* black stays 0: no inversion */
}
END_TEST

START_TEST(reads_p5_sixteen_bit_big_endian)
{
    const unsigned char data[] = {0x00, 0x00, 0x01, 0x00, 0x03, 0xe8, 0x00, 0x01,
                                  0xff, 0xff, 0xff}; /* trailing bytes ignored */
    const char *p = pgm_file("wide.pgm", "P5 2 2 1000\n", data, sizeof data);
    float px[4];
    cnn_error err = {0};
    TEST_OK(pnm_read(p, 1, 2, 2, px, &err), err);
    ck_assert_float_eq(px[0], 0.0f);
    ck_assert_float_eq(px[1], 256 / 1000.0f);
    ck_assert_float_eq(px[2], 1.0f);
    ck_assert_float_eq(px[3], 1 / 1000.0f);
    const unsigned char top[] = {0xff, 0xff};
    p = pgm_file("max.pgm", "P5 1 1 65535\n", top, sizeof top);
    TEST_OK(pnm_read(p, 1, 1, 1, px, &err), err);
    ck_assert_float_eq(px[0], 1.0f);
}
END_TEST

/* Asserts that reading path fails as input error, in one line that starts
 * with the file's name and holds `fault`. */
static void expect_fault_c(const char *path, int c, int h, int w, const char *fault)
{
    float px[3 * 64];
    cnn_error err = {0};
    ck_assert_int_le(h * w, 64);
    ck_assert_int_eq(pnm_read(path, c, h, w, px, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, path) == err.msg, "message does not start "
                  "with the file name: %s", err.msg);
    ck_assert_msg(strstr(err.msg, fault), "'%s' not in: %s", fault, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

/* The same for a grey (one-channel) reader. */
static void expect_fault(const char *path, int h, int w, const char *fault)
{
    expect_fault_c(path, 1, h, w, fault);
}

START_TEST(missing_file_and_folder)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/none.pgm", test_dir);
    expect_fault(path, 2, 2, "cannot open: No such file");
    expect_fault(test_dir, 2, 2, "is not a regular file");
}
END_TEST

START_TEST(not_a_pgm_or_ppm)
{
    expect_fault(text_file("bits.pbm", "P1 1 1\n1\n"), 1, 1,
                 "is a Netpbm P1 (black and white PBM) file, not a PGM or PPM");
    expect_fault(text_file("bits4.pbm", "P4 1 1\n\x80"), 1, 1,
                 "P4 (black and white PBM) file, not a PGM or PPM");
    expect_fault_c(text_file("a.pam", "P7\nWIDTH 1\n"), 3, 1, 1,
                   "P7 (PAM) file, not a PGM or PPM (P2, P5, P3 or P6)");
    expect_fault(text_file("x.png", "\x89PNG\r\n"), 1, 1, "is not a PGM or PPM");
    expect_fault(text_file("empty.pgm", ""), 1, 1, "is not a PGM or PPM");
    expect_fault(text_file("p8.pgm", "P8 1 1 255\n"), 1, 1, "is not a PGM or PPM");
    const unsigned char nul[] = {0, ' ', '1'};
    expect_fault(pgm_file("p0.pgm", "P", nul, sizeof nul), 1, 1, "is not a PGM or PPM");
}
END_TEST

START_TEST(reads_p3_with_comments_into_planes)
{
    const char *p = text_file("c.ppm",
        "P3 # plain colour\n2# width\n1\n#maxval next\n255\n"
        "255 0 10 # red pixel, then a blue one\n0\n128 255\n");
    float px[6];
    cnn_error err = {0};
    TEST_OK(pnm_read(p, 3, 1, 2, px, &err), err);
    /* planar (c, h, w): both reds, both greens, both blues */
    const float want[6] = {255, 0, 0, 128, 10, 255};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(px[i], want[i] / 255.0f);
}
END_TEST

START_TEST(reads_p6_eight_and_sixteen_bit)
{
    /* 3 wide, 2 high: pixel i is (i, 10 + i, 20 + i) */
    unsigned char d8[18];
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++)
            d8[3 * i + c] = (unsigned char)(10 * c + i);
    const char *p = pgm_file("c8.ppm", "P6\n# comment\n3 2\n255\n", d8, sizeof d8);
    float px[18];
    cnn_error err = {0};
    TEST_OK(pnm_read(p, 3, 2, 3, px, &err), err);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq(px[c * 6 + i], (float)(10 * c + i) / 255.0f);
    /* 16 bits, big-endian, maxval 65535; trailing bytes ignored */
    const unsigned char d16[] = {0xff, 0xff, 0x00, 0x00, 0x01, 0x00,
                                 0x00, 0x01, 0x80, 0x00, 0x00, 0xff, 0x12};
    p = pgm_file("c16.ppm", "P6 2 1 65535\n", d16, sizeof d16);
    TEST_OK(pnm_read(p, 3, 1, 2, px, &err), err);
    const float want[6] = {65535, 1, 0, 32768, 256, 255};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(px[i], want[i] / 65535.0f);
}
END_TEST

START_TEST(channel_mismatch_names_both_counts)
{
    expect_fault_c(text_file("grey.pgm", "P2 1 1 255\n7\n"), 3, 1, 1,
                   "image has 1 channel (a grey PGM); expected 3 channels");
    expect_fault_c(text_file("grey5.pgm", "P5 1 1 255\n\x07"), 3, 1, 1,
                   "image has 1 channel (a grey PGM); expected 3 channels");
    expect_fault(text_file("colour.ppm", "P6 2 2 255\n............"), 2, 2,
                 "image has 3 channels (a colour PPM); expected 1 channel");
    expect_fault(text_file("colour.txt", "P3 1 1 255\n1 2 3\n"), 1, 1,
                 "image has 3 channels (a colour PPM); expected 1 channel");
}
END_TEST

START_TEST(colour_faults)
{
    expect_fault_c(text_file("big.ppm", "P3 2 2 255\n"), 3, 1, 2,
                   "image is 2 wide and 2 high; expected 2 wide and 1 high");
    const unsigned char d[] = {1, 2, 3, 4, 5};
    expect_fault_c(pgm_file("t6", "P6 2 2 255\n", d, 5), 3, 2, 2,
                   "truncated: the data ends after 5 of 12 samples");
    expect_fault_c(pgm_file("t16", "P6 1 1 1000\n", d, 5), 3, 1, 1,
                   "the data ends after 2 of 3 samples");
    expect_fault_c(text_file("v3", "P3 2 1 255\n0 0 0 0 300 0\n"), 3, 1, 2,
                   "pixel 1 (row 0, column 1) green is 300, above the maxval 255");
    const unsigned char d16[] = {0, 0, 0, 0, 0x03, 0xe9};
    expect_fault_c(pgm_file("v6", "P6 1 1 1000\n", d16, sizeof d16), 3, 1, 1,
                   "pixel 0 (row 0, column 0) blue is 1001, above the maxval 1000");
    expect_fault_c(text_file("n3", "P3 1 2 255\n1 2 3\n4 5 x\n"), 3, 2, 1,
                   "pixel 1 (row 1, column 0) blue is not a number");
    expect_fault_c(text_file("m3", "P3 1 1 65536\n"), 3, 1, 1, "maxval is above 65535");
}
END_TEST

START_TEST(bad_header)
{
    expect_fault(text_file("a", "P5"), 1, 1, "bad header: the file ends before the width");
    expect_fault(text_file("b", "P52 2 255\n...."), 2, 2, "no whitespace after the magic P5");
    expect_fault(text_file("c", "P2 x 2 255\n"), 2, 2, "bad header: the width is not a number");
    expect_fault(text_file("d", "P2 2 -2 255\n"), 2, 2, "the height is not a number");
    expect_fault(text_file("e", "P2 2 2\n"), 2, 2, "the file ends before the maxval");
    expect_fault(text_file("f", "P2 2 2 25x\n"), 2, 2, "the maxval is not a number");
    expect_fault(text_file("g", "P2 0 2 255\n"), 2, 2, "the width is 0");
    expect_fault(text_file("h", "P2 2 2 0\n0 0 0 0\n"), 2, 2, "the maxval is 0");
    expect_fault(text_file("i", "P5 2 2 65536\n"), 2, 2, "maxval is above 65535");
    expect_fault(text_file("j", "P2 2 2 99999999999999999999\n"), 2, 2,
                 "maxval is above 65535");
}
END_TEST

START_TEST(size_mismatch_names_the_size)
{
    expect_fault(text_file("s.pgm", "P2 3 2 255\n0 0 0 0 0 0\n"), 3, 2,
                 "image is 3 wide and 2 high; expected 2 wide and 3 high");
    unsigned char data[32 * 30] = {0};
    const char *p = pgm_file("big.pgm", "P5 32 30 255\n", data, sizeof data);
    float px[28 * 28];
    cnn_error err = {0};
    ck_assert_int_eq(pnm_read(p, 1, 28, 28, px, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "image is 32 wide and 30 high; expected "
                                          "28 wide and 28 high"));
}
END_TEST

START_TEST(truncated_data)
{
    const unsigned char data[] = {1, 2, 3, 4, 5};
    expect_fault(pgm_file("t5", "P5 3 2 255\n", data, 5), 2, 3,
                 "truncated: the data ends after 5 of 6 pixels");
    expect_fault(pgm_file("t16", "P5 3 1 1000\n", data, 5), 1, 3,
                 "the data ends after 2 of 3 pixels");
    expect_fault(text_file("t2", "P2 3 2 255\n1 2 3\n4 # 5 6\n"), 2, 3,
                 "the data ends after 4 of 6 pixels");
}
END_TEST

START_TEST(values_above_maxval)
{
    expect_fault(text_file("v2", "P2 2 2 100\n0 100\n101 0\n"), 2, 2,
                 "pixel 2 (row 1, column 0) is 101, above the maxval 100");
    const unsigned char d8[] = {0, 0, 0, 200};
    expect_fault(pgm_file("v5", "P5 2 2 199\n", d8, sizeof d8), 2, 2,
                 "pixel 3 (row 1, column 1) is 200, above the maxval 199");
    const unsigned char d16[] = {0x03, 0xe9};
    expect_fault(pgm_file("v16", "P5 1 1 1000\n", d16, sizeof d16), 1, 1,
                 "pixel 0 (row 0, column 0) is 1001, above the maxval 1000");
    expect_fault(text_file("n2", "P2 2 1 255\n7 x\n"), 1, 2,
                 "pixel 1 (row 0, column 1) is not a number");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pnm");
    TCase *tc = tcase_create("pnm");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, reads_p2_with_comments_everywhere);
    tcase_add_test(tc, reads_p5_mnist_sized);
    tcase_add_test(tc, reads_p5_sixteen_bit_big_endian);
    tcase_add_test(tc, missing_file_and_folder);
    tcase_add_test(tc, not_a_pgm_or_ppm);
    tcase_add_test(tc, reads_p3_with_comments_into_planes);
    tcase_add_test(tc, reads_p6_eight_and_sixteen_bit);
    tcase_add_test(tc, channel_mismatch_names_both_counts);
    tcase_add_test(tc, colour_faults);
    tcase_add_test(tc, bad_header);
    tcase_add_test(tc, size_mismatch_names_the_size);
    tcase_add_test(tc, truncated_data);
    tcase_add_test(tc, values_above_maxval);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
