/* test_arch.c: architecture specs, good and bad, and their shapes. */
#include <string.h>

#include "nn/arch.h"
#include "testutil.h"

static const arch_shape mnist = {1, 28, 28};

START_TEST(reference_model_shapes)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse(ARCH_DEFAULT, mnist, 10, &a, &err), err);
    ck_assert_int_eq(a.count, 9);
    const int c[] = {32, 32, 32, 64, 64, 7744, 64, 64, 10};
    const int h[] = {26, 26, 13, 11, 11, 1, 1, 1, 1};
    for (int i = 0; i < a.count; i++) {
        ck_assert_int_eq(a.layers[i].out.c, c[i]);
        ck_assert_int_eq(a.layers[i].out.h, h[i]);
        ck_assert_int_eq(a.layers[i].out.w, h[i]);
    }
    ck_assert_int_eq(a.layers[0].k, 3);
    /* each layer is its kind's prefix and a count within the kind */
    const char *names[] = {"conv1", "relu1", "pool1", "conv2", "relu2", "flatten1",
                           "fc1", "relu3", "fc2"};
    for (int i = 0; i < a.count; i++) {
        ck_assert_str_eq(a.layers[i].name, names[i]);
        ck_assert(!strncmp(a.layers[i].token, a.layers[i].kind->prefix,
                           strlen(a.layers[i].kind->prefix)));
    }
}
END_TEST

START_TEST(odd_sizes_floor_when_pooling)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse("conv8k5-pool2-pool2-flatten-fc3", (arch_shape){3, 27, 27}, 3, &a, &err), err);
    ck_assert_int_eq(a.layers[1].out.h, 11);
    ck_assert_int_eq(a.layers[2].out.h, 5);
    ck_assert_int_eq(a.layers[3].out.c, 8 * 5 * 5);
}
END_TEST

static void expect_bad(const char *spec, const char *needle)
{
    arch a;
    cnn_error err = {0};
    ck_assert_int_eq(arch_parse(spec, mnist, 10, &a, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, needle), "'%s': '%s' not in: %s", spec, needle, err.msg);
}

START_TEST(bad_specs_name_token_and_reason)
{
    expect_bad("conv32k3-tanh-flatten-fc10", "unknown token 'tanh'");
    expect_bad("conv32-flatten-fc10", "'conv32' is not conv<F>k<K>");
    expect_bad("conv0k3-flatten-fc10", "'conv0k3'");
    expect_bad("fcX", "'fcX' is not fc<N>");
    expect_bad("conv8k29-flatten-fc10", "'conv8k29': a 29x29 kernel is larger than its 28x28 input");
    expect_bad("pool2-pool2-pool2-pool2-pool2-flatten-fc10", "'pool2': cannot pool a 1x1 input");
    expect_bad("conv8k3-fc10", "'fc10' needs a flat input");
    expect_bad("flatten-conv8k3-fc10", "'conv8k3' cannot follow a flat layer");
    expect_bad("conv8k3-flatten-fc12", "'fc12' has 12 outputs but the data has 10 classes");
    expect_bad("conv8k3-flatten", "the last layer 'flatten' must be fc10");
    expect_bad("", "empty");
    expect_bad("conv8k3--flatten-fc10", "empty or overlong token");
    expect_bad("flatten-fc10-", "ends with '-'");
    expect_bad("relux-flatten-fc10", "'relux' is not relu");
    expect_bad("flatten2-fc10", "'flatten2' is not flatten");
    expect_bad("flatten-fc10-conv3k1", "'conv3k1' cannot follow a flat layer");
}
END_TEST

/* A class count the caller can explain leads the message: it may be the
 * fault (a corrupted label), not the spec. */
START_TEST(class_mismatch_names_the_counts_origin)
{
    const char *from = "d/train-labels-idx1-ubyte: label 200 at index 1234 implies 201 "
                       "classes";
    arch a;
    cnn_error err = {0};
    ck_assert_int_eq(arch_parse_from("conv8k3-flatten-fc10", mnist, 201, from, &a, &err),
                     CNN_ERR_INPUT);
    ck_assert_str_eq(err.msg, "d/train-labels-idx1-ubyte: label 200 at index 1234 implies "
                     "201 classes, but the last layer 'fc10' has 10 outputs; if the data "
                     "is right, end --arch with fc201");
    ck_assert_int_eq(arch_parse_from("conv8k3-flatten", mnist, 201, from, &a, &err),
                     CNN_ERR_INPUT);
    ck_assert_str_eq(err.msg, "--arch: the last layer 'flatten' must be fc201 (the class "
                     "scores; d/train-labels-idx1-ubyte: label 200 at index 1234 implies "
                     "201 classes)");
    TEST_OK(arch_parse_from("conv8k3-flatten-fc201", mnist, 201, from, &a, &err), err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arch");
    TCase *tc = tcase_create("arch");
    tcase_add_test(tc, reference_model_shapes);
    tcase_add_test(tc, odd_sizes_floor_when_pooling);
    tcase_add_test(tc, bad_specs_name_token_and_reason);
    tcase_add_test(tc, class_mismatch_names_the_counts_origin);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
