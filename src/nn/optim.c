/* optim.c: host side of the optimizers (see optim.h); the kernels are in
 * kernels/optim.cl. */
#include "nn/optim.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ref/optim.h"

/* Each rule's scalars, in the order its kernels name them. Powers of the
 * betas are taken in double so that beta^t stays accurate over long runs. */

static cl_float8 adam_scalars(const optim_config *c, long t)
{
    double b1 = c->beta1, b2 = c->beta2;
    float lr_t = (float)(c->lr * sqrt(1.0 - pow(b2, (double)t)) / (1.0 - pow(b1, (double)t)));
    return (cl_float8){{lr_t, c->eps, c->beta1, c->beta2, c->weight_decay}};
}

static cl_float8 adamw_scalars(const optim_config *c, long t)
{
    double b1 = c->beta1, b2 = c->beta2;
    float step = (float)(c->lr / (1.0 - pow(b1, (double)t)));
    float bc2 = (float)sqrt(1.0 - pow(b2, (double)t));
    float decay = (float)(1.0 - (double)c->lr * c->weight_decay);
    return (cl_float8){{step, bc2, c->eps, c->beta1, c->beta2, decay}};
}

static cl_float8 sgd_scalars(const optim_config *c, long t)
{
    (void)t;
    return (cl_float8){{c->lr, c->momentum, c->nesterov ? 1.0f : 0.0f, c->weight_decay}};
}

static cl_float8 rmsprop_scalars(const optim_config *c, long t)
{
    (void)t;
    return (cl_float8){{c->lr, c->rho, c->eps, c->momentum, c->weight_decay}};
}

const optim_rule optim_rules[] = {
    {.name = "adam", .site = "adam.update", .kernel = "adam_update", .nstate = 2,
     .state = {"m", "v"}, .momentum_state = -1, .takes = OPTIM_TAKES_EPS, .lr = 1e-3f,
     .eps = 1e-7f, .scalars = adam_scalars,
     .ref_step = ref_adam_step},
    {.name = "adamw", .site = "adamw.update", .kernel = "adamw_update", .nstate = 2,
     .state = {"exp_avg", "exp_avg_sq"}, .momentum_state = -1, .takes = OPTIM_TAKES_EPS,
     .lr = 1e-3f, .weight_decay = 0.01f, .eps = 1e-8f, .scalars = adamw_scalars,
     .ref_step = ref_adamw_step},
    {.name = "sgd", .site = "sgd.update", .kernel = "sgd_update", .nstate = 1,
     .state = {"momentum"}, .momentum_state = 0,
     .takes = OPTIM_TAKES_MOMENTUM | OPTIM_TAKES_NESTEROV, .lr = 1e-3f,
     .scalars = sgd_scalars,
     .ref_step = ref_sgd_step},
    {.name = "rmsprop", .site = "rmsprop.update", .kernel = "rmsprop_update", .nstate = 2,
     .state = {"square_avg", "momentum"}, .momentum_state = 1,
     .takes = OPTIM_TAKES_EPS | OPTIM_TAKES_RHO | OPTIM_TAKES_MOMENTUM, .lr = 1e-3f,
     .eps = 1e-7f, .rho = 0.9f, .scalars = rmsprop_scalars,
     .ref_step = ref_rmsprop_step},
};
const int optim_rule_count = sizeof optim_rules / sizeof *optim_rules;

const optim_rule *optim_find(const char *name)
{
    for (int i = 0; i < optim_rule_count; i++)
        if (!strcmp(optim_rules[i].name, name))
            return &optim_rules[i];
    return NULL;
}

optim_config optim_defaults(const optim_rule *r)
{
    if (!r)
        r = &optim_rules[0];
    return (optim_config){.rule = r, .lr = r->lr, .beta1 = 0.9f, .beta2 = 0.999f,
                          .eps = r->eps, .weight_decay = r->weight_decay, .rho = r->rho};
}

int optim_state_live(const optim_config *c, int k)
{
    /* Momentum 0 leaves the momentum buffer untouched. */
    return k < c->rule->nstate && (k != c->rule->momentum_state || c->momentum > 0);
}

void optim_describe(const optim_config *c, char *buf, size_t size)
{
    const optim_rule *r = c->rule;
    char more[256] = "";
    size_t n = 0;
#define MORE(...) (n += (size_t)snprintf(more + n, n < sizeof more ? sizeof more - n : 0, \
                                         __VA_ARGS__))
    if ((r->takes & OPTIM_TAKES_MOMENTUM) && c->momentum > 0)
        MORE(", momentum %g", (double)c->momentum);
    if (c->nesterov)
        MORE(", nesterov");
    if (c->weight_decay > 0)
        MORE(", weight decay %g", (double)c->weight_decay);
    if ((r->takes & OPTIM_TAKES_RHO) && c->rho != r->rho)
        MORE(", rho %g", (double)c->rho);
    if ((r->takes & OPTIM_TAKES_EPS) && c->eps != r->eps)
        MORE(", eps %g", (double)c->eps);
    if (c->clip_norm > 0)
        MORE(", clip norm %g", (double)c->clip_norm);
#undef MORE
    snprintf(buf, size, *more ? "%s (%s)" : "%s", r->name, more + 2);
}

/* A row's one number: the work-group size of one parameter per work-item,
 * 0 for sixteen per work-item in groups the runtime picks. */
const tune_variant optim_variants[] = {
    {"vec16", "vec16", TUNE_ANYWHERE, {0}},
    {"gpu", "scalar", TUNE_NOT_CPU, {CLRT_WORK_GROUP}},
};
const int optim_variant_count = sizeof optim_variants / sizeof *optim_variants;

/* Enqueues a fill of `bytes` bytes of buf with `pattern`. */
static cnn_status fill(const clrt *rt, cl_mem buf, const void *pattern, size_t psize,
                       size_t bytes, cnn_error *err)
{
    CLRT_CALL(err, clEnqueueFillBuffer, (rt->queue, buf, pattern, psize, 0, bytes, 0, NULL,
                                         NULL));
    return CNN_OK;
}

/* The optimizer as optim_variants[variant]. */
static cnn_status create_variant(optimizer *o, const clrt *rt, int count, optim_config cfg,
                                 const unsigned char *decays, int variant, cnn_error *err)
{
    memset(o, 0, sizeof *o);
    /* The kernel indexes with int, work-items past the end included. */
    if (count < 1 || count > INT_MAX - CLRT_WORK_GROUP)
        return cnn_fail(err, CNN_ERR_INPUT, "%s over %d parameters is out of range",
                        cfg.rule->name, count);
    o->rt = rt;
    o->count = count;
    o->cfg = cfg;
    size_t bytes = (size_t)count * sizeof(float);
    const float zero = 0.0f, one = 1.0f;
    const unsigned char all = 1;
    const size_t wg = (size_t)optim_variants[variant].tiles[0];
    char name[64];
    snprintf(name, sizeof name, "%s%s", cfg.rule->kernel, wg ? "_gpu" : "");
    cnn_status st = clrt_kernel(rt, name, &o->update, err);
    if (st == CNN_OK && wg) {
        /* The row's work-group size, or the most the device allows. */
        st = clrt_work_group(rt, &o->update, 1, wg, &o->local, err);
    }
    for (int k = 0; k < cfg.rule->nstate && st == CNN_OK; k++)
        if (!(st = clrt_buffer(rt, bytes, &o->state[k], err)))
            st = fill(rt, o->state[k], &zero, sizeof zero, bytes, err);
    if (st == CNN_OK && !(st = clrt_buffer(rt, (size_t)count, &o->decays, err)))
        st = decays ? clrt_write(rt, o->decays, decays, (size_t)count, err)
                    : fill(rt, o->decays, &all, 1, (size_t)count, err);
    /* Without clipping the step scales gradients by 1, which is exact. */
    if (st == CNN_OK && !(st = clrt_buffer(rt, sizeof one, &o->coef, err)))
        st = fill(rt, o->coef, &one, sizeof one, sizeof one, err);
    if (st == CNN_OK && cfg.clip_norm > 0) {
        if (!(st = clrt_kernel(rt, "optim_clip_sum", &o->clip_sum, err)) &&
            !(st = clrt_kernel(rt, "optim_clip_coef", &o->clip_coef, err)))
            st = clrt_buffer(rt, OPTIM_CLIP_LANES * sizeof(float), &o->partial, err);
    }
    if (st != CNN_OK)
        optim_release(o);
    return st;
}

typedef struct {
    const clrt *rt;
    int count;
    optim_config cfg;
    optimizer o;
} optim_timing;

static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    optim_timing *t = ctx;
    (void)bufs;
    return create_variant(&t->o, t->rt, t->count, t->cfg, NULL, index, err);
}

/* One step on the scratch buffers params, grads. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    optim_timing *t = ctx;
    return optim_step(&t->o, b[0], b[1], err);
}

static void time_release(void *ctx)
{
    optim_release(&((optim_timing *)ctx)->o);
}

cnn_status optim_create(optimizer *o, const clrt *rt, int count, optim_config cfg,
                        const unsigned char *decays, tuner *tune, cnn_error *err)
{
    char shape[64];
    snprintf(shape, sizeof shape, "%s count=%d", cfg.rule->name, count);
    const tune_site site = {.name = cfg.rule->site, .kind = cfg.rule->name,
                            .shape_key = shape, .dev = &rt->dev};
    optim_timing t = {.rt = rt, .count = count, .cfg = cfg};
    tune_timing timing = {.rt = rt, .nbufs = 2, .counts = {(size_t)count, (size_t)count},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    int variant;
    memset(o, 0, sizeof *o);
    cnn_status st = tuner_choose(tune, &site, optim_variants, optim_variant_count, tune_time,
                                 &timing, &variant, err);
    return st ? st : create_variant(o, rt, count, cfg, decays, variant, err);
}

void optim_release(optimizer *o)
{
    clrt_release_kernel(&o->update);
    clrt_release_kernel(&o->clip_sum);
    clrt_release_kernel(&o->clip_coef);
    for (int k = 0; k < OPTIM_MAX_STATE; k++)
        clrt_release_mem(&o->state[k]);
    clrt_release_mem(&o->decays);
    clrt_release_mem(&o->partial);
    clrt_release_mem(&o->coef);
    memset(o, 0, sizeof *o);
}

/* Enqueues the clipping coefficient of grads into o->coef. */
static cnn_status clip(optimizer *o, cl_mem grads, cnn_error *err)
{
    const int lanes = OPTIM_CLIP_LANES;
    const size_t global = OPTIM_CLIP_LANES, one = 1;
    cnn_status st;
    if ((st = clrt_set_args(o->clip_sum, err, 3, sizeof grads, &grads, sizeof o->count,
                            &o->count, sizeof o->partial, &o->partial)) ||
        (st = clrt_launch(o->rt, o->clip_sum, 1, &global, NULL, NULL, err)) ||
        (st = clrt_set_args(o->clip_coef, err, 4, sizeof o->partial, &o->partial,
                            sizeof lanes, &lanes, sizeof o->cfg.clip_norm,
                            &o->cfg.clip_norm, sizeof o->coef, &o->coef)))
        return st;
    return clrt_launch(o->rt, o->clip_coef, 1, &one, &one, NULL, err);
}

cnn_status optim_step(optimizer *o, cl_mem params, cl_mem grads, cnn_error *err)
{
    long t = o->step + 1;
    cl_float8 h = o->cfg.rule->scalars(&o->cfg, t);
    cnn_status st = o->cfg.clip_norm > 0 ? clip(o, grads, err) : CNN_OK;
    if (st)
        return st;
    /* params, grads, the rule's state, decays, coef, count, h */
    const cl_mem *bufs[2 + OPTIM_MAX_STATE + 2] = {&params, &grads};
    int n = 2;
    for (int k = 0; k < o->cfg.rule->nstate; k++)
        bufs[n++] = &o->state[k];
    bufs[n++] = &o->decays;
    bufs[n++] = &o->coef;
    for (int i = 0; i < n; i++)
        CLRT_CALL(err, clSetKernelArg, (o->update, (cl_uint)i, sizeof(cl_mem), bufs[i]));
    CLRT_CALL(err, clSetKernelArg, (o->update, (cl_uint)n, sizeof o->count, &o->count));
    CLRT_CALL(err, clSetKernelArg, (o->update, (cl_uint)n + 1, sizeof h, &h));
    if (o->local) {
        /* One parameter per work-item, rounded up to whole groups. */
        size_t global = (size_t)o->count;
        st = clrt_launch(o->rt, o->update, 1, &global, &o->local, NULL, err);
    } else {
        /* Sixteen parameters per work-item; the runtime picks the
         * work-group size from a global size rounded up to a multiple of
         * 64. */
        size_t global = ((size_t)o->count + 15) / 16;
        global = (global + 63) / 64 * 64;
        st = clrt_launch(o->rt, o->update, 1, &global, NULL, NULL, err);
    }
    if (st == CNN_OK)
        o->step = t;
    return st;
}
