/* test_res.c: residual blocks on the device against the reference — the
 * joins' kernels on an awkward count, then a block's two rows (its end's
 * forward and backward, its begin's sum of the input's gradients) for the
 * identity shortcut, projections at stride 2 with batch norm, on a change
 * of channels without it, on flat features with it, and a projection whose
 * block input needs no gradient. */
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "nn/res.h"
#include "ref/res.h"
#include "testutil.h"

START_TEST(joins_match_reference)
{
    enum { N = 4099 }; /* not a multiple of any work-group size */
    cnn_error err = {0};
    res_joins j;
    TEST_OK(res_joins_create(&j, test_rt(), &err), err);
    float *x = test_random_new(N, 1, -1, 1), *s = test_random_new(N, 2, -1, 1),
          *dy = test_random_new(N, 3, -1, 1), *out = malloc(N * sizeof *out);
    double *xd = test_widen(x, N), *sd = test_widen(s, N), *dyd = test_widen(dy, N);
    double *yr = malloc(N * sizeof *yr), *gr = malloc(N * sizeof *gr);
    cl_mem bx = test_upload(x, N), bs = test_upload(s, N), bdy = test_upload(dy, N);
    for (int relu = 0; relu < 2; relu++) {
        cl_mem by = test_poisoned(N), bg = test_poisoned(N);
        TEST_OK(res_add(&j, N, bx, bs, by, relu, &err), err);
        ref_res_add(xd, sd, yr, N, relu);
        test_download(by, out, N);
        test_close(relu ? "add, relu" : "add", out, yr, N, TEST_TOL_FORWARD);
        TEST_OK(res_add_backward(&j, N, by, bdy, bg, relu, &err), err);
        ref_res_add_backward(yr, dyd, gr, N, relu);
        test_download(bg, out, N);
        test_close(relu ? "add backward, relu" : "add backward", out, gr, N, TEST_TOL_GRAD);
        clrt_release_mem(&by);
        clrt_release_mem(&bg);
    }
    /* dx += ds, and dx += dx (a chain of views: one buffer) */
    TEST_OK(res_accumulate(&j, N, bx, bs, &err), err);
    ref_res_accumulate(xd, sd, N);
    test_download(bx, out, N);
    test_close("accumulate", out, xd, N, TEST_TOL_GRAD);
    TEST_OK(res_accumulate(&j, N, bx, bx, &err), err);
    ref_res_accumulate(xd, xd, N);
    test_download(bx, out, N);
    test_close("accumulate in place", out, xd, N, TEST_TOL_GRAD);
    ck_assert_int_eq(res_add(&j, 0, bx, bs, bx, 0, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "residual join over 0 values"));
    cl_mem *ms[] = {&bx, &bs, &bdy};
    for (int i = 0; i < 3; i++)
        clrt_release_mem(ms[i]);
    res_joins_release(&j);
    free(x), free(s), free(dy), free(out), free(xd), free(sd), free(dyd), free(yr), free(gr);
}
END_TEST

/* Tensors of the end, on the device and in double: weights about +-0.5,
 * batch norm's scale about 1 and moving variance positive. */
typedef struct {
    int count;
    layer_param decl[LAYER_MAX_PARAMS];
    net_tensor t[LAYER_MAX_PARAMS];
    double *v[LAYER_MAX_PARAMS], *g[LAYER_MAX_PARAMS];
} block_tensors;

static void make_tensors(const arch_layer *end, block_tensors *b, layer_node *nd)
{
    b->count = end->kind->params ? end->kind->params(end, b->decl) : 0;
    for (int i = 0; i < b->count; i++) {
        size_t n = 1;
        for (int d = 0; d < b->decl[i].ndim; d++)
            n *= (size_t)b->decl[i].shape[d];
        int one = b->decl[i].init == LAYER_INIT_ONE;
        float *f = test_random_new(n, 40 + (uint64_t)i, one ? 0.5f : -0.5f, one ? 1.5f : 0.5f);
        b->t[i] = (net_tensor){.count = n, .decl = b->decl[i], .param = test_upload(f, n),
                               .grad = test_poisoned(n)};
        b->v[i] = test_widen(f, n);
        b->g[i] = calloc(n, sizeof(double));
        nd->params[i] = &b->t[i];
        free(f);
    }
    nd->nparams = b->count;
}

/* The block of `spec` (its first): the end's training forward (and moving
 * statistics), backward (the chain's gradient, every parameter's) and the
 * begin's backward against the reference, then an inference forward.
 * relu: a ReLU after the block, folded into the add. first: the block's
 * input needs no gradient (the end is the first trainable layer). */
static void check_block(const char *spec, arch_shape input, int relu, int first)
{
    const int n = 3;
    cnn_error err = {0};
    arch a;
    TEST_OK(arch_parse(spec, input, 2, &a, &err), err);
    int e = 0;
    while (!(a.layers[e].kind->flags & LAYER_BLOCK_END))
        e++;
    const arch_layer *end = &a.layers[e], *begin = &a.layers[end->pair];
    size_t nin = (size_t)n * (size_t)arch_size(end->skip),
           nout = (size_t)n * (size_t)arch_size(end->out);

    layer_node b = {.spec = begin}, r = {.spec = end, .relu = relu};
    b.pair = &r;
    r.pair = &b;
    block_tensors t = {0};
    make_tensors(end, &t, &r);
    float *skip = test_random_new(nin, 10, -1, 1), *chain = test_random_new(nout, 11, -1, 1),
          *dy = test_random_new(nout, 12, -1, 1), *dchain = test_random_new(nin, 13, -1, 1);
    double *skipd = test_widen(skip, nin), *chaind = test_widen(chain, nout),
           *dyd = test_widen(dy, nout), *dind = test_widen(dchain, nin);
    b.y = test_upload(skip, nin);
    r.y = test_poisoned(nout);
    r.dy = test_upload(dy, nout);
    cl_mem bchain = test_upload(chain, nout), bdchain = test_poisoned(nout),
           bdin = test_upload(dchain, nin);
    const layer_env env = {.rt = test_rt(), .max_batch = n + 1, .input_gradient = !first};
    TEST_OK(layer_node_create(&r, &env, &err), err);

    /* The reference: y = chain + shortcut, unfused, then the ReLU. */
    double *dskip = malloc(nin * sizeof *dskip), *yr = malloc(nout * sizeof *yr),
           *g = malloc(nout * sizeof *g), *dchainr = malloc(nout * sizeof *dchainr);
    ref_pass rp = {.n = n, .training = 1, .skip = skipd, .dskip = dskip};
    end->kind->ref_forward(end, &rp, t.v, chaind, yr);
    for (size_t i = 0; i < nout && relu; i++)
        yr[i] = yr[i] > 0 ? yr[i] : 0;
    ref_res_add_backward(yr, dyd, g, (long)nout, relu);
    end->kind->ref_backward(end, &rp, t.v, chaind, yr, g, dchainr, t.g);
    ref_res_accumulate(dind, dskip, (long)nin); /* the begin's backward */

    layer_pass p = {.n = n, .training = 1};
    TEST_OK(end->kind->forward(&r, &p, bchain, &err), err);
    TEST_OK(end->kind->backward(&r, &p, bchain, first ? NULL : bdchain, &err), err);
    if (!first)
        TEST_OK(begin->kind->backward(&b, &p, b.y, bdin, &err), err);
    TEST_OK(clrt_join(test_rt(), &err), err); /* the convolutions' weights beside */

    float *out = malloc((nin > nout ? nin : nout) * sizeof *out);
    char what[96];
    snprintf(what, sizeof what, "%s: y", spec);
    test_download(r.y, out, nout);
    test_close(what, out, yr, nout, TEST_TOL_FORWARD);
    if (!first) {
        snprintf(what, sizeof what, "%s: the chain's gradient", spec);
        test_download(bdchain, out, nout);
        test_close(what, out, g, nout, TEST_TOL_GRAD);
        snprintf(what, sizeof what, "%s: the input's gradient", spec);
        test_download(bdin, out, nin);
        test_close(what, out, dind, nin, TEST_TOL_GRAD);
    }
    for (int i = 0; i < t.count; i++) {
        float *v = malloc(t.t[i].count * sizeof *v);
        snprintf(what, sizeof what, "%s: %s", spec, t.decl[i].what);
        test_download(t.t[i].param, v, t.t[i].count);
        test_close(what, v, t.v[i], t.t[i].count, TEST_TOL_FORWARD);
        if (t.decl[i].trainable) {
            snprintf(what, sizeof what, "%s: grad %s", spec, t.decl[i].what);
            test_download(t.t[i].grad, v, t.t[i].count);
            test_close(what, v, t.g[i], t.t[i].count, TEST_TOL_GRAD);
        }
        free(v);
    }

    /* Inference: the moving statistics the training pass left. */
    rp.training = p.training = 0;
    TEST_OK(end->kind->forward(&r, &p, bchain, &err), err);
    end->kind->ref_forward(end, &rp, t.v, chaind, yr);
    for (size_t i = 0; i < nout && relu; i++)
        yr[i] = yr[i] > 0 ? yr[i] : 0;
    snprintf(what, sizeof what, "%s: y (inference)", spec);
    test_download(r.y, out, nout);
    test_close(what, out, yr, nout, TEST_TOL_FORWARD);

    layer_node_release(&r);
    for (int i = 0; i < t.count; i++) {
        clrt_release_mem(&t.t[i].param);
        clrt_release_mem(&t.t[i].grad);
        free(t.v[i]);
        free(t.g[i]);
    }
    cl_mem *ms[] = {&b.y, &r.y, &r.dy, &bchain, &bdchain, &bdin};
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        clrt_release_mem(ms[i]);
    free(skip), free(chain), free(dy), free(dchain), free(skipd), free(chaind), free(dyd);
    free(dind), free(dskip), free(yr), free(g), free(dchainr), free(out);
}

START_TEST(identity_shortcut)
{
    check_block("res[conv4k3same]-flatten-fc2", (arch_shape){4, 7, 5}, 1, 0);
    check_block("res[conv4k3same]-flatten-fc2", (arch_shape){4, 7, 5}, 0, 0);
}
END_TEST

START_TEST(projection_stride_2_with_batch_norm)
{
    check_block("res[conv6k3s2same-bn]-flatten-fc2", (arch_shape){4, 7, 5}, 1, 0);
}
END_TEST

START_TEST(projection_of_channels)
{
    check_block("res[conv6k1]-flatten-fc2", (arch_shape){3, 5, 5}, 0, 0);
}
END_TEST

START_TEST(projection_of_flat_features_with_batch_norm)
{
    check_block("flatten-res[fc5-bn]-fc2", (arch_shape){2, 3, 3}, 1, 0);
}
END_TEST

START_TEST(projection_without_input_gradient)
{
    check_block("res[pool1s2]-flatten-fc2", (arch_shape){3, 7, 5}, 1, 1);
    check_block("res[conv6k3s2same-bn]-flatten-fc2", (arch_shape){4, 7, 5}, 0, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("res");
    TCase *tc = tcase_create("res");
    tcase_add_test(tc, joins_match_reference);
    tcase_add_test(tc, identity_shortcut);
    tcase_add_test(tc, projection_stride_2_with_batch_norm);
    tcase_add_test(tc, projection_of_channels);
    tcase_add_test(tc, projection_of_flat_features_with_batch_norm);
    tcase_add_test(tc, projection_without_input_gradient);
    suite_add_tcase(s, tc);
    return test_run(s, 0);
}
