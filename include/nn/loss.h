/* loss: softmax with sparse categorical cross-entropy (Keras'
 * SparseCategoricalCrossentropy(from_logits=True)), forward and backward in
 * one kernel, and softmax alone for prediction.
 *
 * The functions only enqueue work. Batch loss and accuracy go to a small
 * device buffer and can be accumulated there over an epoch, so training
 * never waits for the host to read them. Results are deterministic: each
 * batch is reduced by one work-group in a fixed order, without atomics. */
#ifndef LOSS_H
#define LOSS_H

#include "runtime/clrt.h"

/* The layout of the totals buffer: LOSS_TOTALS floats. */
enum {
    LOSS_SUM = 0,     /* sum over samples of -sum_k q_k log softmax(logits)_k */
    LOSS_CORRECT = 1, /* samples whose argmax (lowest on ties) is the label;
                         a float, exact up to 2^24 samples */
    LOSS_TOTALS = 2
};

typedef struct {
    const clrt *rt;
    int classes;
    size_t local; /* work-group size of the reduction, a power of two */
    cl_kernel xent, softmax;
} loss_layer;

/* A loss over `classes` classes (>= 1). On failure nothing needs releasing. */
cnn_status loss_create(loss_layer *l, const clrt *rt, int classes,
                       cnn_error *err);
void loss_release(loss_layer *l);

/* dlogits = (softmax(logits) - q) / M: the gradient of the MEAN loss over a
 * batch of M = mean_over samples (overwritten), where the target q is
 * onehot(labels) smoothed as PyTorch's CrossEntropyLoss(label_smoothing):
 * (1 - smoothing) onehot + smoothing / K, smoothing in [0, 1). M is N, or,
 * when these N rows are one device's part of a batch that data-parallel
 * training splits, the whole batch's size, so the parts' gradients sum to
 * the batch's. totals gets this batch's LOSS_SUM and
 * LOSS_CORRECT, or, when accumulate is nonzero, adds them to what it holds.
 * Sums are in float. A label outside [0, K) makes LOSS_SUM NaN.
 * logits and dlogits are (N, K), labels is (N) int32, totals is
 * (LOSS_TOTALS). */
cnn_status loss_softmax_xent(const loss_layer *l, int n, int mean_over, cl_mem logits,
                             cl_mem labels, cl_mem dlogits, cl_mem totals,
                             int accumulate, float smoothing, cnn_error *err);

/* The predicted class of one row of k scores: the argmax, the lowest index
 * on ties, as the accuracy in the totals counts it. */
int loss_argmax(const float *row, int k);

/* probs = softmax(logits), for prediction. logits and probs are (N, K). */
cnn_status loss_softmax(const loss_layer *l, int n, cl_mem logits,
                        cl_mem probs, cnn_error *err);

#endif
