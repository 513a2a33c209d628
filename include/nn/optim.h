/* optim: the optimizers, one launch for every parameter of the network.
 *
 * The network keeps all parameters in one flat buffer and their gradients in
 * another of the same layout; the optimizer owns its rule's state (moments,
 * momentum) in that layout too. Each rule is one row of optim_rules[]: its
 * name, its state tensors' names, its kernels (kernels/optim.cl), the
 * hyperparameters it takes and its defaults. Step-dependent scalars are
 * computed on the host in double. At step t (1-based), g the gradient:
 *
 * adam (Keras' rule, Keras' defaults), lr_t = lr sqrt(1 - b2^t) / (1 - b1^t):
 *   g += wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr_t m / (sqrt(v) + eps)
 *   eps is used as given: Keras' epsilon is the "epsilon hat" of Kingma and
 *   Ba's reformulated update (before their section 2.1), not the epsilon of
 *   their Algorithm 1, so it is not rescaled by sqrt(1 - b2^t). wd is
 *   torch.optim.Adam's L2 term (Keras has none).
 * adamw (torch.optim.AdamW):
 *   p *= 1 - lr wd;  m, v as adam
 *   p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * sgd (torch.optim.SGD, dampening 0):
 *   g += wd p;  with momentum mom > 0: buf = mom buf + g (the first step's
 *   buf is g, as a zeroed buf gives), g = nesterov ? g + mom buf : buf
 *   p -= lr g
 * rmsprop (torch.optim.RMSprop, centered=False; alpha is rho):
 *   g += wd p;  sq = rho sq + (1 - rho) g^2;  avg = sqrt(sq) + eps
 *   mom > 0: buf = mom buf + g / avg, p -= lr buf;  else p -= lr g / avg
 *
 * Weight decay applies to trainable tensors only: a byte per parameter,
 * built once at create, says where. Padding and tensors a layer updates
 * itself (batch norm's moving statistics) have zero gradients and zero
 * state, so every rule leaves them exactly as they are.
 *
 * Clipping (clip_norm > 0) scales every gradient by
 * min(clip_norm / (||g|| + 1e-6), 1), ||g|| the L2 norm over the whole
 * gradient buffer, as torch.nn.utils.clip_grad_norm_ does. The norm is
 * reduced on the device in a fixed order (OPTIM_CLIP_LANES strided partial
 * sums with fma, then their sum in lane order), so it is the same bits on
 * every run and on every device of one kind; the coefficient stays on the
 * device and the step reads it. The functions only enqueue work. */
#ifndef OPTIM_H
#define OPTIM_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

#define OPTIM_MAX_STATE 2
#define OPTIM_CLIP_LANES 1024 /* the norm's partial sums; fixed, so every
                                 device sums in the same order */

/* The hyperparameters a rule takes besides lr and weight decay (which all
 * take), as bits of optim_rule.takes. */
enum { OPTIM_TAKES_MOMENTUM = 1, OPTIM_TAKES_NESTEROV = 2, OPTIM_TAKES_EPS = 4,
       OPTIM_TAKES_RHO = 8 };

typedef struct optim_rule optim_rule;

typedef struct {
    const optim_rule *rule;
    float lr;
    float beta1, beta2;  /* adam, adamw */
    float eps;           /* adam, adamw, rmsprop; > 0 */
    float weight_decay;  /* >= 0 */
    float momentum;      /* sgd, rmsprop; >= 0 */
    int nesterov;        /* sgd, with momentum > 0 */
    float rho;           /* rmsprop */
    float clip_norm;     /* > 0: the gradients' norm is clipped to it; 0: not */
} optim_config;

/* The step's scalars, h of the rule's kernels (kernels/optim.cl), for step
 * t of c. */
typedef cl_float8 (*optim_scalars_fn)(const optim_config *c, long t);

/* The rule's plain C reference (src/ref/optim.c, for tests): step t of c
 * in double over p, g (as the rule sees it: clipped already) and its state,
 * each (count); decays (count) 1 where weight decay applies, NULL:
 * everywhere. */
typedef void (*optim_ref_fn)(const optim_config *c, long t, double *p, const double *g,
                             double *const *state, const unsigned char *decays,
                             long count);

struct optim_rule {
    const char *name;      /* "adam": what --optimizer takes, the tuner's kind
                              and the checkpoint's prefix */
    const char *site;      /* its tuner site: "adam.update" */
    const char *kernel;    /* vec16 shape; "<kernel>_gpu" is the other */
    int nstate;
    const char *state[OPTIM_MAX_STATE]; /* checkpoint names:
                                           "<name>.<state>.<tensor>" */
    int momentum_state;    /* the state that is a momentum buffer, live only
                              with momentum > 0; -1: none */
    unsigned takes;        /* OPTIM_TAKES_* */
    float lr, weight_decay, eps, rho; /* its defaults (momentum 0, no clip) */
    optim_scalars_fn scalars;
    optim_ref_fn ref_step;
};

/* adam first: the default. */
extern const optim_rule optim_rules[];
extern const int optim_rule_count;

/* The row named `name`, or NULL. */
const optim_rule *optim_find(const char *name);

/* r's defaults (r NULL: adam's): adam lr 1e-3, betas 0.9/0.999, eps 1e-7
 * (Keras); adamw lr 1e-3, weight decay 0.01, eps 1e-8 (PyTorch); sgd lr
 * 1e-3; rmsprop lr 1e-3, rho 0.9, eps 1e-7 (Keras). */
optim_config optim_defaults(const optim_rule *r);

/* Whether state k of c's rule is live: saved in checkpoints, shared between
 * devices. A momentum buffer is only with momentum > 0. */
int optim_state_live(const optim_config *c, int k);

/* c for people: "sgd (momentum 0.9, nesterov, weight decay 0.0001)". */
void optim_describe(const optim_config *c, char *buf, size_t size);

typedef struct {
    const clrt *rt;
    int count;       /* parameters, padding included */
    optim_config cfg; /* cfg.lr is the next step's rate (network_set_lr) */
    long step;       /* steps taken; a checkpoint restores it with the state */
    cl_kernel update, clip_sum, clip_coef;
    size_t local;    /* the GPU shape's work-group size; 0: the vec16 shape */
    cl_mem state[OPTIM_MAX_STATE]; /* the rule's, (count) each, zeroed */
    cl_mem decays;   /* (count) bytes: 1 where weight decay applies */
    cl_mem partial;  /* (OPTIM_CLIP_LANES) the norm's partial sums */
    cl_mem coef;     /* 1 float: what the step scales gradients by */
} optimizer;

/* A step's tuner site (the rule's site, kind its name): "vec16", sixteen
 * parameters per work-item in float16 (for CPUs), or "gpu" (TUNE_NOT_CPU),
 * one per work-item in work-groups of the row's tiles[0] (0 for "vec16").
 * Each value takes the same operations, but the compiler may contract them
 * into fma differently in vector and scalar code, so the keys differ:
 * "vec16" and "scalar". */
extern const tune_variant optim_variants[];
extern const int optim_variant_count;

/* An optimizer of cfg's rule for `count` parameters (>= 1) with its state
 * zeroed (enqueued); decays[i] (count bytes) is 1 where weight decay
 * applies, NULL meaning everywhere. Its kernel is chosen by tune (NULL: the
 * first variant). On failure nothing needs releasing. */
cnn_status optim_create(optimizer *o, const clrt *rt, int count, optim_config cfg,
                        const unsigned char *decays, tuner *tune, cnn_error *err);
void optim_release(optimizer *o);

/* Takes step o->step + 1: clips the gradients' norm (when cfg.clip_norm >
 * 0), then updates params in place from grads, and the state. params and
 * grads are (count); grads is not modified. */
cnn_status optim_step(optimizer *o, cl_mem params, cl_mem grads, cnn_error *err);

#endif
