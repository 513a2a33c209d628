/* adam.c: reference Adam step (see ref/adam.h). */
#include "ref/adam.h"

#include <math.h>

void ref_adam_step(double *p, const double *g, double *m, double *v,
                   long count, long t, double lr, double b1, double b2,
                   double eps)
{
    double lr_t = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
    for (long i = 0; i < count; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr_t * m[i] / (sqrt(v[i]) + eps);
    }
}
