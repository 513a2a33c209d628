/* trainer.c: the training loop (see trainer.h).
 *
 * Every step, training or evaluating, goes through the workers of
 * replicas.h; one device is one worker. Each batch is uploaded and its step
 * enqueued before the host waits for the step before it, so the device
 * never idles while the host prepares the next one; the host waits once per
 * step. The running totals are read back without blocking behind each
 * step, so a NaN loss is seen one step late at most, without an extra sync.
 *
 * With several workers (devices, ranks) a training step ends with the
 * gradient exchange, so each is whole before the next: the exchange is
 * where the workers wait. Every rank runs this loop over its share of each
 * batch; rank 0 alone prints, logs and writes checkpoints, and a signal at
 * any rank stops all of them at the same step. */
#include "train/trainer.h"

#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/atomic_file.h"
#include "train/checkpoint.h"
#include "util/clock.h"
#include "data/holdout.h"
#include "data/loader.h"
#include "train/metrics_log.h"
#include "train/progress.h"
#include "train/schedule.h"

/* Batches the loader reads ahead. */
#define RING_SLOTS 4

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

/* A step in flight: its batch, held until the step is done, and the
 * workers' record of it (with the logits' place when a confusion matrix is
 * wanted). */
typedef struct {
    loader_batch *batch;
    replicas_step step;
} in_flight;

typedef struct {
    replicas *rep;
    loader *loader;
    int train;
    /* training: the rate of every step, from the schedule */
    const schedule *sched;
    double base_lr;
    long first_step;      /* the run's step at this epoch's batch 0 */
    long total_steps;
    double lr;            /* the rate of the last step enqueued */
    long next;            /* the epoch's batch enqueued next */
    progress *progress;   /* NULL: no progress output */
    const train_options *hooks; /* training: whose on_step to call (rank 0) */
    int epoch;            /* training: 1-based, for the hook */
    int asked;            /* a hook asked to stop: TRAIN_STOP_HOOK */
    double started;       /* clock_seconds() when the epoch would have begun
                             had it run without a break (resumed) */
    long *confusion;      /* NULL: not wanted */
    /* results */
    long done;            /* batches done in this epoch, resumed ones included */
    uint64_t samples;     /* samples done in this epoch */
    double loss_sum, correct;
    int stopped;          /* a signal arrived; the pass is incomplete */
    int signal;           /* which (training: the one the workers agreed on) */
} stream;

static cnn_status enqueue(stream *s, in_flight *f, loader_batch *b, cnn_error *err)
{
    if (s->train) {
        s->lr = schedule_rate(s->sched, s->base_lr, s->first_step + s->next,
                              loader_batches(s->loader), s->total_steps);
        replicas_set_lr(s->rep, (float)s->lr);
    }
    cnn_status st = s->train ? replicas_train_step(s->rep, b, stop_signal ? stop_signal
                                                                          : s->asked,
                                                   &f->step, err)
                             : replicas_eval_step(s->rep, b, &f->step, err);
    if (st == CNN_OK) {
        f->batch = b;
        s->next++;
    }
    return st;
}

/* Tells the step hook where training is; its nonzero return stops
 * training at a step the workers agree on, as a signal does. */
static void step_hook(stream *s)
{
    const train_options *o = s->hooks;
    if (!o || !o->on_step || !s->samples || s->asked)
        return;
    double n = (double)s->samples, seconds = clock_seconds() - s->started;
    train_progress p = {.epoch = s->epoch, .epochs = o->epochs, .done = s->done,
                        .batches = loader_batches(s->loader), .loss = s->loss_sum / n,
                        .accuracy = s->correct / n, .val_loss = -1, .val_accuracy = -1,
                        .seconds = seconds, .images_per_second = n / seconds, .lr = s->lr};
    if (o->on_step(&p, o->hook_ctx))
        s->asked = TRAIN_STOP_HOOK;
}

/* Waits for a step, hands its batch back and takes in its results. */
static cnn_status retire(stream *s, in_flight *f, cnn_error *err)
{
    cnn_status st = replicas_step_wait(s->rep, &f->step, &s->loss_sum, &s->correct, err);
    if (st)
        return st;
    loader_batch *b = f->batch;
    int k = s->rep->net[0].arch.classes;
    if (s->confusion)
        for (int i = 0; i < b->count; i++) {
            const float *row = f->step.logits + (size_t)i * (size_t)k;
            s->confusion[b->labels[i] * k + loss_argmax(row, k)]++;
        }
    s->samples += (uint64_t)b->total;
    s->done++;
    loader_release(s->loader, b);
    f->batch = NULL;
    if (!isfinite(s->loss_sum))
        return cnn_fail(err, CNN_ERR_RUNTIME, "the loss became %s at batch %ld of the "
                        "epoch; stopping. Try a lower --lr",
                        isnan(s->loss_sum) ? "NaN" : "infinite", s->done);
    step_hook(s);
    return CNN_OK;
}

/* Runs the loader's current epoch through the workers. */
static cnn_status run_stream(stream *s, double seconds_before, cnn_error *err)
{
    in_flight f[2] = {{0}};
    cnn_status st = CNN_OK;
    const network *net = &s->rep->net[0];
    /* A share's rows: up to a slice of the batch on each device. */
    size_t rows = (size_t)s->rep->ndev * (size_t)net->max_batch;
    for (int i = 0; i < 2 && s->confusion; i++)
        if (!(f[i].step.logits = malloc(rows * (size_t)net->arch.classes * sizeof(float))))
            st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    double t0 = clock_seconds();
    s->started = t0 - seconds_before;
    int cur = 0;
    while (st == CNN_OK) {
        loader_batch *b;
        if ((st = loader_next(s->loader, &b, err)))
            break;
        if (b && (st = enqueue(s, &f[cur], b, err)))
            break;
        in_flight *prev = &f[1 - cur];
        if (prev->batch && (st = retire(s, prev, err)))
            break;
        if (!b)
            break;
        double seconds = seconds_before + clock_seconds() - t0;
        if (s->progress && s->samples && progress_due(s->progress, seconds))
            progress_update(s->progress, s->done, seconds, s->loss_sum / (double)s->samples,
                            s->correct / (double)s->samples, s->lr);
        cur = 1 - cur;
        /* Training stops at the step the workers agreed on; an evaluation
         * stops at once for this process's signal, and the workers agree
         * on theirs after it (evaluate). */
        s->signal = s->train ? s->rep->stop : stop_signal;
        if (s->signal) {
            s->stopped = 1;
            break;
        }
    }
    /* Whatever happened, let queued steps finish before their batches go. */
    for (int i = 0; i < 2; i++)
        if (f[i].batch) {
            cnn_status r = retire(s, &f[i], err);
            st = st ? st : r;
        }
    free(f[0].step.logits);
    free(f[1].step.logits);
    return st;
}

/* Streams a split through the forward pass in batches of `batch` on the
 * workers of rep, each rank its share. *signal is a signal that arrived by
 * its end, the one the workers agreed on; a pass it cut short has no
 * figures. */
static cnn_status evaluate(replicas *rep, int batch, const dataset_split *split,
                           const norm_stats *norm, double *loss, double *accuracy,
                           long *confusion, int *signal, cnn_error *err)
{
    loader *l;
    cnn_status st = loader_open(&l, split, batch, 0, 0, 0, RING_SLOTS, err);
    if (st)
        return st;
    if ((st = loader_set_norm(l, norm, err))) {
        loader_close(l);
        return st;
    }
    stream s = {.rep = rep, .loader = l, .confusion = confusion};
    size_t k = (size_t)rep->net[0].arch.classes;
    if (confusion)
        memset(confusion, 0, k * k * sizeof *confusion);
    if (!(st = loader_set_share(l, rep->first_worker, rep->ndev, rep->workers, err)) &&
        !(st = replicas_totals_set(rep, 0, 0, err)) && !(st = loader_start(l, 0, 0, err)))
        st = run_stream(&s, 0, err);
    loader_close(l);
    if (st == CNN_OK)
        st = replicas_agree(rep, &s.loss_sum, &s.correct, stop_signal, &s.signal, err);
    *signal = s.signal;
    if (st == CNN_OK && !s.stopped) {
        *loss = s.loss_sum / (double)s.samples;
        *accuracy = s.correct / (double)s.samples;
    }
    return st;
}

cnn_status trainer_evaluate(replicas *r, const dataset_split *split,
                            const norm_stats *norm, double *loss, double *accuracy,
                            long *confusion, cnn_error *err)
{
    int signal;
    return evaluate(r, r->net[0].max_batch * r->workers, split, norm, loss, accuracy,
                    confusion, &signal, err);
}

/* The optimizer's settings given as numbers: the option, its train_options
 * bit, the optim_config field and the optim_rule.takes bit of the rules
 * it means something to (0: all). */
typedef struct {
    const char *option;
    unsigned set;
    size_t offset;
    unsigned takes;
} optim_setting;

static const optim_setting optim_settings[] = {
    {"--momentum", TRAIN_SET_MOMENTUM, offsetof(optim_config, momentum), OPTIM_TAKES_MOMENTUM},
    {"--weight-decay", TRAIN_SET_WEIGHT_DECAY, offsetof(optim_config, weight_decay), 0},
    {"--eps", TRAIN_SET_EPS, offsetof(optim_config, eps), OPTIM_TAKES_EPS},
    {"--rho", TRAIN_SET_RHO, offsetof(optim_config, rho), OPTIM_TAKES_RHO},
    {"--clip-norm", TRAIN_SET_CLIP_NORM, offsetof(optim_config, clip_norm), 0},
};

/* Every optimizer setting given means something to the optimizer, and
 * --nesterov has momentum to work on (PyTorch refuses it without). */
static cnn_status check_optim(const train_options *o, cnn_error *err)
{
    const optim_rule *r = o->optim.rule;
    const char *option = NULL;
    unsigned takes = 0;
    for (size_t i = 0; i < sizeof optim_settings / sizeof *optim_settings; i++)
        if ((o->set_optim & optim_settings[i].set) && optim_settings[i].takes &&
            !(r->takes & optim_settings[i].takes)) {
            option = optim_settings[i].option;
            takes = optim_settings[i].takes;
        }
    if ((o->set_optim & TRAIN_SET_NESTEROV) && !(r->takes & OPTIM_TAKES_NESTEROV)) {
        option = "--nesterov";
        takes = OPTIM_TAKES_NESTEROV;
    }
    if (option) {
        char which[64] = "";
        for (int i = 0; i < optim_rule_count; i++)
            if (optim_rules[i].takes & takes)
                snprintf(which + strlen(which), sizeof which - strlen(which), "%s%s",
                         *which ? ", " : "", optim_rules[i].name);
        return cnn_fail(err, CNN_ERR_INPUT, "%s means nothing to --optimizer %s%s; it is "
                        "for %s", option, r->name, o->resume ? " (the checkpoint's)" : "",
                        which);
    }
    if (o->optim.nesterov && !(o->optim.momentum > 0))
        return cnn_fail(err, CNN_ERR_INPUT, "--nesterov needs --momentum above 0 (Nesterov "
                        "momentum without momentum is plain SGD; PyTorch refuses it too)");
    return CNN_OK;
}

/* Settings a resumed run must share with its checkpoint. */
static cnn_status check_resume(const train_options *o, const checkpoint_meta *m,
                               cnn_error *err)
{
    char why[512] = "", sched[64], aug[128];
    schedule_text(&o->sched, sched, sizeof sched);
    augment_text(&o->augment, aug, sizeof aug);
    if (o->arch && strcmp(o->arch, m->arch))
        snprintf(why, sizeof why, "--arch %s differs from its %s", o->arch, m->arch);
    else if (o->set_batch && o->batch != m->batch_size)
        snprintf(why, sizeof why, "--batch %d differs from its %d", o->batch, m->batch_size);
    else if (o->set_lr && o->lr != m->lr)
        snprintf(why, sizeof why, "--lr %g differs from its %g", (double)o->lr, (double)m->lr);
    else if (o->set_seed && o->seed != m->seed)
        snprintf(why, sizeof why, "--seed %llu differs from its %llu",
                 (unsigned long long)o->seed, (unsigned long long)m->seed);
    else if ((o->set_optim & TRAIN_SET_OPTIMIZER) && o->optim.rule != m->optim.rule)
        snprintf(why, sizeof why, "--optimizer %s differs from its %s", o->optim.rule->name,
                 m->optim.rule->name);
    else if (o->set_schedule && strcmp(sched, m->schedule))
        snprintf(why, sizeof why, "--lr-schedule %s differs from its %s", sched,
                 m->schedule);
    else if (o->set_warmup && o->sched.warmup != m->warmup)
        snprintf(why, sizeof why, "--warmup %ld differs from its %ld", o->sched.warmup,
                 m->warmup);
    else if (o->set_smoothing && o->label_smoothing != m->label_smoothing)
        snprintf(why, sizeof why, "--label-smoothing %g differs from its %g",
                 (double)o->label_smoothing, (double)m->label_smoothing);
    else if (o->validation_split > 0 && o->validation_split != m->validation_split)
        snprintf(why, sizeof why, "--validation-split %g differs from its %g%s",
                 o->validation_split, m->validation_split,
                 m->validation_split > 0 ? "" : " (it validated on the test set)");
    else if (o->normalize && !m->norm.channels)
        snprintf(why, sizeof why, "--normalize, but it was trained on inputs x / 255 "
                 "without it");
    else if (o->set_augment && strcmp(aug, m->augment))
        snprintf(why, sizeof why, "--augment %s differs from its %s", aug, m->augment);
    /* Settings its optimizer does not take are refused by check_optim. */
    for (size_t i = 0; !*why && i < sizeof optim_settings / sizeof *optim_settings; i++) {
        const optim_setting *x = &optim_settings[i];
        float given = *(const float *)((const char *)&o->optim + x->offset);
        float was = *(const float *)((const char *)&m->optim + x->offset);
        if ((o->set_optim & x->set) && (!x->takes || (m->optim.rule->takes & x->takes)) &&
            given != was)
            snprintf(why, sizeof why, "%s %g differs from its %g", x->option, (double)given,
                     (double)was);
    }
    if (!*why && (o->set_optim & TRAIN_SET_NESTEROV) && !m->optim.nesterov &&
        (m->optim.rule->takes & OPTIM_TAKES_NESTEROV))
        snprintf(why, sizeof why, "--nesterov differs from its plain momentum");
    if (*why)
        return cnn_fail(err, CNN_ERR_INPUT, "--resume %s: %s; leave the option out to "
                        "continue the run exactly", o->resume, why);
    return CNN_OK;
}

/* A schedule that spans the run (cosine, onecycle) keeps the epochs it was
 * planned for: they are the checkpoint's unless --epochs says otherwise, and
 * then they must agree. */
static cnn_status plan_epochs(train_options *o, const checkpoint_meta *m, cnn_error *err)
{
    if (!schedule_needs_total(&o->sched) || m->epochs < 1)
        return CNN_OK;
    if (!o->set_epochs)
        o->epochs = (int)m->epochs;
    else if (o->epochs != m->epochs)
        return cnn_fail(err, CNN_ERR_INPUT, "--resume %s: its %s schedule spans %ld "
                        "epochs, and --epochs %d would change the rate of the steps "
                        "left; leave --epochs out to continue the run exactly",
                        o->resume, m->schedule, m->epochs, o->epochs);
    return CNN_OK;
}

static cnn_status fill_meta(checkpoint_meta *m, const network *net,
                            const train_options *o, uint64_t samples, cnn_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->arch, sizeof m->arch, "%s", net->arch.spec);
    m->input = net->arch.input;
    m->classes = net->arch.classes;
    m->seed = o->seed;
    m->samples = (long)samples;
    m->batch_size = o->batch;
    m->lr = o->lr;
    schedule_text(&o->sched, m->schedule, sizeof m->schedule);
    m->warmup = o->sched.warmup;
    m->epochs = o->epochs;
    m->label_smoothing = o->label_smoothing;
    m->validation_split = o->validation_split;
    augment_text(&o->augment, m->augment, sizeof m->augment);
    return tuner_arithmetic(&o->tune, m->variants, sizeof m->variants, err);
}

typedef struct {
    train_options o;       /* resolved: a resumed run's settings filled in */
    int root;              /* rank 0: prints, logs, checkpoints */
    checkpoint_meta resume;
    dataset data;
    uint64_t kept;         /* the training samples --limit keeps */
    dataset_split fit;     /* those trained on: all kept, or the first part */
    const dataset_split *val; /* validated on: the held-out part, or the test set */
    dataset_split held;
    stopping stop;         /* the best epoch so far; rank 0's */
    norm_stats norm;       /* the inputs' statistics; channels 0 without */
    const char *norm_from; /* where they came from, for the header */
    replicas rep;
    loader *loader;
    metrics_row *rows;
    int nrows;
    int stop_asked;        /* the epoch hook asked to stop */
} session;

static network *first_net(session *s) { return &s->rep.net[0]; }

/* Rank 0 reads the checkpoint's metadata and hands it to every rank. */
static cnn_status read_resume(session *s, cnn_error *err)
{
    train_options *o = &s->o;
    cnn_status st;
    if (s->root && (st = checkpoint_read_meta(o->resume, &s->resume, err)))
        return st;
    return comm_broadcast(o->comm, &s->resume, sizeof s->resume, err);
}

static cnn_status open_session(session *s, const train_options *given, cnn_error *err)
{
    s->o = *given;
    train_options *o = &s->o;
    if (!o->out)
        o->quiet = 1;
    if (!o->optim.rule)
        o->optim = optim_defaults(NULL);
    s->root = comm_rank(o->comm) == 0;
    cnn_status st;
    /* A checkpoint or log that could not be written is refused now, not
     * after the first epoch's work. */
    if (s->root && atomic_file_check(o->save, err))
        return cnn_fail_context(err, "--save");
    if (s->root && o->log && atomic_file_check(o->log, err))
        return cnn_fail_context(err, "--log");
    if (s->root && o->save_best && atomic_file_check(o->save_best, err))
        return cnn_fail_context(err, "--save-best");
    for (int d = 0; d < o->ndevices; d++) {
        clrt_device dev;
        if ((st = clrt_device_get(o->devices[d], &dev, err)))
            return st;
    }
    if (o->resume) {
        if ((st = read_resume(s, err)) || (st = check_resume(o, &s->resume, err)))
            return st;
        o->batch = s->resume.batch_size;
        o->lr = s->resume.lr;
        o->optim = s->resume.optim;
        o->seed = s->resume.seed;
        o->label_smoothing = s->resume.label_smoothing;
        o->validation_split = s->resume.validation_split;
        /* Patience is how long to wait, not how to compute: a resume may
         * change it, and takes the checkpoint's unless told. */
        if (!o->set_patience)
            o->patience = s->resume.stop.patience;
        if ((st = augment_parse(s->resume.augment, "metadata 'augment'", &o->augment, err)))
            return cnn_fail_context(err, "--resume %s", o->resume);
        if ((st = schedule_parse(s->resume.schedule, &o->sched, err)))
            return cnn_fail_context(err, "--resume %s", o->resume);
        o->sched.warmup = s->resume.warmup;
        if ((st = plan_epochs(o, &s->resume, err)))
            return st;
        if ((st = tuner_require(&o->tune, s->resume.variants, err)))
            return cnn_fail_context(err, "--resume %s", o->resume);
    }
    if ((st = check_optim(o, err)))
        return st;
    /* Fine-tuning starts from the arch the checkpoint records, unless told. */
    char init_spec[sizeof s->resume.arch] = "";
    if (o->init && !o->arch && (st = checkpoint_init_spec(o->init, init_spec,
                                                          sizeof init_spec, err)))
        return cnn_fail_context(err, "--init");
    const char *spec = o->resume ? s->resume.arch : o->arch ? o->arch
                       : *init_spec ? init_spec : ARCH_DEFAULT;
    if ((st = dataset_open(o->data, &s->data, err)))
        return st;
    arch a;
    arch_shape input = {s->data.shape.c, s->data.shape.h, s->data.shape.w};
    if ((st = arch_parse_from(spec, input, s->data.classes, s->data.classes_from, &a,
                              err)))
        return st;
    uint64_t samples = o->limit && (uint64_t)o->limit < s->data.train.count
                           ? (uint64_t)o->limit : s->data.train.count;
    s->kept = samples;
    s->fit = s->data.train;
    s->val = &s->data.test;
    if (o->validation_split > 0) {
        if ((st = holdout_divide(&s->data.train, samples, o->validation_split, &s->fit,
                                 &s->held, err)))
            return st;
        s->val = &s->held;
    }
    if (o->resume) {
        s->stop = s->resume.stop;
        s->stop.patience = o->patience;
    } else {
        stopping_init(&s->stop, o->patience);
    }
    arch_shape was = s->resume.input;
    if (o->resume && (s->resume.samples != (long)samples || was.c != input.c ||
                      was.h != input.h || was.w != input.w))
        return cnn_fail(err, CNN_ERR_INPUT, "--resume %s: it was trained on %ld samples "
                        "of %dx%dx%d, this data gives %llu of %dx%dx%d; use the same "
                        "--data and --limit", o->resume, s->resume.samples, was.c, was.h,
                        was.w, (unsigned long long)samples, input.c, input.h, input.w);
    if (o->resume) {
        s->norm = s->resume.norm;
        s->norm_from = "the checkpoint's";
    } else if (o->normalize) {
        /* Rank 0 reads or computes them, so the ranks neither race for the
         * cache entry nor pass over the data each. Over the samples trained
         * on: a held-out part is data the network must not have seen. */
        int cached = 0;
        uint64_t fitted = o->validation_split > 0 ? s->fit.count : samples;
        if (s->root && (st = norm_cached(&s->data.train, fitted, &s->norm, &cached, err)))
            return st;
        if ((st = comm_broadcast(o->comm, &s->norm, sizeof s->norm, err)))
            return st;
        s->norm_from = cached ? "cached" : "computed";
    }
    if (s->root && o->log && o->resume && access(o->log, F_OK) == 0) {
        if ((st = metrics_log_read(o->log, &s->rows, &s->nrows, err)))
            return st;
        while (s->nrows && s->rows[s->nrows - 1].epoch > s->resume.epoch)
            s->nrows--;
    }
    optim_config cfg = o->optim;
    cfg.lr = o->lr;
    if ((st = replicas_open(&s->rep, o->comm, o->devices, o->ndevices, o->kernels, err)))
        return st;
    /* Quick choices are timed again after the first epoch, by one worker;
     * several time everything first, as their devices must agree. */
    if (s->rep.workers > 1)
        o->tune.quick = 0;
    if ((st = replicas_create(&s->rep, &a, o->batch, &o->tune, cfg, err)))
        return st;
    for (int d = 0; d < s->rep.ndev; d++)
        network_set_label_smoothing(&s->rep.net[d], o->label_smoothing);
    /* Every device starts alike: the same initialisation, or rank 0's
     * checkpoint handed to all. */
    if (o->resume && s->root)
        st = checkpoint_load(o->resume, first_net(s), 1, err);
    if (o->resume && st == CNN_OK)
        st = replicas_share_state(&s->rep, err);
    for (int d = 0; d < s->rep.ndev && st == CNN_OK && !o->resume; d++)
        st = network_init(&s->rep.net[d], o->seed, err);
    if (o->init && st == CNN_OK) {
        if (s->root && (st = checkpoint_load_weights(o->init, first_net(s), err)))
            return cnn_fail_context(err, "--init");
        st = replicas_share_state(&s->rep, err);
    }
    if (st == CNN_OK)
        st = loader_open(&s->loader, &s->fit, o->batch, samples, o->seed, 1,
                         RING_SLOTS, err);
    if (st == CNN_OK)
        loader_set_augment(s->loader, &o->augment);
    if (st == CNN_OK)
        st = loader_set_share(s->loader, s->rep.first_worker, s->rep.ndev,
                              s->rep.workers, err);
    if (st == CNN_OK)
        st = loader_set_norm(s->loader, &s->norm, err);
    return st;
}

static void close_session(session *s)
{
    loader_close(s->loader);
    replicas_close(&s->rep);
    free(s->rows);
}

static void print_header(session *s)
{
    const train_options *o = &s->o;
    FILE *out = o->out;
    for (int d = 0; d < s->rep.ndev; d++) {
        const clrt_device *dev = &s->rep.rt[d].dev;
        fprintf(out, "device %d: %s (%s, %s)\n", o->devices[d], dev->name, dev->platform_name,
                     clrt_device_type_name(dev->type));
    }
    const dataset *d = &s->data;
    char held[96] = "";
    if (o->validation_split > 0)
        snprintf(held, sizeof held, ", %llu held out for validation (--validation-split %g)",
                 (unsigned long long)s->held.count, o->validation_split);
    fprintf(out, "data: %s (%s): %llu training images%s%s, %llu test images, %dx%dx%d, %d "
                 "classes\n", o->data, d->format,
                 (unsigned long long)loader_samples(s->loader),
                 s->kept < d->train.count ? " (--limit)" : "", held,
                 (unsigned long long)d->test.count, d->shape.c, d->shape.h, d->shape.w,
                 d->classes);
    if (s->norm.channels) {
        char mean[128], std[128];
        norm_format(s->norm.mean, s->norm.channels, mean, sizeof mean);
        norm_format(s->norm.std, s->norm.channels, std, sizeof std);
        fprintf(out, "normalize: mean %s, std %s (%s)\n", mean, std, s->norm_from);
    }
    if (s->rep.workers > 1) { /* one worker is one device: no split to tell */
        char job[160];
        replicas_describe(&s->rep, o->batch, job, sizeof job);
        fprintf(out, "%s\n", job);
    }
    fprintf(out, "Model: %s\n", first_net(s)->arch.spec);
    network_summary(first_net(s), out);
    char variants[TUNER_SUMMARY_SIZE], optim[256];
    tuner_summary(&o->tune, variants);
    char sched[64], warmup[48] = "", smoothing[48] = "", aug[160] = "";
    schedule_text(&o->sched, sched, sizeof sched);
    if (o->sched.warmup)
        snprintf(warmup, sizeof warmup, ", warmup %ld step%s", o->sched.warmup,
                 o->sched.warmup == 1 ? "" : "s");
    if (o->label_smoothing > 0)
        snprintf(smoothing, sizeof smoothing, ", label smoothing %g",
                 (double)o->label_smoothing);
    if (o->augment.n) {
        snprintf(aug, sizeof aug, ", augment ");
        augment_text(&o->augment, aug + strlen(aug), sizeof aug - strlen(aug));
    }
    optim_describe(&o->optim, optim, sizeof optim);
    fprintf(out, "variants: %s; optimizer %s, batch %d, lr %g (%s%s)%s%s, seed %llu, "
                 "%d epoch%s\n",
                 variants, optim, o->batch, (double)o->lr, sched, warmup, smoothing, aug,
                 (unsigned long long)o->seed, o->epochs, o->epochs == 1 ? "" : "s");
    if (o->resume)
        fprintf(out, "resuming %s at epoch %ld, batch %ld (step %ld)\n", o->resume,
                     s->resume.epoch + 1, s->resume.batch, s->resume.step);
    fflush(out);
}

/* Rank 0 writes the checkpoint to path; the others have the same state. */
static cnn_status save(session *s, const char *path, long epoch, const stream *st,
                       double seconds, cnn_error *err)
{
    if (!s->root)
        return CNN_OK;
    checkpoint_meta m;
    cnn_status r = fill_meta(&m, first_net(s), &s->o, s->kept, err);
    if (r)
        return r;
    m.stop = s->stop;
    m.norm = s->norm;
    m.epoch = epoch;
    m.step = first_net(s)->optim.step;
    if (st) { /* mid-epoch: where to pick up, and the totals so far */
        m.batch = st->done;
        m.loss_sum = st->loss_sum;
        m.correct = st->correct;
        m.seconds = seconds;
    }
    return checkpoint_save(path, first_net(s), &m, err);
}

static cnn_status validate(session *s, metrics_row *row, int *signal, cnn_error *err)
{
    return evaluate(&s->rep, s->o.batch, s->val, &s->norm, &row->val_loss,
                    &row->val_accuracy,
                    NULL, signal, err);
}

/* Takes the epoch's val_loss into the record, rank 0's for every rank, and
 * keeps the epoch when it is the best. The best file is written before the
 * latest checkpoint: if it fails, --save still holds the epoch before, whose
 * record names the best file's epoch, and a resume redoes this one. */
static cnn_status keep_best(session *s, long epoch, double val_loss, cnn_error *err)
{
    int best = stopping_take(&s->stop, epoch + 1, val_loss);
    cnn_status st = comm_broadcast(s->o.comm, &s->stop, sizeof s->stop, err);
    if (st == CNN_OK && best && s->o.save_best &&
        (st = save(s, s->o.save_best, epoch + 1, NULL, 0, err)))
        cnn_fail_context(err, "--save-best");
    return st;
}

/* The test set's figures for the weights kept: the best epoch's, read back
 * from the best file, where one was kept. */
static cnn_status test(session *s, train_result *r, cnn_error *err)
{
    cnn_status st = CNN_OK;
    r->best_epoch = s->stop.best_epoch;
    if (s->o.save_best && s->stop.best_epoch) {
        if (s->root && (st = checkpoint_load(s->o.save_best, first_net(s), 0, err)))
            return cnn_fail_context(err, "--save-best");
        if ((st = replicas_share_state(&s->rep, err)))
            return st;
    }
    int signal = 0;
    st = evaluate(&s->rep, s->o.batch, &s->data.test, &s->norm, &r->test_loss,
                  &r->test_accuracy,
                  NULL, &signal, err);
    r->signal = signal;
    return st;
}

/* Tells the epoch hook the epoch's figures (rank 0), and every rank
 * whether it asked to stop (s->stop_asked). */
static cnn_status epoch_hook(session *s, const metrics_row *row, long batches,
                             cnn_error *err)
{
    const train_options *o = &s->o;
    if (!o->on_epoch)
        return CNN_OK;
    train_progress p = {.epoch = row->epoch, .epochs = o->epochs, .done = batches,
                        .batches = batches, .loss = row->loss, .accuracy = row->accuracy,
                        .val_loss = row->val_loss, .val_accuracy = row->val_accuracy,
                        .seconds = row->seconds, .images_per_second = row->images_per_second,
                        .lr = row->lr};
    if (s->root)
        s->stop_asked = o->on_epoch(&p, o->hook_ctx) != 0;
    return comm_broadcast(o->comm, &s->stop_asked, sizeof s->stop_asked, err);
}

static cnn_status train_epochs(session *s, train_result *r, cnn_error *err)
{
    const train_options *o = &s->o;
    long first_epoch = o->resume ? s->resume.epoch : 0;
    cnn_status st = CNN_OK;
    for (long epoch = first_epoch; epoch < o->epochs && st == CNN_OK; epoch++) {
        int resumed = o->resume && epoch == first_epoch && s->resume.batch > 0;
        long first = resumed ? s->resume.batch : 0;
        double before = resumed ? s->resume.seconds : 0;
        progress p;
        progress_begin(&p, o->out, o->quiet || !s->root, (int)epoch + 1, o->epochs,
                       loader_batches(s->loader));
        long per_epoch = loader_batches(s->loader);
        stream str = {.rep = &s->rep, .loader = s->loader, .train = 1, .progress = &p,
                      .hooks = s->root ? o : NULL, .epoch = (int)epoch + 1, .done = first, .next = first, .sched = &o->sched,
                      .base_lr = o->lr, .first_step = epoch * per_epoch,
                      .total_steps = (long)o->epochs * per_epoch};
        /* A resume past the epoch's last step (it stopped while validating)
         * takes none: its rate is the last one taken. */
        str.lr = schedule_rate(&o->sched, o->lr, str.first_step + (first ? first - 1 : 0),
                               per_epoch, str.total_steps);
        /* Every batch but an epoch's last is whole; a checkpoint taken
         * during validation has done them all. */
        if (resumed) {
            str.samples = (uint64_t)first * (uint64_t)o->batch;
            if (str.samples > loader_samples(s->loader))
                str.samples = loader_samples(s->loader);
        }
        for (int d = 0; d < s->rep.ndev; d++)
            network_set_stream(&s->rep.net[d], o->seed, (uint64_t)epoch);
        if ((st = replicas_totals_set(&s->rep, resumed ? s->resume.loss_sum : 0,
                                      resumed ? s->resume.correct : 0, err)) ||
            (st = loader_start(s->loader, (uint64_t)epoch, first, err)))
            break;
        double t0 = clock_seconds();
        st = run_stream(&str, before, err);
        double seconds = before + clock_seconds() - t0;
        if (st)
            break;
        double n = (double)str.samples;
        metrics_row row = {.epoch = (int)epoch + 1, .loss = str.loss_sum / n,
                           .accuracy = str.correct / n, .seconds = seconds,
                           .images_per_second = n / seconds, .lr = str.lr};
        /* A signal during validation stops it at once; the checkpoint then
         * holds the whole epoch's training, and a resume validates again. */
        int signal = str.signal;
        if (!str.stopped && (st = validate(s, &row, &signal, err)))
            break;
        if (signal) {
            if ((st = save(s, o->save, epoch, &str, seconds, err)) == CNN_OK && !o->quiet &&
                s->root)
                fprintf(o->out, "\n%s: stopped at epoch %ld, batch %ld/%ld%s; saved %s "
                        "(continue with --resume %s)\n", signal == TRAIN_STOP_HOOK
                        ? "The progress hook" : strsignal(signal), epoch + 1, str.done,
                        loader_batches(s->loader), str.stopped ? "" : ", validating",
                        o->save, o->save);
            r->signal = signal;
            break;
        }
        progress_end(&p, str.done, seconds, row.loss, row.accuracy, row.val_loss,
                     row.val_accuracy, row.lr);
        r->val_loss = row.val_loss;
        r->val_accuracy = row.val_accuracy;
        r->epochs_done = (int)epoch + 1;
        if ((st = keep_best(s, epoch, row.val_loss, err)) ||
            (st = save(s, o->save, epoch + 1, NULL, 0, err)))
            break;
        r->saved_epochs = (int)epoch + 1;
        if (o->log && s->root) {
            metrics_row *grown = realloc(s->rows, (size_t)(s->nrows + 1) * sizeof *grown);
            if (!grown)
                return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
            s->rows = grown;
            s->rows[s->nrows++] = row;
            st = metrics_log_write(o->log, s->rows, s->nrows, err);
        }
        if (st == CNN_OK)
            st = epoch_hook(s, &row, per_epoch, err);
        if (st == CNN_OK && stopping_due(&s->stop)) {
            r->stopped_early = 1;
            if (!o->quiet && s->root)
                fprintf(o->out, "Early stopping after epoch %ld: no lower val_loss for %d "
                        "epoch%s; the lowest was epoch %ld's, %.4f\n", epoch + 1,
                        o->patience, o->patience == 1 ? "" : "s", s->stop.best_epoch,
                        s->stop.best_loss);
            break;
        }
        if (st == CNN_OK && s->stop_asked && epoch + 1 < o->epochs) {
            if (!o->quiet && s->root)
                fprintf(o->out, "The progress hook stopped training after epoch %ld; %s "
                        "holds it (continue with --resume %s)\n", epoch + 1, o->save,
                        o->save);
            r->signal = TRAIN_STOP_HOOK;
            break;
        }
        /* The next epoch runs at a tuned run's speed, computing the same. */
        if (st == CNN_OK && epoch + 1 < o->epochs && s->rep.workers == 1)
            st = network_retune(first_net(s), &s->o.tune, err);
    }
    return st;
}

cnn_status train_run(const train_options *given, train_result *r, cnn_error *err)
{
    memset(r, 0, sizeof *r);
    session s;
    memset(&s, 0, sizeof s);
    cnn_status st = open_session(&s, given, err);
    /* What the tuner has to say (a variant other than the checkpoint's, one
     * that failed) is said even when quiet. */
    FILE *notes = s.root ? given->notes : NULL;
    for (const char *line = s.o.tune.notes; *line && notes;) {
        size_t n = strcspn(line, "\n");
        fprintf(notes, "note: %.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
    if (*s.resume.note && notes)
        fprintf(notes, "note: %s\n", s.resume.note);
    if (st == CNN_OK) {
        if (!s.o.quiet && s.root)
            print_header(&s);
        int stopped = given->resume && stopping_due(&s.stop);
        if (given->resume && (s.resume.epoch >= s.o.epochs || stopped)) {
            if (s.root && s.o.out)
                fprintf(s.o.out, "%s already holds %ld epoch%s; nothing to train (%s)\n",
                        given->resume, s.resume.epoch, s.resume.epoch == 1 ? "" : "s",
                        stopped ? "it stopped early; raise --early-stopping"
                        : schedule_needs_total(&s.o.sched) ? "its schedule has ended"
                                                           : "raise --epochs");
            r->epochs_done = (int)s.resume.epoch;
            r->stopped_early = stopped;
            st = test(&s, r, err);
        } else {
            struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
            sigemptyset(&sa.sa_mask);
            stop_signal = 0;
            if (s.o.catch_signals) {
                sigaction(SIGINT, &sa, &old_int);
                sigaction(SIGTERM, &sa, &old_term);
            }
            st = train_epochs(&s, r, err);
            /* Without a held-out part or a best file, the last validation
             * was the test set's, of the last weights. */
            if (st == CNN_OK && !r->signal && (s.o.validation_split > 0 || s.o.save_best))
                st = test(&s, r, err);
            else if (st == CNN_OK) {
                r->test_loss = r->val_loss;
                r->test_accuracy = r->val_accuracy;
                r->best_epoch = s.stop.best_epoch;
            }
            if (s.o.catch_signals) {
                sigaction(SIGINT, &old_int, NULL);
                sigaction(SIGTERM, &old_term, NULL);
            }
        }
    }
    /* No rank leaves before rank 0 has written its checkpoint: mpirun
     * ends the job as soon as any rank exits with a signal's status. A rank
     * that failed takes the job down instead (comm_abort). */
    int saved = r->saved_epochs;
    if (st == CNN_OK)
        st = comm_broadcast(s.o.comm, &saved, sizeof saved, err);
    r->timing = s.rep.timing;
    close_session(&s);
    return st;
}
