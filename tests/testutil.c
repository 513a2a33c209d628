/* testutil.c: see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

static clrt runtime;
static int opened;

int test_device(void)
{
    const char *env = getenv("CNN_CL_DEVICE");
    char *end = NULL;
    long v = env && *env ? strtol(env, &end, 10) : 0;
    ck_assert_msg(!end || (!*end && v >= 0 && v <= 1 << 20),
                  "CNN_CL_DEVICE=%s is not a device index; `cnn-cl devices` lists them", env);
    return (int)v;
}

const char *test_kernels(void)
{
    const char *dir = getenv("CNN_CL_KERNELS");
    return dir && *dir ? dir : NULL;
}

const clrt *test_rt(void)
{
    if (!opened) {
        cnn_error err = {0};
        TEST_OK(clrt_open(&runtime, test_device(), test_kernels(), &err), err);
        opened = 1;
    }
    return &runtime;
}

void test_random(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = rng_mix(seed);
    for (size_t i = 0; i < n; i++) {
        s = rng_mix(s);
        x[i] = lo + (hi - lo) * (float)((double)(s >> 11) / 9007199254740992.0);
    }
}

cl_mem test_upload(const float *x, size_t n)
{
    cnn_error err = {0};
    cl_mem buf;
    TEST_OK(clrt_buffer(test_rt(), n * sizeof(float), &buf, &err), err);
    if (n)
        TEST_OK(clrt_write(test_rt(), buf, x, n * sizeof(float), &err), err);
    return buf;
}

cl_mem test_poisoned(size_t n)
{
    float *nan = malloc((n ? n : 1) * sizeof *nan);
    ck_assert_ptr_nonnull(nan);
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    cl_mem buf = test_upload(nan, n);
    free(nan);
    return buf;
}

void test_download(cl_mem buf, float *x, size_t n)
{
    cnn_error err = {0};
    TEST_OK(clrt_read(test_rt(), buf, x, n * sizeof(float), &err), err);
}

void test_built_with(cl_kernel k, const char *options, const char *what)
{
    cl_program program;
    char built[512];
    ck_assert_int_eq(clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof program, &program, NULL),
                     CL_SUCCESS);
    ck_assert_int_eq(clGetProgramBuildInfo(program, test_rt()->dev.device,
                                           CL_PROGRAM_BUILD_OPTIONS, sizeof built, built,
                                           NULL),
                     CL_SUCCESS);
    size_t n = strlen(built), m = strlen(options);
    ck_assert_msg(n > m && built[n - m - 1] == ' ' && !strcmp(built + n - m, options),
                  "%s: built with '%s', its row says '%s'", what, built, options);
}

void test_close(const char *what, const float *out, const double *ref,
                size_t n, double rel_norm)
{
    double diff = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - ref[i];
        /* Abort only on failure: a Check assertion per element logs each
         * one, which makes large tensors slow. */
        if (!isfinite(out[i]))
            ck_abort_msg("%s[%zu] = %g (unwritten or overflow), reference %g",
                         what, i, (double)out[i], ref[i]);
        if (!(fabs(d) <= 1e-4 + 1e-3 * fabs(ref[i])))
            ck_abort_msg("%s[%zu] = %.9g, reference %.9g", what, i,
                         (double)out[i], ref[i]);
        diff += d * d;
        norm += ref[i] * ref[i];
    }
    double rel = norm > 0 ? sqrt(diff / norm) : sqrt(diff);
    ck_assert_msg(rel <= rel_norm, "%s: relative error %.3g exceeds %.3g",
                  what, rel, rel_norm);
}

static char dir_buf[64];
const char *test_dir;

void test_dir_create(void)
{
    snprintf(dir_buf, sizeof dir_buf, "/tmp/cnn-cl-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir_buf));
    test_dir = dir_buf;
}

void test_dir_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", test_dir);
    ck_assert_int_eq(system(cmd), 0);
}

const char *test_path(const char *name)
{
    static char paths[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(paths[k], sizeof paths[k], "%s/%s", test_dir, name);
    return paths[k];
}

TCase *test_simulator_case(void)
{
    TCase *tc = tcase_create(TEST_SIMULATOR);
    tcase_set_tags(tc, TEST_SIMULATOR);
    /* a simulator runs every work-item one by one */
    tcase_set_timeout(tc, 600);
    return tc;
}

int test_run(Suite *s, int fork)
{
    SRunner *sr = srunner_create(s);
    if (!fork)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* Released before main returns: Oclgrind's runtime frees its
     * thread-local state before atexit handlers and destructors run, and an
     * OpenCL call from those then corrupts its heap. */
    if (opened)
        clrt_close(&runtime);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

float *test_random_new(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    test_random(x, n, seed, lo, hi);
    return x;
}

double *test_widen(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

void test_numeric_grad(ref_function f, void *args, double *x, long n,
                       const double *dy, long m, const double *dx,
                       const char *what)
{
    double *y = malloc((size_t)m * sizeof *y), *num = malloc((size_t)n * sizeof *num);
    ck_assert(y && num);
    ref_numeric_grad(f, args, x, n, dy, y, m, 1e-6, num);
    for (long i = 0; i < n; i++)
        ck_assert_msg(fabs(num[i] - dx[i]) < 1e-7, "%s dx[%ld] = %.12g, numeric %.12g",
                      what, i, dx[i], num[i]);
    free(y);
    free(num);
}
