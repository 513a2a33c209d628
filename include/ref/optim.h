/* ref/optim.h: plain C reference of one step of every optimizer rule, and
 * of gradient clipping, in double. Tests only; the formulas are in
 * nn/optim.h. */
#ifndef REF_OPTIM_H
#define REF_OPTIM_H

#include "nn/optim.h"

/* Each rule's step, an optim_ref_fn (nn/optim.h); its row names it. */
void ref_adam_step(const optim_config *c, long t, double *p, const double *g,
                   double *const *state, const unsigned char *decays, long count);
void ref_adamw_step(const optim_config *c, long t, double *p, const double *g,
                    double *const *state, const unsigned char *decays, long count);
void ref_sgd_step(const optim_config *c, long t, double *p, const double *g,
                  double *const *state, const unsigned char *decays, long count);
void ref_rmsprop_step(const optim_config *c, long t, double *p, const double *g,
                      double *const *state, const unsigned char *decays, long count);

/* torch.nn.utils.clip_grad_norm_'s coefficient for g (count):
 * min(max_norm / (sqrt(sum g^2) + 1e-6), 1). */
double ref_clip_coef(const double *g, long count, double max_norm);

#endif
