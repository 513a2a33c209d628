/* test_tta.c: eval's test-time flip against a reference on a tiny model:
 * each mean is the mean of the network's probabilities of the image and
 * of its ref_augment_flip mirror, and the loss, accuracy and confusion
 * counts of a split (odd image sizes, a partial last batch) follow from
 * those means as tta.h defines them. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"
#include "idxfile.h"
#include "ref/augment.h"
#include "train/tta.h"
#include "testutil.h"

#define SPEC "conv3k3-relu-flatten-fc5"

static void make_net(network *net, arch_shape in, int max_batch)
{
    cnn_error err = {0};
    arch a;
    TEST_OK(arch_parse(SPEC, in, 5, &a, &err), err);
    TEST_OK(network_create(net, test_rt(), &a, max_batch, NULL, optim_defaults(NULL), &err),
            err);
    TEST_OK(network_init(net, 3, &err), err);
}

/* The network's probabilities of n images (blocking). */
static void probabilities(network *net, const float *images, int n, float *probs)
{
    cnn_error err = {0};
    int32_t labels[64] = {0};
    TEST_OK(network_upload(net, images, labels, n, &err), err);
    TEST_OK(network_probabilities(net, n, probs, &err), err);
}

START_TEST(means_are_the_image_and_its_mirror)
{
    arch_shape in = {3, 5, 7};
    enum { N = 9, PIX = 3 * 5 * 7, K = 5 };
    network net;
    make_net(&net, in, N);
    float images[N * PIX], mirrors[N * PIX], work[N * PIX], p[N * K], q[N * K];
    test_random(images, N * PIX, 21, 0, 1);
    for (int i = 0; i < N; i++)
        ref_augment_flip(images + i * PIX, mirrors + i * PIX, 3, 5, 7);
    probabilities(&net, images, N, p);
    probabilities(&net, mirrors, N, q);
    memcpy(work, images, sizeof work);
    int32_t labels[N] = {0};
    float scratch[N * K];
    double mean[N * K];
    cnn_error err = {0};
    TEST_OK(tta_flip_probabilities(&net, work, labels, N, scratch, mean, &err), err);
    int differ = 0;
    for (int i = 0; i < N * K; i++) {
        ck_assert_msg(fabs(mean[i] - ((double)p[i] + q[i]) / 2) <= 1e-7, "probability %d: "
                      "%g, not the mean of %g and %g", i, mean[i], (double)p[i], (double)q[i]);
        differ += p[i] != q[i];
    }
    ck_assert_msg(differ > 0, "the mirrors' probabilities are the images'");
    ck_assert_mem_eq(work, mirrors, sizeof work);
    network_release(&net);
}
END_TEST

/* An IDX pair of n random 5x7 images with labels i % 5. */
static dataset_split make_split(uint32_t n)
{
    unsigned char *bytes = malloc(16 + (size_t)n * 35);
    ck_assert_ptr_nonnull(bytes);
    const unsigned char head[16] = {0, 0, 8, 3, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                    (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 5,
                                    0, 0, 0, 7};
    memcpy(bytes, head, 16);
    uint64_t x = 99;
    for (size_t i = 0; i < (size_t)n * 35; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        bytes[16 + i] = (unsigned char)(x >> 56);
    }
    char path[4096];
    cnn_error err = {0};
    idx_file images, labels;
    snprintf(path, sizeof path, "%s", idxfile_raw(test_dir, "images", bytes, 16 + (size_t)n * 35));
    TEST_OK(idx_open(path, IDX_IMAGES, &images, &err), err);
    snprintf(path, sizeof path, "%s", idxfile_labels(test_dir, "labels", n, 5, 0));
    TEST_OK(idx_open(path, IDX_LABELS, &labels, &err), err);
    dataset_split split;
    TEST_OK(idx_split_make(&images, &labels, &split, &err), err);
    free(bytes);
    return split;
}

START_TEST(loss_accuracy_and_confusion_follow_the_means)
{
    enum { N = 37, PIX = 35, K = 5 };
    dataset_split split = make_split(N);
    network net;
    make_net(&net, (arch_shape){1, 5, 7}, 16);
    /* The reference: the images as the loader gives them, byte / 255. */
    FILE *f = fopen(test_path("images"), "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char raw[16 + N * PIX];
    ck_assert_uint_eq(fread(raw, 1, sizeof raw, f), sizeof raw);
    fclose(f);
    float images[N * PIX], mirrors[N * PIX], p[N * K], q[N * K];
    for (int i = 0; i < N * PIX; i++)
        images[i] = (float)raw[16 + i] / 255.0f;
    for (int i = 0; i < N; i++)
        ref_augment_flip(images + i * PIX, mirrors + i * PIX, 1, 5, 7);
    for (int at = 0; at < N; at += 16) {
        int n = N - at < 16 ? N - at : 16;
        probabilities(&net, images + at * PIX, n, p + at * K);
        probabilities(&net, mirrors + at * PIX, n, q + at * K);
    }
    double loss = 0;
    long correct = 0, confusion[K * K] = {0};
    for (int i = 0; i < N; i++) {
        double m[K];
        int best = 0;
        for (int c = 0; c < K; c++) {
            m[c] = ((double)p[i * K + c] + q[i * K + c]) / 2;
            best = m[c] > m[best] ? c : best;
        }
        loss -= log(fmax(m[i % K], FLT_MIN));
        correct += best == i % K;
        confusion[(i % K) * K + best]++;
    }
    double got_loss, got_accuracy;
    long got_confusion[K * K];
    cnn_error err = {0};
    const norm_stats none = {0};
    TEST_OK(tta_evaluate(&net, &split, &none, &got_loss, &got_accuracy, got_confusion, &err),
            err);
    ck_assert_msg(fabs(got_loss - loss / N) <= 1e-9, "loss %.12g, the reference's %.12g",
                  got_loss, loss / N);
    ck_assert_double_eq(got_accuracy, (double)correct / N);
    ck_assert_mem_eq(got_confusion, confusion, sizeof confusion);
    network_release(&net);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tta");
    TCase *tc = tcase_create("tta");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, test_dir_create, test_dir_remove);
    tcase_add_test(tc, means_are_the_image_and_its_mirror);
    tcase_add_test(tc, loss_accuracy_and_confusion_follow_the_means);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
