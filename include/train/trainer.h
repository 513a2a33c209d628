/* trainer: the training loop — streams shuffled batches from the loader into
 * the network, one wait per step with the next step already queued, prints
 * Keras-style progress, validates after every epoch (on the test set, or on
 * a held-out part of the training set, holdout.h), logs a CSV row and
 * writes a checkpoint at the end of every epoch and when SIGINT or SIGTERM
 * (with catch_signals) or a progress hook asks it to stop; it keeps the
 * epoch of the lowest val_loss and may stop when none is lower for a while
 * (stopping.h). A resumed run continues bit-exactly. */
#ifndef TRAINER_H
#define TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/normalize.h"
#include "parallel/comm.h"
#include "nn/network.h"
#include "parallel/replicas.h"
#include "train/schedule.h"
#include "tune/tuner.h"

/* What a progress hook is given: the epoch's figures so far, after each
 * training step, or whole, once the epoch is validated, saved and logged. */
typedef struct {
    int epoch, epochs;     /* 1-based; the run's total */
    long done, batches;    /* the epoch's batches done (resumed ones included),
                              of its batches */
    double loss, accuracy; /* over the epoch's samples so far */
    double val_loss, val_accuracy; /* -1 until the epoch is validated */
    double seconds;        /* the epoch's training time so far */
    double images_per_second;
    double lr;             /* the rate of the last step */
} train_progress;

/* A nonzero return stops training as SIGINT does: the steps already queued
 * finish, the checkpoint is written, and the run can be resumed. */
typedef int (*train_hook)(const train_progress *p, void *ctx);

/* train_result.signal when a hook stopped training: no signal's number. */
#define TRAIN_STOP_HOOK 1000

typedef struct {
    int devices[REPLICAS_MAX_DEVICES]; /* this process's, in slice order */
    int ndevices;
    comm *comm;            /* the job's ranks (one when not under mpirun) */
    const char *data;      /* a data folder (IDX or CIFAR-10; see dataset.h) */
    const char *kernels;   /* NULL, or a folder of .cl files to build instead
                              of the embedded kernels (clrt_open) */
    int epochs;            /* total, counting epochs a resumed run already did */
    int batch;
    float lr;              /* the base rate the schedule scales */
    schedule sched;        /* the rate of every step, warmup included */
    float label_smoothing; /* of the training loss (loss.h) */
    optim_config optim;    /* the optimizer and its settings but lr (rule NULL:
                              Adam's defaults); a resumed run takes the
                              checkpoint's */
    uint64_t seed;
    augment augment;       /* of the training images only; a resumed run
                              takes the checkpoint's */
    const char *arch;      /* NULL: the checkpoint's when resuming, else default */
    const char *save;      /* checkpoint path */
    const char *resume;    /* NULL or a checkpoint to continue */
    const char *init;      /* NULL or a checkpoint whose weights start the run,
                              with a fresh optimizer and schedule */
    const char *log;       /* NULL or a CSV path */
    long limit;            /* 0: every training sample */
    double validation_split; /* the fraction of the kept samples held out to
                              validate on; 0: the test set validates */
    int patience;          /* --early-stopping; 0: train every epoch */
    const char *save_best; /* NULL, or where the lowest val_loss's epoch is
                              kept (a checkpoint like save's) */
    int normalize;         /* --normalize: inputs by the training set's
                              statistics (normalize.h); a resumed run takes
                              the checkpoint's */
    int quiet;
    FILE *out;             /* the report (header, progress, messages); NULL:
                              none, as quiet */
    FILE *notes;           /* "note: ..." lines for the user; NULL: none */
    int catch_signals;     /* stop on SIGINT or SIGTERM as a hook would (the
                              command line); the old handlers are restored */
    train_hook on_step;    /* NULL, or called after every training step */
    train_hook on_epoch;   /* NULL, or called after every whole epoch */
    void *hook_ctx;
    tuner tune;            /* forced variants, allow-different; a resumed run
                              adds the checkpoint's record as required */
    /* Which options the user gave, so a resumed run can tell a conflict
     * with the checkpoint from a default. */
    int set_batch, set_lr, set_seed, set_epochs, set_schedule, set_warmup,
        set_smoothing, set_patience, set_augment;
    unsigned set_optim;    /* TRAIN_SET_* bits */
} train_options;

/* The optimizer's settings the user gave (train_options.set_optim): each
 * must mean something to the optimizer, and a resumed run refuses one that
 * differs from its checkpoint's. */
enum { TRAIN_SET_OPTIMIZER = 1, TRAIN_SET_MOMENTUM = 2, TRAIN_SET_NESTEROV = 4,
       TRAIN_SET_WEIGHT_DECAY = 8, TRAIN_SET_EPS = 16, TRAIN_SET_RHO = 32,
       TRAIN_SET_CLIP_NORM = 64 };

typedef struct {
    double val_loss, val_accuracy; /* the last epoch's */
    double test_loss, test_accuracy; /* of the weights kept: the best epoch's
                              with save_best, else the last's */
    int epochs_done;
    int stopped_early;     /* the patience ran out */
    long best_epoch;       /* the lowest val_loss's epoch; 0: none */
    int signal;            /* the signal that stopped training, TRAIN_STOP_HOOK,
                              or 0 */
    replicas_timing timing; /* with several workers: where the steps' time went */
    int saved_epochs;      /* the epochs the last end-of-epoch checkpoint this
                              run wrote holds; 0: it wrote none */
} train_result;

cnn_status train_run(const train_options *o, train_result *r, cnn_error *err);

/* Streams a whole split, normalised by norm (channels 0: not), through the
 * forward pass of r's workers, in batches of a slice of up to their
 * networks' max_batch each: mean loss and accuracy, and, when confusion
 * is not NULL, the classes x classes counts of the network's classes (row:
 * true label, column: prediction; with several ranks, each rank's share
 * only). The split's labels must be
 * below the network's class count. */
cnn_status trainer_evaluate(replicas *r, const dataset_split *split,
                            const norm_stats *norm, double *loss, double *accuracy,
                            long *confusion, cnn_error *err);

#endif
