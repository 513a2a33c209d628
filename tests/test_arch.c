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

/* Blocks nest; each one's two ends carry its name, counted in the order
 * blocks open, and the layers inside are counted with the rest. */
START_TEST(blocks_nest_and_name_their_layers)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse("conv4k3same-res[conv4k3same-res[conv4k3same]-conv8k3s2same-bn]-relu-"
                       "res[relu]-gap-fc10", mnist, 10, &a, &err), err);
    const char *names[] = {"conv1", "res1", "conv2", "res2", "conv3", "res2", "conv4",
                           "bn1",   "res1", "relu1", "res3", "relu2", "res3", "gap1", "fc1"};
    ck_assert_int_eq(a.count, 15);
    for (int i = 0; i < a.count; i++)
        ck_assert_str_eq(a.layers[i].name, names[i]);
    const arch_layer *outer = &a.layers[8], *inner = &a.layers[5];
    ck_assert(outer->kind->flags & LAYER_BLOCK_END);
    ck_assert(a.layers[1].kind->flags & LAYER_BLOCK_BEGIN);
    ck_assert_int_eq(outer->pair, 1);
    ck_assert_int_eq(a.layers[1].pair, 8);
    ck_assert_int_eq(inner->pair, 3);
    /* the outer block projects 4 -> 8 channels at stride 2, with batch norm */
    ck_assert_int_eq(outer->units, 8);
    ck_assert_int_eq(outer->chain_stride, 2);
    ck_assert_int_eq(outer->chain_norm, 1);
    ck_assert_int_eq(outer->out.h, 14);
    ck_assert_int_eq(outer->skip.c, 4);
    ck_assert_str_eq(outer->token, "res[conv4k3same-res[conv4k3...]");
    /* the inner one and the last are identities */
    ck_assert_int_eq(inner->units, 0);
    ck_assert_int_eq(inner->chain_norm, 0);
    ck_assert_int_eq(a.layers[12].units, 0);
    ck_assert_str_eq(a.layers[12].token, "res[relu]");
    /* blocks on flat features project too: a 1x1 convolution of 1x1 */
    TEST_OK(arch_parse("flatten-fc8-res[fc4-relu]-fc10", mnist, 10, &a, &err), err);
    ck_assert_int_eq(a.layers[5].units, 4);
    ck_assert_int_eq(a.layers[5].skip.c, 8);
}
END_TEST

START_TEST(bad_blocks_name_the_block)
{
    expect_bad("res[conv8k3same-flatten-fc10", "block res1 is never closed: end it with ']'");
    expect_bad("conv8k3]-flatten-fc10", "a ']' closes no block");
    expect_bad("res[conv8k3same]]-flatten-fc10", "a ']' closes no block");
    expect_bad("res[]-flatten-fc10", "block res1 'res[]' is empty");
    expect_bad("res[conv8k3]-flatten-fc10",
               "block res1 'res[conv8k3]' turns its 28x28 input into 26x26, but its "
               "shortcut, a 1x1 convolution at the chain's stride 1, gives 28x28");
    expect_bad("conv2k3same-res[pool3]-flatten-fc10",
               "block res1 'res[pool3]' turns its 28x28 input into 9x9");
    expect_bad("res[flatten-fc10]-fc10", "block res1 'res[flatten-fc10]': 'flatten' makes "
               "its chain flat, but its shortcut (a 1x1 convolution) keeps the input's 1x28x28");
    expect_bad("res[res[gap]]-fc10", "block res2 'res[gap]': 'gap' makes its chain flat");
    expect_bad("res3-flatten-fc10", "'res3' is not res[<TOKENS>]");
    expect_bad("res[conv8k3same]conv8k3-flatten-fc10",
               "'res[conv8k3same]' is followed by 'c'");
    expect_bad("res[conv8k3same-]-flatten-fc10", "empty token before ']'");
    expect_bad("res[conv8k3same]-flatten-res[fc10]", "the last layer 'res[fc10]' must be fc10");
}
END_TEST

/* A group is its tokens written out N times: the same layers, names and
 * shapes as the spec written out by hand, which the network keeps as
 * written. */
START_TEST(groups_write_out_their_tokens)
{
    const char *grouped = "conv8k3same-bn-relu-(res[conv8k3same-bn-relu-conv8k3same-bn]-relu)x2-"
                          "(res[conv16k3s2same-bn]-relu-(res[conv16k3same]-relu)x1)x2-gap-fc10";
    const char *written = "conv8k3same-bn-relu-res[conv8k3same-bn-relu-conv8k3same-bn]-relu-"
                          "res[conv8k3same-bn-relu-conv8k3same-bn]-relu-"
                          "res[conv16k3s2same-bn]-relu-res[conv16k3same]-relu-"
                          "res[conv16k3s2same-bn]-relu-res[conv16k3same]-relu-gap-fc10";
    static arch a, b;
    cnn_error err = {0};
    TEST_OK(arch_parse(grouped, mnist, 10, &a, &err), err);
    TEST_OK(arch_parse(written, mnist, 10, &b, &err), err);
    ck_assert_str_eq(a.spec, grouped);
    ck_assert_int_eq(a.count, 39);
    ck_assert_int_eq(a.count, b.count);
    for (int i = 0; i < a.count; i++) {
        ck_assert_str_eq(a.layers[i].name, b.layers[i].name);
        ck_assert_str_eq(a.layers[i].token, b.layers[i].token);
        ck_assert_int_eq(a.layers[i].pair, b.layers[i].pair);
        ck_assert_int_eq(a.layers[i].out.c, b.layers[i].out.c);
        ck_assert_int_eq(a.layers[i].out.h, b.layers[i].out.h);
    }
    ck_assert_str_eq(a.layers[a.count - 4].name, "res6");
    ck_assert_int_eq(a.layers[a.count - 4].out.h, 7);
    /* groups nest, inside blocks too */
    TEST_OK(arch_parse("res[(conv4k3same)x2]-((relu)x2-bn)x3-gap-fc10", mnist, 10, &a, &err),
            err);
    ck_assert_int_eq(a.count, 15);
    ck_assert_str_eq(a.layers[2].name, "conv2");
    ck_assert_str_eq(a.layers[12].name, "bn3");
}
END_TEST

START_TEST(bad_groups_name_the_fault)
{
    const char *form = "is not (TOKENS)x<N>, N from 1 to 128";
    expect_bad("conv4k3(relu)x2-flatten-fc10", "a group starts inside a token");
    expect_bad("(conv4k3-flatten-fc10", "a group is never closed");
    expect_bad("conv4k3)x2-flatten-fc10", "a ')' closes no group");
    expect_bad("()x2-flatten-fc10", form);
    expect_bad("(relu)x0-flatten-fc10", form);
    expect_bad("(relu)-flatten-fc10", form);
    expect_bad("(relu)x-flatten-fc10", form);
    expect_bad("(relu)x2relu-flatten-fc10", form);
    expect_bad("(relu)x129-flatten-fc10", form);
    expect_bad("(relu)x99999999999999999999-flatten-fc10", form);
    /* the written-out spec is bounded, however deep the groups */
    expect_bad("((((((((conv2k1)x9)x9)x9)x9)x9)x9)x9)x9-flatten-fc10",
               "has more than 128 layers, or an overlong token, when its groups are "
               "written out");
    expect_bad("(conv2k1)x100-(conv2k1)x100-flatten-fc10", "more than 128 layers");
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
    tcase_add_test(tc, blocks_nest_and_name_their_layers);
    tcase_add_test(tc, bad_blocks_name_the_block);
    tcase_add_test(tc, groups_write_out_their_tokens);
    tcase_add_test(tc, bad_groups_name_the_fault);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
