/* testutil: what the Check suites share — one OpenCL runtime per process,
 * seeded random data, poisoned outputs, and comparison against a
 * double-precision reference with the project's stated tolerances. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/clrt.h"
#include "ref/activation.h"

/* What a test binary, its own command line, takes from the environment:
 * the device under test ($CNN_CL_DEVICE, else 0; anything but an index
 * fails the calling test) and the kernels' folder ($CNN_CL_KERNELS, else
 * NULL: the embedded kernels). */
int test_device(void);
const char *test_kernels(void);

/* The device under test with test_kernels(), opened once; a failure fails
 * the calling test with the runtime's message. */
const clrt *test_rt(void);

/* Fails the current test with err's message when st is not CNN_OK. */
#define TEST_OK(st, err) \
    ck_assert_msg((st) == CNN_OK, "%s", (err).msg)

/* Uniform floats in [lo, hi) from a seeded generator. */
void test_random(float *x, size_t n, uint64_t seed, float lo, float hi);

/* A malloc'd array of n uniform floats in [lo, hi), and a malloc'd double
 * copy of n floats: inputs for a kernel and its reference. */
float *test_random_new(size_t n, uint64_t seed, float lo, float hi);
double *test_widen(const float *x, size_t n);

/* Asserts that dx, a reference backward pass's input gradient given dy,
 * matches central differences (step 1e-6) of its forward pass f, within
 * 1e-7 per element. x is n values (perturbed and restored), f gives m. */
void test_numeric_grad(ref_function f, void *args, double *x, long n,
                       const double *dy, long m, const double *dx,
                       const char *what);

/* A device buffer holding x; a device buffer of n floats set to NaN, so an
 * element a kernel fails to write shows up. */
cl_mem test_upload(const float *x, size_t n);
cl_mem test_poisoned(size_t n);
void test_download(cl_mem buf, float *x, size_t n);

/* Asserts that kernel k's program was built with `options` after the
 * runtime's own (as a variant's row says); `what` names it in failures. */
void test_built_with(cl_kernel k, const char *options, const char *what);

/* Asserts ||out - ref|| / ||ref|| <= rel_norm and, per element,
 * |out - ref| <= 1e-4 + 1e-3 |ref|. `what` names the tensor in failures. */
void test_close(const char *what, const float *out, const double *ref,
                size_t n, double rel_norm);

/* Forward and gradient tolerances of the norm check. */
#define TEST_TOL_FORWARD 1e-5
#define TEST_TOL_GRAD 1e-4

/* A fresh folder under /tmp for each test of a TCase that adds the fixture
 * pair test_dir_create, test_dir_remove; test_path names a file in it (the
 * last four results stay valid). */
extern const char *test_dir;
void test_dir_create(void);
void test_dir_remove(void);
const char *test_path(const char *name);

/* A TCase of tests sized for a simulated device, tagged TEST_SIMULATOR: the
 * oclgrind suite runs only those of the suites too slow there whole
 * (CK_INCLUDE_TAGS); the default suites run them as any other. */
#define TEST_SIMULATOR "simulator"
TCase *test_simulator_case(void);

/* Runs a suite; returns the process exit status. Device suites run without
 * forking, since an OpenCL context does not survive fork. */
int test_run(Suite *s, int fork);

#endif
