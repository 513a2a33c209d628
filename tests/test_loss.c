/* test_loss.c: softmax cross-entropy and softmax against their double
 * references on awkward batch and class counts and at extreme logits, and
 * the reference gradient against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/loss.h"
#include "ref/activation.h"
#include "ref/loss.h"
#include "testutil.h"

typedef struct {
    cl_mem logits, labels, dlogits, totals;
} batch;

/* Device copies of a batch, with dlogits and totals poisoned. */
static batch upload(const float *logits, const int32_t *labels, int n, int k)
{
    cnn_error err = {0};
    batch b = {test_upload(logits, (size_t)n * k), NULL,
                test_poisoned((size_t)n * k), test_poisoned(LOSS_TOTALS)};
    TEST_OK(clrt_buffer(test_rt(), n * sizeof *labels, &b.labels, &err), err);
    TEST_OK(clrt_write(test_rt(), b.labels, labels, n * sizeof *labels, &err),
            err);
    return b;
}

static void release(batch *b)
{
    clReleaseMemObject(b->logits);
    clReleaseMemObject(b->labels);
    clReleaseMemObject(b->dlogits);
    clReleaseMemObject(b->totals);
}

/* Runs the fused kernel on one batch and compares dlogits, the loss sum and
 * the correct count with the reference; also softmax alone. */
static void check_batch(const float *logits, const int32_t *labels, int n,
                        int k, float smoothing)
{
    cnn_error err = {0};
    size_t nk = (size_t)n * k;
    double *zd = malloc(nk * sizeof *zd), *dr = malloc(nk * sizeof *dr);
    double *pr = malloc(nk * sizeof *pr), sum, correct;
    float *d = malloc(nk * sizeof *d), *p = malloc(nk * sizeof *p);
    float totals[LOSS_TOTALS];
    for (size_t i = 0; i < nk; i++)
        zd[i] = logits[i];
    ref_softmax_xent(zd, labels, n, k, smoothing, dr, &sum, &correct);
    ref_softmax(zd, pr, n, k);

    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), k, &err), err);
    batch b = upload(logits, labels, n, k);
    cl_mem probs = test_poisoned(nk);
    TEST_OK(loss_softmax_xent(&l, n, n, b.logits, b.labels, b.dlogits, b.totals,
                              0, smoothing, &err), err);
    TEST_OK(loss_softmax(&l, n, b.logits, probs, &err), err);
    test_download(b.dlogits, d, nk);
    test_download(b.totals, totals, LOSS_TOTALS);
    test_download(probs, p, nk);
    test_close("dlogits", d, dr, nk, TEST_TOL_GRAD);
    test_close("loss sum", &totals[LOSS_SUM], &sum, 1, TEST_TOL_FORWARD);
    ck_assert_msg(totals[LOSS_CORRECT] == correct, "correct %g, reference %g",
                  (double)totals[LOSS_CORRECT], correct);
    test_close("probs", p, pr, nk, TEST_TOL_FORWARD);
    clReleaseMemObject(probs);
    release(&b);
    loss_release(&l);
    free(zd), free(dr), free(pr), free(d), free(p);
}

static void random_labels(int32_t *labels, int n, int k, uint64_t seed)
{
    float *r = malloc(n * sizeof *r);
    test_random(r, n, seed, 0, (float)k);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)r[i] < k ? (int32_t)r[i] : k - 1;
    free(r);
}

START_TEST(xent_matches_reference)
{
    static const int shapes[][2] = {{1, 2}, {3, 10}, {33, 13}, {32, 10},
                                    {130, 7}, {5, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int n = shapes[s][0], k = shapes[s][1];
        float *z = malloc((size_t)n * k * sizeof *z);
        int32_t *labels = malloc(n * sizeof *labels);
        test_random(z, (size_t)n * k, 100 + s, -5, 5);
        random_labels(labels, n, k, 200 + s);
        check_batch(z, labels, n, k, 0);
        check_batch(z, labels, n, k, 0.1f);
        free(z), free(labels);
    }
}
END_TEST

/* Rows of +-1e4, all-equal rows (argmax ties go to index 0) and one-hot
 * extremes, right and wrong: every loss and gradient must stay finite. */
START_TEST(xent_is_stable_at_extreme_logits)
{
    enum { N = 7, K = 10 };
    float z[N * K];
    int32_t labels[N] = {3, 5, 0, 4, 4, 9, 2};
    test_random(z, K, 300, -1e4f, 1e4f);      /* row 0: random +-1e4 */
    for (int j = 0; j < K; j++) {
        z[1 * K + j] = 3.0f;                  /* row 1: equal, label 5 */
        z[2 * K + j] = -1e4f;                 /* row 2: equal, label 0 */
        z[3 * K + j] = j == 4 ? 1e4f : -1e4f; /* row 3: sure and right */
        z[4 * K + j] = j == 7 ? 1e4f : -1e4f; /* row 4: sure and wrong */
        z[5 * K + j] = j == 9 ? -1e4f : 1e4f; /* row 5: label the outlier */
        z[6 * K + j] = j % 2 ? 1e4f : -1e4f;  /* row 6: five-way tie */
    }
    check_batch(z, labels, N, K, 0);
    check_batch(z, labels, N, K, 0.2f);
}
END_TEST

/* Epoch totals: the second batch adds to what the first left. */
START_TEST(xent_accumulates_totals)
{
    cnn_error err = {0};
    enum { N = 33, K = 13 };
    float z[2][N * K], totals[LOSS_TOTALS];
    int32_t labels[2][N];
    double zd[N * K], dr[N * K], sum = 0, correct = 0;
    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), K, &err), err);
    cl_mem shared = test_poisoned(LOSS_TOTALS);
    for (int b = 0; b < 2; b++) {
        test_random(z[b], N * K, 400 + b, -3, 3);
        random_labels(labels[b], N, K, 500 + b);
        double s, c;
        for (int i = 0; i < N * K; i++)
            zd[i] = z[b][i];
        ref_softmax_xent(zd, labels[b], N, K, 0, dr, &s, &c);
        sum += s;
        correct += c;
        batch d = upload(z[b], labels[b], N, K);
        TEST_OK(loss_softmax_xent(&l, N, N, d.logits, d.labels, d.dlogits, shared,
                                  b, 0, &err), err);
        test_download(shared, totals, LOSS_TOTALS); /* before d is freed */
        release(&d);
    }
    test_close("epoch loss", &totals[LOSS_SUM], &sum, 1, TEST_TOL_FORWARD);
    ck_assert_msg(totals[LOSS_CORRECT] == correct, "correct %g, reference %g",
                  (double)totals[LOSS_CORRECT], correct);
    clReleaseMemObject(shared);
    loss_release(&l);
}
END_TEST

START_TEST(xent_is_deterministic)
{
    cnn_error err = {0};
    enum { N = 130, K = 10 };
    float z[N * K], d[2][N * K], totals[2][LOSS_TOTALS];
    int32_t labels[N];
    test_random(z, N * K, 600, -8, 8);
    random_labels(labels, N, K, 601);
    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), K, &err), err);
    for (int r = 0; r < 2; r++) {
        batch b = upload(z, labels, N, K);
        TEST_OK(loss_softmax_xent(&l, N, N, b.logits, b.labels, b.dlogits,
                                  b.totals, 0, 0, &err), err);
        test_download(b.dlogits, d[r], N * K);
        test_download(b.totals, totals[r], LOSS_TOTALS);
        release(&b);
    }
    ck_assert_mem_eq(d[0], d[1], sizeof d[0]);
    ck_assert_mem_eq(totals[0], totals[1], sizeof totals[0]);
    loss_release(&l);
}
END_TEST

START_TEST(xent_flags_bad_labels)
{
    cnn_error err = {0};
    float z[3 * 4], totals[LOSS_TOTALS];
    int32_t labels[3] = {1, 4, 0};
    test_random(z, 12, 700, -1, 1);
    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), 4, &err), err);
    batch b = upload(z, labels, 3, 4);
    TEST_OK(loss_softmax_xent(&l, 3, 3, b.logits, b.labels, b.dlogits, b.totals,
                              0, 0, &err), err);
    test_download(b.totals, totals, LOSS_TOTALS);
    ck_assert(isnan(totals[LOSS_SUM]));
    ck_assert_int_eq(loss_softmax_xent(&l, 0, 0, b.logits, b.labels, b.dlogits,
                                       b.totals, 0, 0, &err), CNN_ERR_INPUT);
    release(&b);
    loss_release(&l);
    ck_assert_int_eq(loss_create(&l, test_rt(), 0, &err), CNN_ERR_INPUT);
}
END_TEST

/* Rows that are part of a larger batch: the gradient is the mean over the
 * whole batch, so a part's is the whole-part gradient scaled by n / M, and
 * its totals are its own rows'. A mean over fewer rows than given is bad
 * input. */
START_TEST(xent_part_of_a_batch_scales_by_the_whole)
{
    enum { N = 5, K = 7, M = 12 };
    cnn_error err = {0};
    float z[N * K], alone[N * K], part[N * K], totals[2][LOSS_TOTALS];
    int32_t labels[N] = {1, 6, 0, 3, 3};
    test_random(z, N * K, 710, -2, 2);
    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), K, &err), err);
    batch b = upload(z, labels, N, K);
    TEST_OK(loss_softmax_xent(&l, N, N, b.logits, b.labels, b.dlogits, b.totals, 0, 0,
                              &err), err);
    test_download(b.dlogits, alone, N * K);
    test_download(b.totals, totals[0], LOSS_TOTALS);
    TEST_OK(loss_softmax_xent(&l, N, M, b.logits, b.labels, b.dlogits, b.totals, 0, 0,
                              &err), err);
    test_download(b.dlogits, part, N * K);
    test_download(b.totals, totals[1], LOSS_TOTALS);
    for (int i = 0; i < N * K; i++)
        ck_assert_float_eq_tol(part[i], alone[i] * N / M, 1e-7);
    ck_assert_mem_eq(totals[0], totals[1], sizeof totals[0]);
    ck_assert_int_eq(loss_softmax_xent(&l, N, N - 1, b.logits, b.labels, b.dlogits,
                                       b.totals, 0, 0, &err), CNN_ERR_INPUT);
    release(&b);
    loss_release(&l);
}
END_TEST

typedef struct {
    const int32_t *labels;
    int n, k;
    double smoothing;
    double *scratch;
} xent_args;

/* The mean loss over the batch, the quantity dlogits is the gradient of. */
static void mean_loss(void *args, const double *z, double *loss)
{
    xent_args *a = args;
    double correct;
    ref_softmax_xent(z, a->labels, a->n, a->k, a->smoothing, a->scratch, loss, &correct);
    *loss /= a->n;
}

/* With and without label smoothing. */
START_TEST(xent_reference_gradient_is_numeric)
{
    enum { N = 5, K = 7 };
    float zf[N * K];
    int32_t labels[N];
    double z[N * K], d[N * K], scratch[N * K], sum, correct, one = 1, y;
    double num[N * K];
    test_random(zf, N * K, 800, -4, 4);
    random_labels(labels, N, K, 801);
    for (int i = 0; i < N * K; i++)
        z[i] = zf[i];
    for (int e = 0; e < 2; e++) {
        double smoothing = e ? 0.15 : 0;
        ref_softmax_xent(z, labels, N, K, smoothing, d, &sum, &correct);
        xent_args a = {labels, N, K, smoothing, scratch};
        ref_numeric_grad(mean_loss, &a, z, N * K, &one, &y, 1, 1e-5, num);
        for (int i = 0; i < N * K; i++)
            ck_assert_msg(fabs(num[i] - d[i]) < 1e-8, "smoothing %g: dlogits[%d] = "
                          "%.12g, numeric %.12g", smoothing, i, d[i], num[i]);
    }
}
END_TEST

/* PyTorch's definition on a row worked by hand: logits (1, 0, 0), label 0,
 * smoothing 0.3 give the target (0.8, 0.1, 0.1) and the loss
 * log(e + 2) - 0.8; the plain loss is log(e + 2) - 1. */
START_TEST(xent_smoothing_is_pytorchs)
{
    cnn_error err = {0};
    const float z[3] = {1, 0, 0};
    const int32_t label = 0;
    float totals[LOSS_TOTALS], d[3];
    loss_layer l;
    TEST_OK(loss_create(&l, test_rt(), 3, &err), err);
    batch b = upload(z, &label, 1, 3);
    for (int e = 0; e < 2; e++) {
        float smoothing = e ? 0.3f : 0;
        TEST_OK(loss_softmax_xent(&l, 1, 1, b.logits, b.labels, b.dlogits, b.totals, 0,
                                  smoothing, &err), err);
        test_download(b.totals, totals, LOSS_TOTALS);
        test_download(b.dlogits, d, 3);
        double p0 = exp(1.0) / (exp(1.0) + 2), want = log(exp(1.0) + 2) - (e ? 0.8 : 1);
        ck_assert_double_eq_tol(totals[LOSS_SUM], want, 1e-6);
        ck_assert_double_eq_tol(d[0], p0 - (e ? 0.8 : 1), 1e-6);
    }
    ck_assert_int_eq(loss_softmax_xent(&l, 1, 1, b.logits, b.labels, b.dlogits, b.totals,
                                       0, 1.0f, &err), CNN_ERR_INPUT);
    release(&b);
    loss_release(&l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, xent_matches_reference);
    tcase_add_test(tc, xent_is_stable_at_extreme_logits);
    tcase_add_test(tc, xent_accumulates_totals);
    tcase_add_test(tc, xent_is_deterministic);
    tcase_add_test(tc, xent_flags_bad_labels);
    tcase_add_test(tc, xent_part_of_a_batch_scales_by_the_whole);
    tcase_add_test(tc, xent_reference_gradient_is_numeric);
    tcase_add_test(tc, xent_smoothing_is_pytorchs);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
