/* test_dense.c: the dense layer on both GEMM paths against the double
 * reference (awkward shapes, the reference model's shapes, sub-buffers),
 * every variant built as its row says, determinism, CLBlast error names,
 * and a finite-difference check of the reference itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dense.h"
#include "ref/dense.h"
#include "testutil.h"

/* Everything one forward+backward needs, on host and device. */
typedef struct {
    int n, in, out;
    float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db; /* device results */
    cl_mem parent;           /* x and w as sub-buffers of it, or NULL */
    cl_mem dx_, dw_, db_, x_, w_, b_, y_, dy_;
} problem;

static void problem_init(problem *p, int n, int in, int out, uint64_t seed,
                         int sub)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->in = in;
    p->out = out;
    size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    p->x = malloc(nx * sizeof(float));
    p->w = malloc(nw * sizeof(float));
    p->b = malloc(out * sizeof(float));
    p->dy = malloc(ny * sizeof(float));
    p->y = malloc(ny * sizeof(float));
    p->dx = malloc(nx * sizeof(float));
    p->dw = malloc(nw * sizeof(float));
    p->db = malloc(out * sizeof(float));
    float scale = 1.0f / sqrtf((float)in);
    test_random(p->x, nx, seed, -1, 1);
    test_random(p->w, nw, seed + 1, -scale, scale);
    test_random(p->b, out, seed + 2, -0.5f, 0.5f);
    test_random(p->dy, ny, seed + 3, -1, 1);
    if (sub) {
        /* x and w at aligned offsets inside one larger buffer, as a
         * network's parameter and activation arenas hold them. */
        const clrt *rt = test_rt();
        cnn_error err = {0};
        size_t align = clrt_align(rt);
        size_t xoff = align, woff = ((xoff + nx * 4) / align + 1) * align;
        TEST_OK(clrt_buffer(rt, woff + nw * 4 + align, &p->parent, &err), err);
        TEST_OK(clrt_sub_buffer(p->parent, xoff, nx * 4, &p->x_, &err), err);
        TEST_OK(clrt_sub_buffer(p->parent, woff, nw * 4, &p->w_, &err), err);
        TEST_OK(clrt_write(rt, p->x_, p->x, nx * 4, &err), err);
        TEST_OK(clrt_write(rt, p->w_, p->w, nw * 4, &err), err);
    } else {
        p->x_ = test_upload(p->x, nx);
        p->w_ = test_upload(p->w, nw);
    }
    p->b_ = test_upload(p->b, out);
    p->dy_ = test_upload(p->dy, ny);
}

static void problem_free(problem *p)
{
    cl_mem m[9] = {p->x_, p->w_, p->b_, p->y_, p->dy_, p->dx_, p->dw_, p->db_,
                   p->parent};
    for (int i = 0; i < 9; i++)
        if (m[i])
            clReleaseMemObject(m[i]);
    free(p->x);
    free(p->w);
    free(p->b);
    free(p->dy);
    free(p->y);
    free(p->dx);
    free(p->dw);
    free(p->db);
}

/* Runs forward and backward on poisoned outputs and reads the results. */
static void problem_run(problem *p, const dense_layer *l)
{
    cnn_error err = {0};
    size_t nx = (size_t)p->n * p->in, nw = (size_t)p->out * p->in,
           ny = (size_t)p->n * p->out;
    cl_mem *outs[4] = {&p->y_, &p->dx_, &p->dw_, &p->db_};
    size_t counts[4] = {ny, nx, nw, (size_t)p->out};
    for (int i = 0; i < 4; i++) {
        if (*outs[i])
            clReleaseMemObject(*outs[i]);
        *outs[i] = test_poisoned(counts[i]);
    }
    TEST_OK(dense_forward(l, p->n, p->x_, p->w_, p->b_, p->y_, &err), err);
    TEST_OK(dense_backward(l, p->n, p->x_, p->w_, p->y_, p->dy_, p->dx_,
                           p->dw_, p->db_, &err), err);
    test_download(p->y_, p->y, ny);
    test_download(p->dx_, p->dx, nx);
    test_download(p->dw_, p->dw, nw);
    test_download(p->db_, p->db, p->out);
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* The device results of p against the reference. */
static void problem_check(const problem *p, int relu)
{
    size_t nx = (size_t)p->n * p->in, nw = (size_t)p->out * p->in,
           ny = (size_t)p->n * p->out;
    double *x = to_double(p->x, nx), *w = to_double(p->w, nw),
           *b = to_double(p->b, p->out), *dy = to_double(p->dy, ny);
    double *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx),
           *dw = malloc(nw * sizeof *dw), *db = malloc(p->out * sizeof *db);
    ref_dense_forward(x, w, b, y, p->n, p->in, p->out, relu);
    /* The device's own y gives the mask, so an output that rounds to the
     * other side of zero does not count as a gradient error. */
    double *ydev = to_double(p->y, ny);
    ref_dense_backward(x, w, ydev, dy, dx, dw, db, p->n, p->in, p->out, relu);
    test_close("dense y", p->y, y, ny, TEST_TOL_FORWARD);
    test_close("dense dx", p->dx, dx, nx, TEST_TOL_GRAD);
    test_close("dense dw", p->dw, dw, nw, TEST_TOL_GRAD);
    test_close("dense db", p->db, db, p->out, TEST_TOL_GRAD);
    double *all[9] = {x, w, b, dy, y, dx, dw, db, ydev};
    for (int i = 0; i < 9; i++)
        free(all[i]);
}

/* The index of the variant labelled `label`. */
static int variant_index(const char *label)
{
    for (int v = 0; v < dense_variant_count; v++)
        if (!strcmp(dense_variants[v].label, label))
            return v;
    ck_abort_msg("no variant %s", label);
    return -1;
}

/* One shape as one of dense_variants; max_batch may exceed n. */
static void check_shape(int variant, int max_batch, int n, int in,
                        int out, int relu, int sub)
{
    cnn_error err = {0};
    dense_layer l;
    TEST_OK(dense_create(&l, test_rt(), max_batch, in, out, relu, variant, &err),
            err);
    ck_assert_int_eq(l.path, dense_variants[variant].tiles[0]);
    /* A GPU variant runs the GPU GEMM and nothing else does. */
    ck_assert_int_eq(l.gpu_gemm != NULL, dense_variants[variant].where == TUNE_NOT_CPU);
    problem p;
    problem_init(&p, n, in, out, (uint64_t)(n * 131 + in * 7 + out * 3), sub);
    problem_run(&p, &l);
    problem_check(&p, relu);
    problem_free(&p);
    dense_release(&l);
}

static const struct {
    int max_batch, n, in, out, relu, sub;
} shapes[] = {
    {1, 1, 1, 1, 0, 0},     {3, 3, 5, 7, 1, 0},     {33, 33, 77, 10, 1, 0},
    {33, 3, 10, 77, 1, 1},  {1, 1, 7744, 64, 1, 0}, {3, 3, 64, 5, 0, 0},
    {33, 33, 7, 64, 0, 1},  {33, 33, 1030, 13, 1, 0},
    /* the reference model's fc1 and fc2 at batch 32 */
    {32, 32, 7744, 64, 1, 1}, {32, 32, 64, 10, 0, 0},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

START_TEST(kernel_path_matches_reference)
{
    check_shape(DENSE_GEMM_KERNEL, shapes[_i].max_batch, shapes[_i].n,
                shapes[_i].in, shapes[_i].out, shapes[_i].relu,
                shapes[_i].sub);
}
END_TEST

START_TEST(clblast_path_matches_reference)
{
    check_shape(DENSE_GEMM_CLBLAST, shapes[_i].max_batch, shapes[_i].n,
                shapes[_i].in, shapes[_i].out, shapes[_i].relu,
                shapes[_i].sub);
}
END_TEST

/* Every variant the tuner may pick, whether or not it wins here, on the
 * shapes whose edges its tiles meet differently. */
START_TEST(every_variant_matches_reference)
{
    for (int v = 0; v < dense_variant_count; v++)
        for (int i = 0; i < NSHAPES; i++)
            if (shapes[i].in < 7744)
                check_shape(v, shapes[i].max_batch, shapes[i].n, shapes[i].in,
                            shapes[i].out, shapes[i].relu, shapes[i].sub);
}
END_TEST

/* The GPU GEMM's variants where its tiles and slices meet edges: M, N past
 * a 32 x 32 (and 32 x 32 of 2 x 2) tile by one, K past a step of 16 and a
 * slice of 64 or 256, batch 3 and 5, and fc1 of the reference model at
 * batch 32 (121 slices of 64). */
START_TEST(gpu_variants_match_reference)
{
    static const struct {
        int max_batch, n, in, out, relu, sub;
    } edges[] = {
        {5, 5, 17, 33, 1, 0},   {3, 3, 65, 31, 1, 1},  {33, 33, 257, 65, 0, 0},
        {40, 33, 130, 32, 1, 0}, {1, 1, 1, 1, 1, 0},   {32, 32, 7744, 64, 1, 1},
    };
    for (int v = 0; v < dense_variant_count; v++)
        if (dense_variants[v].where == TUNE_NOT_CPU)
            for (int i = 0; i < (int)(sizeof edges / sizeof edges[0]); i++)
                check_shape(v, edges[i].max_batch, edges[i].n, edges[i].in,
                            edges[i].out, edges[i].relu, edges[i].sub);
}
END_TEST

/* Variants that share an arithmetic key give the same bits (a checkpoint
 * may resume on any of them). */
START_TEST(equal_keys_give_equal_bits)
{
    const int n = 33, in = 300, out = 70;
    cnn_error err = {0};
    problem p;
    problem_init(&p, n, in, out, 5, 0);
    size_t sizes[4] = {(size_t)n * out, (size_t)n * in, (size_t)out * in, (size_t)out};
    float *first[TUNE_MAX_VARIANTS][4] = {{0}};
    for (int v = 0; v < dense_variant_count; v++) {
        int same = -1;
        for (int u = 0; u < v && same < 0; u++)
            if (!strcmp(dense_variants[u].arithmetic, dense_variants[v].arithmetic))
                same = u;
        dense_layer l;
        TEST_OK(dense_create(&l, test_rt(), n, in, out, 1, v, &err), err);
        problem_run(&p, &l);
        dense_release(&l);
        float *got[4] = {p.y, p.dx, p.dw, p.db};
        for (int i = 0; i < 4; i++) {
            first[v][i] = malloc(sizes[i] * 4);
            memcpy(first[v][i], got[i], sizes[i] * 4);
            if (same >= 0)
                ck_assert_msg(!memcmp(first[same][i], got[i], sizes[i] * 4),
                              "%s and %s differ in output %d",
                              dense_variants[same].label, dense_variants[v].label, i);
        }
    }
    for (int v = 0; v < dense_variant_count; v++)
        for (int i = 0; i < 4; i++)
            free(first[v][i]);
    problem_free(&p);
}
END_TEST

/* Each row's GEMMs are built with the options the tuner hashes for it
 * (dense_options of its tiles); no two rows have the same tiles, so no
 * two labels name one layer. */
START_TEST(every_variant_is_built_as_its_row_says)
{
    cnn_error err = {0};
    for (int v = 0; v < dense_variant_count; v++) {
        char options[TUNE_OPTIONS];
        dense_options(dense_variants[v].tiles, options, sizeof options);
        dense_layer l;
        TEST_OK(dense_create(&l, test_rt(), 3, 20, 7, 1, v, &err), err);
        test_built_with(l.gpu_gemm ? l.gpu_gemm : l.gemm_nt, options,
                        dense_variants[v].label);
        if (!l.gpu_gemm)
            test_built_with(l.gemm_nn, options, dense_variants[v].label);
        dense_release(&l);
        for (int u = 0; u < v; u++)
            ck_assert_msg(memcmp(dense_variants[u].tiles, dense_variants[v].tiles,
                                 sizeof dense_variants[v].tiles),
                          "%s and %s have the same tiles", dense_variants[u].label,
                          dense_variants[v].label);
    }
}
END_TEST

/* The same inputs twice give bit-identical outputs; dx may be skipped. */
START_TEST(repeat_is_bit_identical)
{
    const int paths[3] = {DENSE_GEMM_KERNEL, DENSE_GEMM_CLBLAST, variant_index("gpu-k64")};
    cnn_error err = {0};
    dense_layer l;
    TEST_OK(dense_create(&l, test_rt(), 32, 7744, 64, 1, paths[_i], &err), err);
    problem p;
    problem_init(&p, 32, 7744, 64, 99, 0);
    size_t nx = 32 * 7744, nw = 64 * 7744;
    problem_run(&p, &l);
    float *y = malloc(32 * 64 * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4),
          db[64];
    memcpy(y, p.y, 32 * 64 * 4);
    memcpy(dx, p.dx, nx * 4);
    memcpy(dw, p.dw, nw * 4);
    memcpy(db, p.db, sizeof db);
    problem_run(&p, &l);
    ck_assert_mem_eq(y, p.y, 32 * 64 * 4);
    ck_assert_mem_eq(dx, p.dx, nx * 4);
    ck_assert_mem_eq(dw, p.dw, nw * 4);
    ck_assert_mem_eq(db, p.db, sizeof db);
    /* Without dx the other gradients are unchanged. */
    TEST_OK(dense_backward(&l, 32, p.x_, p.w_, p.y_, p.dy_, NULL, p.dw_,
                           p.db_, &err), err);
    test_download(p.dw_, p.dw, nw);
    ck_assert_mem_eq(dw, p.dw, nw * 4);
    free(y);
    free(dx);
    free(dw);
    problem_free(&p);
    dense_release(&l);
}
END_TEST

START_TEST(clblast_errors_are_named)
{
    ck_assert_str_eq(dense_clblast_status_name(-2046),
                     "CLBlastInvalidLocalMemUsage");
    ck_assert_str_eq(dense_clblast_status_name(-1017),
                     "CLBlastInvalidDimension");
    /* A real failure: x too small for the shapes. */
    cnn_error err = {0};
    dense_layer l;
    TEST_OK(dense_create(&l, test_rt(), 4, 100, 8, 1, DENSE_GEMM_CLBLAST,
                         &err), err);
    cl_mem x = test_poisoned(10), w = test_poisoned(800),
           b = test_poisoned(8), y = test_poisoned(32);
    ck_assert_int_eq(dense_forward(&l, 4, x, w, b, y, &err), CNN_ERR_RUNTIME);
    ck_assert_msg(strstr(err.msg, "CLBlastSgemmWithTempBuffer failed: "
                                  "CLBlastInsufficientMemoryA (-1011)") != NULL,
                  "%s", err.msg);
    cl_mem m[4] = {x, w, b, y};
    for (int i = 0; i < 4; i++)
        clReleaseMemObject(m[i]);
    dense_release(&l);
}
END_TEST

START_TEST(bad_arguments_are_input_errors)
{
    cnn_error err = {0};
    dense_gemm g;
    TEST_OK(dense_gemm_parse("clblast", &g, &err), err);
    ck_assert_int_eq(g, DENSE_GEMM_CLBLAST);
    TEST_OK(dense_gemm_parse("kernel", &g, &err), err);
    ck_assert_int_eq(g, DENSE_GEMM_KERNEL);
    ck_assert_int_eq(dense_gemm_parse("fast", &g, &err), CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "'fast'"));
    ck_assert_str_eq(dense_gemm_label(DENSE_GEMM_CLBLAST), "clblast");
    ck_assert_str_eq(dense_gemm_label(DENSE_GEMM_KERNEL), "kernel");

    dense_layer l;
    ck_assert_int_eq(dense_create(&l, test_rt(), 0, 5, 5, 0,
                                  DENSE_GEMM_KERNEL, &err), CNN_ERR_INPUT);
    TEST_OK(dense_create(&l, test_rt(), 2, 5, 5, 0, DENSE_GEMM_KERNEL, &err),
            err);
    cl_mem buf = test_poisoned(25);
    ck_assert_int_eq(dense_forward(&l, 3, buf, buf, buf, buf, &err),
                     CNN_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch 3 outside 1..2"));
    clReleaseMemObject(buf);
    dense_release(&l);
}
END_TEST

/* The reference's backward against centred differences of its forward, in
 * double, for the loss L = sum(y * g). */
START_TEST(reference_gradients_match_finite_differences)
{
    const int n = 3, in = 5, out = 4, relu = _i;
    double x[15], w[20], b[4], g[12], y[12], dx[15], dw[20], db[4];
    float t[20];
    test_random(t, 15, 11, -1, 1);
    for (int i = 0; i < 15; i++)
        x[i] = t[i];
    test_random(t, 20, 12, -1, 1);
    for (int i = 0; i < 20; i++)
        w[i] = t[i];
    test_random(t, 4, 13, -0.3f, 0.3f);
    for (int i = 0; i < 4; i++)
        b[i] = t[i];
    test_random(t, 12, 14, -1, 1);
    for (int i = 0; i < 12; i++)
        g[i] = t[i];
    ref_dense_forward(x, w, b, y, n, in, out, relu);
    ref_dense_backward(x, w, y, g, dx, dw, db, n, in, out, relu);

    double *param[3] = {x, w, b}, *grad[3] = {dx, dw, db};
    int size[3] = {15, 20, 4};
    const double h = 1e-6;
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < size[a]; i++) {
            double keep = param[a][i], loss[2];
            for (int s = 0; s < 2; s++) {
                param[a][i] = keep + (s ? -h : h);
                double yy[12];
                ref_dense_forward(x, w, b, yy, n, in, out, relu);
                loss[s] = 0;
                for (int j = 0; j < 12; j++)
                    loss[s] += yy[j] * g[j];
            }
            param[a][i] = keep;
            double num = (loss[0] - loss[1]) / (2 * h);
            ck_assert_msg(fabs(num - grad[a][i]) <= 1e-6 * (1 + fabs(num)),
                          "tensor %d [%d]: analytic %.12g, numeric %.12g", a,
                          i, grad[a][i], num);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dense");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, reference_gradients_match_finite_differences, 0, 2);
    tcase_add_test(tc, bad_arguments_are_input_errors);
    tcase_add_loop_test(tc, kernel_path_matches_reference, 0, NSHAPES);
    tcase_add_loop_test(tc, clblast_path_matches_reference, 0, NSHAPES);
    tcase_add_test(tc, gpu_variants_match_reference);
    tcase_add_test(tc, equal_keys_give_equal_bits);
    tcase_add_test(tc, every_variant_is_built_as_its_row_says);
    tcase_add_loop_test(tc, repeat_is_bit_identical, 0, 3);
    tcase_add_test(tc, clblast_errors_are_named);
    suite_add_tcase(s, tc);
    TCase *sim = test_simulator_case();
    tcase_add_test(sim, every_variant_matches_reference);
    suite_add_tcase(s, sim);
    return test_run(s, 0);
}
