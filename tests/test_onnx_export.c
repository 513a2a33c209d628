/* test_onnx_export.c: the ONNX export without a device — checkpoints
 * written here as safetensors, exported, and the model read back through
 * the same generated protobuf-c code: the versions, input and output, the
 * input's scaling, every kind's nodes and attributes (Keras' 'same'
 * padding as explicit pads, cnn-cl's batch norm epsilon, the dense layer's
 * transposed weight, dropout left out), the residual shortcuts, the
 * tensors' values and the metadata; and the failures. The interop suite
 * runs exported models in other runtimes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "interop/onnx_export.h"
#include "onnx.pb-c.h"
#include "testutil.h"

/* Tensor i of a checkpoint holds value(i, j) at j: each tensor and
 * element its own. */
static float value(int i, size_t j) { return (float)(i + 1) + 0.001f * (float)j; }

/* Writes a checkpoint of spec for inputs of shape `in` and 4 classes, with
 * the input statistics `norm` (channels 0: none) and without the tensor
 * `drop` (NULL: every one). */
static void write_checkpoint(const char *path, const char *spec, arch_shape in,
                             const norm_stats *norm, const char *drop)
{
    arch a;
    cnn_error err = {0};
    TEST_OK(arch_parse(spec, in, 4, &a, &err), err);
    st_tensor t[NET_MAX_TENSORS];
    char names[NET_MAX_TENSORS][32];
    layer_param decl[NET_MAX_TENSORS];
    float *data[NET_MAX_TENSORS];
    int n = 0;
    for (int i = 0; i < a.count; i++) {
        const arch_layer *l = &a.layers[i];
        layer_param d[LAYER_MAX_PARAMS];
        int np = l->kind->params ? l->kind->params(l, d) : 0;
        for (int p = 0; p < np; p++) {
            decl[n] = d[p];
            snprintf(names[n], sizeof names[n], "%s.%s", l->name, d[p].what);
            if (drop && !strcmp(names[n], drop))
                continue;
            size_t count = 1;
            for (int k = 0; k < d[p].ndim; k++)
                count *= (size_t)d[p].shape[k];
            data[n] = malloc(count * sizeof *data[n]);
            for (size_t j = 0; j < count; j++)
                data[n][j] = value(n, j);
            /* the shape stays in decl[n], which outlives the loop */
            t[n] = (st_tensor){.name = names[n], .ndim = decl[n].ndim,
                               .shape = decl[n].shape, .data = data[n]};
            n++;
        }
    }
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", in.c, in.h, in.w);
    const char *const keys[][2] = {
        {"format", "cnn-cl"}, {"format_version", "2"}, {"arch", spec}, {"input", shape},
        {"classes", "4"}, {"epoch", "1"}, {"batch", "0"}, {"step", "1"}, {"seed", "1"},
        {"samples", "8"}, {"batch_size", "8"}, {"lr", "0.001"}, {"variants", ""},
        {"epoch_loss_sum", "0"}, {"epoch_correct", "0"}, {"epoch_seconds", "0"}};
    st_meta m[18];
    int k = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++, k++) {
        snprintf(m[k].key, sizeof m[k].key, "%s", keys[i][0]);
        snprintf(m[k].value, sizeof m[k].value, "%s", keys[i][1]);
    }
    if (norm->channels) {
        snprintf(m[k].key, sizeof m[k].key, "normalize_mean");
        norm_format(norm->mean, norm->channels, m[k++].value, sizeof m[0].value);
        snprintf(m[k].key, sizeof m[k].key, "normalize_std");
        norm_format(norm->std, norm->channels, m[k++].value, sizeof m[0].value);
    }
    TEST_OK(st_write(path, t, n, m, k, &err), err);
    for (int i = 0; i < n; i++)
        free(data[i]);
}

static const norm_stats no_norm = {0};

/* The whole file at path, malloc'd, its length into *len. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static const size_t most = 1 << 20;
    uint8_t *buf = malloc(most);
    *len = fread(buf, 1, most, f);
    fclose(f);
    ck_assert(*len > 0 && *len < most);
    return buf;
}

/* Exports spec's checkpoint (write_checkpoint) and reads the model back. */
static Onnx__ModelProto *exported(const char *spec, arch_shape in, const norm_stats *norm)
{
    const char *model = test_path("m.safetensors"), *path = test_path("m.onnx");
    write_checkpoint(model, spec, in, norm, NULL);
    checkpoint_meta meta;
    cnn_error err = {0};
    TEST_OK(onnx_export_checkpoint(model, path, &meta, &err), err);
    size_t len;
    uint8_t *buf = read_file(path, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    ck_assert_msg(m != NULL, "%s does not parse as an ONNX model", path);
    return m;
}

/* The op types of the graph's nodes, joined by spaces. */
static const char *ops(const Onnx__ModelProto *m)
{
    static char text[1024];
    text[0] = '\0';
    for (size_t i = 0; i < m->graph->n_node; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " " : "",
                 m->graph->node[i]->op_type);
    return text;
}

static const Onnx__NodeProto *node(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_node; i++)
        if (!strcmp(m->graph->node[i]->output[0], name))
            return m->graph->node[i];
    ck_abort_msg("no node gives '%s'", name);
    return NULL;
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

/* Asserts that n's attribute `name` is the ints want[0 .. count). */
static void assert_ints(const Onnx__NodeProto *n, const char *name, int count,
                        const int64_t *want)
{
    const Onnx__AttributeProto *a = attr(n, name);
    ck_assert_msg(a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS &&
                  a->n_ints == (size_t)count, "%s: %s", n->name, name);
    for (int i = 0; i < count; i++)
        ck_assert_msg(a->ints[i] == want[i], "%s: %s[%d] is %lld, not %lld", n->name, name,
                      i, (long long)a->ints[i], (long long)want[i]);
}

static void assert_int(const Onnx__NodeProto *n, const char *name, int64_t want)
{
    const Onnx__AttributeProto *a = attr(n, name);
    ck_assert_msg(a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT && a->i == want,
                  "%s: %s is not %lld", n->name, name, (long long)want);
}

static const Onnx__TensorProto *initializer(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (!strcmp(m->graph->initializer[i]->name, name))
            return m->graph->initializer[i];
    ck_abort_msg("no initializer '%s'", name);
    return NULL;
}

static const char *meta(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!strcmp(m->metadata_props[i]->key, key))
            return m->metadata_props[i]->value;
    return NULL;
}

/* Asserts that the value v is float (N, d[0], ..., d[n - 1]), N symbolic. */
static void assert_batch_shape(const Onnx__ValueInfoProto *v, int n, const int *d)
{
    const Onnx__TypeProto__Tensor *t = v->type->tensor_type;
    ck_assert_int_eq(t->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    ck_assert_int_eq(t->shape->n_dim, n + 1);
    ck_assert_str_eq(t->shape->dim[0]->dim_param, "N");
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(t->shape->dim[i + 1]->dim_value, d[i]);
}

#define EVERY_KIND "conv3k3s2same-bn-relu-drop0.5-pool2s1-avgpool2s1-flatten-fc5-relu-fc4"

START_TEST(every_row_exports)
{
    for (int i = 0; i < layer_kind_count; i++)
        ck_assert_msg(layer_kinds[i]->onnx, "row '%s' has no onnx", layer_kinds[i]->prefix);
}
END_TEST

/* Versions, the input (x / 255), the output, the metadata; every kind. */
START_TEST(model_holds_every_kind)
{
    Onnx__ModelProto *m = exported(EVERY_KIND, (arch_shape){2, 8, 8}, &no_norm);
    ck_assert_int_eq(m->ir_version, 7);
    ck_assert_int_eq(m->n_opset_import, 1);
    ck_assert_int_eq(m->opset_import[0]->version, 13);
    ck_assert_str_eq(m->producer_name, "cnn-cl");
    ck_assert_str_eq(meta(m, "cnn_cl.arch"), EVERY_KIND);
    ck_assert_str_eq(meta(m, "cnn_cl.classes"), "4");
    ck_assert_str_eq(meta(m, "cnn_cl.version"), CNN_CL_VERSION);
    const Onnx__GraphProto *g = m->graph;
    ck_assert_int_eq(g->n_input, 1);
    ck_assert_str_eq(g->input[0]->name, "input");
    assert_batch_shape(g->input[0], 3, (int[]){2, 8, 8});
    ck_assert_int_eq(g->n_output, 1);
    ck_assert_str_eq(g->output[0]->name, "probabilities");
    assert_batch_shape(g->output[0], 1, (int[]){4});
    /* dropout is the identity at inference: no node */
    ck_assert_str_eq(ops(m), "Div Conv BatchNormalization Relu MaxPool AveragePool Flatten "
                             "Gemm Relu Gemm Softmax");
    const Onnx__NodeProto *div = node(m, "input.scaled");
    ck_assert_str_eq(div->input[0], "input");
    const Onnx__TensorProto *scale = initializer(m, div->input[1]);
    ck_assert(scale->n_dims == 0 && scale->n_float_data == 1 && scale->float_data[0] == 255);
    /* 'same' at stride 2 on 8: 4 outputs, one row and column of padding,
     * after the last as Keras pads */
    const Onnx__NodeProto *conv = node(m, "conv1");
    assert_ints(conv, "kernel_shape", 2, (int64_t[]){3, 3});
    assert_ints(conv, "strides", 2, (int64_t[]){2, 2});
    assert_ints(conv, "pads", 4, (int64_t[]){0, 0, 1, 1});
    ck_assert_str_eq(conv->input[1], "conv1.weight");
    ck_assert_str_eq(conv->input[2], "conv1.bias");
    const Onnx__TensorProto *w = initializer(m, "conv1.weight");
    ck_assert_int_eq(w->n_dims, 4);
    ck_assert(w->dims[0] == 3 && w->dims[1] == 2 && w->dims[2] == 3 && w->dims[3] == 3);
    ck_assert_int_eq(w->n_float_data, 54);
    for (size_t j = 0; j < 54; j++)
        ck_assert(w->float_data[j] == value(0, j));
    const Onnx__NodeProto *bn = node(m, "bn1");
    const Onnx__AttributeProto *eps = attr(bn, "epsilon");
    ck_assert(eps && eps->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT &&
              eps->f == 1e-3f);
    ck_assert_str_eq(bn->input[3], "bn1.running_mean");
    ck_assert_str_eq(bn->input[4], "bn1.running_var");
    ck_assert(initializer(m, "bn1.running_var")->float_data[2] == value(5, 2));
    const Onnx__NodeProto *pool = node(m, "pool1"), *avg = node(m, "avgpool1");
    assert_ints(pool, "kernel_shape", 2, (int64_t[]){2, 2});
    assert_ints(pool, "strides", 2, (int64_t[]){1, 1});
    ck_assert_ptr_null(attr(pool, "pads"));
    assert_ints(avg, "kernel_shape", 2, (int64_t[]){2, 2});
    assert_ints(avg, "strides", 2, (int64_t[]){1, 1});
    assert_int(node(m, "flatten1"), "axis", 1);
    const Onnx__NodeProto *fc = node(m, "fc1");
    assert_int(fc, "transB", 1);
    ck_assert_str_eq(fc->input[0], "flatten1");
    const Onnx__TensorProto *fw = initializer(m, "fc1.weight");
    ck_assert(fw->n_dims == 2 && fw->dims[0] == 5 && fw->dims[1] == 3 * 2 * 2);
    assert_int(node(m, "probabilities"), "axis", 1);
    ck_assert_str_eq(node(m, "probabilities")->input[0], "fc2");
    onnx__model_proto__free_unpacked(m, NULL);
}
END_TEST

/* p<P> pads P on every side, as PyTorch does, where the windows use
 * less after the last row (8 + 2 - 3 at stride 2 leaves one unused). */
START_TEST(explicit_padding_is_on_every_side)
{
    Onnx__ModelProto *m = exported("conv3k3s2p1-conv2k5p2-flatten-fc4", (arch_shape){1, 8, 8},
                                   &no_norm);
    assert_ints(node(m, "conv1"), "pads", 4, (int64_t[]){1, 1, 1, 1});
    assert_ints(node(m, "conv1"), "strides", 2, (int64_t[]){2, 2});
    assert_ints(node(m, "conv2"), "pads", 4, (int64_t[]){2, 2, 2, 2});
    onnx__model_proto__free_unpacked(m, NULL);
}
END_TEST

/* A valid convolution has no pads; gap pools and flattens. */
START_TEST(gap_pools_and_flattens)
{
    Onnx__ModelProto *m = exported("conv3k3-gap-fc4", (arch_shape){1, 7, 7}, &no_norm);
    ck_assert_str_eq(ops(m), "Div Conv GlobalAveragePool Flatten Gemm Softmax");
    ck_assert_ptr_null(attr(node(m, "conv1"), "pads"));
    assert_int(node(m, "gap1"), "axis", 1);
    ck_assert_str_eq(node(m, "gap1")->input[0], "gap1.pool");
    onnx__model_proto__free_unpacked(m, NULL);
}
END_TEST

/* The checkpoint's statistics: (x / 255 - mean) / std, by (C, 1, 1). */
START_TEST(input_is_normalised)
{
    const norm_stats norm = {.channels = 3, .mean = {0.25f, 0.5f, 0.75f},
                             .std = {0.125f, 2.0f, 3.0f}};
    Onnx__ModelProto *m = exported("flatten-fc4", (arch_shape){3, 2, 2}, &norm);
    ck_assert_str_eq(ops(m), "Div Sub Div Flatten Gemm Softmax");
    const Onnx__NodeProto *sub = node(m, "input.centred"), *div = node(m, "input.normalized");
    ck_assert_str_eq(sub->input[0], "input.scaled");
    ck_assert_str_eq(div->input[0], "input.centred");
    ck_assert_str_eq(node(m, "flatten1")->input[0], "input.normalized");
    const Onnx__TensorProto *mean = initializer(m, sub->input[1]),
                            *std = initializer(m, div->input[1]);
    for (int c = 0; c < 3; c++) {
        ck_assert(mean->float_data[c] == norm.mean[c] && std->float_data[c] == norm.std[c]);
        ck_assert(mean->n_dims == 3 && mean->dims[0] == 3 && mean->dims[1] == 1 &&
                  mean->dims[2] == 1);
        ck_assert(std->n_dims == 3 && std->dims[0] == 3);
    }
    onnx__model_proto__free_unpacked(m, NULL);
}
END_TEST

/* Shortcuts: identity (the block's input added), projected on images (a
 * 1x1 Conv without bias at the chain's stride, then batch norm) and on
 * flat features (Gemm by the weight as (F, C), then batch norm). */
START_TEST(blocks_add_their_shortcuts)
{
    Onnx__ModelProto *m = exported("conv2k3same-relu-res[conv2k3same]-relu-"
                                   "res[conv3k3s2same-bn]-flatten-fc3-res[fc2-bn]-fc4",
                                   (arch_shape){1, 6, 6}, &no_norm);
    ck_assert_str_eq(ops(m), "Div Conv Relu Conv Add Relu Conv BatchNormalization Conv "
                             "BatchNormalization Add Flatten Gemm Gemm BatchNormalization "
                             "Gemm BatchNormalization Add Gemm Softmax");
    const Onnx__NodeProto *add = node(m, "res1");
    ck_assert_str_eq(add->input[0], "conv2");
    ck_assert_str_eq(add->input[1], "relu1");
    const Onnx__NodeProto *proj = node(m, "res2.proj");
    ck_assert_int_eq(proj->n_input, 2);
    ck_assert_str_eq(proj->input[0], "relu2");
    ck_assert_str_eq(proj->input[1], "res2.proj.weight");
    assert_ints(proj, "kernel_shape", 2, (int64_t[]){1, 1});
    assert_ints(proj, "strides", 2, (int64_t[]){2, 2});
    ck_assert_ptr_null(attr(proj, "pads"));
    ck_assert_str_eq(node(m, "res2.proj_bn")->input[0], "res2.proj");
    ck_assert_str_eq(node(m, "res2.proj_bn")->input[4], "res2.proj_bn.running_var");
    ck_assert_str_eq(node(m, "res2")->input[0], "bn1");
    ck_assert_str_eq(node(m, "res2")->input[1], "res2.proj_bn");
    const Onnx__NodeProto *flat = node(m, "res3.proj");
    ck_assert_str_eq(flat->op_type, "Gemm");
    ck_assert_int_eq(flat->n_input, 2);
    ck_assert_str_eq(flat->input[0], "fc1");
    assert_int(flat, "transB", 1);
    const Onnx__TensorProto *w = initializer(m, "res3.proj.weight");
    ck_assert(w->n_dims == 2 && w->dims[0] == 2 && w->dims[1] == 3);
    ck_assert_str_eq(node(m, "res3")->input[1], "res3.proj_bn");
    onnx__model_proto__free_unpacked(m, NULL);
}
END_TEST

/* The same checkpoint gives the same bytes. */
START_TEST(export_repeats_byte_for_byte)
{
    const char *model = test_path("r.safetensors"), *a = test_path("a.onnx"),
               *b = test_path("b.onnx");
    write_checkpoint(model, EVERY_KIND, (arch_shape){2, 8, 8}, &no_norm, NULL);
    checkpoint_meta meta;
    cnn_error err = {0};
    TEST_OK(onnx_export_checkpoint(model, a, &meta, &err), err);
    TEST_OK(onnx_export_checkpoint(model, b, &meta, &err), err);
    size_t na, nb;
    uint8_t *x = read_file(a, &na), *y = read_file(b, &nb);
    ck_assert_msg(na == nb && !memcmp(x, y, na), "two exports of one checkpoint differ");
    free(x);
    free(y);
}
END_TEST

/* A missing tensor is bad input naming it, and an output that cannot be
 * written is refused before the checkpoint is read; neither leaves a
 * file. */
START_TEST(failures_name_the_fault)
{
    const char *model = test_path("bad.safetensors"), *out = test_path("bad.onnx");
    write_checkpoint(model, EVERY_KIND, (arch_shape){2, 8, 8}, &no_norm, "bn1.running_var");
    checkpoint_meta meta;
    cnn_error err = {0};
    ck_assert_int_eq(onnx_export_checkpoint(model, out, &meta, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "tensor 'bn1.running_var' is missing"), "%s", err.msg);
    struct stat st;
    ck_assert_int_ne(stat(out, &st), 0);
    ck_assert_int_eq(onnx_export_checkpoint(test_path("none.safetensors"), test_dir, &meta,
                                            &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "is a folder"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_export");
    TCase *tc = tcase_create("onnx_export");
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, every_row_exports);
    tcase_add_test(tc, model_holds_every_kind);
    tcase_add_test(tc, explicit_padding_is_on_every_side);
    tcase_add_test(tc, gap_pools_and_flattens);
    tcase_add_test(tc, input_is_normalised);
    tcase_add_test(tc, blocks_add_their_shortcuts);
    tcase_add_test(tc, export_repeats_byte_for_byte);
    tcase_add_test(tc, failures_name_the_fault);
    suite_add_tcase(s, tc);
    return test_run(s, 1);
}
