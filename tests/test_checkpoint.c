/* test_checkpoint.c: safetensors checkpoints — the file format, a round trip
 * of the whole training state, every mismatch named, and exact resume: two
 * epochs straight and one plus a resumed second give identical weights. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "train/checkpoint.h"
#include "idxfile.h"
#include "train/safetensors.h"
#include "testutil.h"
#include "train/trainer.h"

#define SMALL_ARCH "conv4k3-relu-pool2-flatten-fc16-relu-fc10"
static const arch_shape small_input = {1, 12, 12};


/* A small network trained with `cfg` for `steps` steps on random data. */
static void trained_with(network *net, int steps, optim_config cfg)
{
    cnn_error err = {0};
    arch a;
    TEST_OK(arch_parse(SMALL_ARCH, small_input, 10, &a, &err), err);
    TEST_OK(network_create(net, test_rt(), &a, 4, NULL, cfg, &err), err);
    TEST_OK(network_init(net, 5, &err), err);
    float x[4 * 144];
    int32_t labels[4] = {1, 2, 3, 9};
    test_random(x, 4 * 144, 8, 0, 1);
    for (int s = 0; s < steps; s++) {
        TEST_OK(network_upload(net, x, labels, 4, &err), err);
        TEST_OK(network_train_step(net, 4, &err), err);
    }
    /* The uploads read x and labels asynchronously; both go out of scope. */
    ck_assert_int_eq(clFinish(net->rt->queue), CL_SUCCESS);
}

/* The same with Adam. */
static void trained(network *net, int steps)
{
    trained_with(net, steps, optim_defaults(NULL));
}

/* Every rule with every setting it takes away from its default, and one
 * without momentum: the cases a checkpoint must carry. */
static int optimizer_cases(optim_config *out)
{
    int n = 0;
    for (int k = 0; k < optim_rule_count; k++) {
        const optim_rule *r = &optim_rules[k];
        optim_config c = optim_defaults(r);
        c.weight_decay = 0.02f;
        c.clip_norm = 0.5f;
        if (r->takes & OPTIM_TAKES_EPS)
            c.eps = 1e-5f;
        if (r->takes & OPTIM_TAKES_RHO)
            c.rho = 0.8f;
        if (r->takes & OPTIM_TAKES_MOMENTUM) {
            out[n++] = c;
            c.momentum = 0.9f;
            c.nesterov = (r->takes & OPTIM_TAKES_NESTEROV) != 0;
        }
        out[n++] = c;
    }
    return n;
}

static checkpoint_meta meta_of(const network *net)
{
    checkpoint_meta m = {.input = small_input, .classes = 10, .epoch = 3, .batch = 7,
                         .step = net->optim.step, .seed = 42, .samples = 1000,
                         .batch_size = 4, .lr = 0.001f, .loss_sum = 12.5, .correct = 17,
                         .seconds = 1.25};
    snprintf(m.arch, sizeof m.arch, "%s", SMALL_ARCH);
    snprintf(m.variants, sizeof m.variants, "fc1=kernel;fc2=kernel");
    return m;
}

START_TEST(round_trip_of_the_training_state)
{
    network a, b;
    cnn_error err = {0};
    trained(&a, 3);
    checkpoint_meta m = meta_of(&a), back;
    m.validation_split = 0.2;
    m.stop = (stopping){.patience = 3, .best_loss = 0.1, .best_epoch = 2, .since_best = 1};
    const char *path = test_path("state.safetensors");
    TEST_OK(checkpoint_save(path, &a, &m, &err), err);
    TEST_OK(checkpoint_read_meta(path, &back, &err), err);
    ck_assert_str_eq(back.arch, SMALL_ARCH);
    ck_assert_int_eq(back.epoch, 3);
    ck_assert_int_eq(back.batch, 7);
    ck_assert_int_eq(back.step, 3);
    ck_assert_uint_eq(back.seed, 42);
    ck_assert_int_eq(back.input.h, 12);
    ck_assert_double_eq(back.loss_sum, 12.5);
    ck_assert_str_eq(back.variants, "fc1=kernel;fc2=kernel");
    /* a resume stops where the run would have: the split and record exact */
    ck_assert(back.validation_split == 0.2 && back.stop.best_loss == 0.1);
    ck_assert_int_eq(back.stop.patience, 3);
    ck_assert_int_eq(back.stop.best_epoch, 2);
    ck_assert_int_eq(back.stop.since_best, 1);
    m.validation_split = 1.5;
    TEST_OK(checkpoint_save(test_path("split.safetensors"), &a, &m, &err), err);
    ck_assert_int_eq(checkpoint_read_meta(test_path("split.safetensors"), &back, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "metadata 'validation_split' is 1.5, not from 0 to 1"),
                  "%s", err.msg);

    trained(&b, 0);
    TEST_OK(checkpoint_load(path, &b, 1, &err), err);
    ck_assert_int_eq(b.optim.step, 3);
    size_t bytes = a.param_floats * sizeof(float);
    char *pa = malloc(bytes), *pb = malloc(bytes);
    cl_mem bufs[3][2] = {{a.params, b.params}, {a.optim.state[0], b.optim.state[0]},
                         {a.optim.state[1], b.optim.state[1]}};
    for (int i = 0; i < 3; i++) {
        TEST_OK(clrt_read(test_rt(), bufs[i][0], pa, bytes, &err), err);
        TEST_OK(clrt_read(test_rt(), bufs[i][1], pb, bytes, &err), err);
        ck_assert_msg(memcmp(pa, pb, bytes) == 0, "state %d differs after loading", i);
    }
    free(pa);
    free(pb);
    network_release(&a);
    network_release(&b);
}
END_TEST

/* Each optimizer's state round-trips bit for bit under its own names, with
 * its settings in the metadata; a state momentum 0 never touches is not
 * saved; loading another optimizer's state is refused naming both. */
START_TEST(round_trip_of_every_optimizer)
{
    optim_config cases[2 * 8];
    int n = optimizer_cases(cases);
    for (int c = 0; c < n; c++) {
        const optim_config *cfg = &cases[c];
        network a, b;
        cnn_error err = {0};
        trained_with(&a, 3, *cfg);
        checkpoint_meta m = meta_of(&a), back;
        const char *path = test_path("optim.safetensors");
        TEST_OK(checkpoint_save(path, &a, &m, &err), err);
        TEST_OK(checkpoint_read_meta(path, &back, &err), err);
        ck_assert_ptr_eq(back.optim.rule, cfg->rule);
        ck_assert(back.optim.momentum == cfg->momentum && back.optim.nesterov == cfg->nesterov &&
                  back.optim.weight_decay == cfg->weight_decay && back.optim.eps == cfg->eps &&
                  back.optim.rho == cfg->rho && back.optim.clip_norm == cfg->clip_norm);
        st_header h;
        TEST_OK(st_read_header(path, &h, &err), err);
        for (int k = 0; k < cfg->rule->nstate; k++) {
            char name[96];
            snprintf(name, sizeof name, "%s.%s.fc2.bias", cfg->rule->name,
                     cfg->rule->state[k]);
            ck_assert_msg((st_find(&h, name) != NULL) == optim_state_live(cfg, k),
                          "%s: %s", cfg->rule->name, name);
        }
        st_header_free(&h);
        trained_with(&b, 0, *cfg);
        TEST_OK(checkpoint_load(path, &b, 1, &err), err);
        ck_assert_int_eq(b.optim.step, 3);
        size_t bytes = a.param_floats * sizeof(float);
        char *pa = malloc(bytes), *pb = malloc(bytes);
        for (int k = -1; k < cfg->rule->nstate; k++) {
            TEST_OK(clrt_read(test_rt(), k < 0 ? a.params : a.optim.state[k], pa, bytes, &err),
                    err);
            TEST_OK(clrt_read(test_rt(), k < 0 ? b.params : b.optim.state[k], pb, bytes, &err),
                    err);
            ck_assert_msg(memcmp(pa, pb, bytes) == 0, "%s: state %d differs after loading",
                          cfg->rule->name, k);
        }
        free(pa);
        free(pb);
        network_release(&b);
        const optim_config other = optim_defaults(&optim_rules[cfg->rule == optim_rules]);
        trained_with(&b, 0, other);
        ck_assert_int_eq(checkpoint_load(path, &b, 1, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, cfg->rule->name) && strstr(err.msg, other.rule->name),
                      "%s", err.msg);
        /* the weights alone load whatever the optimizer (eval, predict) */
        TEST_OK(checkpoint_load(path, &b, 0, &err), err);
        network_release(&b);
        network_release(&a);
    }
}
END_TEST

START_TEST(file_is_standard_safetensors)
{
    network a;
    cnn_error err = {0};
    trained(&a, 1);
    checkpoint_meta m = meta_of(&a);
    const char *path = test_path("std.safetensors");
    TEST_OK(checkpoint_save(path, &a, &m, &err), err);
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    ck_assert_uint_eq(fread(len8, 1, 8, f), 8);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | len8[i];
    ck_assert_uint_eq(len % 8, 0);
    char *json = calloc(len + 1, 1);
    ck_assert_uint_eq(fread(json, 1, len, f), len);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(json, "\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[4,1,3,3],"
                                       "\"data_offsets\":[0,144]}"));
    ck_assert_ptr_nonnull(strstr(json, "\"adam.v.fc2.bias\""));
    ck_assert_ptr_nonnull(strstr(json, "\"arch\":\"" SMALL_ARCH "\""));
    /* the checksum of conv1.weight, the data's first 144 bytes */
    unsigned char first[144];
    FILE *g = fopen(path, "rb");
    ck_assert_int_eq(fseek(g, (long)(8 + len), SEEK_SET), 0);
    ck_assert_uint_eq(fread(first, 1, sizeof first, g), sizeof first);
    fclose(g);
    char want[64];
    snprintf(want, sizeof want, "\"crc32:conv1.weight\":\"%08lx\"",
             crc32(0, first, sizeof first));
    ck_assert_msg(strstr(json, want), "%s not in the header", want);
    free(json);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    size_t floats = 3 * a.param_count;
    ck_assert_int_eq(st.st_size, (off_t)(8 + len + 4 * floats));
    /* no temporary is left beside it */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls %s | grep -c tmp) = 0", test_dir);
    ck_assert_int_eq(system(cmd), 0);
    network_release(&a);
}
END_TEST

/* Saves a checkpoint of `spec`, then loads it into the small network. */
static void expect_load_error(const char *spec, arch_shape in, const char *needle)
{
    cnn_error err = {0};
    arch a;
    network other, net;
    TEST_OK(arch_parse(spec, in, 10, &a, &err), err);
    TEST_OK(network_create(&other, test_rt(), &a, 2, NULL, optim_defaults(NULL), &err), err);
    checkpoint_meta m = meta_of(&other);
    snprintf(m.arch, sizeof m.arch, "%s", SMALL_ARCH); /* a lying header */
    const char *path = test_path("other.safetensors");
    TEST_OK(checkpoint_save(path, &other, &m, &err), err);
    network_release(&other);
    trained(&net, 0);
    ck_assert_int_eq(checkpoint_load(path, &net, 1, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    network_release(&net);
}

START_TEST(mismatches_name_the_tensor)
{
    expect_load_error("conv5k3-relu-pool2-flatten-fc16-relu-fc10", small_input,
                      "tensor 'conv1.weight' is F32 [5,1,3,3], the network needs F32 [4,1,3,3]");
    expect_load_error("conv4k3-relu-pool2-flatten-fc10", small_input,
                      "tensor 'fc1.weight' is F32 [10,100]");
    expect_load_error("conv4k3-relu-pool2-conv4k3-flatten-fc16-relu-fc10", small_input,
                      "tensor 'conv2.weight' is not part of the network");
}
END_TEST

/* Writes net's parameter tensors as another tool would: no metadata, an
 * extra tensor, and `drop` (when not NULL) left out, `reshape` (when not
 * NULL) given a shape of one more row. */
static void write_foreign(const char *path, network *net, const char *drop,
                          const char *reshape)
{
    st_tensor t[NET_MAX_TENSORS + 1];
    int shapes[NET_MAX_TENSORS][4], n = 0;
    float *data = malloc((net->param_count + 64 * net->ntensors + 1) * sizeof *data), *p = data;
    cnn_error err = {0};
    for (int i = 0; i < net->ntensors; i++) {
        const net_tensor *x = &net->tensors[i];
        if (drop && !strcmp(x->name, drop))
            continue;
        memcpy(shapes[n], x->shape, sizeof shapes[n]);
        size_t count = x->count;
        if (reshape && !strcmp(x->name, reshape)) {
            count += x->count / (size_t)x->shape[0];
            shapes[n][0]++;
            memset(p, 0, count * sizeof *p);
        }
        TEST_OK(network_tensor_read(net, x, 0, p, &err), err);
        t[n] = (st_tensor){x->name, x->ndim, shapes[n], p};
        p += count;
        n++;
    }
    static const int one[1] = {1};
    *p = 5;
    t[n++] = (st_tensor){"bn9.num_batches_tracked", 1, one, p};
    TEST_OK(st_write(path, t, n, NULL, 0, &err), err);
    free(data);
}

/* A network of SMALL_ARCH, initialised from `seed`. */
static void fresh(network *net, const char *spec, uint64_t seed)
{
    cnn_error err = {0};
    arch a;
    TEST_OK(arch_parse(spec, small_input, 10, &a, &err), err);
    TEST_OK(network_create(net, test_rt(), &a, 4, NULL, optim_defaults(NULL), &err), err);
    TEST_OK(network_init(net, seed, &err), err);
}

static void assert_same_weights(network *a, network *b)
{
    cnn_error err = {0};
    ck_assert_int_eq(a->ntensors, b->ntensors);
    for (int i = 0; i < a->ntensors; i++) {
        size_t n = a->tensors[i].count;
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        TEST_OK(network_tensor_read(a, &a->tensors[i], 0, x, &err), err);
        TEST_OK(network_tensor_read(b, &b->tensors[i], 0, y, &err), err);
        ck_assert_msg(!memcmp(x, y, n * sizeof *x), "%s differs", a->tensors[i].name);
        free(x), free(y);
    }
}

/* --init: the weights of a cnn-cl checkpoint or of another tool's file by
 * name, with the optimizer's state left fresh; whatever does not fit is
 * named. */
START_TEST(init_takes_the_weights_by_name)
{
    network a, b, c;
    cnn_error err = {0};
    trained(&a, 3);
    checkpoint_meta m = meta_of(&a);
    const char *path = test_path("init.safetensors");
    TEST_OK(checkpoint_save(path, &a, &m, &err), err);
    char spec[1024];
    TEST_OK(checkpoint_init_spec(path, spec, sizeof spec, &err), err);
    ck_assert_str_eq(spec, SMALL_ARCH);
    fresh(&b, SMALL_ARCH, 7);
    TEST_OK(checkpoint_load_weights(path, &b, &err), err);
    assert_same_weights(&a, &b);
    ck_assert_int_eq(b.optim.step, 0);
    network_release(&b);

    const char *foreign = test_path("torch.safetensors");
    write_foreign(foreign, &a, NULL, NULL);
    TEST_OK(checkpoint_init_spec(foreign, spec, sizeof spec, &err), err);
    ck_assert_str_eq(spec, "");
    fresh(&b, SMALL_ARCH, 7);
    TEST_OK(checkpoint_load_weights(foreign, &b, &err), err);
    assert_same_weights(&a, &b);

    write_foreign(foreign, &a, "fc2.bias", NULL);
    ck_assert_int_eq(checkpoint_load_weights(foreign, &b, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "tensor 'fc2.bias' is missing"), "%s", err.msg);
    write_foreign(foreign, &a, NULL, "fc1.weight");
    ck_assert_int_eq(checkpoint_load_weights(foreign, &b, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "tensor 'fc1.weight' is F32 [17,100], the network "
                         "needs F32 [16,100]"), "%s", err.msg);
    fresh(&c, "conv4k3-relu-pool2-flatten-fc10", 7);
    ck_assert_int_eq(checkpoint_load_weights(path, &c, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "was trained as " SMALL_ARCH ", not "
                         "conv4k3-relu-pool2-flatten-fc10"), "%s", err.msg);
    network_release(&a);
    network_release(&b);
    network_release(&c);
}
END_TEST

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void read_all(const char *path, char **data, long *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    rewind(f);
    *data = malloc((size_t)*size);
    ck_assert_uint_eq(fread(*data, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
}

static void expect_header_error(const char *json, const char *needle)
{
    char buf[1024];
    size_t n = strlen(json);
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((n >> (8 * i)) & 255);
    memcpy(buf + 8, json, n);
    memset(buf + 8 + n, 0, 16);
    const char *path = test_path("bad.safetensors");
    write_bytes(path, buf, 8 + n + 16);
    st_header h;
    cnn_error err = {0};
    ck_assert_int_eq(st_read_header(path, &h, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

START_TEST(malformed_files_are_input_errors)
{
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[0,40]}}",
                        "tensor 'a' ends at byte 40, past the data's 16");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        "tensors 'a' and 'b' overlap");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "lacks dtype, shape or data_offsets");
    expect_header_error("{\"a\":[1,2]", "the header is not valid JSON");
    expect_header_error("{\"a\":[1,2]}", "tensor 'a' is not an object");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
                        "bad data_offsets");
    expect_header_error("not json", "the header is not valid JSON");
    expect_header_error("[]", "not a JSON object");
    /* the dtype's size times the shape is the byte range */
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
                        "tensor 'a' is F32 of 12 bytes, its data_offsets hold 16");
    expect_header_error("{\"a\":{\"dtype\":\"F17\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "tensor 'a' has an unknown dtype 'F17'");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}",
                        "tensor 'a' has a bad shape");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
                        "tensor 'a' has a bad shape");
    expect_header_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                        "\"data_offsets\":[0,16]}}", "tensor 'a' has a shape too large");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],"
                        "\"x\":1}}", "tensor 'a' has an unknown field 'x'");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16,16]}}",
                        "bad data_offsets");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":"
                        "[0,99999999999999999999]}}", "the header is not valid JSON");
    /* the ranges tile the data: no byte between, before or after them */
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                        "data bytes 8 to 16 belong to no tensor");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "data bytes 0 to 8 belong to no tensor");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "data bytes 4 to 8 belong to no tensor");
    /* metadata: strings only; checksums name a tensor and are 8 hex digits */
    expect_header_error("{\"__metadata__\":{\"k\":1},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "metadata 'k' is not a string");
    expect_header_error("{\"__metadata__\":[],"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "__metadata__ is not an object");
    expect_header_error("{\"__metadata__\":{\"crc32:b\":\"00000000\"},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "metadata 'crc32:b' is the checksum of no tensor");
    expect_header_error("{\"__metadata__\":{\"crc32:a\":\"0000000g\"},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "metadata 'crc32:a' is not 8 lowercase hex digits");
    expect_header_error("{\"__metadata__\":{\"crc32:a\":\"00000000\"},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "tensor 'b' has no checksum while others do");
    const char *path = test_path("short.safetensors");
    write_bytes(path, "\x10\x00\x00", 3);
    st_header h;
    cnn_error err = {0};
    ck_assert_int_eq(st_read_header(path, &h, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "shorter than the 8-byte header length"));
    write_bytes(path, "\xff\xff\xff\xff\x00\x00\x00\x00{}", 10);
    ck_assert_int_eq(st_read_header(path, &h, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not fit"));
    ck_assert_int_eq(checkpoint_read_meta(test_path("missing"), &(checkpoint_meta){0}, &err),
                     CNN_ERR_INPUT);
}
END_TEST

/* JSON that repeats a key, anywhere in the header, is refused: which of the
 * two a reader keeps is not defined. */
START_TEST(duplicate_keys_are_refused)
{
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        "duplicate object key");
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"shape\":[4],"
                        "\"data_offsets\":[0,16]}}", "duplicate object key");
    expect_header_error("{\"__metadata__\":{\"epoch\":\"1\",\"epoch\":\"9\"},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "duplicate object key");
    expect_header_error("{\"__metadata__\":{},\"__metadata__\":{},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                        "duplicate object key");
}
END_TEST

/* A header length beyond ST_MAX_HEADER is refused before it is read, even
 * when the file is that long (a sparse file here). */
START_TEST(oversized_header_is_refused)
{
    const char *path = test_path("huge.safetensors");
    uint64_t len = ST_MAX_HEADER + 8;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(len >> (8 * i));
    write_bytes(path, len8, 8);
    ck_assert_int_eq(truncate(path, (off_t)(8 + len + 64)), 0);
    st_header h;
    cnn_error err = {0};
    ck_assert_int_eq(st_read_header(path, &h, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "header length 16777224 is over cnn-cl's limit of "
                                  "16777216 bytes"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, path), "%s", err.msg);
    /* at the limit, the length passes and the JSON is what fails */
    len = ST_MAX_HEADER;
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(len >> (8 * i));
    write_bytes(path, len8, 8);
    ck_assert_int_eq(truncate(path, (off_t)(8 + len)), 0);
    ck_assert_int_eq(st_read_header(path, &h, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "not valid JSON"), "%s", err.msg);
}
END_TEST

/* A saved checkpoint of the small network: its path, and the header's
 * record of `tensor`'s first byte in the file. */
static const char *saved_checkpoint(const char *name, const char *tensor, long *where)
{
    network a;
    cnn_error err = {0};
    trained(&a, 2);
    checkpoint_meta m = meta_of(&a);
    const char *path = test_path(name);
    TEST_OK(checkpoint_save(path, &a, &m, &err), err);
    network_release(&a);
    st_header h;
    TEST_OK(st_read_header(path, &h, &err), err);
    ck_assert(h.checksummed);
    const st_entry *e = st_find(&h, tensor);
    ck_assert_ptr_nonnull(e);
    ck_assert(e->has_crc);
    *where = (long)(h.data_start + e->begin);
    st_header_free(&h);
    return path;
}

static void flip_byte(const char *path, long where)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, where, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, where, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
}

/* One flipped bit in a tensor's data is refused, naming the file and that
 * tensor; a flipped Adam moment matters only to a resume. */
START_TEST(damaged_tensor_is_named)
{
    long where;
    char path[256];
    snprintf(path, sizeof path, "%s", saved_checkpoint("flip.safetensors", "fc1.bias", &where));
    network net;
    cnn_error err = {0};
    trained(&net, 0);
    TEST_OK(checkpoint_load(path, &net, 1, &err), err);
    flip_byte(path, where + 5);
    for (int adam = 0; adam < 2; adam++) {
        ck_assert_int_eq(checkpoint_load(path, &net, adam, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, path) &&
                      strstr(err.msg, "tensor 'fc1.bias' is damaged: its bytes' CRC-32 is "),
                      "%s", err.msg);
    }
    flip_byte(path, where + 5); /* mended */
    TEST_OK(checkpoint_load(path, &net, 1, &err), err);

    snprintf(path, sizeof path, "%s",
             saved_checkpoint("flipm.safetensors", "adam.v.conv1.weight", &where));
    flip_byte(path, where);
    TEST_OK(checkpoint_load(path, &net, 0, &err), err);
    ck_assert_int_eq(checkpoint_load(path, &net, 1, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "tensor 'adam.v.conv1.weight' is damaged"), "%s", err.msg);
    network_release(&net);
}
END_TEST

/* Rewrites path's header without the checksum keys (all, or only `only`),
 * as a tool that keeps the metadata it knows would. */
static void drop_checksums(const char *path, const char *only)
{
    char *data;
    long size;
    read_all(path, &data, &size);
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | (unsigned char)data[i];
    json_error_t jerr;
    json_t *root = json_loadb(data + 8, len, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    json_t *md = json_object_get(root, "__metadata__");
    const char *key;
    json_t *v;
    void *tmp;
    int dropped = 0;
    json_object_foreach_safe(md, tmp, key, v)
        if (only ? !strcmp(key, only) : !strncmp(key, ST_CRC_PREFIX, strlen(ST_CRC_PREFIX))) {
            json_object_del(md, key);
            dropped++;
        }
    ck_assert_int_gt(dropped, 0);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    uint64_t n = strlen(text);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)(n >> (8 * i)) & 255, f);
    ck_assert_uint_eq(fwrite(text, 1, n, f), n);
    ck_assert_uint_eq(fwrite(data + 8 + len, 1, (size_t)size - 8 - len, f),
                      (size_t)size - 8 - len);
    fclose(f);
    free(text);
    free(data);
}

START_TEST(file_without_checksums_loads_with_a_note)
{
    long where;
    char path[256];
    snprintf(path, sizeof path, "%s", saved_checkpoint("nocrc.safetensors", "fc2.weight", &where));
    checkpoint_meta m;
    cnn_error err = {0};
    TEST_OK(checkpoint_read_meta(path, &m, &err), err);
    ck_assert_str_eq(m.note, "");
    drop_checksums(path, NULL);
    TEST_OK(checkpoint_read_meta(path, &m, &err), err);
    ck_assert_msg(strstr(m.note, path) && strstr(m.note, "has no checksums"), "%s", m.note);
    ck_assert_msg(!strchr(m.note, '\n'), "not one line: %s", m.note);
    network net;
    trained(&net, 0);
    TEST_OK(checkpoint_load(path, &net, 1, &err), err);
    ck_assert_int_eq(net.optim.step, 2);
    network_release(&net);

    /* dropping one checksum of many is damage, not another tool's file */
    snprintf(path, sizeof path, "%s",
             saved_checkpoint("somecrc.safetensors", "fc2.weight", &where));
    drop_checksums(path, ST_CRC_PREFIX "fc2.weight");
    ck_assert_int_eq(checkpoint_read_meta(path, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "tensor 'fc2.weight' has no checksum while others do"),
                  "%s", err.msg);
}
END_TEST

static void meta_add(st_meta *m, int *n, const char *key, const char *value)
{
    snprintf(m[*n].key, sizeof m[*n].key, "%s", key);
    snprintf(m[*n].value, sizeof m[*n].value, "%s", value);
    (*n)++;
}

/* Writes a checkpoint of no tensors whose metadata is the small network's,
 * at format `version`, with `key` set to `value` (added, or replacing). */
static void write_meta(const char *path, const char *version, const char *key,
                       const char *value)
{
    static const char *const keys[][2] = {
        {"format", "cnn-cl"}, {"arch", SMALL_ARCH}, {"input", "1x12x12"},
        {"classes", "10"}, {"epoch", "1"}, {"batch", "0"}, {"step", "5"}, {"seed", "3"},
        {"samples", "100"}, {"batch_size", "8"}, {"lr", "0.001"},
        {"epoch_loss_sum", "0"}, {"epoch_correct", "0"}, {"epoch_seconds", "0"}};
    st_meta m[16];
    int n = 0;
    int replaced = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int mine = !strcmp(keys[i][0], key);
        meta_add(m, &n, keys[i][0], mine ? value : keys[i][1]);
        replaced |= mine;
    }
    meta_add(m, &n, "format_version", version);
    if (!replaced)
        meta_add(m, &n, key, value);
    cnn_error err = {0};
    TEST_OK(st_write(path, NULL, 0, m, n, &err), err);
}

/* Version 1 named one GEMM path for every dense layer: it reads as that
 * path required of the kind. Version 2 needs its record of variants. */
START_TEST(older_versions_name_one_gemm_path)
{
    const char *path = test_path("old.safetensors");
    checkpoint_meta m;
    cnn_error err = {0};
    write_meta(path, "1", "gemm", "clblast");
    TEST_OK(checkpoint_read_meta(path, &m, &err), err);
    ck_assert_str_eq(m.variants, "fc=clblast");
    ck_assert_int_eq(m.step, 5);
    /* nothing held out, no best epoch yet */
    ck_assert(m.validation_split == 0 && isinf(m.stop.best_loss));
    ck_assert_int_eq(m.stop.best_epoch, 0);
    ck_assert_int_eq(m.stop.patience, 0);
    write_meta(path, "2", "gemm", "clblast");
    ck_assert_int_eq(checkpoint_read_meta(path, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "metadata 'variants' is missing"), "%s", err.msg);
    write_meta(path, "3", "variants", "");
    ck_assert_int_eq(checkpoint_read_meta(path, &m, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "checkpoint format version 3; this cnn-cl reads versions "
                                  "1 to 2"), "%s", err.msg);
}
END_TEST

/* Numbers in the metadata are read whole and in range: none wraps into a
 * plausible int. */
START_TEST(metadata_numbers_out_of_range_are_refused)
{
    static const char *const bad[][3] = {
        {"classes", "4294967306", "metadata 'classes' is '4294967306', not an integer "
                                  "from 1 to 2147483647"},
        {"batch_size", "-8", "metadata 'batch_size' is '-8'"},
        {"input", "1x4294967308x12", "metadata 'input' is '1x4294967308x12', not CxHxW"},
        {"input", "1x12x12x", "metadata 'input' is '1x12x12x'"},
        {"input", "1x12", "metadata 'input' is '1x12'"},
    };
    const char *path = test_path("range.safetensors");
    checkpoint_meta m;
    cnn_error err = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_meta(path, "2", bad[i][0], bad[i][1]);
        ck_assert_int_eq(checkpoint_read_meta(path, &m, &err), CNN_ERR_INPUT);
        ck_assert_msg(strstr(err.msg, bad[i][2]), "%s", err.msg);
    }
    write_meta(path, "2", "variants", "fc1=kernel");
    TEST_OK(checkpoint_read_meta(path, &m, &err), err);
    ck_assert_int_eq(m.input.h, 12);
    ck_assert_int_eq(m.classes, 10);
}
END_TEST

static void write_dataset(void)
{
    idxfile_images(test_dir, "train-images-idx3-ubyte", 100, 12, 12, 0);
    idxfile_labels(test_dir, "train-labels-idx1-ubyte", 100, 10, 0);
    idxfile_images(test_dir, "t10k-images-idx3-ubyte", 20, 12, 12, 0);
    idxfile_labels(test_dir, "t10k-labels-idx1-ubyte", 20, 10, 0);
}

/* Batch norm's moving statistics and dropout's masks are state too: a
 * resumed run must carry the one and redraw the other exactly. */
#define STATEFUL_ARCH "conv4k3-relu-bn-drop0.25-pool2-flatten-fc16-relu-drop0.5-fc10"

static const char *train_arch = SMALL_ARCH;
/* What else the runs of resume_check train with. */
static schedule train_schedule;
static float train_smoothing;
static optim_config train_optim; /* rule NULL: Adam's defaults */

static train_options options(int epochs, float lr, const char *save, const char *resume)
{
    train_options o = {.data = test_dir, .epochs = epochs, .batch = 8, .lr = lr, .seed = 3,
                       .arch = resume ? NULL : train_arch, .save = save, .resume = resume,
                       .quiet = 1, .sched = train_schedule,
                       .label_smoothing = train_smoothing,
                       .optim = resume ? (optim_config){0} : train_optim};
    cnn_error err = {0};
    tuner_init(&o.tune);
    TEST_OK(tuner_force(&o.tune, "fc=kernel", &err), err);
    o.devices[0] = test_device();
    o.ndevices = 1;
    o.kernels = test_kernels();
    return o;
}

/* Trains with the trainer on the small data set of write_dataset. */
static void train(int epochs, const char *save, const char *resume)
{
    train_options o = options(epochs, 0.001f, save, resume);
    train_result r;
    cnn_error err = {0};
    TEST_OK(train_run(&o, &r, &err), err);
    ck_assert_int_eq(r.epochs_done, epochs);
    ck_assert_int_eq(r.signal, 0);
}

static void resume_check(void)
{
    write_dataset();
    char straight[256], first[256], resumed[256];
    snprintf(straight, sizeof straight, "%s", test_path("straight.safetensors"));
    snprintf(first, sizeof first, "%s", test_path("first.safetensors"));
    snprintf(resumed, sizeof resumed, "%s", test_path("resumed.safetensors"));
    train(2, straight, NULL);
    train(1, first, NULL);
    train(2, resumed, first);
    char *a, *b;
    long na, nb;
    read_all(straight, &a, &na);
    read_all(resumed, &b, &nb);
    ck_assert_int_eq(na, nb);
    ck_assert_msg(memcmp(a, b, (size_t)na) == 0, "resumed checkpoint differs from straight run");
    free(a);
    free(b);
    /* One epoch is not two: the comparison can tell. */
    read_all(first, &a, &na);
    read_all(straight, &b, &nb);
    ck_assert_msg(na != nb || memcmp(a, b, (size_t)na) != 0, "epochs 1 and 2 are identical");
    free(a);
    free(b);
}

START_TEST(resume_is_bit_exact)
{
    train_arch = SMALL_ARCH;
    resume_check();
    /* the trainer records every choice that decides the arithmetic: the
     * convolution's forward (direct or Winograd's) and weight-gradient
     * chunks and Adam (timed: any of their keys, a GPU's among them), the
     * pool and the GEMMs */
    checkpoint_meta m;
    cnn_error err = {0};
    TEST_OK(checkpoint_read_meta(test_path("resumed.safetensors"), &m, &err), err);
    static const char *const forward[] = {"direct", "winograd"};
    static const char *const chunks[] = {"c8", "n1", "gk64", "gk256", "gk1024"};
    static const char *const adam[] = {"vec16", "scalar"};
    int found = 0;
    for (size_t f = 0; f < sizeof forward / sizeof *forward; f++)
        for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++)
            for (size_t j = 0; j < sizeof adam / sizeof *adam; j++) {
                char want[256];
                snprintf(want, sizeof want,
                         "conv1.forward=%s;conv1.weights=%s;pool1.windows=pool;fc1=kernel;"
                         "fc2=kernel;adam.update=%s", forward[f], chunks[i], adam[j]);
                found |= !strcmp(m.variants, want);
            }
    ck_assert_msg(found, "variants %s", m.variants);
}
END_TEST

/* A first run on an empty cache starts on each site's default and, after
 * its first epoch, switches to the fastest variant of the same key: it
 * writes the same checkpoint as a run that used other variants of those
 * keys from the start. */
START_TEST(quick_start_computes_as_a_tuned_run)
{
    train_arch = SMALL_ARCH;
    write_dataset();
    char cache[256], quick[256], other[256];
    snprintf(cache, sizeof cache, "%s", test_path("quick-cache"));
    snprintf(quick, sizeof quick, "%s", test_path("quick.safetensors"));
    snprintf(other, sizeof other, "%s", test_path("other.safetensors"));
    const char *was = getenv("XDG_CACHE_HOME");
    char *saved = was ? strdup(was) : NULL;
    setenv("XDG_CACHE_HOME", cache, 1);
    cnn_error err = {0};
    train_result r;
    train_options o = options(3, 0.001f, quick, NULL);
    tuner_init(&o.tune);
    o.tune.quick = 1;
    TEST_OK(train_run(&o, &r, &err), err);
    /* the retimed sites' winners are cached for the next quick run */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cnn-cl", cache);
    ck_assert_msg(access(dir, F_OK) == 0, "nothing was timed after the first epoch");
    o = options(3, 0.001f, other, NULL);
    tuner_init(&o.tune);
    TEST_OK(tuner_force(&o.tune, "conv.forward=p8,conv.weights=t12c8,fc=kernel-nn8x1", &err),
            err);
    TEST_OK(train_run(&o, &r, &err), err);
    char *a, *b;
    long na, nb;
    read_all(quick, &a, &na);
    read_all(other, &b, &nb);
    ck_assert_msg(na == nb && memcmp(a, b, (size_t)na) == 0,
                  "a quick start computes differently from other variants of its keys");
    free(a);
    free(b);
    if (saved)
        setenv("XDG_CACHE_HOME", saved, 1);
    else
        unsetenv("XDG_CACHE_HOME");
    free(saved);
}
END_TEST

START_TEST(resume_is_bit_exact_with_batch_norm_and_dropout)
{
    train_arch = STATEFUL_ARCH;
    resume_check();
    /* the moving statistics are saved, without Adam moments */
    st_header h;
    cnn_error err = {0};
    TEST_OK(st_read_header(test_path("straight.safetensors"), &h, &err), err);
    ck_assert_ptr_nonnull(st_find(&h, "bn1.running_var"));
    ck_assert_ptr_nonnull(st_find(&h, "adam.m.bn1.weight"));
    ck_assert_ptr_null(st_find(&h, "adam.m.bn1.running_var"));
    st_header_free(&h);
    train_arch = SMALL_ARCH;
}
END_TEST

/* A schedule whose warmup (15 steps) runs past the first epoch (13 steps)
 * and label smoothing: the resumed run takes both from the checkpoint. */
START_TEST(resume_is_bit_exact_with_a_schedule_and_smoothing)
{
    cnn_error err = {0};
    TEST_OK(schedule_parse("step:1:0.5", &train_schedule, &err), err);
    train_schedule.warmup = 15;
    train_smoothing = 0.1f;
    resume_check();
    checkpoint_meta m;
    TEST_OK(checkpoint_read_meta(test_path("resumed.safetensors"), &m, &err), err);
    ck_assert_str_eq(m.schedule, "step:1:0.5");
    ck_assert_int_eq(m.warmup, 15);
    ck_assert_int_eq(m.epochs, 2);
    ck_assert_float_eq(m.label_smoothing, 0.1f);
    train_schedule = (schedule){0};
    train_smoothing = 0;
}
END_TEST

/* Every optimizer resumes bit-exactly, with its settings from the
 * checkpoint alone, on the network with batch norm's statistics (which its
 * weight decay must leave alone). */
START_TEST(resume_is_bit_exact_for_every_optimizer)
{
    train_arch = STATEFUL_ARCH;
    optim_config cases[2 * 8];
    int n = optimizer_cases(cases);
    for (int c = 0; c < n; c++) {
        train_optim = cases[c];
        resume_check();
        checkpoint_meta m;
        cnn_error err = {0};
        TEST_OK(checkpoint_read_meta(test_path("resumed.safetensors"), &m, &err), err);
        ck_assert_ptr_eq(m.optim.rule, cases[c].rule);
        ck_assert(m.optim.momentum == cases[c].momentum);
    }
    train_optim = (optim_config){0};
    train_arch = SMALL_ARCH;
}
END_TEST

START_TEST(diverging_loss_stops_training_and_keeps_the_checkpoint)
{
    write_dataset();
    char path[256];
    snprintf(path, sizeof path, "%s", test_path("model.safetensors"));
    train(1, path, NULL);
    char *before, *after;
    long nb, na;
    read_all(path, &before, &nb);
    /* A step of 1e30 overflows the activations within a few steps. */
    train_options o = options(3, 1e30f, path, NULL);
    train_result r;
    cnn_error err = {0};
    ck_assert_int_eq(train_run(&o, &r, &err), CNN_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "the loss became"), "%s", err.msg);
    ck_assert_int_eq(r.epochs_done, 0);
    read_all(path, &after, &na);
    ck_assert_int_eq(na, nb);
    ck_assert_msg(memcmp(before, after, (size_t)na) == 0, "the checkpoint was overwritten");
    free(before);
    free(after);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, round_trip_of_the_training_state);
    tcase_add_test(tc, round_trip_of_every_optimizer);
    tcase_add_test(tc, file_is_standard_safetensors);
    tcase_add_test(tc, mismatches_name_the_tensor);
    tcase_add_test(tc, init_takes_the_weights_by_name);
    tcase_add_test(tc, malformed_files_are_input_errors);
    tcase_add_test(tc, duplicate_keys_are_refused);
    tcase_add_test(tc, oversized_header_is_refused);
    tcase_add_test(tc, damaged_tensor_is_named);
    tcase_add_test(tc, file_without_checksums_loads_with_a_note);
    tcase_add_test(tc, older_versions_name_one_gemm_path);
    tcase_add_test(tc, metadata_numbers_out_of_range_are_refused);
    tcase_add_test(tc, resume_is_bit_exact);
    tcase_add_test(tc, resume_is_bit_exact_with_batch_norm_and_dropout);
    tcase_add_test(tc, resume_is_bit_exact_for_every_optimizer);
    tcase_add_test(tc, quick_start_computes_as_a_tuned_run);
    tcase_add_test(tc, resume_is_bit_exact_with_a_schedule_and_smoothing);
    tcase_add_test(tc, diverging_loss_stops_training_and_keeps_the_checkpoint);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
