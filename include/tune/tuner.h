/* tuner: every choice between kernel variants, in one place.
 *
 * A layer that can do its work more than one way (the dense layers' GEMM
 * on CLBlast or on cnn-cl's kernels; tile sizes given to a program as -D
 * options) asks the tuner once per site, when it is created. The tuner
 * takes, in this order: the variant forced for the site (tests, --gemm);
 * else the one a checkpoint requires (a resumed run must compute as the run
 * it continues); else the choice cached for this device and shape; else it
 * times every candidate and caches the fastest. It records each choice, so
 * a checkpoint can say how its weights were computed.
 *
 * Cache entries live in the cache folder (cache.h), one small text file per
 * device, shape and candidate list. The tuner knows nothing of layers: a
 * site is a name, a kind and a shape key. */
#ifndef TUNER_H
#define TUNER_H

#include <stddef.h>
#include <stdio.h>

#include "runtime/clrt.h"
#include "util/cnn_error.h"

#define TUNE_NAME 32        /* bytes of a name, label or key, NUL included */
/* A layer tunes at most four sites (a block's end: its projection's three
 * and its batch norm's), and the optimizer one: network.c holds
 * ARCH_MAX_LAYERS to this. A rule list may name every site. */
#define TUNER_MAX_SITES 513
#define TUNER_MAX_RULES TUNER_MAX_SITES
#define TUNE_MAX_VARIANTS 32 /* per site */
#define TUNE_TILES 10       /* numbers per variant: as many as a kind needs */
#define TUNE_OPTIONS 128    /* bytes of a variant's -D options, NUL included */

/* One way to do a site's work: one row of its kind's table. */
typedef struct {
    const char *label;      /* stable, recorded: "kernel", "clblast", "p4t4s8" */
    const char *arithmetic; /* variants with equal keys give bit-identical
                               results (tiles that keep the summation order);
                               a different order or library differs */
    unsigned where;         /* TUNE_ANYWHERE (0) or TUNE_NOT_CPU; with
                               TUNE_CPU_DEFAULT, what a quick choice on a
                               CPU starts with (else the first that runs) */
    int tiles[TUNE_TILES];  /* what its kernels are built and launched with
                               (tile sizes, a work-group size, a mode): the
                               kind reads them, the tuner only hashes them */
} tune_variant;

/* Where a variant is a candidate for timing. A variant shaped for a GPU
 * (work-group tiles through local memory, thousands of work-items of one
 * output each) is never the fastest on a CPU, and timing it there would
 * only lengthen a first run; it can still be forced there (tests hold every
 * variant against the reference on PoCL) or required by a checkpoint. */
enum { TUNE_ANYWHERE = 0, TUNE_NOT_CPU = 1, TUNE_CPU_DEFAULT = 2 };

/* Writes the -D build options of a variant's program from its tiles into
 * buf (of size bytes): the function its kind builds the program with. */
typedef void (*tune_options_fn)(const int *tiles, char *buf, size_t size);

/* One choice point. */
typedef struct {
    const char *name;       /* the layer's name: "fc1" */
    const char *kind;       /* its kind's prefix: "fc"; forcing may name it */
    const char *shape_key;  /* everything the timing depends on besides the
                               device: "fc in=7744 out=64 relu=1 batch=32" */
    const clrt_device *dev; /* the device it runs on */
    tune_options_fn options; /* NULL: its variants' programs take none */
} tune_site;

/* Times candidate `index` (of the array given to tuner_choose): *ms is the
 * device time of one representative run, the smaller the better. A failure
 * (it does not build or run here) skips the candidate. */
typedef cnn_status (*tune_time_fn)(void *ctx, int index, double *ms,
                                   cnn_error *err);

/* How a choice was made. */
typedef enum {
    TUNE_ONLY,     /* one candidate: nothing to choose */
    TUNE_FORCED,
    TUNE_REQUIRED,
    TUNE_CACHED,
    TUNE_TIMED,
    TUNE_DEFAULT,  /* quick: the device's default, its equals not yet timed */
} tune_how;

typedef struct {
    char site[TUNE_NAME], label[TUNE_NAME], arithmetic[TUNE_NAME];
    tune_how how;
} tune_choice;

/* "name=value": name is a site ("fc1") or a kind ("fc"). */
typedef struct {
    char name[TUNE_NAME], value[TUNE_NAME];
    int taken; /* a forced rule: some site has taken its label */
} tune_rule;

typedef struct {
    int retune;          /* time every site afresh and rewrite the cache */
    int quick;           /* on a cache miss, take the device's default instead
                            of timing (a first run starts in seconds, not
                            a minute); tuner_retime finishes the job */
    int retiming;        /* set by tuner_retime: the required keys are the
                            quick defaults', compared among the variants
                            meant for the device */
    int forward_only;    /* only forward passes will run (eval, predict):
                            sites of backward passes keep their defaults,
                            neither timed nor recorded */
    int allow_different; /* a required key no variant can give: continue
                            with another, noting it, instead of failing */
    tune_rule forced[TUNER_MAX_RULES];     /* name -> label */
    int nforced;
    tune_rule required[TUNER_MAX_RULES];   /* name -> arithmetic key */
    int nrequired;
    tune_choice choices[TUNER_MAX_SITES];  /* in the order they were made */
    int nchoices;
    char notes[4096];    /* lines for the user: "fc1: recorded kernel,
                            running clblast", candidates that failed */
    FILE *progress;      /* when set, a line per site it times (the first
                            run on a device compiles and times every
                            variant: tens of seconds on a CPU) */
} tuner;

/* An empty tuner: nothing forced or required; cache, then timing. */
void tuner_init(tuner *t);

/* Forces labels: "fc=clblast" or "fc1=kernel,conv2=p4t4" (',' or ';'
 * between rules). A rule for a site beats one for its kind; a later rule
 * for the same name replaces the earlier. Bad syntax is CNN_ERR_INPUT; a
 * label a site lacks is an error when that site is chosen, where the rule
 * names the site. A kind's rule applies where the label is the site's
 * (conv.forward=w8 at the layers Winograd's rows fit), and a note names
 * each site it skips. */
cnn_status tuner_force(tuner *t, const char *list, cnn_error *err);

/* After the sites of a network are chosen: a forced rule no site took (a
 * name no site or kind has, or a kind's label none of its sites has) is
 * CNN_ERR_INPUT, naming it, as a mistyped rule should be. Where later
 * networks follow the first's labels (replicas.h), every rule is taken
 * once they are all made, on one rank; on the others a kind's rule is
 * beaten by the labels. */
cnn_status tuner_forced_taken(const tuner *t, cnn_error *err);

/* Requires arithmetic keys, from tuner_arithmetic's record of a checkpoint
 * ("fc1=kernel;fc2=kernel"; a name may be a kind). "" requires nothing. */
cnn_status tuner_require(tuner *t, const char *record, cnn_error *err);

/* Quick choices (t->quick). A site whose cache has no entry, neither for
 * all its candidates nor for those that share the default's arithmetic
 * key, takes the device's default: on a CPU the first candidate, on other
 * devices the first candidate meant for them (TUNE_NOT_CPU), timed alone
 * so that one that cannot run there is skipped like a failed candidate.
 * It is recorded TUNE_DEFAULT. Later, tuner_retime's tuner times only the
 * candidates with the same key as each default, so what it switches to
 * computes the same bits, and caches the winner, which the next quick run
 * takes. */

/* Whether any choice was TUNE_DEFAULT. */
int tuner_has_defaults(const tuner *t);

/* Sets up `next` to time again the sites that t took by default: t's forced
 * rules and arithmetic record as required keys, quick off; every other
 * site then finds its cached, forced or only choice again. */
cnn_status tuner_retime(const tuner *t, tuner *next, cnn_error *err);

/* Replaces t's record of each site that `next` chose with next's choice, in
 * t's order; sites next did not choose keep t's choice, no longer
 * TUNE_DEFAULT (the caller makes again every site with equals to time). */
void tuner_adopt(tuner *t, const tuner *next);

/* Chooses one of the n variants v for `site` into *chosen and records it
 * (a site chosen again replaces its record); n <= TUNE_MAX_VARIANTS, and
 * time_fn may be NULL only when n is 1. A forced label the site lacks is
 * CNN_ERR_INPUT. A required key no variant has, or that the forced variant
 * lacks, is CNN_ERR_INPUT naming the site, the recorded key and
 * --allow-different-arithmetic, unless allow_different is set: then it
 * continues as if nothing were required and adds a note. Candidates whose
 * time_fn fails are skipped with a note; all failing is CNN_ERR_RUNTIME
 * with each reason. Timing writes the cache (atomically); an unreadable
 * cache entry is timed again, and a cache folder that cannot be written is
 * a note, not a failure. With t NULL, the first variant is taken and
 * nothing is recorded. */
cnn_status tuner_choose(tuner *t, const tune_site *site, const tune_variant *v,
                        int n, tune_time_fn time_fn, void *ctx, int *chosen,
                        cnn_error *err);

/* The record of what decides the results: "site=key" for every choice, in
 * order, joined by ';' ("fc1=kernel;fc2=kernel"; "" for none), for a
 * checkpoint. Not fitting in size bytes is CNN_ERR_RUNTIME; TUNER_RECORD_SIZE
 * bytes hold any tuner's record, and its tuner_labels too. */
#define TUNER_RECORD_SIZE (TUNER_MAX_SITES * 2 * TUNE_NAME)
cnn_status tuner_arithmetic(const tuner *t, char *buf, size_t size,
                            cnn_error *err);

/* The chosen labels as rules tuner_force takes: "site=label;..." for every
 * choice ("" for none), so another device or rank can run the same. Not
 * fitting in size bytes is CNN_ERR_RUNTIME. */
cnn_status tuner_labels(const tuner *t, char *buf, size_t size, cnn_error *err);

/* The chosen labels for people: "fc1=kernel fc2=clblast", or "none".
 * TUNER_SUMMARY_SIZE holds any tuner's whole summary. */
#define TUNER_SUMMARY_SIZE (TUNER_MAX_SITES * (2 * TUNE_NAME + 1))
void tuner_summary(const tuner *t, char buf[TUNER_SUMMARY_SIZE]);

/* Timing for a site's time_fn (src/tune/timing.c). */

/* Timed runs of a candidate, after one warm-up: TUNE_REPS, or fewer once
 * they have taken TUNE_BUDGET_MS of the host's clock (at least
 * TUNE_MIN_REPS). Three runs' minimum was not enough on a shared CPU: the
 * same site's candidates came out in other orders from one run to the next
 * (docs/BENCHMARKS.md). */
#define TUNE_REPS 20
#define TUNE_MIN_REPS 3
#define TUNE_BUDGET_MS 50.0
#define TUNE_MAX_SCRATCH 10 /* scratch buffers of one timing */

/* How a kind's candidates are timed: what tune_time reads through its ctx.
 * The kind gives the sizes of the scratch data its pass reads and writes,
 * and the three steps; tune_time owns the rest. */
typedef struct {
    const clrt *rt;
    int nbufs;                        /* <= TUNE_MAX_SCRATCH */
    size_t counts[TUNE_MAX_SCRATCH];  /* floats of each scratch buffer */
    void *ctx;                        /* the kind's, given to each step */
    /* Makes candidate `index`'s layer (over bufs: a pass that must follow
     * another runs that one here, once); on failure nothing to release. */
    cnn_status (*create)(void *ctx, int index, const cl_mem *bufs, cnn_error *err);
    /* Enqueues one run of the pass being timed. */
    cnn_status (*enqueue)(void *ctx, const cl_mem *bufs, cnn_error *err);
    void (*release)(void *ctx);
} tune_timing;

/* A tune_time_fn over a tune_timing: the candidate's layer on zero-filled
 * scratch buffers, one warm-up run of the pass (first launches compile),
 * then the smallest device time of the timed runs above, each measured
 * between two markers so every kernel and the gaps between them count.
 * Waits for the device; the layer and the buffers are released after. */
cnn_status tune_time(void *timing, int index, double *ms, cnn_error *err);

#endif
