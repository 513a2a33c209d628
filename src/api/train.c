/* train.c: training from a cnn_cl_train_config, the trainer's options
 * resolved as `cnn-cl train` resolves its command line (cnn_cl.h,
 * api/train.h). */
#include "api/train.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/devices.h"
#include "api/error.h"
#include "train/trainer.h"

/* A numeric setting: its option, its range and its field. */
typedef struct {
    const char *option;
    const char *what;      /* "an integer", "a number", ... for messages */
    double min, max;
    int min_open, max_open; /* the bound itself is outside */
    size_t offset;         /* in cnn_cl_train_config */
    char type;             /* 'i' int, 'l' long, 'd' double */
} setting;

#define FIELD(f, type) offsetof(cnn_cl_train_config, f), type

static const setting settings[] = {
    {"--epochs", "an integer", 1, 100000, 0, 0, FIELD(epochs, 'i')},
    {"--batch", "an integer", 1, 65536, 0, 0, FIELD(batch, 'i')},
    {"--lr", "a learning rate", 0, 10, 1, 0, FIELD(lr, 'd')},
    {"--warmup", "an integer", 0, 0x7fffffff, 0, 0, FIELD(warmup, 'l')},
    {"--label-smoothing", "a number", 0, 1, 0, 1, FIELD(label_smoothing, 'd')},
    {"--momentum", "a number", 0, 1, 0, 1, FIELD(momentum, 'd')},
    {"--weight-decay", "a number", 0, 1, 0, 0, FIELD(weight_decay, 'd')},
    /* 0 would divide zero by zero where moments are zero (padding) */
    {"--eps", "a number", 0, 1, 1, 0, FIELD(eps, 'd')},
    {"--rho", "a number", 0, 1, 0, 1, FIELD(rho, 'd')},
    {"--clip-norm", "a number", 0, 1e30, 1, 0, FIELD(clip_norm, 'd')},
    {"--seed", "an integer", 0, 0x7fffffff, 0, 0, FIELD(seed, 'l')},
    {"--limit", "an integer", 1, 0x7fffffff, 0, 0, FIELD(limit, 'l')},
    /* In double, as Keras counts: a float's 0.2 would train one fewer. */
    {"--validation-split", "a number", 0, 1, 1, 1, FIELD(validation_split, 'd')},
    {"--early-stopping", "an integer", 1, 100000, 0, 0, FIELD(early_stopping, 'i')},
};

#define NSETTINGS (sizeof settings / sizeof *settings)

_Static_assert(CNN_CL_MAX_DEVICES == REPLICAS_MAX_DEVICES,
               "cnn_cl.h's device limit is the trainer's");

static const setting *find_setting(const char *option)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (!strcmp(settings[i].option, option))
            return &settings[i];
    return NULL;
}

static double get(const cnn_cl_train_config *c, const setting *s)
{
    const char *at = (const char *)c + s->offset;
    return s->type == 'i' ? *(const int *)at
           : s->type == 'l' ? (double)*(const long *)at : *(const double *)at;
}

static void put(cnn_cl_train_config *c, const setting *s, double v)
{
    char *at = (char *)c + s->offset;
    if (s->type == 'i')
        *(int *)at = (int)v;
    else if (s->type == 'l')
        *(long *)at = (long)v;
    else
        *(double *)at = v;
}

/* v within s's range (NaN never is), else the error naming text. */
static cnn_status check(const setting *s, double v, const char *text, cnn_error *err)
{
    int integral = s->type != 'd';
    if ((s->min_open ? v > s->min : v >= s->min) && (s->max_open ? v < s->max : v <= s->max) &&
        (!integral || v == floor(v)))
        return CNN_OK;
    return cnn_fail(err, CNN_ERR_INPUT, "%s: '%s' is not %s in %c%.10g, %.10g%c", s->option,
                    text, s->what, s->min_open ? '(' : '[', s->min, s->max,
                    s->max_open ? ')' : ']');
}

const char *api_train_numeric(int i)
{
    return i >= 0 && (size_t)i < NSETTINGS ? settings[i].option : NULL;
}

cnn_status api_train_set(cnn_cl_train_config *c, const char *option, const char *text,
                         cnn_error *err)
{
    const setting *s = find_setting(option);
    if (!s)
        return cnn_fail(err, CNN_ERR_INPUT, "%s is no numeric setting", option);
    char *end;
    double v = NAN;
    errno = 0;
    if (s->type == 'd') {
        double x = strtod(text, &end);
        if (end != text && !*end)
            v = x;
    } else {
        long x = strtol(text, &end, 10);
        if (!errno && end != text && !*end)
            v = (double)x;
    }
    cnn_status st = check(s, v, text, err);
    if (st == CNN_OK)
        put(c, s, v);
    return st;
}

void cnn_cl_train_config_init(cnn_cl_train_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NSETTINGS; i++)
        put(c, &settings[i], CNN_CL_DEFAULT);
    c->data = "datasets/mnist";
    c->save = "cnn-cl.safetensors";
}

/* What the trainer's hooks carry back to the caller's callbacks. */
typedef struct {
    const cnn_cl_train_config *config;
} hooks;

static int call(cnn_cl_train_callback f, const train_progress *p, void *ctx)
{
    const hooks *h = ctx;
    cnn_cl_train_progress q = {
        .epoch = p->epoch, .epochs = p->epochs, .batch = p->done, .batches = p->batches,
        .loss = p->loss, .accuracy = p->accuracy, .val_loss = p->val_loss,
        .val_accuracy = p->val_accuracy, .seconds = p->seconds,
        .images_per_second = p->images_per_second, .lr = p->lr};
    return f(&q, h->config->user);
}

static int on_step(const train_progress *p, void *ctx)
{
    return call(((const hooks *)ctx)->config->on_step, p, ctx);
}

static int on_epoch(const train_progress *p, void *ctx)
{
    return call(((const hooks *)ctx)->config->on_epoch, p, ctx);
}

/* The devices' indices into o; they must agree on how to build. */
static cnn_status take_devices(cnn_cl_device *const *devs, int n, train_options *o,
                               cnn_error *err)
{
    if (n < 1 || n > CNN_CL_MAX_DEVICES)
        return cnn_fail(err, CNN_ERR_INPUT, "--device: %d devices; 1 to %d per process", n,
                        CNN_CL_MAX_DEVICES);
    for (int d = 0; d < n; d++) {
        if (!devs[d])
            return cnn_fail(err, CNN_ERR_INPUT, "cnn_cl_train: device %d is NULL", d);
        const char *k = devs[d]->kernels, *k0 = devs[0]->kernels;
        if (strcmp(devs[d]->gemm, devs[0]->gemm) || ((k || k0) && (!k || !k0 || strcmp(k, k0))))
            return cnn_fail(err, CNN_ERR_INPUT, "cnn_cl_train: devices %d and 0 differ in "
                            "their GEMM or kernel folder; training builds alike on all", d);
        o->devices[d] = devs[d]->info.index;
    }
    o->ndevices = n;
    o->kernels = devs[0]->kernels;
    return CNN_OK;
}

/* The optimizer and its settings: its defaults, then those given. */
static cnn_status take_optimizer(const cnn_cl_train_config *c, train_options *o,
                                 cnn_error *err)
{
    const char *name = c->optimizer ? c->optimizer : "adam";
    const optim_rule *rule = optim_find(name);
    if (!rule)
        return cnn_fail(err, CNN_ERR_INPUT, "--optimizer: '%s' is none of adam, adamw, sgd, "
                        "rmsprop", name);
    o->optim = optim_defaults(rule);
    if (c->optimizer)
        o->set_optim |= TRAIN_SET_OPTIMIZER;
    struct {
        double given;
        float *field;
        unsigned bit;
    } numbers[] = {
        {c->momentum, &o->optim.momentum, TRAIN_SET_MOMENTUM},
        {c->weight_decay, &o->optim.weight_decay, TRAIN_SET_WEIGHT_DECAY},
        {c->eps, &o->optim.eps, TRAIN_SET_EPS},
        {c->rho, &o->optim.rho, TRAIN_SET_RHO},
        {c->clip_norm, &o->optim.clip_norm, TRAIN_SET_CLIP_NORM},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        if (numbers[i].given != CNN_CL_DEFAULT) {
            *numbers[i].field = (float)numbers[i].given;
            o->set_optim |= numbers[i].bit;
        }
    o->optim.nesterov = c->nesterov != 0;
    if (c->nesterov)
        o->set_optim |= TRAIN_SET_NESTEROV;
    return CNN_OK;
}

/* The trainer's options from c: every given setting checked, the others
 * the command's defaults. */
static cnn_status take_config(const cnn_cl_train_config *c, train_options *o,
                              cnn_error *err)
{
    char text[64];
    for (size_t i = 0; i < NSETTINGS; i++) {
        double v = get(c, &settings[i]);
        snprintf(text, sizeof text, "%.9g", v);
        cnn_status st = v == CNN_CL_DEFAULT ? CNN_OK : check(&settings[i], v, text, err);
        if (st)
            return st;
    }
#define GIVEN(field, flag, fallback) \
    (c->field == CNN_CL_DEFAULT ? (fallback) : ((flag) = 1, c->field))
    o->epochs = GIVEN(epochs, o->set_epochs, 5);
    o->batch = GIVEN(batch, o->set_batch, 32);
    o->lr = (float)GIVEN(lr, o->set_lr, 0.001);
    o->seed = (uint64_t)GIVEN(seed, o->set_seed, 1);
    o->sched.warmup = GIVEN(warmup, o->set_warmup, 0);
    o->label_smoothing = (float)GIVEN(label_smoothing, o->set_smoothing, 0);
    o->patience = GIVEN(early_stopping, o->set_patience, 0);
#undef GIVEN
    o->limit = c->limit == CNN_CL_DEFAULT ? 0 : c->limit;
    o->validation_split = c->validation_split == CNN_CL_DEFAULT ? 0 : c->validation_split;
    cnn_status st;
    if (c->lr_schedule) {
        if ((st = schedule_parse(c->lr_schedule, &o->sched, err)))
            return st;
        o->set_schedule = 1;
    }
    if (c->augment) {
        if ((st = augment_parse(c->augment, "--augment", &o->augment, err)))
            return st;
        o->set_augment = 1;
    }
    if ((st = take_optimizer(c, o, err)))
        return st;
    o->data = c->data ? c->data : "datasets/mnist";
    o->arch = c->arch;
    o->save = c->save ? c->save : "cnn-cl.safetensors";
    o->resume = c->resume;
    o->init = c->init;
    o->log = c->log;
    o->save_best = c->save_best;
    o->normalize = c->normalize != 0;
    o->quiet = c->quiet != 0;
    o->out = c->out;
    o->catch_signals = c->catch_signals != 0;
    if (o->init && o->resume)
        return cnn_fail(err, CNN_ERR_INPUT, "--init %s starts a new run and --resume %s "
                        "continues one; give one of them", o->init, o->resume);
    return CNN_OK;
}

cnn_cl_status api_train_job(comm *job, cnn_cl_device *const *devices, int n,
                            const cnn_cl_train_config *c, cnn_cl_train_result *result,
                            cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!devices || !c || !result)
        return api_status(err, api_null(&e, "cnn_cl_train", !devices ? "devices"
                                                            : !c ? "config" : "result"), &e);
    memset(result, 0, sizeof *result);
    train_options *o = calloc(1, sizeof *o);
    if (!o)
        return api_status(err, cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory"), &e);
    hooks h = {c};
    cnn_status st = take_devices(devices, n, o, &e);
    if (st == CNN_OK)
        st = take_config(c, o, &e);
    if (st == CNN_OK)
        st = api_device_tuner(devices[0], &o->tune, &e);
    if (st == CNN_OK) {
        o->comm = job;
        o->tune.allow_different = c->allow_different_arithmetic != 0;
        if (o->quiet || comm_rank(job) != 0)
            o->tune.progress = NULL;
        o->notes = devices[0]->log;
        o->on_step = c->on_step ? on_step : NULL;
        o->on_epoch = c->on_epoch ? on_epoch : NULL;
        o->hook_ctx = &h;
        train_result r;
        st = train_run(o, &r, &e);
        *result = (cnn_cl_train_result){
            .epochs_done = r.epochs_done, .val_loss = r.val_loss,
            .val_accuracy = r.val_accuracy, .test_loss = r.test_loss,
            .test_accuracy = r.test_accuracy, .stopped_early = r.stopped_early,
            .best_epoch = r.best_epoch, .saved_epochs = r.saved_epochs,
            .signal = r.signal == TRAIN_STOP_HOOK ? 0 : r.signal,
            .stopped = r.signal == TRAIN_STOP_HOOK};
    }
    free(o);
    return api_status(err, st, &e);
}

cnn_cl_status cnn_cl_train(cnn_cl_device *const *devices, int n,
                           const cnn_cl_train_config *config, cnn_cl_train_result *result,
                           cnn_cl_error *err)
{
    return api_train_job(NULL, devices, n, config, result, err);
}
