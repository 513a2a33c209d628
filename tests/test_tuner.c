/* test_tuner.c: the tuner's choices — timing on a cache miss and the cache
 * read back without timing, retuning, forcing, the arithmetic a checkpoint
 * requires (and continuing without it when allowed), failing candidates,
 * the record a checkpoint keeps, quick choices finished by a retime, a
 * cache entry that follows what is built; variants whose build options
 * reach the kernel compiler; and the timing helper. Timing is a counting
 * stand-in, so choices are known. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tune/tuner.h"

/* Three variants: v0 and v1 sum in the same order, v2 does not. Their
 * tiles: a tile size, a split. */
static const tune_variant three[3] = {
    {.label = "v0", .arithmetic = "k", .tiles = {4, 1}},
    {.label = "v1", .arithmetic = "k", .tiles = {8, 1}},
    {.label = "v2", .arithmetic = "k-split2", .tiles = {4, 2}},
};

/* A kind's options from its rows' tiles, and another kind's. */
static void tile_options(const int *tiles, char *buf, size_t size)
{
    snprintf(buf, size, "-DTILE=%d -DSPLIT=%d", tiles[0], tiles[1]);
}

static void other_options(const int *tiles, char *buf, size_t size)
{
    snprintf(buf, size, "-DOTHER=%d", tiles[0]);
}

/* The stand-in timing: ms[i] per variant, a failure where fail[i], and a
 * count of calls. */
typedef struct {
    double ms[3];
    int fail[3];
    int calls;
} timer;

static cnn_status fake_time(void *ctx, int index, double *ms, cnn_error *err)
{
    timer *t = ctx;
    t->calls++;
    if (t->fail[index])
        return cnn_fail(err, CNN_ERR_RUNTIME, "variant %d does not build here", index);
    *ms = t->ms[index];
    return CNN_OK;
}

static tune_site site(const char *name, const char *shape)
{
    return (tune_site){.name = name, .kind = "fc", .shape_key = shape,
                       .dev = &test_rt()->dev};
}

/* A fresh cache folder for each test. */
static void cache_create(void)
{
    test_dir_create();
    setenv("XDG_CACHE_HOME", test_dir, 1);
}

static void cache_remove(void)
{
    unsetenv("XDG_CACHE_HOME");
    test_dir_remove();
}

static int cache_entries(void)
{
    DIR *d = opendir(test_path("cnn-cl"));
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, "tune-", 5);
    if (d)
        closedir(d);
    return n;
}

/* How many cache entries hold a line starting with `line`. */
static int cache_lines(const char *line)
{
    DIR *d = opendir(test_path("cnn-cl"));
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[4200], text[256];
        snprintf(path, sizeof path, "%s/cnn-cl/%s", test_dir, e->d_name);
        FILE *f = strncmp(e->d_name, "tune-", 5) ? NULL : fopen(path, "r");
        int found = 0;
        while (f && !found && fgets(text, sizeof text, f))
            found = !strncmp(text, line, strlen(line));
        n += found;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* Chooses site `name` with t, which must succeed. */
static int choose(const char *name, const char *shape, tuner *t, timer *tm)
{
    tune_site s = site(name, shape);
    int chosen = -1;
    cnn_error err = {0};
    TEST_OK(tuner_choose(t, &s, three, 3, fake_time, tm, &chosen, &err), err);
    return chosen;
}

START_TEST(miss_times_every_candidate_then_the_cache_answers)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    tuner_init(&t);
    ck_assert_int_eq(choose("fc1", "fc in=5 out=3", &t, &tm), 1);
    ck_assert_int_eq(tm.calls, 3);
    ck_assert_int_eq(t.choices[0].how, TUNE_TIMED);
    ck_assert_int_eq(cache_entries(), 1);

    /* Another tuner (a later run) reads the cache, even when the times
     * would now say otherwise. */
    tm = (timer){.ms = {1, 3, 2}};
    tuner_init(&t);
    ck_assert_int_eq(choose("fc1", "fc in=5 out=3", &t, &tm), 1);
    ck_assert_int_eq(tm.calls, 0);
    ck_assert_int_eq(t.choices[0].how, TUNE_CACHED);

    /* Another shape is another entry. */
    ck_assert_int_eq(choose("fc2", "fc in=3 out=2", &t, &tm), 0);
    ck_assert_int_eq(tm.calls, 3);
    ck_assert_int_eq(cache_entries(), 2);

    /* A retune times again and rewrites the entry. */
    tuner_init(&t);
    t.retune = 1;
    tm.calls = 0;
    ck_assert_int_eq(choose("fc1", "fc in=5 out=3", &t, &tm), 0);
    ck_assert_int_eq(tm.calls, 3);
    tuner_init(&t);
    tm.calls = 0;
    ck_assert_int_eq(choose("fc1", "fc in=5 out=3", &t, &tm), 0);
    ck_assert_int_eq(tm.calls, 0);
    ck_assert_int_eq(cache_entries(), 2);
}
END_TEST

START_TEST(an_unreadable_cache_entry_is_timed_again)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    tuner_init(&t);
    choose("fc1", "fc in=5 out=3", &t, &tm);
    DIR *d = opendir(test_path("cnn-cl"));
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "tune-", 5)) {
            char path[4200];
            snprintf(path, sizeof path, "%s/cnn-cl/%s", test_dir, e->d_name);
            FILE *f = fopen(path, "w");
            fputs("no-such-label\n", f);
            fclose(f);
        }
    closedir(d);
    tm.calls = 0;
    tuner_init(&t);
    ck_assert_int_eq(choose("fc1", "fc in=5 out=3", &t, &tm), 1);
    ck_assert_int_eq(tm.calls, 3);
}
END_TEST

START_TEST(an_unwritable_cache_is_a_note)
{
    const char *file = test_path("not-a-folder");
    fclose(fopen(file, "w"));
    setenv("XDG_CACHE_HOME", file, 1);
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    tuner_init(&t);
    ck_assert_int_eq(choose("fc1", "a", &t, &tm), 1);
    ck_assert_int_eq(t.choices[0].how, TUNE_TIMED);
    ck_assert_msg(strstr(t.notes, "fc1: choice not cached: cannot create"), "%s", t.notes);
}
END_TEST

START_TEST(forcing_takes_the_label_untimed)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    cnn_error err = {0};
    tuner_init(&t);
    /* a site's own rule beats its kind's; a later rule replaces */
    TEST_OK(tuner_force(&t, "fc=v0,fc1=v0;fc1=v2", &err), err);
    ck_assert_int_eq(choose("fc1", "a", &t, &tm), 2);
    ck_assert_int_eq(choose("fc2", "b", &t, &tm), 0);
    ck_assert_int_eq(tm.calls, 0);
    ck_assert_int_eq(t.choices[0].how, TUNE_FORCED);
    ck_assert_int_eq(cache_entries(), 0);

    /* a label the site lacks, and bad syntax */
    TEST_OK(tuner_force(&t, "fc3=v9", &err), err);
    tune_site s = site("fc3", "c");
    int chosen;
    ck_assert_int_eq(tuner_choose(&t, &s, three, 3, fake_time, &tm, &chosen, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "fc3: no variant 'v9' to force; it has v0, v1, v2"),
                  "%s", err.msg);
    ck_assert_int_eq(tuner_force(&t, "fc=", &err), CNN_ERR_INPUT);
    ck_assert_int_eq(tuner_force(&t, "fc clblast", &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "'fc clblast' is not name=value"), "%s", err.msg);
}
END_TEST

START_TEST(a_kinds_rule_applies_where_its_label_is)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    cnn_error err = {0};
    tuner_init(&t);
    /* fc2 has no v2: chosen as if unforced (timed: v1), with a note */
    TEST_OK(tuner_force(&t, "fc=v2", &err), err);
    tune_site s = site("fc2", "a");
    int chosen;
    TEST_OK(tuner_choose(&t, &s, three, 2, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 1);
    ck_assert_int_eq(t.choices[0].how, TUNE_TIMED);
    ck_assert_msg(strstr(t.notes, "fc2: fc=v2 does not apply here"), "%s", t.notes);
    /* no site took it yet; then fc1 does */
    ck_assert_int_eq(tuner_forced_taken(&t, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "forced variant 'fc=v2': no site of this network took it"),
                  "%s", err.msg);
    ck_assert_int_eq(choose("fc1", "b", &t, &tm), 2);
    TEST_OK(tuner_forced_taken(&t, &err), err);
    /* a rule naming a site no network has */
    TEST_OK(tuner_force(&t, "fc9=v0", &err), err);
    ck_assert_int_eq(tuner_forced_taken(&t, &err), CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "'fc9=v0'"), "%s", err.msg);
}
END_TEST

START_TEST(a_required_key_picks_its_variants)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    cnn_error err = {0};
    tuner_init(&t);
    /* one variant has the key: taken untimed, though slower */
    TEST_OK(tuner_require(&t, "fc1=k-split2", &err), err);
    ck_assert_int_eq(choose("fc1", "a", &t, &tm), 2);
    ck_assert_int_eq(tm.calls, 0);
    ck_assert_int_eq(t.choices[0].how, TUNE_REQUIRED);
    /* two have it: the faster of those two */
    tm.ms[1] = 4;
    TEST_OK(tuner_require(&t, "fc=k", &err), err);
    ck_assert_int_eq(choose("fc2", "a", &t, &tm), 0);
    ck_assert_int_eq(tm.calls, 2);
    /* a forced variant of the same arithmetic is fine */
    TEST_OK(tuner_force(&t, "fc2=v1", &err), err);
    ck_assert_int_eq(choose("fc2", "a", &t, &tm), 1);
}
END_TEST

START_TEST(a_required_key_none_has_needs_allowing)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t;
    cnn_error err = {0};
    int chosen;
    tune_site s = site("fc1", "a");
    tuner_init(&t);
    TEST_OK(tuner_require(&t, "fc1=gone", &err), err);
    ck_assert_int_eq(tuner_choose(&t, &s, three, 3, fake_time, &tm, &chosen, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "fc1: the checkpoint was computed with variant 'gone'") &&
                  strstr(err.msg, "--allow-different-arithmetic"), "%s", err.msg);
    ck_assert_int_eq(t.nchoices, 0);

    t.allow_different = 1;
    TEST_OK(tuner_choose(&t, &s, three, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 1);
    ck_assert_int_eq(tm.calls, 3);
    ck_assert_str_eq(t.notes, "fc1: recorded gone, running v1\n");

    /* a forced variant of other arithmetic than required */
    tuner_init(&t);
    TEST_OK(tuner_require(&t, "fc1=k", &err), err);
    TEST_OK(tuner_force(&t, "fc=v2", &err), err);
    ck_assert_int_eq(tuner_choose(&t, &s, three, 3, fake_time, &tm, &chosen, &err),
                     CNN_ERR_INPUT);
    ck_assert_msg(strstr(err.msg, "the forced 'v2' computes differently") &&
                  strstr(err.msg, "--allow-different-arithmetic"), "%s", err.msg);
    t.allow_different = 1;
    ck_assert_int_eq(choose("fc1", "a", &t, &tm), 2);
    ck_assert_str_eq(t.notes, "fc1: recorded k, running v2\n");
}
END_TEST

START_TEST(a_failing_candidate_is_skipped)
{
    timer tm = {.ms = {3, 1, 2}, .fail = {0, 1, 0}};
    tuner t;
    tuner_init(&t);
    ck_assert_int_eq(choose("fc1", "a", &t, &tm), 2);
    ck_assert_msg(strstr(t.notes, "fc1: variant v1 skipped: variant 1 does not build here"),
                  "%s", t.notes);

    /* all failing is an error with every reason, and caches nothing */
    tm = (timer){.fail = {1, 1, 1}};
    tune_site s = site("fc1", "b");
    int chosen;
    cnn_error err = {0};
    ck_assert_int_eq(tuner_choose(&t, &s, three, 3, fake_time, &tm, &chosen, &err),
                     CNN_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "fc1: no variant ran here: v0: variant 0 does not build "
                         "here; v1: variant 1") && strstr(err.msg, "v2: variant 2"),
                  "%s", err.msg);
    ck_assert_int_eq(cache_entries(), 1);
}
END_TEST

START_TEST(the_record_round_trips)
{
    timer tm = {.ms = {3, 1, 2}};
    tuner t, again;
    cnn_error err = {0};
    char record[64], summary[TUNER_SUMMARY_SIZE];
    tuner_init(&t);
    TEST_OK(tuner_arithmetic(&t, record, sizeof record, &err), err);
    ck_assert_str_eq(record, "");
    tuner_summary(&t, summary);
    ck_assert_str_eq(summary, "none");
    TEST_OK(tuner_force(&t, "fc2=v2", &err), err);
    choose("fc1", "a", &t, &tm);
    choose("fc2", "a", &t, &tm);
    choose("fc1", "a", &t, &tm); /* chosen again: one record */
    TEST_OK(tuner_arithmetic(&t, record, sizeof record, &err), err);
    ck_assert_str_eq(record, "fc1=k;fc2=k-split2");
    tuner_summary(&t, summary);
    ck_assert_str_eq(summary, "fc1=v1 fc2=v2");
    /* the longest summary a tuner can hold is written whole */
    tuner full;
    tuner_init(&full);
    full.nchoices = TUNER_MAX_SITES;
    for (int i = 0; i < TUNER_MAX_SITES; i++) {
        memset(full.choices[i].site, 's', TUNE_NAME - 1);
        memset(full.choices[i].label, 'v', TUNE_NAME - 1);
        full.choices[i].site[TUNE_NAME - 1] = full.choices[i].label[TUNE_NAME - 1] = '\0';
    }
    tuner_summary(&full, summary);
    ck_assert_uint_eq(strlen(summary), (size_t)TUNER_MAX_SITES * (2 * TUNE_NAME) - 1);
    ck_assert_int_eq(tuner_arithmetic(&t, record, 10, &err), CNN_ERR_RUNTIME);
    /* the labels, as rules another tuner takes */
    TEST_OK(tuner_labels(&t, record, sizeof record, &err), err);
    ck_assert_str_eq(record, "fc1=v1;fc2=v2");
    ck_assert_int_eq(tuner_labels(&t, record, 10, &err), CNN_ERR_RUNTIME);
    tuner_init(&again);
    TEST_OK(tuner_force(&again, "fc1=v1;fc2=v2", &err), err);
    tm.calls = 0;
    ck_assert_int_eq(choose("fc1", "a", &again, &tm), 1);
    ck_assert_int_eq(tm.calls, 0);

    /* a resume requires what was recorded */
    tuner_init(&again);
    TEST_OK(tuner_require(&again, "fc1=k;fc2=k-split2", &err), err);
    tm.calls = 0;
    ck_assert_int_eq(choose("fc2", "a", &again, &tm), 2);
    ck_assert_int_eq(tm.calls, 0);

    /* no tuner: the first variant, untimed */
    tune_site s = site("fc1", "a");
    int chosen = -1;
    TEST_OK(tuner_choose(NULL, &s, three, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 0);
    ck_assert_int_eq(tm.calls, 0);
}
END_TEST

/* A timing that builds the variant's program, as a layer's would: each
 * variant renames relu_forward through the options of its tile, so only
 * its own program has the kernel it asks for. */
static const tune_variant renamed[2] = {
    {.label = "a", .arithmetic = "a", .tiles = {'a'}},
    {.label = "b", .arithmetic = "a", .tiles = {'b'}},
};

static void rename_options(const int *tiles, char *buf, size_t size)
{
    snprintf(buf, size, "-Drelu_forward=tuned_relu_%c", tiles[0]);
}

static cnn_status build_time(void *ctx, int index, double *ms, cnn_error *err)
{
    const char *names[2] = {"tuned_relu_a", "tuned_relu_b"};
    char options[TUNE_OPTIONS];
    cl_kernel k = NULL;
    (void)ctx;
    rename_options(renamed[index].tiles, options, sizeof options);
    /* the variant's kernel exists only in its own program */
    cnn_status st = clrt_kernels_built(test_rt(), options, 1, &names[1 - index],
                                       (cl_kernel *const[]){&k}, err);
    ck_assert_int_eq(st, CNN_ERR_RUNTIME);
    if ((st = clrt_kernels_built(test_rt(), options, 1, &names[index],
                                 (cl_kernel *const[]){&k}, err)))
        return st;
    clrt_release_kernel(&k);
    *ms = index ? 1 : 2;
    return CNN_OK;
}

/* Quick choices: a miss takes the device's default (untimed on a CPU, timed
 * alone elsewhere); tuner_retime times only the variants of its key, and
 * a later quick choice reads their winner from the cache. */
START_TEST(a_quick_miss_takes_the_default_and_retime_finishes)
{
    static const tune_variant quick3[3] = {
        {.label = "v0", .arithmetic = "k", .tiles = {4}},
        {.label = "v1", .arithmetic = "k", .where = TUNE_CPU_DEFAULT, .tiles = {8}},
        {.label = "v2", .arithmetic = "k-split2", .tiles = {2}},
    };
    int cpu = clrt_device_is_cpu(&test_rt()->dev);
    timer tm = {.ms = {1, 3, 0.5}};
    tune_site s = site("fc1", "fc quick");
    tuner t, next, again;
    int chosen = -1;
    cnn_error err = {0};
    tuner_init(&t);
    t.quick = 1;
    TEST_OK(tuner_choose(&t, &s, quick3, 3, fake_time, &tm, &chosen, &err), err);
    int dflt = cpu ? 1 : 0;
    ck_assert_int_eq(chosen, dflt);
    ck_assert_int_eq(tm.calls, cpu ? 0 : 1);
    ck_assert_int_eq(t.choices[0].how, TUNE_DEFAULT);
    ck_assert(tuner_has_defaults(&t));
    ck_assert_int_eq(cache_entries(), 0);

    tm.calls = 0;
    TEST_OK(tuner_retime(&t, &next, &err), err);
    TEST_OK(tuner_choose(&next, &s, quick3, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 0); /* v2 is faster, but computes differently */
    ck_assert_int_eq(tm.calls, 2); /* v0 and v1, not v2 */
    tuner_adopt(&t, &next);
    ck_assert_str_eq(t.choices[0].label, "v0");
    ck_assert(!tuner_has_defaults(&t));

    tm.calls = 0;
    tuner_init(&again);
    again.quick = 1;
    TEST_OK(tuner_choose(&again, &s, quick3, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 0);
    ck_assert_int_eq(again.choices[0].how, TUNE_CACHED);
    ck_assert_int_eq(tm.calls, 0);
}
END_TEST

/* A variant meant for GPUs is not timed on a CPU, but can be forced or
 * required there; on another device type it is a candidate. */
START_TEST(gpu_variants_are_not_timed_on_a_cpu)
{
    cache_create();
    tune_variant gpu[3] = {three[0], three[1], three[2]};
    gpu[1].where = TUNE_NOT_CPU;
    clrt_device cpu = test_rt()->dev, other = cpu;
    cpu.type = CL_DEVICE_TYPE_CPU;
    other.type = CL_DEVICE_TYPE_GPU;
    timer tm = {.ms = {3, 1, 2}};
    tune_site s = site("fc1", "fc in=5");
    int chosen = -1;
    cnn_error err = {0};
    tuner t;
    tuner_init(&t);
    s.dev = &cpu;
    TEST_OK(tuner_choose(&t, &s, gpu, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 2);
    ck_assert_int_eq(tm.calls, 2);
    /* The cache names the winner, not the row at its place among the
     * candidates (v1 here), so the next choice reads it untimed. */
    tm.calls = 0;
    TEST_OK(tuner_choose(&t, &s, gpu, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 2);
    ck_assert_int_eq(tm.calls, 0);
    s.dev = &other;
    tm.calls = 0;
    TEST_OK(tuner_choose(&t, &s, gpu, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 1);
    ck_assert_int_eq(tm.calls, 3);
    s.dev = &cpu;
    TEST_OK(tuner_force(&t, "fc1=v1", &err), err);
    TEST_OK(tuner_choose(&t, &s, gpu, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(chosen, 1);
    /* Every variant meant elsewhere: the CPU times them all. */
    tuner_init(&t);
    tune_variant only[1] = {gpu[1]};
    tm.calls = 0;
    TEST_OK(tuner_choose(&t, &s, only, 1, NULL, NULL, &chosen, &err), err);
    ck_assert_int_eq(chosen, 0);
    cache_remove();
}
END_TEST

START_TEST(variant_options_reach_the_compiler)
{
    tuner t;
    int chosen;
    cnn_error err = {0};
    tune_site s = site("relu1", "relu");
    s.options = rename_options;
    tuner_init(&t);
    TEST_OK(tuner_choose(&t, &s, renamed, 2, build_time, NULL, &chosen, &err), err);
    ck_assert_int_eq(chosen, 1);
}
END_TEST

/* The cache entry follows what is built: the same labels with other tiles,
 * or other options from the same tiles, are timed again under an entry of
 * their own, which lists each candidate with its options as the site's
 * function writes them. */
START_TEST(the_cache_entry_follows_the_tiles_and_options)
{
    tune_variant v[3] = {three[0], three[1], three[2]};
    timer tm = {.ms = {3, 1, 2}};
    tune_site s = site("fc1", "fc in=5");
    int chosen;
    cnn_error err = {0};
    tuner t;
    tuner_init(&t);
    s.options = tile_options;
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(tm.calls, 3);
    ck_assert_int_eq(cache_lines("# v1 [-DTILE=8 -DSPLIT=1]: 1.0000 ms"), 1);
    ck_assert_int_eq(cache_lines("# v2 [-DTILE=4 -DSPLIT=2]: 2.0000 ms"), 1);

    v[1].tiles[0] = 16;
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(tm.calls, 6);
    ck_assert_int_eq(cache_entries(), 2);
    ck_assert_int_eq(cache_lines("# v1 [-DTILE=16 -DSPLIT=1]"), 1);

    s.options = other_options;
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(tm.calls, 9);
    ck_assert_int_eq(cache_entries(), 3);
    ck_assert_int_eq(cache_lines("# v1 [-DOTHER=16]"), 1);

    /* without options, a site's lines show none */
    s.options = NULL;
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(cache_entries(), 4);
    ck_assert_int_eq(cache_lines("# v1 []"), 1);

    /* other kernels' source: timed again, into an entry of its own */
    clrt_device other = test_rt()->dev;
    other.kernels_crc ^= 1;
    s.dev = &other;
    TEST_OK(tuner_choose(&t, &s, v, 3, fake_time, &tm, &chosen, &err), err);
    ck_assert_int_eq(tm.calls, 15);
    ck_assert_int_eq(cache_entries(), 5);
}
END_TEST

/* A stand-in kind for tune_time: it counts its steps, checks that the
 * scratch it is given is zero-filled, and fails where told. */
typedef struct {
    int created, runs, released, fail_create, fail_run;
    int index;
} kind;

static cnn_status kind_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    kind *k = ctx;
    float got[5] = {1, 1, 1, 1, 1}, zero[5] = {0};
    if (k->fail_create)
        return cnn_fail(err, CNN_ERR_RUNTIME, "no layer here");
    TEST_OK(clrt_read(test_rt(), bufs[1], got, sizeof got, err), *err);
    ck_assert_mem_eq(got, zero, sizeof got);
    k->created++;
    k->index = index;
    return CNN_OK;
}

static cnn_status kind_enqueue(void *ctx, const cl_mem *bufs, cnn_error *err)
{
    kind *k = ctx;
    const float one = 1;
    if (k->fail_run && k->runs == k->fail_run)
        return cnn_fail(err, CNN_ERR_RUNTIME, "run %d failed", k->runs);
    k->runs++;
    CLRT_CALL(err, clEnqueueFillBuffer, (test_rt()->queue, bufs[0], &one, sizeof one, 0,
                                         3 * sizeof one, 0, NULL, NULL));
    return CNN_OK;
}

static void kind_release(void *ctx)
{
    ((kind *)ctx)->released++;
}

/* tune_time makes the scratch (zero-filled), the candidate's layer, runs
 * the pass once to warm up and TUNE_REPS times more, and releases the
 * layer; a layer that cannot be made is not released, and a failing run
 * releases it too. */
START_TEST(tune_time_warms_up_then_times_the_reps)
{
    kind k = {0};
    tune_timing tm = {.rt = test_rt(), .nbufs = 2, .counts = {3, 5}, .ctx = &k,
                      .create = kind_create, .enqueue = kind_enqueue,
                      .release = kind_release};
    double ms = -1;
    cnn_error err = {0};
    TEST_OK(tune_time(&tm, 2, &ms, &err), err);
    ck_assert(ms >= 0);
    ck_assert_int_eq(k.index, 2);
    ck_assert_int_eq(k.created, 1);
    ck_assert_int_eq(k.runs, 1 + TUNE_REPS);
    ck_assert_int_eq(k.released, 1);

    k = (kind){.fail_create = 1};
    ck_assert_int_eq(tune_time(&tm, 0, &ms, &err), CNN_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "no layer here");
    ck_assert_int_eq(k.released, 0);

    k = (kind){.fail_run = 2};
    ck_assert_int_eq(tune_time(&tm, 0, &ms, &err), CNN_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "run 2 failed");
    ck_assert_int_eq(k.released, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tuner");
    TCase *tc = tcase_create("tuner");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, cache_create, cache_remove);
    tcase_add_test(tc, miss_times_every_candidate_then_the_cache_answers);
    tcase_add_test(tc, an_unreadable_cache_entry_is_timed_again);
    tcase_add_test(tc, an_unwritable_cache_is_a_note);
    tcase_add_test(tc, forcing_takes_the_label_untimed);
    tcase_add_test(tc, a_kinds_rule_applies_where_its_label_is);
    tcase_add_test(tc, a_required_key_picks_its_variants);
    tcase_add_test(tc, a_required_key_none_has_needs_allowing);
    tcase_add_test(tc, a_failing_candidate_is_skipped);
    tcase_add_test(tc, the_record_round_trips);
    tcase_add_test(tc, a_quick_miss_takes_the_default_and_retime_finishes);
    tcase_add_test(tc, gpu_variants_are_not_timed_on_a_cpu);
    tcase_add_test(tc, variant_options_reach_the_compiler);
    tcase_add_test(tc, the_cache_entry_follows_the_tiles_and_options);
    tcase_add_test(tc, tune_time_warms_up_then_times_the_reps);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
