/* replicas.c: data-parallel training (see replicas.h). */
#include "parallel/replicas.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

/* The exchange's tail, per rank: loss sum, correct count, stop signal. */
#define TAIL 3

static int parallel(const replicas *r) { return r->workers > 1; }

cnn_status replicas_open(replicas *r, comm *c, const int *devices, int n,
                         const char *kernels, cnn_error *err)
{
    memset(r, 0, sizeof *r);
    r->comm = c;
    if (n < 1 || n > REPLICAS_MAX_DEVICES)
        return cnn_fail(err, CNN_ERR_INPUT, "--device: %d devices; 1 to %d per process",
                        n, REPLICAS_MAX_DEVICES);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (devices[i] == devices[j])
                return cnn_fail(err, CNN_ERR_INPUT, "--device: device %d is listed "
                                "twice", devices[i]);
    r->workers = n * comm_size(c);
    r->first_worker = n * comm_rank(c);
    for (int i = 0; i < n; i++) {
        cnn_status st = clrt_open(&r->rt[i], devices[i], kernels, err);
        if (st) {
            replicas_close(r);
            return st;
        }
        r->ndev++;
    }
    return CNN_OK;
}

cnn_status replicas_create(replicas *r, const arch *a, int batch, tuner *tune,
                           optim_config optim, cnn_error *err)
{
    if (batch < r->workers)
        return cnn_fail(err, CNN_ERR_INPUT, "--batch %d is smaller than the %d workers "
                        "(ranks x devices); each needs a sample", batch, r->workers);
    int slice = (batch + r->workers - 1) / r->workers;
    cnn_status st;
    char chosen[TUNER_RECORD_SIZE] = "";
    if (comm_rank(r->comm) == 0 &&
        (st = network_create(&r->net[0], &r->rt[0], a, slice, tune, optim, err)))
        return st;
    /* Rank 0's choices, forced everywhere else; one worker's tuner stays
     * free to time its quick choices again (network_retune). */
    if (parallel(r) && tune && (st = tuner_labels(tune, chosen, sizeof chosen, err)))
        return st;
    if (parallel(r) && (st = comm_broadcast(r->comm, chosen, sizeof chosen, err)))
        return st;
    if (tune && *chosen && (st = tuner_force(tune, chosen, err)))
        return st;
    for (int d = comm_rank(r->comm) == 0; d < r->ndev; d++)
        if ((st = network_create(&r->net[d], &r->rt[d], a, slice, tune, optim, err)))
            return st;
    if (!parallel(r))
        return CNN_OK;
    size_t floats = r->net[0].param_floats, ranks = (size_t)comm_size(r->comm);
    int nodes = r->net[0].nnodes;
    r->local = malloc((size_t)r->ndev * floats * sizeof *r->local);
    r->send = malloc((floats + TAIL) * sizeof *r->send);
    r->gathered = malloc(ranks * (floats + TAIL) * sizeof *r->gathered);
    r->sum = calloc(floats, sizeof *r->sum);
    r->state = calloc(floats, sizeof *r->state);
    r->events = calloc((size_t)r->ndev * (size_t)(nodes + 1), sizeof *r->events);
    if (!r->local || !r->send || !r->gathered || !r->sum || !r->state || !r->events)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory for the gradient "
                        "exchange (%zu floats)", floats);
    return CNN_OK;
}

void replicas_discard(replicas *r)
{
    for (int d = 0; d < r->ndev; d++)
        if (r->net[d].rt) {
            network_release(&r->net[d]);
            memset(&r->net[d], 0, sizeof r->net[d]);
        }
    free(r->local);
    free(r->send);
    free(r->gathered);
    free(r->sum);
    free(r->state);
    free(r->events);
    r->local = r->send = r->gathered = r->sum = r->state = NULL;
    r->events = NULL;
}

void replicas_close(replicas *r)
{
    replicas_discard(r);
    for (int d = 0; d < r->ndev; d++)
        clrt_close(&r->rt[d]);
    memset(r, 0, sizeof *r);
}

void replicas_describe(const replicas *r, int batch, char *buf, size_t size)
{
    int ranks = comm_size(r->comm);
    snprintf(buf, size, "data-parallel: %d workers (%d rank%s x %d device%s), each batch "
             "of %d split into %d slices of %d-%d", r->workers, ranks, ranks == 1 ? "" : "s",
             r->ndev, r->ndev == 1 ? "" : "s", batch, r->workers, batch / r->workers,
             (batch + r->workers - 1) / r->workers);
}

void replicas_set_lr(replicas *r, float lr)
{
    for (int d = 0; d < r->ndev; d++)
        network_set_lr(&r->net[d], lr);
}

cnn_status replicas_share_state(replicas *r, cnn_error *err)
{
    if (!parallel(r))
        return CNN_OK;
    network *first = &r->net[0];
    size_t bytes = first->param_floats * sizeof(float);
    /* The parameters and every state buffer of the optimizer, live or not
     * (a zeroed momentum buffer is zero everywhere anyway). */
    int parts = 1 + first->optim.cfg.rule->nstate;
    float *buf = malloc((size_t)parts * bytes);
    if (!buf)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    long step = first->optim.step;
    int root = comm_rank(r->comm) == 0;
    cnn_status st = CNN_OK;
    for (int k = 0; k < parts && st == CNN_OK && root; k++)
        st = clrt_read(&r->rt[0], k ? first->optim.state[k - 1] : first->params,
                       (char *)buf + (size_t)k * bytes, bytes, err);
    if (st == CNN_OK)
        st = comm_broadcast(r->comm, buf, (size_t)parts * bytes, err);
    if (st == CNN_OK)
        st = comm_broadcast(r->comm, &step, sizeof step, err);
    for (int d = root; d < r->ndev && st == CNN_OK; d++) {
        network *n = &r->net[d];
        for (int k = 0; k < parts && st == CNN_OK; k++)
            st = clrt_write(&r->rt[d], k ? n->optim.state[k - 1] : n->params,
                            (char *)buf + (size_t)k * bytes, bytes, err);
        n->optim.step = step;
    }
    free(buf);
    return st;
}

/* Worker w's slice of b: where it starts in b's share, and its size. */
static void slices(replicas *r, const loader_batch *b)
{
    for (int d = 0; d < r->ndev; d++) {
        int w = r->first_worker + d;
        int lo = loader_slice(b->total, w, r->workers);
        r->slice_first[d] = lo;
        r->slice_n[d] = loader_slice(b->total, w + 1, r->workers) - lo;
    }
}

/* Uploads device d's slice of b. */
static cnn_status upload(replicas *r, int d, const loader_batch *b, cnn_error *err)
{
    network *n = &r->net[d];
    size_t pixels = (size_t)arch_size(n->arch.input), at = (size_t)(r->slice_first[d] - b->first);
    network_set_part(n, r->slice_first[d], b->total);
    return network_upload(n, b->images + at * pixels, b->labels + at, r->slice_n[d], err);
}

/* Device d's event for node k's read-back; k = nnodes is its totals'. */
static cl_event *event(replicas *r, int d, int k)
{
    return &r->events[(size_t)d * (size_t)(r->net[0].nnodes + 1) + (size_t)k];
}

typedef struct {
    replicas *r;
    int d;
} node_ctx;

/* After node i's backward on device d: read its gradients to the host, and
 * in place of the (zero) gradients of its non-trainable tensors, their
 * values. */
static cnn_status read_node(void *ctx, int i, cnn_error *err)
{
    node_ctx *c = ctx;
    replicas *r = c->r;
    network *n = &r->net[c->d];
    cl_command_queue q = r->rt[c->d].queue;
    size_t off, count;
    network_node_span(n, i, &off, &count);
    if (!count)
        return CNN_OK;
    float *local = r->local + (size_t)c->d * n->param_floats;
    CLRT_CALL(err, clEnqueueReadBuffer, (q, n->grads, CL_FALSE, off * sizeof(float),
              count * sizeof(float), local + off, 0, NULL, NULL));
    const layer_node *nd = &n->nodes[i];
    for (int p = 0; p < nd->nparams; p++) {
        const net_tensor *t = nd->params[p];
        if (!t->decl.trainable)
            CLRT_CALL(err, clEnqueueReadBuffer, (q, t->param, CL_FALSE, 0,
                      t->count * sizeof(float), local + t->offset, 0, NULL, NULL));
    }
    CLRT_CALL(err, clEnqueueMarkerWithWaitList, (q, 0, NULL, event(r, c->d, i)));
    return CNN_OK;
}

/* The exchanges of a step in flight: a slot per node (-1: none, or done),
 * and when the step began. */
typedef struct {
    int slot[ARCH_MAX_LAYERS + 1];
    double t0;
} in_flight;

/* Lets the exchanges started so far move on, noting when each node's
 * ends; *pending says how many have not (the tail's included). */
static cnn_status progress(replicas *r, in_flight *f, int *pending, cnn_error *err)
{
    int nodes = r->net[0].nnodes;
    *pending = 0;
    for (int i = 0; i <= nodes; i++) {
        int done;
        if (f->slot[i] < 0)
            continue;
        cnn_status st = comm_test(r->comm, f->slot[i], &done, err);
        if (st == CNN_OK && done) {
            st = comm_wait(r->comm, f->slot[i], err);
            f->slot[i] = -1;
            if (i < nodes)
                r->timing.done_ms[i] = (clock_seconds() - f->t0) * 1e3;
        }
        if (st)
            return st;
        *pending += f->slot[i] >= 0;
    }
    return CNN_OK;
}

/* A short sleep between polls: MPI_Wait would spin on a core that another
 * rank or the device's own threads may need. */
static void pause_poll(void) { nanosleep(&(struct timespec){0, 20000}, NULL); }

/* Waits for (and releases) *ev, when set. With other ranks, MPI only moves
 * the exchanges already started while it is called, so during a step's
 * exchange (f) the wait polls the event and lets them progress in
 * between. */
static cnn_status wait_event(replicas *r, in_flight *f, cl_event *ev, cnn_error *err)
{
    if (!*ev)
        return CNN_OK;
    for (cl_int state = CL_QUEUED; f && comm_size(r->comm) > 1 && state > CL_COMPLETE;) {
        int pending;
        CLRT_CALL(err, clGetEventInfo, (*ev, CL_EVENT_COMMAND_EXECUTION_STATUS,
                                        sizeof state, &state, NULL));
        cnn_status st = progress(r, f, &pending, err);
        if (st)
            return st;
        if (state > CL_COMPLETE)
            pause_poll();
    }
    cl_int rc = clWaitForEvents(1, ev);
    clReleaseEvent(*ev);
    *ev = NULL;
    return rc == CL_SUCCESS ? CNN_OK : clrt_fail(err, "clWaitForEvents", rc);
}

/* Enqueues the read of device d's running totals, after its step, into
 * `to`; *ev says when it is done. */
static cnn_status read_totals(replicas *r, int d, float *to, cl_event *ev, cnn_error *err)
{
    CLRT_CALL(err, clEnqueueReadBuffer, (r->rt[d].queue, r->net[d].totals, CL_FALSE, 0,
              LOSS_TOTALS * sizeof *to, to, 0, NULL, ev));
    return CNN_OK;
}

/* The rank's running totals: every device's last reading, summed in device
 * order; a device without a slice in a step keeps its earlier one. */
static void sum_devices(const replicas *r, double *loss_sum, double *correct)
{
    *loss_sum = *correct = 0;
    for (int d = 0; d < r->ndev; d++) {
        *loss_sum += r->dev_totals[d][LOSS_SUM];
        *correct += r->dev_totals[d][LOSS_CORRECT];
    }
}

/* The rank's running totals after the step's reads of them (waited for). */
static cnn_status rank_totals(replicas *r, in_flight *f, double *loss_sum,
                              double *correct, cnn_error *err)
{
    for (int d = 0; d < r->ndev; d++) {
        cnn_status st = wait_event(r, f, event(r, d, r->net[0].nnodes), err);
        if (st)
            return st;
    }
    sum_devices(r, loss_sum, correct);
    return CNN_OK;
}

/* The rank's sum of node i over its devices, in device order: gradients,
 * and the slice-weighted values of non-trainable tensors. */
static void sum_node(replicas *r, int i, int total)
{
    const network *n = &r->net[0];
    size_t off, count;
    network_node_span(n, i, &off, &count);
    float *send = r->send + off;
    for (size_t j = 0; j < count; j++)
        send[j] = 0;
    for (int d = 0; d < r->ndev; d++) {
        if (!r->slice_n[d])
            continue;
        const float *local = r->local + (size_t)d * n->param_floats + off;
        for (size_t j = 0; j < count; j++)
            send[j] += local[j];
    }
    const layer_node *nd = &n->nodes[i];
    for (int p = 0; p < nd->nparams; p++) {
        const net_tensor *t = nd->params[p];
        if (t->decl.trainable)
            continue;
        float *to = r->send + t->offset;
        for (size_t j = 0; j < t->count; j++)
            to[j] = 0;
        for (int d = 0; d < r->ndev; d++) {
            const float *v = r->local + (size_t)d * n->param_floats + t->offset;
            float w = (float)r->slice_n[d] / (float)total;
            for (size_t j = 0; j < t->count && r->slice_n[d]; j++)
                to[j] += w * v[j];
        }
    }
}

/* The job's sum of a gathered span [off, off + count), rank by rank. */
static void sum_ranks(replicas *r, float *to, size_t off, size_t count)
{
    int ranks = comm_size(r->comm);
    const float *g = r->gathered + (size_t)ranks * off;
    for (size_t j = 0; j < count; j++)
        to[j] = 0;
    for (int k = 0; k < ranks; k++)
        for (size_t j = 0; j < count; j++)
            to[j] += g[(size_t)k * count + j];
}

/* Devices with no slice this step: their last step's writes from r->sum
 * must be done before it is rewritten. */
static cnn_status settle_idle(replicas *r, cnn_error *err)
{
    for (int d = 0; d < r->ndev; d++)
        if (!r->slice_n[d])
            CLRT_CALL(err, clFinish, (r->rt[d].queue));
    return CNN_OK;
}

/* Every device takes the job's step: the non-trainable tensors' new values
 * into the parameters, the gradients (zero for those) into the gradients,
 * then the optimizer, which clips the same sum on every device alike. */
static cnn_status apply(replicas *r, cnn_error *err)
{
    network *n0 = &r->net[0];
    for (int t = 0; t < n0->ntensors; t++) {
        const net_tensor *x = &n0->tensors[t];
        if (x->decl.trainable)
            continue;
        memcpy(r->state + x->offset, r->sum + x->offset, x->count * sizeof(float));
        memset(r->sum + x->offset, 0, x->count * sizeof(float));
    }
    for (int d = 0; d < r->ndev; d++) {
        network *n = &r->net[d];
        cl_command_queue q = r->rt[d].queue;
        for (int t = 0; t < n->ntensors; t++) {
            const net_tensor *x = &n->tensors[t];
            if (!x->decl.trainable)
                CLRT_CALL(err, clEnqueueWriteBuffer, (q, x->param, CL_FALSE, 0,
                          x->count * sizeof(float), r->state + x->offset, 0, NULL, NULL));
        }
        CLRT_CALL(err, clEnqueueWriteBuffer, (q, n->grads, CL_FALSE, 0,
                  n->param_floats * sizeof(float), r->sum, 0, NULL, NULL));
        cnn_status st = network_apply(n, err);
        if (st)
            return st;
    }
    return CNN_OK;
}

cnn_status replicas_train_step(replicas *r, const loader_batch *b, int stop,
                               replicas_step *s, cnn_error *err)
{
    cnn_status st;
    slices(r, b);
    s->exchanged = 0;
    /* One worker agrees with itself, and has nothing to exchange: its step
     * is enqueued whole, and only its totals come back, when they are
     * waited for. */
    if (!parallel(r)) {
        r->stop = stop;
        if ((st = upload(r, 0, b, err)) ||
            (st = network_train_step(&r->net[0], r->slice_n[0], err)))
            return st;
        return read_totals(r, 0, s->reading[0], &s->read[0], err);
    }
    in_flight f = {.t0 = clock_seconds()};
    double t0 = f.t0;
    for (int i = 0; i <= ARCH_MAX_LAYERS; i++)
        f.slot[i] = -1;
    if ((st = settle_idle(r, err)))
        return st;
    int nodes = r->net[0].nnodes;
    for (int d = 0; d < r->ndev; d++) {
        if (!r->slice_n[d])
            continue;
        network *n = &r->net[d];
        node_ctx c = {r, d};
        if ((st = upload(r, d, b, err)) ||
            (st = network_gradients(n, r->slice_n[d], read_node, &c, err)) ||
            (st = read_totals(r, d, r->dev_totals[d], event(r, d, nodes), err)))
            return st;
    }
    /* Layers in the order their backward passes end: last first. */
    int *slot = f.slot;
    size_t floats = r->net[0].param_floats;
    int ranks = comm_size(r->comm);
    for (int i = nodes - 1; i >= 0; i--) {
        size_t off, count;
        r->timing.ready_ms[i] = r->timing.done_ms[i] = -1;
        network_node_span(&r->net[0], i, &off, &count);
        for (int d = 0; d < r->ndev; d++)
            if ((st = wait_event(r, &f, event(r, d, i), err)))
                return st;
        if (!count)
            continue;
        r->timing.ready_ms[i] = (clock_seconds() - t0) * 1e3;
        sum_node(r, i, b->total);
        if ((st = comm_allgather_start(r->comm, r->send + off,
                                       r->gathered + (size_t)ranks * off, count, &slot[i],
                                       err)))
            return st;
        if (slot[i] < 0) /* one rank: nothing travels */
            r->timing.done_ms[i] = r->timing.ready_ms[i];
    }
    float *tail = r->send + floats;
    double loss_sum, correct;
    if ((st = rank_totals(r, &f, &loss_sum, &correct, err)))
        return st;
    tail[0] = (float)loss_sum;
    tail[1] = (float)correct;
    tail[2] = (float)stop;
    double t1 = clock_seconds();
    if ((st = comm_allgather_start(r->comm, tail, r->gathered + (size_t)ranks * floats,
                                   TAIL, &slot[nodes], err)))
        return st;
    for (int pending = 1; pending;) {
        if ((st = progress(r, &f, &pending, err)))
            return st;
        if (pending)
            pause_poll();
    }
    double t2 = clock_seconds();
    for (int i = 0; i < nodes; i++) {
        size_t off, count;
        network_node_span(&r->net[0], i, &off, &count);
        if (count)
            sum_ranks(r, r->sum + off, off, count);
    }
    float job[TAIL];
    sum_ranks(r, job, floats, TAIL);
    s->exchanged = 1;
    s->loss_sum = job[0];
    s->correct = job[1];
    r->stop = 0;
    for (int k = 0; k < ranks; k++) {
        int sig = (int)r->gathered[(size_t)ranks * floats + (size_t)k * TAIL + 2];
        r->stop = sig > r->stop ? sig : r->stop;
    }
    st = apply(r, err);
    r->timing.steps++;
    r->timing.wait_s += t1 - t0;
    r->timing.exchange_s += t2 - t1;
    r->timing.step_s += clock_seconds() - t0;
    return st;
}

cnn_status replicas_eval_step(replicas *r, const loader_batch *b, replicas_step *s,
                              cnn_error *err)
{
    cnn_status st;
    slices(r, b);
    s->exchanged = 0;
    for (int d = 0; d < r->ndev; d++) {
        network *n = &r->net[d];
        if (!r->slice_n[d])
            continue;
        size_t row = (size_t)(r->slice_first[d] - b->first), k = (size_t)n->arch.classes;
        if ((st = upload(r, d, b, err)) || (st = network_eval_step(n, r->slice_n[d], err)))
            return st;
        /* The totals' read after it, on the same in-order queue, says when
         * this one is done too. */
        if (s->logits)
            CLRT_CALL(err, clEnqueueReadBuffer, (r->rt[d].queue, network_logits(n),
                      CL_FALSE, 0, (size_t)r->slice_n[d] * k * sizeof(float),
                      s->logits + row * k, 0, NULL, NULL));
        if ((st = read_totals(r, d, s->reading[d], &s->read[d], err)))
            return st;
    }
    return CNN_OK;
}

cnn_status replicas_step_wait(replicas *r, replicas_step *s, double *loss_sum,
                              double *correct, cnn_error *err)
{
    for (int d = 0; d < r->ndev; d++) {
        if (!s->read[d])
            continue;
        cnn_status st = wait_event(r, NULL, &s->read[d], err);
        if (st)
            return st;
        r->dev_totals[d][LOSS_SUM] = s->reading[d][LOSS_SUM];
        r->dev_totals[d][LOSS_CORRECT] = s->reading[d][LOSS_CORRECT];
    }
    if (!s->exchanged)
        sum_devices(r, &s->loss_sum, &s->correct);
    *loss_sum = s->loss_sum;
    *correct = s->correct;
    return CNN_OK;
}

cnn_status replicas_totals_set(replicas *r, double loss_sum, double correct,
                               cnn_error *err)
{
    for (int d = 0; d < r->ndev; d++) {
        int holder = d == 0 && comm_rank(r->comm) == 0;
        float t[LOSS_TOTALS] = {0};
        t[LOSS_SUM] = holder ? (float)loss_sum : 0;
        t[LOSS_CORRECT] = holder ? (float)correct : 0;
        r->dev_totals[d][LOSS_SUM] = t[LOSS_SUM];
        r->dev_totals[d][LOSS_CORRECT] = t[LOSS_CORRECT];
        cnn_status st = clrt_write(&r->rt[d], r->net[d].totals, t, sizeof t, err);
        if (st)
            return st;
    }
    return CNN_OK;
}

cnn_status replicas_agree(replicas *r, double *loss_sum, double *correct, int stop,
                          int *agreed, cnn_error *err)
{
    int ranks = comm_size(r->comm), slot;
    float send[TAIL] = {(float)*loss_sum, (float)*correct, (float)stop};
    float *all = malloc((size_t)ranks * TAIL * sizeof *all);
    if (!all)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    cnn_status st = comm_allgather_start(r->comm, send, all, TAIL, &slot, err);
    if (st == CNN_OK)
        st = comm_wait(r->comm, slot, err);
    if (st == CNN_OK) {
        *loss_sum = *correct = 0;
        *agreed = 0;
        for (int k = 0; k < ranks; k++) {
            *loss_sum += all[k * TAIL];
            *correct += all[k * TAIL + 1];
            *agreed = (int)all[k * TAIL + 2] > *agreed ? (int)all[k * TAIL + 2] : *agreed;
        }
    }
    free(all);
    return st;
}
