/* ref/loss.h: plain C reference of softmax and sparse categorical
 * cross-entropy, in double. Tests only. logits, probs and dlogits are
 * (n, k); labels is (n), each in [0, k). */
#ifndef REF_LOSS_H
#define REF_LOSS_H

#include <stdint.h>

void ref_softmax(const double *logits, double *probs, int n, int k);

/* dlogits = (softmax(logits) - onehot(labels)) / n, the gradient of the
 * mean loss; *loss_sum = the sum over rows of -log softmax(row)[label];
 * *correct = the rows whose argmax (lowest index on ties) is the label. */
void ref_softmax_xent(const double *logits, const int32_t *labels, int n,
                      int k, double *dlogits, double *loss_sum,
                      double *correct);

#endif
