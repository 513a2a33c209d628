/* loader.c: the streaming batch ring (see loader.h).
 *
 * Slots are filled and consumed in order. The producer only writes a FREE
 * slot and the consumer only takes a FULL one, so a slot is never handed out
 * while the caller still holds it, however slow the caller is. */
#include "data/loader.h"

#include <pthread.h>
#include <stdlib.h>

#include "data/normalize.h"
#include "data/records.h"
#include "data/shuffle.h"

enum slot_state { SLOT_FREE, SLOT_FULL, SLOT_HELD };

struct loader {
    dataset_split split;
    records_files files;
    int batch, nslots, shuffle;
    int share_first, share_n, parts; /* loader_set_share */
    norm_stats norm;                 /* loader_set_norm */
    uint64_t samples, seed;
    size_t pixels;
    unsigned char *raw; /* one image, producer only */
    augment augment;
    uint64_t epoch;
    float *scratch;     /* one image for augment_apply, producer only */

    loader_batch *slots;
    enum slot_state *state;

    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    long next_fill, next_take, end; /* batch numbers */
    shuffle order;
    cnn_error fault;
};

uint64_t loader_samples(const loader *l) { return l->samples; }

long loader_batches(const loader *l)
{
    return (long)((l->samples + (uint64_t)l->batch - 1) / (uint64_t)l->batch);
}

int loader_slice(int total, int i, int parts)
{
    return (int)((long long)total * i / parts);
}

cnn_status loader_set_share(loader *l, int first, int n, int parts, cnn_error *err)
{
    if (parts < 1 || first < 0 || n < 1 || first + n > parts)
        return cnn_fail(err, CNN_ERR_INPUT, "slices %d..%d of %d parts", first,
                        first + n - 1, parts);
    l->share_first = first;
    l->share_n = n;
    l->parts = parts;
    return CNN_OK;
}

cnn_status loader_set_norm(loader *l, const norm_stats *n, cnn_error *err)
{
    if (n->channels && n->channels != l->split.shape.c)
        return cnn_fail(err, CNN_ERR_INPUT, "input statistics of %d channel%s for images "
                        "of %d", n->channels, n->channels == 1 ? "" : "s", l->split.shape.c);
    l->norm = *n;
    return CNN_OK;
}

void loader_set_augment(loader *l, const augment *a) { l->augment = *a; }

static cnn_status fill(loader *l, loader_batch *b, long index)
{
    uint64_t first = (uint64_t)index * (uint64_t)l->batch;
    uint64_t left = l->samples - first;
    b->total = left < (uint64_t)l->batch ? (int)left : l->batch;
    b->first = loader_slice(b->total, l->share_first, l->parts);
    b->count = loader_slice(b->total, l->share_first + l->share_n, l->parts) - b->first;
    b->index = index;
    for (int i = 0; i < b->count; i++) {
        uint64_t pos = first + (uint64_t)(b->first + i);
        uint64_t r = l->shuffle ? shuffle_at(&l->order, pos) : pos;
        unsigned char label;
        cnn_status st = records_sample(&l->files, r, l->raw, &label, &l->fault);
        if (st)
            return st;
        float *dst = b->images + (size_t)i * l->pixels;
        norm_scale(l->raw, l->pixels, dst);
        /* As torchvision composes them: the crop pads with black, which
         * then normalises as any black pixel does. */
        if (l->augment.n)
            augment_apply(&l->augment, augment_key(l->seed, l->epoch, r), dst,
                          l->scratch, l->split.shape.c, l->split.shape.h, l->split.shape.w);
        norm_apply(&l->norm, dst, (size_t)l->split.shape.h * (size_t)l->split.shape.w);
        b->labels[i] = label;
    }
    return CNN_OK;
}

static void *produce(void *arg)
{
    loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && l->next_fill < l->end) {
        int k = (int)(l->next_fill % l->nslots);
        if (l->state[k] != SLOT_FREE) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        long index = l->next_fill;
        pthread_mutex_unlock(&l->mu);
        cnn_status s = fill(l, &l->slots[k], index);
        pthread_mutex_lock(&l->mu);
        if (s) {
            l->stop = 1;
        } else {
            l->state[k] = SLOT_FULL;
            l->next_fill++;
        }
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void stop_thread(loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    l->running = 0;
}

cnn_status loader_open(loader **out, const dataset_split *split, int batch,
                       uint64_t limit, uint64_t seed, int shuffle, int slots,
                       cnn_error *err)
{
    *out = NULL;
    if (batch < 1 || slots < 2)
        return cnn_fail(err, CNN_ERR_INPUT, "loader needs batch >= 1 and 2 or "
                        "more slots (got %d, %d)", batch, slots);
    loader *l = calloc(1, sizeof *l);
    if (!l)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    l->split = *split;
    l->batch = batch;
    l->nslots = slots;
    l->shuffle = shuffle;
    l->share_n = l->parts = 1;
    l->seed = seed;
    l->samples = limit && limit < split->count ? limit : split->count;
    l->pixels = (size_t)split->shape.c * (size_t)split->shape.h * (size_t)split->shape.w;
    cnn_status st = records_open(&l->files, split, err);
    if (st) {
        free(l);
        return st;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    *out = l; /* from here on, loader_close cleans up */
    l->raw = malloc(l->pixels);
    l->scratch = malloc(l->pixels * sizeof *l->scratch);
    l->slots = calloc((size_t)slots, sizeof *l->slots);
    l->state = calloc((size_t)slots, sizeof *l->state);
    int ok = l->raw && l->scratch && l->slots && l->state;
    for (int k = 0; ok && k < slots; k++) {
        l->slots[k].images = malloc((size_t)batch * l->pixels * sizeof(float));
        l->slots[k].labels = malloc((size_t)batch * sizeof(int32_t));
        ok = l->slots[k].images && l->slots[k].labels;
    }
    if (!ok) {
        loader_close(l);
        *out = NULL;
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory for the "
                        "batch ring (%d x %d images)", slots, batch);
    }
    return CNN_OK;
}

cnn_status loader_start(loader *l, uint64_t epoch, long first_batch,
                        cnn_error *err)
{
    stop_thread(l);
    if (first_batch < 0 || first_batch > loader_batches(l))
        return cnn_fail(err, CNN_ERR_INPUT, "batch %ld is outside the epoch's "
                        "%ld batches", first_batch, loader_batches(l));
    shuffle_init(&l->order, l->seed, epoch, l->samples);
    l->epoch = epoch;
    for (int k = 0; k < l->nslots; k++)
        l->state[k] = SLOT_FREE;
    l->next_fill = l->next_take = first_batch;
    l->end = loader_batches(l);
    l->stop = 0;
    l->fault.status = CNN_OK;
    if (pthread_create(&l->thread, NULL, produce, l))
        return cnn_fail(err, CNN_ERR_RUNTIME, "cannot start the loader thread");
    l->running = 1;
    return CNN_OK;
}

cnn_status loader_next(loader *l, loader_batch **out, cnn_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    cnn_status s = CNN_OK;
    for (;;) {
        if (l->next_take >= l->end)
            break;
        int k = (int)(l->next_take % l->nslots);
        if (l->state[k] == SLOT_FULL) {
            l->state[k] = SLOT_HELD;
            l->next_take++;
            *out = &l->slots[k];
            break;
        }
        if (l->fault.status) {
            s = cnn_fail(err, l->fault.status, "%s", l->fault.msg);
            break;
        }
        if (!l->running || l->stop) {
            s = cnn_fail(err, CNN_ERR_RUNTIME, "loader_next called with no "
                         "epoch started");
            break;
        }
        pthread_cond_wait(&l->cv, &l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return s;
}

void loader_release(loader *l, loader_batch *b)
{
    pthread_mutex_lock(&l->mu);
    l->state[b - l->slots] = SLOT_FREE;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void loader_close(loader *l)
{
    if (!l)
        return;
    stop_thread(l);
    if (l->slots)
        for (int k = 0; k < l->nslots; k++) {
            free(l->slots[k].images);
            free(l->slots[k].labels);
        }
    free(l->slots);
    free(l->state);
    free(l->raw);
    free(l->scratch);
    records_close(&l->files);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}
