/* test_onnx_import.c: ONNX models built here with the export's graph
 * builder, as other tools write them, imported without a device: the arch
 * each chain becomes (PyTorch's unpadded and padded Conv, Keras' 'same',
 * Gemm with and without transB, MatMul and its Add, residual blocks), the
 * tensors' values in cnn-cl's layout, the input statistics, and the
 * refusals, each naming the node. The round trip through export is in
 * test_cli.sh. */
#include <stdlib.h>
#include <string.h>

#include "interop/onnx_graph.h"
#include "interop/onnx_import.h"
#include "testutil.h"

static const float k255 = 255.0f;

/* A graph of one 1x6x6 input, divided by 255; *x is its value. */
static onnx_graph *start(const char **x, int c)
{
    onnx_graph *g;
    cnn_error err = {0};
    TEST_OK(onnx_graph_create(&g, "test", "1", &err), err);
    const int dims[] = {c, 6, 6};
    const char *div[] = {onnx_graph_input(g, "x", 3, dims),
                         onnx_graph_tensor(g, "k", 0, NULL, &k255)};
    *x = onnx_graph_node(g, "Div", "scaled", div, 2, NULL, 0);
    return g;
}

/* A float tensor of the shape, its element j = base + j. */
static const char *tensor(onnx_graph *g, const char *name, int ndim, const int *dims,
                          float base)
{
    float data[4096];
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)dims[d];
    for (size_t j = 0; j < n; j++)
        data[j] = base + (float)j;
    return onnx_graph_tensor(g, name, ndim, dims, data);
}

/* Writes g with output x of `classes`, imports it; the status. */
static cnn_status import(onnx_graph *g, const char *x, int classes, onnx_model **m,
                         cnn_error *err)
{
    const char *path = test_path("m.onnx");
    onnx_graph_output(g, x, 1, &classes);
    TEST_OK(onnx_graph_write(g, path, err), *err);
    onnx_graph_free(g);
    return onnx_import_read(path, m, err);
}

static const float *find(const onnx_model *m, const char *name)
{
    for (int i = 0; i < m->count; i++)
        if (!strcmp(m->tensors[i].name, name))
            return m->tensors[i].data;
    ck_abort_msg("no tensor %s", name);
    return NULL;
}

/* PyTorch's shapes: Conv with symmetric pads and without bias, MaxPool,
 * Flatten, Gemm with transB 0, MatMul then Add, LogSoftmax. */
START_TEST(pytorch_chain)
{
    const char *x;
    onnx_graph *g = start(&x, 1);
    const int w[] = {2, 1, 3, 3}, b1[] = {8, 5}, b2[] = {5, 3}, bias[] = {3};
    const onnx_attr conv[] = {ONNX_INTS("kernel_shape", 3, 3), ONNX_INTS("pads", 1, 1, 1, 1),
                              ONNX_INTS("strides", 1, 1), ONNX_INTS("dilations", 1, 1),
                              ONNX_INT("group", 1)};
    const char *c[] = {x, tensor(g, "w", 4, w, 0)};
    x = onnx_graph_node(g, "Conv", "c", c, 2, conv, 5);
    x = onnx_graph_node(g, "Relu", "r", &x, 1, NULL, 0);
    const onnx_attr pool[] = {ONNX_INTS("kernel_shape", 3, 3), ONNX_INTS("strides", 3, 3)};
    x = onnx_graph_node(g, "MaxPool", "p", &x, 1, pool, 2);
    x = onnx_graph_node(g, "Flatten", "f", &x, 1, NULL, 0);
    const char *gemm[] = {x, tensor(g, "g", 2, b1, 0)};
    x = onnx_graph_node(g, "Gemm", "fc", gemm, 2, NULL, 0);
    const char *mm[] = {x, tensor(g, "mm", 2, b2, 0)};
    x = onnx_graph_node(g, "MatMul", "mm", mm, 2, NULL, 0);
    const char *add[] = {x, tensor(g, "bias", 1, bias, 7)};
    x = onnx_graph_node(g, "Add", "add", add, 2, NULL, 0);
    x = onnx_graph_node(g, "LogSoftmax", "out", &x, 1, NULL, 0);
    onnx_model *m;
    cnn_error err = {0};
    TEST_OK(import(g, x, 3, &m, &err), err);
    ck_assert_str_eq(m->a.spec, "conv2k3p1-relu-pool3-flatten-fc5-fc3");
    ck_assert_int_eq(m->count, 6);
    ck_assert_int_eq(m->norm.channels, 0);
    ck_assert(find(m, "conv1.weight")[17] == 17.0f);
    for (int i = 0; i < 2; i++)
        ck_assert(find(m, "conv1.bias")[i] == 0.0f);
    /* (in, out) transposed to cnn-cl's (out, in): element (o, i) = i * out + o */
    const float *fc1 = find(m, "fc1.weight"), *fc2 = find(m, "fc2.weight");
    ck_assert(fc1[1 * 8 + 3] == (float)(3 * 5 + 1));
    ck_assert(fc2[2 * 5 + 4] == (float)(4 * 3 + 2));
    ck_assert(find(m, "fc2.bias")[2] == 9.0f);
    ck_assert(find(m, "fc1.bias")[4] == 0.0f);
    onnx_model_free(m);
}
END_TEST

/* Flatten, then a Gemm (transB=1) of zero weights of shape fc (classes,
 * features): the tail every test graph ends with. */
static const char *classifier(onnx_graph *g, const char *x, const int *fc)
{
    x = onnx_graph_node(g, "Flatten", "f", &x, 1, NULL, 0);
    const onnx_attr trans_b = ONNX_INT("transB", 1);
    const char *gemm[] = {x, tensor(g, "g", 2, fc, 0)};
    return onnx_graph_node(g, "Gemm", "fc", gemm, 2, &trans_b, 1);
}

/* Keras' 'same' pads put the odd row and column after; the statistics of
 * a Sub and Div after the Div by 255; an identity residual block. */
START_TEST(same_padding_statistics_and_blocks)
{
    const char *x;
    onnx_graph *g = start(&x, 2);
    const int ch[] = {2, 1, 1}, w[] = {2, 2, 2, 2}, fc[] = {3, 50};
    const char *sub[] = {x, tensor(g, "mean", 3, ch, 1)};
    x = onnx_graph_node(g, "Sub", "sub", sub, 2, NULL, 0);
    const char *div[] = {x, tensor(g, "std", 3, ch, 3)};
    const char *in = x = onnx_graph_node(g, "Div", "div", div, 2, NULL, 0);
    const onnx_attr same[] = {ONNX_INTS("kernel_shape", 2, 2), ONNX_INTS("pads", 0, 0, 1, 1)};
    const char *c[] = {x, tensor(g, "w", 4, w, 0), tensor(g, "b", 1, ch, 5)};
    x = onnx_graph_node(g, "Conv", "c", c, 3, same, 2);
    const char *res[] = {in, x};
    x = onnx_graph_node(g, "Add", "res", res, 2, NULL, 0);
    const onnx_attr pool[] = {ONNX_INTS("kernel_shape", 2, 2)};
    x = onnx_graph_node(g, "AveragePool", "p", &x, 1, pool, 1);
    x = classifier(g, x, fc);
    onnx_model *m;
    cnn_error err = {0};
    TEST_OK(import(g, x, 3, &m, &err), err);
    ck_assert_str_eq(m->a.spec, "res[conv2k2same]-avgpool2s1-flatten-fc3");
    ck_assert_int_eq(m->norm.channels, 2);
    ck_assert(m->norm.mean[1] == 2.0f && m->norm.std[0] == 3.0f && m->norm.std[1] == 4.0f);
    ck_assert(find(m, "conv1.bias")[1] == 6.0f);
    ck_assert(find(m, "fc1.weight")[20] == 20.0f); /* transB 1: as it is */
    onnx_model_free(m);
}
END_TEST

/* One node of a graph that cnn-cl cannot take; the import's message. */
static void refused(const char *op, const onnx_attr *attrs, int nattrs, int weight,
                    const char *want)
{
    const char *x;
    onnx_graph *g = start(&x, 1);
    const int w[] = {2, 1, 3, 3}, fc[] = {2, 72};
    const char *in[] = {x, weight ? tensor(g, "w", 4, w, 0) : NULL};
    x = onnx_graph_node(g, op, "bad", in, weight ? 2 : 1, attrs, nattrs);
    x = classifier(g, x, fc);
    onnx_model *m = NULL;
    cnn_error err = {0};
    ck_assert_int_eq(import(g, x, 2, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, want), "%s: %s", op, err.msg);
    ck_assert_ptr_null(m);
}

START_TEST(refusals_name_the_node)
{
    refused("Sigmoid", NULL, 0, 0, "node 'bad' (Sigmoid): op Sigmoid is not one cnn-cl imports");
    const onnx_attr odd[] = {ONNX_INTS("kernel_shape", 3, 3), ONNX_INTS("pads", 1, 0, 1, 2)};
    refused("Conv", odd, 2, 1, "node 'bad' (Conv): pads [1, 0, 1, 2] are neither");
    const onnx_attr dil[] = {ONNX_INTS("kernel_shape", 3, 3), ONNX_INTS("pads", 1, 1, 1, 1),
                             ONNX_INTS("dilations", 2, 2)};
    refused("Conv", dil, 3, 1, "dilations other than 1 are not supported");
}
END_TEST

/* The graph must start by dividing the pixels by 255. */
START_TEST(input_must_be_pixels_over_255)
{
    onnx_graph *g;
    cnn_error err = {0};
    TEST_OK(onnx_graph_create(&g, "test", "1", &err), err);
    const int dims[] = {1, 6, 6}, fc[] = {2, 36};
    const char *x = onnx_graph_input(g, "x", 3, dims);
    x = classifier(g, x, fc);
    onnx_model *m = NULL;
    ck_assert_int_eq(import(g, x, 2, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "node 'f' (Flatten): the graph must start with a Div of "
                         "its input by 255"), "%s", err.msg);
    const float half = 0.5f;
    TEST_OK(onnx_graph_create(&g, "test", "1", &err), err);
    const char *mul[] = {onnx_graph_input(g, "x", 3, dims), onnx_graph_tensor(g, "h", 0, NULL, &half)};
    x = onnx_graph_node(g, "Mul", "m", mul, 2, NULL, 0);
    ck_assert_int_eq(import(g, x, 2, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "node 'm' (Mul): cnn-cl scales its input as x / 255"),
                  "%s", err.msg);
}
END_TEST

/* BatchNormalization with ONNX's default epsilon, 1e-5, is not cnn-cl's. */
START_TEST(batchnorm_epsilon_must_match)
{
    const char *x;
    onnx_graph *g = start(&x, 1);
    const int c[] = {1}, fc[] = {2, 36};
    const char *bn[] = {x, tensor(g, "s", 1, c, 1), tensor(g, "b", 1, c, 0),
                        tensor(g, "m", 1, c, 0), tensor(g, "v", 1, c, 1)};
    x = onnx_graph_node(g, "BatchNormalization", "bn", bn, 5, NULL, 0);
    x = classifier(g, x, fc);
    onnx_model *m = NULL;
    cnn_error err = {0};
    ck_assert_int_eq(import(g, x, 2, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "node 'bn' (BatchNormalization): epsilon is 1e-05; "
                         "cnn-cl's batch norm adds 0.001"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_import");
    TCase *tc = tcase_create("onnx_import");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, pytorch_chain);
    tcase_add_test(tc, same_padding_statistics_and_blocks);
    tcase_add_test(tc, refusals_name_the_node);
    tcase_add_test(tc, input_must_be_pixels_over_255);
    tcase_add_test(tc, batchnorm_epsilon_must_match);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
