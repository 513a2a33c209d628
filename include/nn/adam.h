/* adam: the Adam optimizer as Keras (TensorFlow) computes it, one launch for
 * every parameter of the network.
 *
 * The network keeps all parameters in one flat buffer and their gradients in
 * another of the same layout; the optimizer owns the moments m and v in the
 * same layout. At step t (1-based), with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
 * computed on the host in double:
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   p = p - lr_t m / (sqrt(v) + eps)
 * eps is used as given: Keras' epsilon is the "epsilon hat" of Kingma and
 * Ba's reformulated update (the formula before their section 2.1), not the
 * epsilon of their Algorithm 1, so it is not rescaled by sqrt(1 - b2^t).
 * The functions only enqueue work; results are deterministic. */
#ifndef ADAM_H
#define ADAM_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

typedef struct {
    float lr, beta1, beta2, epsilon;
} adam_config;

/* Keras' defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7. */
adam_config adam_defaults(void);

typedef struct {
    const clrt *rt;
    int count;       /* parameters, padding included */
    adam_config cfg;
    long step;       /* steps taken; a checkpoint restores it with m and v */
    cl_kernel update;
    size_t local;    /* the GPU kernel's work-group size; 0: the other's */
    cl_mem m, v;     /* first and second moments, (count) each */
} adam_optimizer;

/* The step's tuner site ("adam.update", kind "adam"): "vec16", sixteen
 * parameters per work-item in float16 (for CPUs), or "gpu" (TUNE_NOT_CPU),
 * one per work-item in work-groups of the row's tiles[0] (0 for "vec16").
 * Each value takes the same operations, but the compiler may contract them
 * into fma differently in vector and scalar code, so the keys differ. */
extern const tune_variant adam_variants[];
extern const int adam_variant_count;

/* An optimizer for `count` parameters (>= 1) with m and v zeroed (the
 * zeroing is enqueued), its kernel chosen by tune (NULL: the first
 * variant). On failure nothing needs releasing. */
cnn_status adam_create(adam_optimizer *a, const clrt *rt, int count,
                       adam_config cfg, tuner *tune, cnn_error *err);
void adam_release(adam_optimizer *a);

/* Takes step a->step + 1: updates params in place from grads, and m and v.
 * params and grads are (count); grads is not modified. */
cnn_status adam_step(adam_optimizer *a, cl_mem params, cl_mem grads,
                     cnn_error *err);

#endif
