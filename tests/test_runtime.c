/* test_runtime.c: device enumeration, error names, program builds and the
 * ReLU kernels against their reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/activation.h"
#include "testutil.h"

START_TEST(devices_enumerate)
{
    cnn_error err = {0};
    clrt_device *devs;
    int n;
    TEST_OK(clrt_devices(&devs, &n, &err), err);
    ck_assert_int_ge(n, 1);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(devs[i].index, i);
        ck_assert_int_gt(strlen(devs[i].name), 0);
        ck_assert_uint_gt(devs[i].compute_units, 0);
        ck_assert_uint_gt(devs[i].max_work_group, 0);
        ck_assert_msg(strncmp(devs[i].opencl_c_version, "OpenCL C ", 9) == 0,
                      "version '%s'", devs[i].opencl_c_version);
    }
    free(devs);
}
END_TEST

START_TEST(device_index_out_of_range)
{
    cnn_error err = {0};
    clrt_device d;
    ck_assert_int_eq(clrt_device_get(99, &d, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "--device 99 is out of range"));
    ck_assert_ptr_nonnull(strstr(err.msg, "\n  0: "));
}
END_TEST

START_TEST(error_names)
{
    ck_assert_str_eq(clrt_error_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    ck_assert_str_eq(clrt_error_name(CL_INVALID_KERNEL_NAME), "CL_INVALID_KERNEL_NAME");
    cnn_error err = {0};
    ck_assert_int_eq(clrt_fail(&err, "clFinish", CL_OUT_OF_RESOURCES), CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "clFinish failed: CL_OUT_OF_RESOURCES (-5)"));
    ck_assert_ptr_nonnull(strstr(err.msg, "--batch"));
}
END_TEST

START_TEST(broken_kernel_yields_build_log)
{
    cnn_error err = {0};
    cl_program p;
    const char *src = "__kernel void broken(__global float *x) { x[0] = undeclared_name; }";
    ck_assert_int_eq(clrt_build(test_rt(), src, NULL, &p, &err), CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE"));
    ck_assert_msg(strstr(err.msg, "undeclared_name") != NULL,
                  "build log missing from: %s", err.msg);
}
END_TEST

START_TEST(unknown_kernel_is_named)
{
    cnn_error err = {0};
    cl_kernel k;
    ck_assert_int_eq(clrt_kernel(test_rt(), "no_such_kernel", &k, &err), CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "no_such_kernel"));
    ck_assert_ptr_nonnull(strstr(err.msg, "CL_INVALID_KERNEL_NAME"));
}
END_TEST

/* A failure part-way through a list leaves no kernel behind; releasing is
 * safe twice. */
START_TEST(kernels_by_name_all_or_none)
{
    cnn_error err = {0};
    cl_kernel a = NULL, b = NULL, c = NULL;
    const char *names[] = {"relu_forward", "relu_backward", "no_such_kernel"};
    cl_kernel *const out[] = {&a, &b, &c};
    ck_assert_int_eq(clrt_kernels(test_rt(), 3, names, out, &err), CNN_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "no_such_kernel"));
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    TEST_OK(clrt_kernels(test_rt(), 2, names, out, &err), err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    clrt_release_kernel(&a);
    clrt_release_kernel(&b);
    ck_assert_ptr_null(a);
    clrt_release_kernel(&a);
    cl_mem m;
    TEST_OK(clrt_buffer(test_rt(), 64, &m, &err), err);
    clrt_release_mem(&m);
    ck_assert_ptr_null(m);
    clrt_release_mem(&m);
}
END_TEST

/* Kernels from the source built with options: each option string is built
 * once and kept, none means the plain program, and a bad one is named. */
START_TEST(programs_by_build_options)
{
    cnn_error err = {0};
    const char *names[] = {"relu_forward"};
    cl_kernel a = NULL, b = NULL, c = NULL;
    cl_program pa, pb, pc;
    TEST_OK(clrt_kernels_built(test_rt(), "-DCNN_TEST_OPTION=1", 1, names,
                               (cl_kernel *const[]){&a}, &err), err);
    TEST_OK(clrt_kernels_built(test_rt(), "-DCNN_TEST_OPTION=1", 1, names,
                               (cl_kernel *const[]){&b}, &err), err);
    TEST_OK(clrt_kernels_built(test_rt(), "", 1, names, (cl_kernel *const[]){&c}, &err),
            err);
    cl_kernel *const ks[3] = {&a, &b, &c};
    cl_program *const ps[3] = {&pa, &pb, &pc};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(clGetKernelInfo(*ks[i], CL_KERNEL_PROGRAM, sizeof(cl_program), ps[i],
                                         NULL), CL_SUCCESS);
    ck_assert_ptr_eq(pa, pb);
    ck_assert_ptr_ne(pa, pc);
    ck_assert_ptr_eq(pc, test_rt()->program);
    for (int i = 0; i < 3; i++)
        clrt_release_kernel(ks[i]);
    ck_assert_int_eq(clrt_kernels_built(test_rt(), "-Dfloat=no_such_type", 1, names,
                                        (cl_kernel *const[]){&a}, &err), CNN_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "kernels built with '-Dfloat=no_such_type'"), "%s", err.msg);
    ck_assert_ptr_null(a);
}
END_TEST

START_TEST(sub_buffers_view_their_parent)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    size_t align = clrt_align(rt), n = align / sizeof(float) * 2 + 7;
    float *host = malloc(n * sizeof *host), back[7];
    test_random(host, n, 3, -1, 1);
    cl_mem parent = test_upload(host, n), view;
    TEST_OK(clrt_sub_buffer(parent, 2 * align, 7 * sizeof(float), &view, &err), err);
    test_download(view, back, 7);
    ck_assert_mem_eq(back, host + 2 * align / sizeof(float), sizeof back);
    clReleaseMemObject(view);
    clReleaseMemObject(parent);
    free(host);
}
END_TEST

/* ReLU forward and backward against the reference on an odd length. */
START_TEST(relu_matches_reference)
{
    const clrt *rt = test_rt();
    cnn_error err = {0};
    const int n = 1031;
    float x[1031], dy[1031], y[1031], dx[1031];
    double xd[1031], dyd[1031], yr[1031], dxr[1031];
    test_random(x, n, 1, -2, 2);
    test_random(dy, n, 2, -1, 1);
    for (int i = 0; i < n; i++) {
        xd[i] = x[i];
        dyd[i] = dy[i];
    }
    ref_relu_forward(xd, yr, n);
    ref_relu_backward(yr, dyd, dxr, n);

    cl_kernel fwd, bwd;
    TEST_OK(clrt_kernel(rt, "relu_forward", &fwd, &err), err);
    TEST_OK(clrt_kernel(rt, "relu_backward", &bwd, &err), err);
    cl_mem bx = test_upload(x, n), bdy = test_upload(dy, n);
    cl_mem by = test_poisoned(n), bdx = test_poisoned(n);
    size_t global = (size_t)n, local = 64;
    TEST_OK(clrt_set_args(fwd, &err, 3, sizeof bx, &bx, sizeof by, &by,
                          sizeof n, &n), err);
    TEST_OK(clrt_launch(rt, fwd, 1, &global, &local, NULL, &err), err);
    TEST_OK(clrt_set_args(bwd, &err, 4, sizeof by, &by, sizeof bdy, &bdy,
                          sizeof bdx, &bdx, sizeof n, &n), err);
    TEST_OK(clrt_launch(rt, bwd, 1, &global, &local, NULL, &err), err);
    test_download(by, y, n);
    test_download(bdx, dx, n);
    test_close("relu y", y, yr, n, TEST_TOL_FORWARD);
    test_close("relu dx", dx, dxr, n, TEST_TOL_GRAD);
    clReleaseMemObject(bx);
    clReleaseMemObject(bdy);
    clReleaseMemObject(by);
    clReleaseMemObject(bdx);
    clReleaseKernel(fwd);
    clReleaseKernel(bwd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, devices_enumerate);
    tcase_add_test(tc, device_index_out_of_range);
    tcase_add_test(tc, error_names);
    tcase_add_test(tc, broken_kernel_yields_build_log);
    tcase_add_test(tc, unknown_kernel_is_named);
    tcase_add_test(tc, kernels_by_name_all_or_none);
    tcase_add_test(tc, programs_by_build_options);
    tcase_add_test(tc, sub_buffers_view_their_parent);
    tcase_add_test(tc, relu_matches_reference);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
