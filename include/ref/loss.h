/* ref/loss.h: plain C reference of softmax and sparse categorical
 * cross-entropy, in double. Tests only. logits, probs and dlogits are
 * (n, k); labels is (n), each in [0, k). */
#ifndef REF_LOSS_H
#define REF_LOSS_H

#include <stdint.h>

void ref_softmax(const double *logits, double *probs, int n, int k);

/* dlogits = (softmax(logits) - q) / n, the gradient of the mean loss, with
 * q = (1 - smoothing) onehot(label) + smoothing / k (PyTorch's label
 * smoothing; 0: the plain loss); *loss_sum = the sum over rows of
 * -sum_j q_j log softmax(row)_j; *correct = the rows whose argmax (lowest
 * index on ties) is the label. */
void ref_softmax_xent(const double *logits, const int32_t *labels, int n,
                      int k, double smoothing, double *dlogits, double *loss_sum,
                      double *correct);

#endif
