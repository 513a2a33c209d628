/* test_optim.c: every optimizer rule's kernels against the double reference
 * over several steps (momentum, Nesterov, weight decay, clipping above and
 * below its norm), on counts that are and are not multiples of sixteen,
 * with the network's zero-gradient padding and untrained tensors between
 * the others: weight decay must leave those exactly as they are. Each
 * update depends on its own element only (but for the clipping norm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/network.h"
#include "nn/optim.h"
#include "ref/optim.h"
#include "testutil.h"

enum { STEPS = 5 };

/* The variant under test: each test runs once per optim_variants entry. */
static int variant;

/* An optimizer forced to run as the variant under test. */
static cnn_status create(optimizer *o, int count, optim_config cfg,
                         const unsigned char *decays, cnn_error *err)
{
    tuner t;
    tuner_init(&t);
    char rule[64];
    snprintf(rule, sizeof rule, "%s=%s", cfg.rule->name, optim_variants[variant].label);
    TEST_OK(tuner_force(&t, rule, err), *err);
    cnn_status st = optim_create(o, test_rt(), count, cfg, decays, &t, err);
    if (st == CNN_OK) {
        ck_assert_int_eq(t.nchoices, 1);
        ck_assert_str_eq(t.choices[0].site, cfg.rule->site);
        ck_assert_str_eq(t.choices[0].label, optim_variants[variant].label);
        /* A variant with a work-group size runs in groups of at most it. */
        const size_t wg = (size_t)optim_variants[variant].tiles[0];
        ck_assert_int_eq(o->local != 0, wg != 0);
        ck_assert_uint_le(o->local, wg);
    }
    return st;
}

/* Every 17th parameter stands for padding, and every 13th from the 5th for
 * a tensor a layer updates itself: both have zero gradients and no decay. */
static int is_untrained(int i)
{
    return i % 17 == 16 || i % 13 == 5;
}

/* Step t's gradients (count), of size `scale`, zero where untrained. */
static void gradients(float *g, int count, int t, float scale)
{
    test_random(g, count, 10 + (uint64_t)t, -scale, scale);
    for (int i = 0; i < count; i++)
        if (is_untrained(i))
            g[i] = 0;
}

/* What a run ends with: parameters and each state buffer (count each). */
typedef struct {
    float *p, *state[OPTIM_MAX_STATE];
    float coef;
} result;

/* Takes STEPS steps of cfg from random parameters p0 (count) with fresh
 * gradients each step into r. */
static void run(optim_config cfg, int count, float scale, const float *p0, result *r)
{
    cnn_error err = {0};
    float *g = malloc(count * sizeof *g);
    unsigned char *decays = malloc((size_t)count);
    for (int i = 0; i < count; i++)
        decays[i] = !is_untrained(i);
    optimizer o;
    TEST_OK(create(&o, count, cfg, decays, &err), err);
    cl_mem params = test_upload(p0, count), grads = test_poisoned(count);
    for (int t = 0; t < STEPS; t++) {
        gradients(g, count, t, scale);
        TEST_OK(clrt_write(test_rt(), grads, g, count * sizeof *g, &err), err);
        TEST_OK(optim_step(&o, params, grads, &err), err);
    }
    ck_assert_int_eq(o.step, STEPS);
    r->p = malloc(count * sizeof *r->p);
    test_download(params, r->p, count);
    for (int k = 0; k < cfg.rule->nstate; k++) {
        r->state[k] = malloc(count * sizeof *r->state[k]);
        test_download(o.state[k], r->state[k], count);
    }
    test_download(o.coef, &r->coef, 1);
    clReleaseMemObject(params);
    clReleaseMemObject(grads);
    optim_release(&o);
    free(g);
    free(decays);
}

static void result_free(result *r)
{
    free(r->p);
    for (int k = 0; k < OPTIM_MAX_STATE; k++)
        free(r->state[k]);
    memset(r, 0, sizeof *r);
}

/* The kernel's parameters and state after STEPS steps against the
 * reference; untrained values keep their bits and a zero state. Parameters
 * are compared by how far they moved, which is what the update computes
 * (their values are a thousand times larger). */
static void check(optim_config cfg, int count, float scale)
{
    const optim_rule *rule = cfg.rule;
    float *p0 = malloc(count * sizeof *p0), *g = malloc(count * sizeof *g);
    float *moved = malloc(count * sizeof *moved);
    double *pr = malloc(count * sizeof *pr), *gr = malloc(count * sizeof *gr);
    double *sr[OPTIM_MAX_STATE] = {calloc(count, sizeof(double)), calloc(count, sizeof(double))};
    unsigned char *decays = malloc((size_t)count);
    test_random(p0, count, 1, -1, 1);
    result r = {0};
    run(cfg, count, scale, p0, &r);
    for (int i = 0; i < count; i++) {
        pr[i] = p0[i];
        decays[i] = !is_untrained(i);
    }
    double coef = 1;
    for (int t = 0; t < STEPS; t++) {
        gradients(g, count, t, scale);
        for (int i = 0; i < count; i++)
            gr[i] = g[i];
        if (cfg.clip_norm > 0) {
            coef = ref_clip_coef(gr, count, cfg.clip_norm);
            for (int i = 0; i < count; i++)
                gr[i] *= coef;
        }
        rule->ref_step(&cfg, t + 1, pr, gr, sr, decays, count);
    }
    /* the last step's clipping coefficient */
    ck_assert_msg(fabs(r.coef - coef) <= 1e-5 * coef, "coef %.9g, reference %.9g",
                  (double)r.coef, coef);
    for (int i = 0; i < count; i++) {
        moved[i] = (float)((double)r.p[i] - p0[i]);
        pr[i] -= p0[i];
        if (is_untrained(i)) {
            ck_assert_msg(!memcmp(&r.p[i], &p0[i], sizeof p0[i]), "untrained %d moved", i);
            for (int k = 0; k < rule->nstate; k++)
                ck_assert_msg(r.state[k][i] == 0, "untrained %d has %s %g", i,
                              rule->state[k], (double)r.state[k][i]);
        }
    }
    char what[64];
    snprintf(what, sizeof what, "%s p - p0", rule->name);
    test_close(what, moved, pr, count, TEST_TOL_GRAD);
    for (int k = 0; k < rule->nstate; k++) {
        snprintf(what, sizeof what, "%s %s", rule->name, rule->state[k]);
        if (optim_state_live(&cfg, k))
            test_close(what, r.state[k], sr[k], count, TEST_TOL_FORWARD);
        else
            for (int i = 0; i < count; i++)
                ck_assert_msg(r.state[k][i] == 0, "%s[%d] is %g without momentum", what, i,
                              (double)r.state[k][i]);
    }
    result_free(&r);
    free(p0), free(g), free(moved), free(pr), free(gr), free(sr[0]), free(sr[1]),
        free(decays);
}

/* cfg: `name`'s defaults with the changes of one case. */
static optim_config with(const char *name, float lr, float momentum, int nesterov,
                         float weight_decay, float clip_norm)
{
    optim_config c = optim_defaults(optim_find(name));
    ck_assert_ptr_nonnull(c.rule);
    if (lr > 0)
        c.lr = lr;
    c.momentum = momentum;
    c.nesterov = nesterov;
    if (weight_decay >= 0)
        c.weight_decay = weight_decay;
    c.clip_norm = clip_norm;
    return c;
}

static const int counts[] = {1, 35, 1031};

START_TEST(adam_matches_reference)
{
    variant = _i;
    static const int more[] = {1, 3, 4, 1031, 4096, 70001};
    for (size_t c = 0; c < sizeof more / sizeof *more; c++)
        check(optim_defaults(NULL), more[c], 1.0f);
    /* torch.optim.Adam's L2 term, large enough to tell */
    check(with("adam", 0, 0, 0, 0.1f, 0), 1031, 1.0f);
}
END_TEST

/* Gradients near 1e-6 make sqrt(v) comparable to epsilon, so this fails
 * unless epsilon enters exactly as Keras uses it. */
START_TEST(adam_uses_epsilon_as_keras)
{
    variant = _i;
    check(optim_defaults(NULL), 1031, 1e-6f);
}
END_TEST

START_TEST(adam_other_hyperparameters)
{
    variant = _i;
    optim_config cfg = optim_defaults(NULL);
    cfg.lr = 0.01f;
    cfg.beta1 = 0.8f;
    cfg.beta2 = 0.99f;
    cfg.eps = 1e-4f;
    check(cfg, 1031, 0.5f);
}
END_TEST

START_TEST(adamw_matches_reference)
{
    variant = _i;
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
        check(optim_defaults(optim_find("adamw")), counts[c], 1.0f);
    /* decoupled decay that moves parameters as much as the gradients do */
    check(with("adamw", 0.01f, 0, 0, 0.1f, 0), 1031, 1.0f);
    check(with("adamw", 0, 0, 0, 0, 0), 1031, 1e-6f);
}
END_TEST

START_TEST(sgd_matches_reference)
{
    variant = _i;
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        check(with("sgd", 0.1f, 0, 0, 0, 0), counts[c], 1.0f);
        check(with("sgd", 0.1f, 0.9f, 0, 0, 0), counts[c], 1.0f);
        check(with("sgd", 0.1f, 0.9f, 1, 0, 0), counts[c], 1.0f);
    }
    check(with("sgd", 0.1f, 0, 0, 0.05f, 0), 1031, 1.0f);
    check(with("sgd", 0.1f, 0.5f, 1, 0.05f, 0), 1031, 1.0f);
}
END_TEST

START_TEST(rmsprop_matches_reference)
{
    variant = _i;
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        check(optim_defaults(optim_find("rmsprop")), counts[c], 1.0f);
        check(with("rmsprop", 0, 0.9f, 0, 0, 0), counts[c], 1.0f);
    }
    check(with("rmsprop", 0, 0, 0, 0.05f, 0), 1031, 0.05f);
    check(with("rmsprop", 0, 0.5f, 0, 0.05f, 0), 1031, 0.05f);
    optim_config cfg = with("rmsprop", 0.01f, 0, 0, 0, 0);
    cfg.rho = 0.5f;
    cfg.eps = 1e-3f;
    check(cfg, 1031, 1e-3f);
}
END_TEST

/* The gradients of 1031 values in [-1, 1) have a norm near 18: clipped to
 * 5, and left alone by 50 (coef 1). */
START_TEST(clipping_matches_reference)
{
    variant = _i;
    static const float norms[] = {5.0f, 50.0f};
    for (size_t n = 0; n < sizeof norms / sizeof *norms; n++) {
        check(with("sgd", 0.1f, 0.9f, 0, 0, norms[n]), 1031, 1.0f);
        check(with("adam", 0, 0, 0, 0, norms[n]), 1031, 1.0f);
        check(with("adamw", 0, 0, 0, -1, norms[n]), 35, 1.0f);
        check(with("rmsprop", 0, 0, 0, 0, norms[n]), 1031, 1.0f);
    }
    /* more values than lanes, a count no lane divides */
    check(with("sgd", 0.1f, 0, 0, 0, 10.0f), 70001, 1.0f);
}
END_TEST

/* Asserts a and b (n floats) hold the same bits, naming the first that
 * differs. */
static void same_bits(const char *what, int prefix, const float *a,
                      const float *b, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(!memcmp(&a[i], &b[i], sizeof a[i]),
                      "%s[%d]: %.9g over all, %.9g over a prefix of %d", what,
                      i, (double)a[i], (double)b[i], prefix);
}

/* Each parameter's update depends on its own element alone: a rule on a
 * prefix of the parameters, the same data, gives the same bits as on the
 * whole. The prefixes end inside and at the end of a float16, so an
 * element the whole run updates sixteen at a time is here updated alone. */
START_TEST(update_is_elementwise)
{
    variant = _i;
    enum { COUNT = 1031 };
    static const int prefixes[] = {100, 99, 1};
    float *p0 = malloc(COUNT * sizeof *p0);
    test_random(p0, COUNT, 1, -1, 1);
    for (int k = 0; k < optim_rule_count; k++) {
        optim_config cfg = optim_defaults(&optim_rules[k]);
        cfg.momentum = optim_rules[k].takes & OPTIM_TAKES_MOMENTUM ? 0.9f : 0;
        cfg.weight_decay = 0.01f;
        result whole = {0};
        run(cfg, COUNT, 1.0f, p0, &whole);
        for (size_t j = 0; j < sizeof prefixes / sizeof prefixes[0]; j++) {
            int n = prefixes[j];
            result part = {0};
            run(cfg, n, 1.0f, p0, &part);
            same_bits("p", n, whole.p, part.p, n);
            for (int s = 0; s < cfg.rule->nstate; s++)
                same_bits(cfg.rule->state[s], n, whole.state[s], part.state[s], n);
            result_free(&part);
        }
        result_free(&whole);
    }
    free(p0);
}
END_TEST

/* A parameter whose gradient and state are zero and which weight decay
 * skips keeps its bits through every rule's steps, whatever its value,
 * even with weight decay and clipping on: the network relies on it for
 * padding and the tensors a layer updates itself. Every third parameter
 * here is one, among others that move. */
START_TEST(untrained_values_keep_their_bits)
{
    variant = _i;
    enum { COUNT = 67 };
    static const float special[] = {-0.0f, 0.0f, 3.0e38f, -3.0e38f, 1e-37f,
                                    -1e-37f, 1e30f, 1.0f, 123456.789f};
    cnn_error err = {0};
    float p0[COUNT], g[COUNT], p[COUNT];
    unsigned char decays[COUNT];
    test_random(p0, COUNT, 2, -1, 1);
    test_random(g, COUNT, 3, -1, 1);
    for (int i = 0; i < COUNT; i++) {
        decays[i] = i % 3 != 0;
        if (i % 3 == 0) {
            p0[i] = special[i / 3 % (sizeof special / sizeof special[0])];
            g[i] = 0;
        }
    }
    for (int k = 0; k < optim_rule_count; k++) {
        optim_config cfg = optim_defaults(&optim_rules[k]);
        cfg.momentum = optim_rules[k].takes & OPTIM_TAKES_MOMENTUM ? 0.9f : 0;
        cfg.weight_decay = 0.1f;
        cfg.clip_norm = 1.0f;
        optimizer o;
        TEST_OK(create(&o, COUNT, cfg, decays, &err), err);
        cl_mem params = test_upload(p0, COUNT), grads = test_upload(g, COUNT);
        for (int t = 0; t < STEPS; t++) {
            TEST_OK(optim_step(&o, params, grads, &err), err);
            test_download(params, p, COUNT);
            for (int i = 0; i < COUNT; i++) {
                if (i % 3 == 0)
                    ck_assert_msg(!memcmp(&p[i], &p0[i], sizeof p[i]),
                                  "%s step %d: parameter %d went from %g to %g",
                                  cfg.rule->name, t + 1, i, (double)p0[i], (double)p[i]);
                else
                    ck_assert_msg(p[i] != p0[i], "%s: parameter %d did not move",
                                  cfg.rule->name, i);
            }
        }
        clReleaseMemObject(params);
        clReleaseMemObject(grads);
        optim_release(&o);
    }
}
END_TEST

/* In a network with batch norm, every rule's weight decay shrinks the
 * trainable tensors and leaves the moving statistics and the padding
 * between tensors exactly as they were (given values that decay would
 * change), steps of zero gradients apart. */
START_TEST(decay_skips_untrained_tensors_and_padding)
{
    variant = _i;
    cnn_error err = {0};
    arch a;
    TEST_OK(arch_parse("conv3k3-bn-relu-flatten-fc10", (arch_shape){1, 8, 8}, 10, &a, &err),
            err);
    for (int k = 0; k < optim_rule_count; k++) {
        optim_config cfg = optim_defaults(&optim_rules[k]);
        cfg.lr = 0.1f;
        cfg.weight_decay = 0.1f;
        cfg.momentum = optim_rules[k].takes & OPTIM_TAKES_MOMENTUM ? 0.9f : 0;
        cfg.clip_norm = 1.0f;
        tuner t;
        tuner_init(&t);
        char rule[64];
        snprintf(rule, sizeof rule, "%s=%s", cfg.rule->name, optim_variants[variant].label);
        TEST_OK(tuner_force(&t, rule, &err), err);
        network net;
        TEST_OK(network_create(&net, test_rt(), &a, 2, &t, cfg, &err), err);
        size_t n = net.param_floats;
        float *before = malloc(n * sizeof *before), *after = malloc(n * sizeof *after);
        unsigned char *trained = calloc(n, 1);
        for (int i = 0; i < net.ntensors; i++)
            if (net.tensors[i].decl.trainable)
                memset(trained + net.tensors[i].offset, 1, net.tensors[i].count);
        size_t untrained = 0;
        for (size_t i = 0; i < n; i++)
            untrained += !trained[i];
        ck_assert_uint_gt(untrained, 2 * 3); /* the statistics at least */
        test_random(before, n, 4, 0.5f, 2);
        TEST_OK(clrt_write(test_rt(), net.params, before, n * sizeof *before, &err), err);
        for (int step = 0; step < 3; step++)
            TEST_OK(network_apply(&net, &err), err);
        TEST_OK(clrt_read(test_rt(), net.params, after, n * sizeof *after, &err), err);
        for (size_t i = 0; i < n; i++)
            if (trained[i])
                ck_assert_msg(fabsf(after[i]) < fabsf(before[i]), "%s: %zu did not decay",
                              cfg.rule->name, i);
            else
                ck_assert_msg(!memcmp(&after[i], &before[i], sizeof after[i]),
                              "%s: untrained %zu went from %g to %g", cfg.rule->name, i,
                              (double)before[i], (double)after[i]);
        free(before), free(after), free(trained);
        network_release(&net);
    }
}
END_TEST

START_TEST(rejects_empty)
{
    variant = _i;
    cnn_error err = {0};
    optimizer o;
    ck_assert_int_eq(create(&o, 0, optim_defaults(NULL), NULL, &err), CNN_ERR_INPUT);
}
END_TEST

/* The table's names are what checkpoints and --optimizer use. */
START_TEST(rules_are_found_by_name)
{
    static const char *const names[] = {"adam", "adamw", "sgd", "rmsprop"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_str_eq(optim_find(names[i])->name, names[i]);
    ck_assert_ptr_null(optim_find("adagrad"));
    ck_assert_str_eq(optim_defaults(NULL).rule->name, "adam");
    optim_config c = optim_defaults(optim_find("sgd"));
    ck_assert(!optim_state_live(&c, 0));
    c.momentum = 0.9f;
    ck_assert(optim_state_live(&c, 0));
    char buf[128];
    c.nesterov = 1;
    c.weight_decay = 1e-4f;
    optim_describe(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "sgd (momentum 0.9, nesterov, weight decay 0.0001)");
    c = optim_defaults(NULL);
    optim_describe(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "adam");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, adam_matches_reference, 0, optim_variant_count);
    tcase_add_loop_test(tc, adam_uses_epsilon_as_keras, 0, optim_variant_count);
    tcase_add_loop_test(tc, adam_other_hyperparameters, 0, optim_variant_count);
    tcase_add_loop_test(tc, adamw_matches_reference, 0, optim_variant_count);
    tcase_add_loop_test(tc, sgd_matches_reference, 0, optim_variant_count);
    tcase_add_loop_test(tc, rmsprop_matches_reference, 0, optim_variant_count);
    tcase_add_loop_test(tc, clipping_matches_reference, 0, optim_variant_count);
    tcase_add_loop_test(tc, update_is_elementwise, 0, optim_variant_count);
    tcase_add_loop_test(tc, untrained_values_keep_their_bits, 0, optim_variant_count);
    tcase_add_loop_test(tc, decay_skips_untrained_tensors_and_padding, 0, optim_variant_count);
    tcase_add_loop_test(tc, rejects_empty, 0, optim_variant_count);
    tcase_add_test(tc, rules_are_found_by_name);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
