/* tuner.c: choosing kernel variants per site (see tuner.h). */
#include "tune/tuner.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/atomic_file.h"
#include "util/cache.h"

void tuner_init(tuner *t)
{
    memset(t, 0, sizeof *t);
}

/* Appends a formatted line to the notes; a full buffer drops the rest. */
static void note(tuner *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(tuner *t, const char *fmt, ...)
{
    size_t used = strlen(t->notes);
    if (used + 1 >= sizeof t->notes)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->notes + used, sizeof t->notes - used - 1, fmt, ap);
    va_end(ap);
    strcat(t->notes, "\n");
}

/* A name, label or key: 1..TUNE_NAME-1 bytes of [A-Za-z0-9_.-]. */
static int valid_word(const char *s, size_t n)
{
    if (n < 1 || n >= TUNE_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-", s[i]))
            return 0;
    return 1;
}

/* Parses "name=value" rules separated by ',' or ';' into rules, a later one
 * replacing an earlier one of the same name. */
static cnn_status add_rules(tune_rule *rules, int *count, const char *text,
                            const char *what, cnn_error *err)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",;");
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : 0;
        if (!eq || !valid_word(p, nlen) || !valid_word(eq + 1, len - nlen - 1))
            return cnn_fail(err, CNN_ERR_INPUT, "%s '%s': '%.*s' is not name=value "
                            "(a site or kind, a label; letters, digits, '_', '.', '-')",
                            what, text, (int)len, p);
        tune_rule r = {{0}, {0}, 0};
        memcpy(r.name, p, nlen);
        memcpy(r.value, eq + 1, len - nlen - 1);
        int i = 0;
        while (i < *count && strcmp(rules[i].name, r.name))
            i++;
        if (i == TUNER_MAX_RULES)
            return cnn_fail(err, CNN_ERR_INPUT, "%s '%s': more than %d rules", what, text,
                            TUNER_MAX_RULES);
        rules[i] = r;
        if (i == *count)
            (*count)++;
        p += len;
        if (*p)
            p++;
    }
    return CNN_OK;
}

cnn_status tuner_force(tuner *t, const char *list, cnn_error *err)
{
    return add_rules(t->forced, &t->nforced, list, "forced variants", err);
}

cnn_status tuner_forced_taken(const tuner *t, cnn_error *err)
{
    for (int i = 0; i < t->nforced; i++)
        if (!t->forced[i].taken)
            return cnn_fail(err, CNN_ERR_INPUT,
                            "forced variant '%s=%s': no site of this network took it; "
                            "name a site or kind and a label of its, as `cnn-cl bench` "
                            "prints them",
                            t->forced[i].name, t->forced[i].value);
    return CNN_OK;
}

cnn_status tuner_require(tuner *t, const char *record, cnn_error *err)
{
    return add_rules(t->required, &t->nrequired, record, "recorded variants", err);
}

/* The rule for the site's name, else for its kind; NULL when none. */
static const tune_rule *rule_for(const tune_rule *rules, int count, const tune_site *s)
{
    const tune_rule *kind = NULL;
    for (int i = 0; i < count; i++) {
        if (!strcmp(rules[i].name, s->name))
            return &rules[i];
        if (!strcmp(rules[i].name, s->kind))
            kind = &rules[i];
    }
    return kind;
}

/* "kernel, clblast": the labels of the variants, for messages. */
static void labels_text(const tune_variant *v, int n, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "", v[i].label);
}

static cnn_status record(tuner *t, const tune_site *s, const tune_variant *v,
                         tune_how how, cnn_error *err)
{
    int i = 0;
    while (i < t->nchoices && strcmp(t->choices[i].site, s->name))
        i++;
    if (i == TUNER_MAX_SITES)
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: more than %d tuned sites", s->name,
                        TUNER_MAX_SITES);
    tune_choice *c = &t->choices[i];
    snprintf(c->site, sizeof c->site, "%s", s->name);
    snprintf(c->label, sizeof c->label, "%s", v->label);
    snprintf(c->arithmetic, sizeof c->arithmetic, "%s", v->arithmetic);
    c->how = how;
    if (i == t->nchoices)
        t->nchoices++;
    return CNN_OK;
}

/* The -D options variant v's program is built with, as its kind builds it
 * ("" when the site's variants take none). */
static void options_of(const tune_site *s, const tune_variant *v, char *buf, size_t size)
{
    buf[0] = '\0';
    if (s->options)
        s->options(v->tiles, buf, size);
}

/* The cache entry of a site on its device among these candidates: it names
 * everything the timing depended on. Each candidate counts with its tiles
 * (how its kernels are launched, too) and the options its kind builds its
 * program with from them, so the entry follows what is built. */
static cnn_status cache_entry(const tune_site *s, const tune_variant *v,
                              const int *cand, int ncand, char *path, size_t size,
                              cnn_error *err)
{
    const char *parts[4] = {s->dev->platform_name, s->dev->name,
                            s->dev->driver_version, s->shape_key};
    uint64_t h = CACHE_HASH_SEED;
    /* each part with its NUL, so "ab"+"c" and "a"+"bc" differ */
    for (int i = 0; i < 4; i++)
        h = cache_hash(h, parts[i], strlen(parts[i]) + 1);
    /* Other kernels (another version's, or a CNN_CL_KERNELS folder's) may
     * rank the variants otherwise. */
    h = cache_hash(h, &s->dev->kernels_crc, sizeof s->dev->kernels_crc);
    for (int i = 0; i < ncand; i++) {
        char options[TUNE_OPTIONS];
        options_of(s, &v[cand[i]], options, sizeof options);
        h = cache_hash(h, v[cand[i]].label, strlen(v[cand[i]].label) + 1);
        h = cache_hash(h, v[cand[i]].tiles, sizeof v[cand[i]].tiles);
        h = cache_hash(h, options, strlen(options) + 1);
    }
    char name[64];
    snprintf(name, sizeof name, "tune-%016llx", (unsigned long long)h);
    return cache_path(name, path, size, err);
}

/* The candidate the cache entry names (its first line), or -1. */
static int cache_read(const char *path, const tune_variant *v, const int *cand, int ncand)
{
    char text[TUNE_NAME + 2] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(text, sizeof text, f))
        text[0] = '\0';
    fclose(f);
    text[strcspn(text, "\n")] = '\0';
    for (int i = 0; i < ncand; i++)
        if (!strcmp(text, v[cand[i]].label))
            return cand[i];
    return -1;
}

/* The winner on the first line; what was measured below, for people. */
static cnn_status cache_write(const char *path, const tune_site *s,
                              const tune_variant *v, const int *cand,
                              const double *ms, int ncand, int best, cnn_error *err)
{
    atomic_file f;
    cnn_status st = atomic_file_open(&f, path, err);
    if (st)
        return st;
    fprintf(f.f, "%s\n# %s on %s (%s): %s\n", v[cand[best]].label, s->name, s->dev->name,
            s->dev->driver_version, s->shape_key);
    for (int i = 0; i < ncand; i++) {
        char options[TUNE_OPTIONS];
        options_of(s, &v[cand[i]], options, sizeof options);
        if (ms[i] >= 0)
            fprintf(f.f, "# %s [%s]: %.4f ms\n", v[cand[i]].label, options, ms[i]);
    }
    return atomic_file_commit(&f, err);
}

/* A candidate whose timing failed: a note for the user, and its reason
 * appended to `reasons` for the failure should none run. */
static void skipped(tuner *t, const tune_site *s, const tune_variant *v, const char *why,
                    char *reasons, size_t size)
{
    note(t, "%s: variant %s skipped: %.300s", s->name, v->label, why);
    snprintf(reasons + strlen(reasons), size - strlen(reasons), "%s%s: %s",
             *reasons ? "; " : "", v->label, why);
}

/* Times each candidate and keeps the fastest; a failing one is skipped. */
static cnn_status time_all(tuner *t, const tune_site *s, const tune_variant *v,
                           const int *cand, int ncand, tune_time_fn time_fn, void *ctx,
                           double *ms, int *best, cnn_error *err)
{
    char reasons[4096] = "";
    *best = -1;
    if (t->progress)
        fprintf(t->progress, "tuning %s: timing %d variants...", s->name, ncand);
    for (int i = 0; i < ncand; i++) {
        cnn_error e = {0};
        ms[i] = -1;
        if (time_fn(ctx, cand[i], &ms[i], &e)) {
            ms[i] = -1;
            skipped(t, s, &v[cand[i]], e.msg, reasons, sizeof reasons);
        } else if (*best < 0 || ms[i] < ms[*best]) {
            *best = i;
        }
    }
    if (t->progress)
        fprintf(t->progress, " %s\n", *best < 0 ? "none ran" : v[cand[*best]].label);
    if (*best < 0)
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: no variant ran here: %s", s->name,
                        reasons);
    return CNN_OK;
}

/* The failure for a required key the site cannot honour. */
static cnn_status different(const tune_site *s, const char *recorded,
                            const tune_variant *forced, const tune_variant *v, int n,
                            cnn_error *err)
{
    char have[512];
    labels_text(v, n, have, sizeof have);
    if (forced)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: the checkpoint was computed with "
                        "variant '%s', and the forced '%s' computes differently; leave "
                        "the forcing option out, or pass --allow-different-arithmetic "
                        "to continue with '%s'", s->name, recorded, forced->label,
                        forced->label);
    return cnn_fail(err, CNN_ERR_INPUT, "%s: the checkpoint was computed with variant "
                    "'%s', which none here gives (here: %s); pass "
                    "--allow-different-arithmetic to continue with one of them (the "
                    "results then differ in rounding)", s->name, recorded, have);
}

static int on_cpu(const tune_site *s) { return clrt_device_is_cpu(s->dev); }

/* The variants worth timing on the site's device with arithmetic key `key`
 * (any key when NULL); all of those with the key when none is meant for
 * the device. */
static int device_candidates(const tune_site *s, const tune_variant *v, int n,
                             const char *key, int *cand)
{
    int ncand = 0;
    for (int pass = 0; pass < 2 && !ncand; pass++)
        for (int i = 0; i < n; i++)
            if ((!key || !strcmp(v[i].arithmetic, key)) &&
                (pass || !(on_cpu(s) && (v[i].where & TUNE_NOT_CPU))))
                cand[ncand++] = i;
    return ncand;
}

/* The candidates in the order a quick choice tries them: first the
 * CPU's default on a CPU, those meant for other devices elsewhere; then
 * the rest as they come. */
static void default_order(const tune_site *s, const tune_variant *v, const int *cand,
                          int ncand, int *order)
{
    unsigned first = on_cpu(s) ? TUNE_CPU_DEFAULT : TUNE_NOT_CPU;
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ncand; i++)
            if ((!(v[cand[i]].where & first)) == pass)
                order[k++] = cand[i];
}

/* The variants a retime compares for key `key`: those of the device's
 * candidates with that key, and on a device other than a CPU only those
 * meant for it where there are any (the CPU-shaped ones lost to them on
 * the GPU measured, and each is one more program to compile). */
static int family(const tune_site *s, const tune_variant *v, int n, const char *key,
                  int *cand)
{
    int ncand = device_candidates(s, v, n, key, cand), k = 0;
    for (int i = 0; !on_cpu(s) && i < ncand; i++)
        if (v[cand[i]].where & TUNE_NOT_CPU)
            cand[k++] = cand[i];
    return k ? k : ncand;
}

/* The cached choice among the candidates that share the default's key, or
 * -1: what an earlier tuner_retime found. */
static int family_cached(const tune_site *s, const tune_variant *v, int n,
                         const int *order)
{
    int family_of[TUNE_MAX_VARIANTS],
        nfamily = family(s, v, n, v[order[0]].arithmetic, family_of);
    char path[4200];
    cnn_error e = {0};
    if (nfamily < 2 || cache_entry(s, v, family_of, nfamily, path, sizeof path, &e))
        return -1;
    return cache_read(path, v, family_of, nfamily);
}

/* The quick choice on a miss: the first candidate in default order, on a
 * CPU untimed (every candidate there runs there), elsewhere the first
 * whose lone timing succeeds. */
static cnn_status quick_default(tuner *t, const tune_site *s, const tune_variant *v,
                                const int *order, int ncand, tune_time_fn time_fn,
                                void *ctx, int *chosen, cnn_error *err)
{
    if (on_cpu(s)) {
        *chosen = order[0];
        return CNN_OK;
    }
    char reasons[4096] = "";
    for (int i = 0; i < ncand; i++) {
        cnn_error e = {0};
        double ms;
        if (!time_fn(ctx, order[i], &ms, &e)) {
            *chosen = order[i];
            return CNN_OK;
        }
        skipped(t, s, &v[order[i]], e.msg, reasons, sizeof reasons);
    }
    return cnn_fail(err, CNN_ERR_RUNTIME, "%s: no variant ran here: %s", s->name, reasons);
}

cnn_status tuner_choose(tuner *t, const tune_site *s, const tune_variant *v,
                        int n, tune_time_fn time_fn, void *ctx, int *chosen,
                        cnn_error *err)
{
    *chosen = 0;
    if (n < 1 || n > TUNE_MAX_VARIANTS || (n > 1 && !time_fn))
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s: %d variants (1..%d) and %s timing",
                        s->name, n, TUNE_MAX_VARIANTS, time_fn ? "a" : "no");
    for (int i = 0; i < n; i++)
        if (!valid_word(v[i].label, strlen(v[i].label)) ||
            !valid_word(v[i].arithmetic, strlen(v[i].arithmetic)))
            return cnn_fail(err, CNN_ERR_RUNTIME, "%s: variant %d's label '%s' or "
                            "arithmetic key '%s' is not a word of under %d bytes",
                            s->name, i, v[i].label, v[i].arithmetic, TUNE_NAME);
    if (!t)
        return CNN_OK;

    const tune_rule *force = rule_for(t->forced, t->nforced, s);
    const tune_rule *need = rule_for(t->required, t->nrequired, s);
    int i = 0;
    while (force && i < n && strcmp(v[i].label, force->value))
        i++;
    if (force && i == n && strcmp(force->name, s->name)) {
        /* a kind's label this site has no row for: chosen as if unforced */
        note(t, "%s: %s=%s does not apply here", s->name, force->name, force->value);
        force = NULL;
    }
    if (force) {
        if (i == n) {
            char have[512];
            labels_text(v, n, have, sizeof have);
            return cnn_fail(err, CNN_ERR_INPUT, "%s: no variant '%s' to force; it has %s",
                            s->name, force->value, have);
        }
        if (need && strcmp(v[i].arithmetic, need->value)) {
            if (!t->allow_different)
                return different(s, need->value, &v[i], v, n, err);
            note(t, "%s: recorded %s, running %s", s->name, need->value, v[i].label);
        }
        t->forced[force - t->forced].taken = 1;
        *chosen = i;
        return record(t, s, &v[i], TUNE_FORCED, err);
    }

    int cand[TUNE_MAX_VARIANTS], ncand = 0;
    const char *missing = NULL; /* the required key none gives */
    if (need) {
        ncand = t->retiming ? family(s, v, n, need->value, cand)
                            : device_candidates(s, v, n, need->value, cand);
        if (!ncand && !t->allow_different)
            return different(s, need->value, NULL, v, n, err);
        missing = ncand ? NULL : need->value;
    }
    if (!ncand)
        ncand = device_candidates(s, v, n, NULL, cand);
    cnn_status st;
    tune_how how = need && !missing ? TUNE_REQUIRED : TUNE_ONLY;
    *chosen = cand[0];
    if (ncand > 1) {
        /* The cache only spares timing: without one, the choice is timed
         * and a note says why it will be timed again. */
        char path[4200];
        double ms[TUNE_MAX_VARIANTS];
        int best, order[TUNE_MAX_VARIANTS], quick = t->quick && !t->retune;
        default_order(s, v, cand, ncand, order);
        cnn_error e = {0};
        int cached = -1, have_cache = !cache_entry(s, v, cand, ncand, path, sizeof path, &e);
        if (have_cache && !t->retune)
            cached = cache_read(path, v, cand, ncand);
        if (cached < 0 && quick)
            cached = family_cached(s, v, n, order);
        if (cached >= 0) {
            *chosen = cached;
            how = TUNE_CACHED;
        } else if (quick) {
            if ((st = quick_default(t, s, v, order, ncand, time_fn, ctx, chosen, err)))
                return st;
            how = TUNE_DEFAULT;
        } else if ((st = time_all(t, s, v, cand, ncand, time_fn, ctx, ms, &best, err))) {
            return st;
        } else {
            *chosen = cand[best];
            how = TUNE_TIMED;
            if (have_cache)
                have_cache = !cache_write(path, s, v, cand, ms, ncand, best, &e);
        }
        if (!have_cache && how != TUNE_DEFAULT)
            note(t, "%s: choice not cached: %.300s", s->name, e.msg);
    }
    if (missing)
        note(t, "%s: recorded %s, running %s", s->name, missing, v[*chosen].label);
    return record(t, s, &v[*chosen], how, err);
}

int tuner_has_defaults(const tuner *t)
{
    for (int i = 0; i < t->nchoices; i++)
        if (t->choices[i].how == TUNE_DEFAULT)
            return 1;
    return 0;
}

cnn_status tuner_retime(const tuner *t, tuner *next, cnn_error *err)
{
    char record[TUNER_RECORD_SIZE];
    tuner_init(next);
    memcpy(next->forced, t->forced, sizeof t->forced);
    next->nforced = t->nforced;
    next->allow_different = t->allow_different;
    next->progress = t->progress;
    next->retiming = 1;
    cnn_status st = tuner_arithmetic(t, record, sizeof record, err);
    return st ? st : tuner_require(next, record, err);
}

void tuner_adopt(tuner *t, const tuner *next)
{
    for (int i = 0; i < t->nchoices; i++) {
        tune_choice *c = &t->choices[i];
        /* A site next did not choose has no other variant of its key. */
        if (c->how == TUNE_DEFAULT)
            c->how = TUNE_ONLY;
        for (int j = 0; j < next->nchoices; j++)
            if (!strcmp(c->site, next->choices[j].site))
                *c = next->choices[j];
    }
}

/* "site=<what>;..." for every choice, what being its arithmetic key or its
 * label. */
static cnn_status record_text(const tuner *t, int labels, char *buf, size_t size,
                              cnn_error *err)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->nchoices; i++) {
        const tune_choice *c = &t->choices[i];
        int w = snprintf(buf + used, size - used, "%s%s=%s", i ? ";" : "", c->site,
                         labels ? c->label : c->arithmetic);
        if (w < 0 || (size_t)w >= size - used)
            return cnn_fail(err, CNN_ERR_RUNTIME, "the record of %d variant choices "
                            "is longer than %zu bytes", t->nchoices, size - 1);
        used += (size_t)w;
    }
    return CNN_OK;
}

cnn_status tuner_arithmetic(const tuner *t, char *buf, size_t size, cnn_error *err)
{
    return record_text(t, 0, buf, size, err);
}

cnn_status tuner_labels(const tuner *t, char *buf, size_t size, cnn_error *err)
{
    return record_text(t, 1, buf, size, err);
}

void tuner_summary(const tuner *t, char buf[TUNER_SUMMARY_SIZE])
{
    size_t size = TUNER_SUMMARY_SIZE;
    snprintf(buf, size, "%s", t->nchoices ? "" : "none");
    for (int i = 0; i < t->nchoices; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s=%s", i ? " " : "",
                 t->choices[i].site, t->choices[i].label);
}
