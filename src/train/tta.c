/* tta.c: test-time flip (see tta.h). */
#include "train/tta.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"

/* In place: every row of every plane reversed. */
static void mirror(float *images, long rows, int w)
{
    for (long r = 0; r < rows; r++)
        for (float *a = images + r * w, *b = a + w - 1; a < b; a++, b--) {
            float t = *a;
            *a = *b;
            *b = t;
        }
}

cnn_status tta_flip_probabilities(network *net, float *images, const int32_t *labels,
                                  int n, float *probs, double *mean, cnn_error *err)
{
    arch_shape in = net->arch.input;
    size_t k = (size_t)net->arch.classes, count = (size_t)n * k;
    cnn_status st;
    /* network_probabilities waits for the device, so the upload is done
     * reading images before they are mirrored. */
    if ((st = network_upload(net, images, labels, n, err)) ||
        (st = network_probabilities(net, n, probs, err)))
        return st;
    for (size_t i = 0; i < count; i++)
        mean[i] = probs[i];
    mirror(images, (long)n * in.c * in.h, in.w);
    if ((st = network_upload(net, images, labels, n, err)) ||
        (st = network_probabilities(net, n, probs, err)))
        return st;
    for (size_t i = 0; i < count; i++)
        mean[i] = (mean[i] + probs[i]) / 2;
    return CNN_OK;
}

cnn_status tta_evaluate(network *net, const dataset_split *split, const norm_stats *norm,
                        double *loss, double *accuracy, long *confusion, cnn_error *err)
{
    int k = net->arch.classes;
    loader *l;
    cnn_status st = loader_open(&l, split, net->max_batch, 0, 0, 0, 2, err);
    if (st)
        return st;
    size_t count = (size_t)net->max_batch * (size_t)k;
    float *probs = malloc(count * sizeof *probs);
    double *mean = malloc(count * sizeof *mean);
    double loss_sum = 0;
    long correct = 0, seen = 0;
    if (confusion)
        memset(confusion, 0, (size_t)k * (size_t)k * sizeof *confusion);
    if (!probs || !mean)
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    /* A mirror of the normalised image is the normalised mirror. */
    if (st == CNN_OK)
        st = loader_set_norm(l, norm, err);
    if (st == CNN_OK)
        st = loader_start(l, 0, 0, err);
    while (st == CNN_OK) {
        loader_batch *b;
        if ((st = loader_next(l, &b, err)) || !b)
            break;
        st = tta_flip_probabilities(net, b->images, b->labels, b->count, probs, mean, err);
        for (int i = 0; st == CNN_OK && i < b->count; i++) {
            const double *row = mean + (size_t)i * (size_t)k;
            int best = 0;
            for (int c = 1; c < k; c++)
                if (row[c] > row[best])
                    best = c;
            int y = b->labels[i];
            loss_sum -= log(fmax(row[y], FLT_MIN));
            correct += best == y;
            if (confusion)
                confusion[y * k + best]++;
            seen++;
        }
        loader_release(l, b);
    }
    loader_close(l);
    free(probs);
    free(mean);
    if (st == CNN_OK) {
        *loss = loss_sum / (double)seen;
        *accuracy = (double)correct / (double)seen;
    }
    return st;
}
