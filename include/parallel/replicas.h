/* replicas: data-parallel training — a copy of the network on each device
 * of each rank of the job (comm.h), all taking the same steps.
 *
 * The job's W workers are its ranks' devices, rank by rank, device by
 * device. Every batch is split into W slices (loader_slice), worker w
 * computing slice w. A step:
 *  1. each device computes its slice's gradients, the loss being the mean
 *     over the whole batch (network_set_part); as each layer's backward pass
 *     is enqueued, so is a read of that layer's gradients to the host;
 *  2. as a layer's gradients arrive from every device of the rank, the host
 *     sums them in device order and starts an allgather of that layer, so
 *     the last layers travel while the first ones still compute;
 *  3. every rank sums each gathered layer in rank order: the same sum in
 *     the same order everywhere, whatever order MPI would have used, so a
 *     job of the same shape gives bit-identical weights run after run;
 *  4. the sum goes to every device, and every device takes the same
 *     optimizer step (clipping included: the same sum gives the same norm),
 *     so the weights stay identical everywhere.
 * The exchange's tail carries each rank's loss totals and whether a signal
 * asked it to stop, so all ranks stop at the same step. Non-trainable state
 * (batch norm's moving statistics) is replaced by the workers' average,
 * weighted by their slices, in the same exchange; batch statistics
 * themselves are each slice's own.
 *
 * One device is one worker, whose training step is network_train_step:
 * nothing is exchanged, and nothing but the running totals is read back,
 * without blocking. Evaluation, on any number of workers, reads only the
 * totals (and logits when asked). Such steps can be queued ahead of the
 * wait for the one before: each is held in a replicas_step until
 * replicas_step_wait. */
#ifndef REPLICAS_H
#define REPLICAS_H

#include "parallel/comm.h"
#include "data/loader.h"
#include "nn/network.h"

#define REPLICAS_MAX_DEVICES 8

/* Where a rank's step time went, for docs/SCALING.md and bench. */
typedef struct {
    long steps;
    double step_s;     /* whole steps, from the uploads to the optimizer enqueued */
    double wait_s;     /* until the devices' last gradients are summed */
    double exchange_s; /* after that, waiting for the exchange to end */
    /* The last step's timeline, in ms from its start, per node: when its
     * gradients were summed on the host (and its exchange started), and
     * when its exchange was seen done; -1 for a node without tensors. */
    double ready_ms[ARCH_MAX_LAYERS], done_ms[ARCH_MAX_LAYERS];
} replicas_timing;

typedef struct {
    comm *comm;
    int ndev, workers, first_worker; /* this rank's devices; all ranks'; its first */
    clrt rt[REPLICAS_MAX_DEVICES];
    network net[REPLICAS_MAX_DEVICES];
    int slice_first[REPLICAS_MAX_DEVICES], slice_n[REPLICAS_MAX_DEVICES];
    float *local;     /* each device's read-back, (ndev, param_floats) */
    float *send;      /* the rank's sum, param_floats and the tail */
    float *gathered;  /* every rank's send, rank by rank, per layer */
    float *sum;       /* the job's sum: the gradients all devices apply */
    float *state;     /* the non-trainable tensors' new values */
    cl_event *events; /* per device and node: the node's read-back done */
    float dev_totals[REPLICAS_MAX_DEVICES][LOSS_TOTALS]; /* each device's last
                                                           reading */
    int stop;         /* the signal a rank stopped for, once all agreed */
    replicas_timing timing;
} replicas;

/* A step in flight, held by its caller from replicas_train_step or
 * replicas_eval_step until replicas_step_wait, so the next step can be
 * enqueued before this one is waited for. Zeroed before its first use;
 * replicas_step_wait leaves it ready for the next step. */
typedef struct {
    float *logits; /* set by the caller of an evaluation: where the logits of
                      b go, (b->count, classes); NULL: not read */
    float reading[REPLICAS_MAX_DEVICES][LOSS_TOTALS]; /* each device's totals */
    cl_event read[REPLICAS_MAX_DEVICES]; /* their reads in flight; NULL: none */
    int exchanged;           /* the totals came with the step's exchange */
    double loss_sum, correct;
} replicas_step;

/* Opens the n devices (cnn-cl devices indices; each once) of this rank,
 * with the kernels of the folder `kernels`, or the embedded ones when NULL
 * (clrt_open). On failure nothing needs releasing. */
cnn_status replicas_open(replicas *r, comm *c, const int *devices, int n,
                         const char *kernels, cnn_error *err);

/* Builds the network on every device, for a whole batch of up to `batch`
 * samples (each device gets slices of up to ceil(batch / W)). Rank 0's
 * first device asks `tune` (timing or cache); every other device and rank
 * is forced to its choices, so they compute alike, and `tune` ends up
 * holding them on every rank. NULL: every device takes each site's first
 * variant. A batch smaller than the workers is CNN_ERR_INPUT: each needs a
 * sample. */
cnn_status replicas_create(replicas *r, const arch *a, int batch, tuner *tune,
                           optim_config optim, cnn_error *err);
/* Undoes replicas_create, the devices left open for another. */
void replicas_discard(replicas *r);
void replicas_close(replicas *r);

/* The job for people: "data-parallel: 4 workers (2 ranks x 2 devices),
 * each batch of 32 split into 4 slices of 8-8". */
void replicas_describe(const replicas *r, int batch, char *buf, size_t size);

/* Sets the learning rate of every device's next steps (network_set_lr). */
void replicas_set_lr(replicas *r, float lr);

/* Copies rank 0's first network (parameters, the optimizer's state and
 * step) to every other device of the job, after a checkpoint was loaded
 * there. */
cnn_status replicas_share_state(replicas *r, cnn_error *err);

/* One training step over b, this rank's share of a batch (loader_set_share
 * with first_worker, ndev, workers), held in s. With several workers it
 * blocks until the step's optimizer is enqueued, the job's totals known; one
 * worker only enqueues it. `stop` is a signal this rank got (0: none);
 * after the step r->stop is the one the job agreed on. b's arrays must
 * stay untouched until replicas_step_wait. */
cnn_status replicas_train_step(replicas *r, const loader_batch *b, int stop,
                               replicas_step *s, cnn_error *err);

/* Enqueues the evaluation of b (this rank's share) on the devices, held in
 * s, and the reads of its totals (and logits, when s->logits is set). */
cnn_status replicas_eval_step(replicas *r, const loader_batch *b, replicas_step *s,
                              cnn_error *err);

/* Waits for step s's reads: *loss_sum and *correct are the running totals
 * after it, the job's for a training step, the rank's for an evaluation
 * (replicas_agree combines those). Steps are waited for in the order they
 * were taken. */
cnn_status replicas_step_wait(replicas *r, replicas_step *s, double *loss_sum,
                              double *correct, cnn_error *err);

/* Zeroes every device's totals; or sets the job's running totals (the
 * first device of rank 0 holds them, so the sum over devices is right). */
cnn_status replicas_totals_set(replicas *r, double loss_sum, double correct,
                               cnn_error *err);

/* Combines every rank's totals and stop signals (blocking): *loss_sum and
 * *correct become the job's, and the result is the signal agreed on. */
cnn_status replicas_agree(replicas *r, double *loss_sum, double *correct,
                          int stop, int *agreed, cnn_error *err);

#endif
