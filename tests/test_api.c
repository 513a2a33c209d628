/* test_api.c: libcnn-cl as a C program meets it, through cnn_cl.h alone.
 * Every fault — a missing model, a model that does not fit the data, a
 * bad device index, a setting out of range — comes back as status 2 with a
 * message, and leaves no checkpoint behind; predictions agree with the
 * evaluation, which takes its own path (the loader, the evaluation step);
 * the progress callbacks see every step and epoch, and one that stops
 * training leaves a checkpoint whose resume ends where an uninterrupted run
 * does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn_cl.h"
#include "idxfile.h"
#include "testutil.h"

#define SPEC "conv3k3-relu-flatten-fc10"
#define TRAIN 60
#define TEST 20

/* Asserts that `call`, which fills the cnn_cl_error e, fails with status
 * `want` and a message holding `part`. */
#define EXPECT_FAIL(want, part, call)                                                \
    do {                                                                             \
        cnn_cl_error e;                                                              \
        memset(&e, 'x', sizeof e);                                                   \
        ck_assert_int_eq((call), (want));                                            \
        ck_assert_int_eq(e.status, (want));                                          \
        ck_assert_msg(strstr(e.message, (part)), "message '%.300s' lacks '%s'",     \
                      e.message, (part));                                            \
    } while (0)

/* Asserts that `call` succeeds, e saying so too. */
#define EXPECT_OK(call)                                                              \
    do {                                                                             \
        cnn_cl_error e;                                                              \
        memset(&e, 'x', sizeof e);                                                   \
        ck_assert_msg((call) == CNN_CL_OK, "%s", e.message);                         \
        ck_assert_int_eq(e.status, CNN_CL_OK);                                       \
        ck_assert_str_eq(e.message, "");                                             \
    } while (0)

/* A data folder test_path(name) of TRAIN training and TEST test images of
 * side x side (idxfile.h: the images differ), labels i % classes. */
static const char *data_dir(const char *name, int side, int classes)
{
    static char dirs[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(dirs[k], sizeof dirs[k], "%s", test_path(name));
    ck_assert_int_eq(mkdir(dirs[k], 0755), 0);
    idxfile_images(dirs[k], "train-images-idx3-ubyte", TRAIN, side, side, 0);
    idxfile_labels(dirs[k], "train-labels-idx1-ubyte", TRAIN, classes, 0);
    idxfile_images(dirs[k], "t10k-images-idx3-ubyte", TEST, side, side, 0);
    idxfile_labels(dirs[k], "t10k-labels-idx1-ubyte", TEST, classes, 0);
    return dirs[k];
}

/* The device under test, with the test kernels and the hand GEMM. */
static cnn_cl_device *open_device(void)
{
    cnn_cl_device *dev = NULL;
    EXPECT_OK(cnn_cl_device_open(test_device(), &dev, &e));
    EXPECT_OK(cnn_cl_device_set_kernels(dev, test_kernels(), &e));
    EXPECT_OK(cnn_cl_device_set_gemm(dev, "kernel", &e));
    return dev;
}

/* The tests' training: the small network, 4 images a batch, normalised. */
static cnn_cl_train_config config(const char *data, const char *save, int epochs)
{
    cnn_cl_train_config c;
    cnn_cl_train_config_init(&c);
    c.data = data;
    c.save = save;
    c.epochs = epochs;
    c.batch = 4;
    c.arch = SPEC;
    c.normalize = 1;
    return c;
}

static cnn_cl_status train(const cnn_cl_train_config *c, cnn_cl_train_result *r,
                           cnn_cl_error *e)
{
    cnn_cl_device *dev = open_device();
    cnn_cl_status st = cnn_cl_train(&dev, 1, c, r, e);
    cnn_cl_device_close(dev);
    return st;
}

/* A model trained for an epoch on a fresh 6x6 folder (into *data), loaded
 * on a device closed again: the model keeps its own context. */
static cnn_cl_model *trained(const char **data)
{
    *data = data_dir("six", 6, 10);
    const char *path = test_path("model.safetensors");
    cnn_cl_train_config c = config(*data, path, 1);
    cnn_cl_train_result r;
    EXPECT_OK(train(&c, &r, &e));
    ck_assert_int_eq(r.epochs_done, 1);
    ck_assert_int_eq(r.saved_epochs, 1);
    cnn_cl_device *dev = open_device();
    cnn_cl_model *m;
    EXPECT_OK(cnn_cl_model_load(dev, path, &m, &e));
    cnn_cl_device_close(dev);
    return m;
}

START_TEST(version_matches_the_header)
{
    ck_assert_str_eq(cnn_cl_version(), CNN_CL_VERSION_STRING);
    char numbers[64];
    snprintf(numbers, sizeof numbers, "%d.%d.%d", CNN_CL_VERSION_MAJOR, CNN_CL_VERSION_MINOR,
             CNN_CL_VERSION_PATCH);
    ck_assert_str_eq(numbers, CNN_CL_VERSION_STRING);
}
END_TEST

START_TEST(devices_are_listed_and_a_bad_index_refused)
{
    cnn_cl_device_info *list;
    int n;
    EXPECT_OK(cnn_cl_devices(&list, &n, &e));
    ck_assert_int_ge(n, 1);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(list[i].index, i);
    cnn_cl_device *dev = open_device();
    ck_assert_str_eq(cnn_cl_device_get_info(dev)->name, list[test_device()].name);
    cnn_cl_devices_free(list);
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "unknown GEMM path 'fast'",
                cnn_cl_device_set_gemm(dev, "fast", &e));
    cnn_cl_device_close(dev);

    cnn_cl_device *none = (cnn_cl_device *)&n;
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "99999 is out of range; valid devices:",
                cnn_cl_device_open(99999, &none, &e));
    ck_assert_ptr_null(none);
    /* Without an error to fill, the status alone. */
    ck_assert_int_eq(cnn_cl_device_open(-1, &none, NULL), CNN_CL_ERR_INPUT);
}
END_TEST

START_TEST(a_missing_or_damaged_model_is_refused)
{
    cnn_cl_device *dev = open_device();
    cnn_cl_model *m = (cnn_cl_model *)dev;
    const char *missing = test_path("none.safetensors");
    EXPECT_FAIL(CNN_CL_ERR_INPUT, missing, cnn_cl_model_load(dev, missing, &m, &e));
    ck_assert_ptr_null(m);
    const char *junk = test_path("junk.safetensors");
    FILE *f = fopen(junk, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a checkpoint", f);
    fclose(f);
    EXPECT_FAIL(CNN_CL_ERR_INPUT, junk, cnn_cl_model_load(dev, junk, &m, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "cnn_cl_model_load: path is NULL",
                cnn_cl_model_load(dev, NULL, &m, &e));
    cnn_cl_device_close(dev);
}
END_TEST

START_TEST(a_model_that_does_not_fit_the_data_is_refused)
{
    const char *six;
    cnn_cl_model *m = trained(&six);
    int c, h, w;
    cnn_cl_model_input(m, &c, &h, &w);
    ck_assert(c == 1 && h == 6 && w == 6);
    ck_assert_int_eq(cnn_cl_model_classes(m), 10);
    ck_assert_str_eq(cnn_cl_model_spec(m), SPEC);
    ck_assert_int_eq(cnn_cl_model_epochs(m), 1);
    ck_assert_str_eq(cnn_cl_model_note(m), "");

    cnn_cl_data *eight, *wide;
    EXPECT_OK(cnn_cl_data_open(data_dir("eight", 8, 10), &eight, &e));
    EXPECT_OK(cnn_cl_data_open(data_dir("wide", 6, 12), &wide, &e));
    double loss = -1, accuracy = -1;
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "images are 1x8x8 but the model takes 1x6x6",
                cnn_cl_model_check(m, eight, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "images are 1x8x8 but the model takes 1x6x6",
                cnn_cl_evaluate(m, eight, 0, &loss, &accuracy, NULL, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "label 10 at index 10 is outside 0..9",
                cnn_cl_evaluate(m, wide, CNN_CL_TTA_FLIP, &loss, &accuracy, NULL, &e));
    ck_assert(loss == -1 && accuracy == -1);
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "flags 0x4", cnn_cl_evaluate(m, wide, 4, &loss, &accuracy,
                                                              NULL, &e));
    unsigned char images[64 * TEST];
    float probs[10];
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "images 15 to 24 of the test split are asked for, but "
                "it holds 20", cnn_cl_data_read(eight, CNN_CL_TEST_SPLIT, 15, 10, images, NULL,
                                                &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "cannot predict -1 images",
                cnn_cl_predict_bytes(m, images, -1, probs, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "images is NULL",
                cnn_cl_predict_floats(m, NULL, 1, probs, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "none.pgm",
                cnn_cl_image_read(test_path("none.pgm"), 1, 6, 6, (float *)images, &e));
    cnn_cl_data *none;
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "no such data folder",
                cnn_cl_data_open(test_path("nowhere"), &none, &e));
    ck_assert_ptr_null(none);
    cnn_cl_data_close(eight);
    cnn_cl_data_close(wide);
    cnn_cl_model_free(m);
}
END_TEST

START_TEST(predictions_agree_with_the_evaluation)
{
    const char *dir;
    cnn_cl_model *m = trained(&dir);
    cnn_cl_data *d;
    EXPECT_OK(cnn_cl_data_open(dir, &d, &e));
    ck_assert_str_eq(cnn_cl_data_format(d), "IDX");
    ck_assert_int_eq(cnn_cl_data_count(d, CNN_CL_TEST_SPLIT), TEST);
    ck_assert_int_eq(cnn_cl_data_count(d, CNN_CL_TRAIN_SPLIT), TRAIN);
    enum { PIX = 36, K = 10 };
    unsigned char images[TEST * PIX];
    int labels[TEST];
    float probs[TEST * K], again[TEST * K], scaled[TEST * PIX];
    EXPECT_OK(cnn_cl_data_read(d, CNN_CL_TEST_SPLIT, 0, TEST, images, labels, &e));
    EXPECT_OK(cnn_cl_predict_bytes(m, images, TEST, probs, &e));
    /* The same images as floats in [0, 1] give the same bits. */
    for (int i = 0; i < TEST * PIX; i++)
        scaled[i] = (float)images[i] / 255.0f;
    EXPECT_OK(cnn_cl_predict_floats(m, scaled, TEST, again, &e));
    ck_assert_mem_eq(probs, again, sizeof probs);

    double loss_sum = 0;
    int correct = 0;
    long confusion[K * K] = {0}, tallied[K * K] = {0};
    for (int i = 0; i < TEST; i++) {
        const float *p = probs + i * K;
        double sum = 0;
        int best = 0;
        for (int c = 0; c < K; c++) {
            sum += p[c];
            best = p[c] > p[best] ? c : best;
        }
        ck_assert_msg(fabs(sum - 1) < 1e-5, "image %d: probabilities sum to %g", i, sum);
        ck_assert_int_eq(labels[i], i % 10);
        loss_sum -= log(p[labels[i]]);
        correct += best == labels[i];
        tallied[labels[i] * K + best]++;
    }
    double loss, accuracy;
    EXPECT_OK(cnn_cl_evaluate(m, d, 0, &loss, &accuracy, confusion, &e));
    ck_assert_msg(fabs(loss - loss_sum / TEST) <= 1e-5 * loss, "evaluate's loss %.9g, the "
                  "probabilities' %.9g", loss, loss_sum / TEST);
    ck_assert_double_eq(accuracy, (double)correct / TEST);
    ck_assert_mem_eq(confusion, tallied, sizeof confusion);
    cnn_cl_data_close(d);
    cnn_cl_model_free(m);
}
END_TEST

/* A model's first load on a device times its training batch against 256
 * and caches the faster, which later loads take without timing. */
START_TEST(the_model_batch_is_timed_once)
{
    const char *dir;
    cnn_cl_model_free(trained(&dir));
    /* a cache of its own, so that the first load below is a first */
    const char *cache = test_path("cache");
    ck_assert_int_eq(mkdir(cache, 0700), 0);
    ck_assert_int_eq(setenv("XDG_CACHE_HOME", cache, 1), 0);
    int batch = 0;
    for (int load = 0; load < 2; load++) {
        cnn_cl_device *dev = open_device();
        FILE *log = tmpfile();
        ck_assert_ptr_nonnull(log);
        cnn_cl_device_set_log(dev, log);
        cnn_cl_model *m;
        EXPECT_OK(cnn_cl_model_load(dev, test_path("model.safetensors"), &m, &e));
        char text[4096] = "";
        rewind(log);
        text[fread(text, 1, sizeof text - 1, log)] = '\0';
        fclose(log);
        if (!load) {
            batch = cnn_cl_model_batch(m);
            ck_assert_msg(batch == 4 || batch == 256, "batch %d", batch);
            ck_assert_msg(strstr(text, "tuning model: timing 2 variants..."), "%s", text);
        } else {
            ck_assert_int_eq(cnn_cl_model_batch(m), batch);
            ck_assert_msg(!strstr(text, "tuning model:"), "timed again: %s", text);
        }
        cnn_cl_model_free(m);
        cnn_cl_device_close(dev);
    }
    /* A damaged tensor found while timing, on a cache of its own, is bad
     * input, as on a load that times nothing: the first byte of the first
     * tensor, the first layer's weights, flipped. */
    ck_assert_int_eq(mkdir(test_path("cache2"), 0700), 0);
    ck_assert_int_eq(setenv("XDG_CACHE_HOME", test_path("cache2"), 1), 0);
    const char *path = test_path("model.safetensors");
    FILE *f = fopen(path, "r+b");
    unsigned char size[8];
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(size, 1, 8, f), 8);
    long at = 8;
    for (int i = 0; i < 8; i++)
        at += (long)size[i] << (8 * i);
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x10, f);
    fclose(f);
    cnn_cl_device *dev = open_device();
    cnn_cl_model *m = NULL;
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "tensor 'conv1.weight' is damaged",
                cnn_cl_model_load(dev, path, &m, &e));
    ck_assert_ptr_null(m);
    cnn_cl_device_close(dev);
}
END_TEST

START_TEST(bad_settings_are_refused_before_any_work)
{
    const char *dir = data_dir("six", 6, 10);
    const char *save = test_path("never.safetensors");
    cnn_cl_train_result r;
    struct {
        const char *message;
        cnn_cl_train_config c;
    } bad[] = {
        {"--batch: '0' is not an integer in [1, 65536]", config(dir, save, 1)},
        {"--lr: '20' is not a learning rate in (0, 10]", config(dir, save, 1)},
        {"--lr: 'nan' is not a learning rate", config(dir, save, 1)},
        {"--validation-split: '1.5' is not a number in (0, 1)", config(dir, save, 1)},
        {"--optimizer: 'adagrad' is none of adam, adamw, sgd, rmsprop", config(dir, save, 1)},
        {"--lr-schedule: 'cosine:2' is not one of", config(dir, save, 1)},
        {"--augment: 'rotate' in 'rotate' is not a transform", config(dir, save, 1)},
        {"--momentum means nothing to --optimizer adam", config(dir, save, 1)},
        {"give one of them", config(dir, save, 1)},
        {"unknown token 'tanh'", config(dir, save, 1)},
        {"no such data folder", config(test_path("nowhere"), save, 1)},
    };
    bad[0].c.batch = 0;
    bad[1].c.lr = 20;
    bad[2].c.lr = NAN;
    bad[3].c.validation_split = 1.5;
    bad[4].c.optimizer = "adagrad";
    bad[5].c.lr_schedule = "cosine:2";
    bad[6].c.augment = "rotate";
    bad[7].c.momentum = 0.9;
    bad[8].c.init = bad[8].c.resume = save;
    bad[9].c.arch = "conv2k3-tanh-flatten-fc10";
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT_FAIL(CNN_CL_ERR_INPUT, bad[i].message, train(&bad[i].c, &r, &e));
        ck_assert_int_eq(r.epochs_done, 0);
        ck_assert_int_ne(access(save, F_OK), 0);
    }
    cnn_cl_device *dev = open_device();
    cnn_cl_train_config c = config(dir, save, 1);
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "--device: 0 devices; 1 to 8",
                cnn_cl_train(&dev, 0, &c, &r, &e));
    EXPECT_FAIL(CNN_CL_ERR_INPUT, "cnn_cl_train: config is NULL",
                cnn_cl_train(&dev, 1, NULL, &r, &e));
    cnn_cl_device_close(dev);
    ck_assert_int_ne(access(save, F_OK), 0);
}
END_TEST

/* What the callbacks saw, and when to stop. */
typedef struct {
    int steps, epochs;
    long stop_at;          /* the step (counting all epochs) to stop at; 0: never */
    cnn_cl_train_progress last_epoch;
} seen;

static int on_step(const cnn_cl_train_progress *p, void *user)
{
    seen *s = user;
    s->steps++;
    ck_assert(p->batch >= 1 && p->batch <= p->batches);
    ck_assert(p->val_loss == -1 && p->loss > 0 && p->accuracy >= 0 && p->accuracy <= 1);
    return s->stop_at && s->steps == s->stop_at;
}

static int on_epoch(const cnn_cl_train_progress *p, void *user)
{
    seen *s = user;
    s->epochs++;
    ck_assert_int_eq(p->epoch, s->epochs);
    ck_assert_int_eq(p->batch, p->batches);
    s->last_epoch = *p;
    return 0;
}

START_TEST(callbacks_see_the_run_and_can_stop_it_resumably)
{
    const char *dir = data_dir("six", 6, 10);
    const char *whole = test_path("whole.safetensors"), *part = test_path("part.safetensors");
    enum { EPOCHS = 2, STEPS = EPOCHS * TRAIN / 4 };
    cnn_cl_train_result r, resumed;

    seen s = {0};
    cnn_cl_train_config c = config(dir, whole, EPOCHS);
    c.on_step = on_step;
    c.on_epoch = on_epoch;
    c.user = &s;
    c.out = tmpfile();
    ck_assert_ptr_nonnull(c.out);
    EXPECT_OK(train(&c, &r, &e));
    ck_assert_int_eq(s.steps, STEPS);
    ck_assert_int_eq(s.epochs, EPOCHS);
    ck_assert_int_eq(r.epochs_done, EPOCHS);
    ck_assert(!r.stopped && !r.signal);
    ck_assert_double_eq(s.last_epoch.val_loss, r.val_loss);
    ck_assert_double_eq(s.last_epoch.val_accuracy, r.val_accuracy);
    /* out got the command's report. */
    char text[4096] = "";
    rewind(c.out);
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, c.out), 0);
    ck_assert_msg(strstr(text, "Model: " SPEC), "out: %s", text);
    fclose(c.out);

    /* Stopped at the 5th step: at most two queued steps more, then saved. */
    seen stop = {.stop_at = 5};
    c = config(dir, part, EPOCHS);
    c.on_step = on_step;
    c.user = &stop;
    EXPECT_OK(train(&c, &r, &e));
    ck_assert(r.stopped && !r.signal);
    ck_assert_int_eq(r.epochs_done, 0);
    ck_assert_int_ge(stop.steps, 5);
    ck_assert_int_le(stop.steps, 7);
    ck_assert_int_eq(access(part, F_OK), 0);
    /* Resumed, it ends where the whole run did. */
    c = config(dir, part, CNN_CL_DEFAULT);
    c.resume = part;
    c.batch = CNN_CL_DEFAULT;
    c.arch = NULL;
    c.normalize = 0;
    c.epochs = EPOCHS;
    EXPECT_OK(train(&c, &resumed, &e));
    ck_assert_int_eq(resumed.epochs_done, EPOCHS);
    ck_assert_double_eq(resumed.test_loss, s.last_epoch.val_loss);
    ck_assert_double_eq(resumed.test_accuracy, s.last_epoch.val_accuracy);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, version_matches_the_header);
    tcase_add_test(tc, devices_are_listed_and_a_bad_index_refused);
    tcase_add_test(tc, a_missing_or_damaged_model_is_refused);
    tcase_add_test(tc, a_model_that_does_not_fit_the_data_is_refused);
    tcase_add_test(tc, predictions_agree_with_the_evaluation);
    tcase_add_test(tc, the_model_batch_is_timed_once);
    tcase_add_test(tc, bad_settings_are_refused_before_any_work);
    tcase_add_test(tc, callbacks_see_the_run_and_can_stop_it_resumably);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
