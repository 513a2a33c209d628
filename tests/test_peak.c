/* test_peak.c: the peak kernels against their reference, bit for bit, and
 * the measurement's figures: positive and finite. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/peak.h"
#include "runtime/peak.h"
#include "testutil.h"

START_TEST(fma_matches_reference)
{
    cnn_error err = {0};
    peak_kernels k = {0};
    TEST_OK(peak_open(test_rt(), &k, &err), err);
    const size_t items = 37;
    const int iters[] = {0, 1, 9, 100};
    for (size_t t = 0; t < sizeof iters / sizeof *iters; t++) {
        size_t n = items * 128;
        cl_mem out = test_poisoned(n);
        TEST_OK(peak_fma(test_rt(), &k, out, items, iters[t], 0.999f, 0.001f, &err), err);
        float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
        test_download(out, got, n);
        ref_peak_fma(want, items, iters[t], 0.999f, 0.001f);
        ck_assert_msg(!memcmp(got, want, n * sizeof *got), "iters %d: not the reference's bits",
                      iters[t]);
        free(got), free(want);
        clReleaseMemObject(out);
    }
    peak_close(&k);
}
END_TEST

START_TEST(scale_matches_reference)
{
    cnn_error err = {0};
    peak_kernels k = {0};
    TEST_OK(peak_open(test_rt(), &k, &err), err);
    /* Fewer runs than work-items, and more: each work-item then strides. */
    const size_t sizes[] = {16 * 53, 16 * 9001};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        float *x = test_random_new(n, 3, -2.0f, 2.0f), *got = malloc(n * sizeof *got),
              *want = malloc(n * sizeof *want);
        cl_mem bx = test_upload(x, n), by = test_poisoned(n);
        TEST_OK(peak_scale(test_rt(), &k, bx, by, n, 0.75f, &err), err);
        test_download(by, got, n);
        ref_peak_scale(x, want, n, 0.75f);
        ck_assert_msg(!memcmp(got, want, n * sizeof *got), "%zu floats", n);
        clReleaseMemObject(bx);
        clReleaseMemObject(by);
        free(x), free(got), free(want);
    }
    peak_close(&k);
}
END_TEST

START_TEST(measure_gives_figures)
{
    cnn_error err = {0};
    peak_figures p;
    TEST_OK(peak_measure(test_rt(), &p, &err), err);
    ck_assert(isfinite(p.gflops) && p.gflops > 0);
    ck_assert(isfinite(p.gbps) && p.gbps > 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("peak");
    /* The measurement's launches are sized for real devices; a simulated
     * one runs the kernels' checks alone. */
    TCase *sim = test_simulator_case();
    tcase_add_test(sim, fma_matches_reference);
    tcase_add_test(sim, scale_matches_reference);
    suite_add_tcase(s, sim);
    TCase *tc = tcase_create("peak");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, measure_gives_figures);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
