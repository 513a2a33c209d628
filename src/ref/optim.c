/* optim.c: reference optimizer steps and clipping (see ref/optim.h). */
#include "ref/optim.h"

#include <math.h>

/* Whether weight decay applies to value i. */
static int decays_at(const unsigned char *decays, long i)
{
    return !decays || decays[i];
}

void ref_adam_step(const optim_config *c, long t, double *p, const double *g,
                   double *const *state, const unsigned char *decays, long count)
{
    double b1 = c->beta1, b2 = c->beta2, *m = state[0], *v = state[1];
    double lr_t = c->lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
    for (long i = 0; i < count; i++) {
        double gi = g[i] + (decays_at(decays, i) ? (double)c->weight_decay * p[i] : 0);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= lr_t * m[i] / (sqrt(v[i]) + c->eps);
    }
}

void ref_adamw_step(const optim_config *c, long t, double *p, const double *g,
                    double *const *state, const unsigned char *decays, long count)
{
    double b1 = c->beta1, b2 = c->beta2, *m = state[0], *v = state[1];
    double step = c->lr / (1 - pow(b1, t)), bc2 = sqrt(1 - pow(b2, t));
    for (long i = 0; i < count; i++) {
        if (decays_at(decays, i))
            p[i] *= 1 - (double)c->lr * c->weight_decay;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrt(v[i]) / bc2 + c->eps);
    }
}

void ref_sgd_step(const optim_config *c, long t, double *p, const double *g,
                  double *const *state, const unsigned char *decays, long count)
{
    double mom = c->momentum, *buf = state[0];
    for (long i = 0; i < count; i++) {
        double gi = g[i] + (decays_at(decays, i) ? (double)c->weight_decay * p[i] : 0);
        if (mom > 0) {
            /* PyTorch's first step sets buf = g */
            buf[i] = t == 1 ? gi : mom * buf[i] + gi;
            gi = c->nesterov ? gi + mom * buf[i] : buf[i];
        }
        p[i] -= c->lr * gi;
    }
}

void ref_rmsprop_step(const optim_config *c, long t, double *p, const double *g,
                      double *const *state, const unsigned char *decays, long count)
{
    (void)t;
    double alpha = c->rho, mom = c->momentum, *sq = state[0], *buf = state[1];
    for (long i = 0; i < count; i++) {
        double gi = g[i] + (decays_at(decays, i) ? (double)c->weight_decay * p[i] : 0);
        sq[i] = alpha * sq[i] + (1 - alpha) * gi * gi;
        double avg = sqrt(sq[i]) + c->eps;
        if (mom > 0) {
            buf[i] = mom * buf[i] + gi / avg;
            p[i] -= c->lr * buf[i];
        } else {
            p[i] -= c->lr * gi / avg;
        }
    }
}

double ref_clip_coef(const double *g, long count, double max_norm)
{
    double s = 0;
    for (long i = 0; i < count; i++)
        s += g[i] * g[i];
    double coef = max_norm / (sqrt(s) + 1e-6);
    return coef < 1 ? coef : 1;
}
