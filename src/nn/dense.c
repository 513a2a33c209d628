/* dense.c: the fully connected layer (see dense.h): the two GEMM paths,
 * their shared small kernels, and the timing the tuner chooses by. */
#include "nn/dense.h"

#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "ref/dense.h"
#include "tune/tuner.h"

/* The candidates. A row's tiles: its path (a dense_gemm), then the fields
 * of dense_tiles in order (nt_rows, nt_cols, nn_rows, nn_vecs, kc, gpu_wm,
 * gpu_wn, gpu_rm, gpu_rn; CLBlast's row keeps the hand kernels' defaults,
 * which its small kernels' work-group size is fitted to). A split-K slice
 * of 512 keeps a slice of X and W rows in cache while its tiles are
 * computed, and spreads the slices over the cores. */
const tune_variant dense_variants[] = {
    [DENSE_GEMM_KERNEL] = {"kernel", "kernel", TUNE_ANYWHERE,
                           {DENSE_GEMM_KERNEL, 4, 4, 8, 2, 512}},
    [DENSE_GEMM_CLBLAST] = {"clblast", "clblast", TUNE_ANYWHERE,
                            {DENSE_GEMM_CLBLAST, 4, 4, 8, 2, 512}},
    {"kernel-k1024", "kernel-k1024", TUNE_ANYWHERE,
     {DENSE_GEMM_KERNEL, 4, 4, 8, 2, 1024}},
    {"kernel-nt2x8", "kernel", TUNE_ANYWHERE, {DENSE_GEMM_KERNEL, 2, 8, 8, 2, 512}},
    {"kernel-nn8x1", "kernel", TUNE_ANYWHERE, {DENSE_GEMM_KERNEL, 4, 4, 8, 1, 512}},
    /* fc1 of the reference model at batch 32 is a 32 x 64 product over
     * 7744: slices of 64 make 121 x 2 work-groups of its 32 x 32 tiles,
     * enough for every SM of a large GPU; slices of 256 fewer but longer. */
    {"gpu-k64", "gpu-k64", TUNE_NOT_CPU,
     {DENSE_GEMM_KERNEL, 4, 4, 8, 2, 64, 8, 8, 4, 4}},
    {"gpu-k256", "gpu-k256", TUNE_NOT_CPU,
     {DENSE_GEMM_KERNEL, 4, 4, 8, 2, 256, 8, 8, 4, 4}},
    {"gpu-k64-r2", "gpu-k64", TUNE_NOT_CPU,
     {DENSE_GEMM_KERNEL, 4, 4, 8, 2, 64, 16, 16, 2, 2}},
};
const int dense_variant_count = sizeof dense_variants / sizeof *dense_variants;

/* A row's tiles after its path, as the layer's. */
static dense_tiles row_tiles(const int *n)
{
    return (dense_tiles){.nt_rows = n[1], .nt_cols = n[2], .nn_rows = n[3],
                         .nn_vecs = n[4], .kc = n[5], .gpu_wm = n[6], .gpu_wn = n[7],
                         .gpu_rm = n[8], .gpu_rn = n[9]};
}

void dense_options(const int *tiles, char *buf, size_t size)
{
    const dense_tiles t = row_tiles(tiles);
    if (t.gpu_wm)
        snprintf(buf, size, "-DDENSE_GPU_WM=%d -DDENSE_GPU_WN=%d -DDENSE_GPU_RM=%d "
                 "-DDENSE_GPU_RN=%d", t.gpu_wm, t.gpu_wn, t.gpu_rm, t.gpu_rn);
    else
        snprintf(buf, size, "-DDENSE_NT_TM=%d -DDENSE_NT_TN=%d -DDENSE_NN_TM=%d "
                 "-DDENSE_NN_TV=%d", t.nt_rows, t.nt_cols, t.nn_rows, t.nn_vecs);
}

const char *dense_clblast_status_name(int code)
{
    switch (code) {
#define NAME(c) case c: return #c
    NAME(CLBlastSuccess);
    NAME(CLBlastOpenCLCompilerNotAvailable);
    NAME(CLBlastTempBufferAllocFailure);
    NAME(CLBlastOpenCLOutOfResources);
    NAME(CLBlastOpenCLOutOfHostMemory);
    NAME(CLBlastOpenCLBuildProgramFailure);
    NAME(CLBlastInvalidValue);
    NAME(CLBlastInvalidCommandQueue);
    NAME(CLBlastInvalidMemObject);
    NAME(CLBlastInvalidBinary);
    NAME(CLBlastInvalidBuildOptions);
    NAME(CLBlastInvalidProgram);
    NAME(CLBlastInvalidProgramExecutable);
    NAME(CLBlastInvalidKernelName);
    NAME(CLBlastInvalidKernelDefinition);
    NAME(CLBlastInvalidKernel);
    NAME(CLBlastInvalidArgIndex);
    NAME(CLBlastInvalidArgValue);
    NAME(CLBlastInvalidArgSize);
    NAME(CLBlastInvalidKernelArgs);
    NAME(CLBlastInvalidLocalNumDimensions);
    NAME(CLBlastInvalidLocalThreadsTotal);
    NAME(CLBlastInvalidLocalThreadsDim);
    NAME(CLBlastInvalidGlobalOffset);
    NAME(CLBlastInvalidEventWaitList);
    NAME(CLBlastInvalidEvent);
    NAME(CLBlastInvalidOperation);
    NAME(CLBlastInvalidBufferSize);
    NAME(CLBlastInvalidGlobalWorkSize);
    NAME(CLBlastNotImplemented);
    NAME(CLBlastInvalidMatrixA);
    NAME(CLBlastInvalidMatrixB);
    NAME(CLBlastInvalidMatrixC);
    NAME(CLBlastInvalidVectorX);
    NAME(CLBlastInvalidVectorY);
    NAME(CLBlastInvalidDimension);
    NAME(CLBlastInvalidLeadDimA);
    NAME(CLBlastInvalidLeadDimB);
    NAME(CLBlastInvalidLeadDimC);
    NAME(CLBlastInvalidIncrementX);
    NAME(CLBlastInvalidIncrementY);
    NAME(CLBlastInsufficientMemoryA);
    NAME(CLBlastInsufficientMemoryB);
    NAME(CLBlastInsufficientMemoryC);
    NAME(CLBlastInsufficientMemoryX);
    NAME(CLBlastInsufficientMemoryY);
    NAME(CLBlastInsufficientMemoryTemp);
    NAME(CLBlastInvalidBatchCount);
    NAME(CLBlastInvalidOverrideKernel);
    NAME(CLBlastMissingOverrideParameter);
    NAME(CLBlastInvalidLocalMemUsage);
    NAME(CLBlastNoHalfPrecision);
    NAME(CLBlastNoDoublePrecision);
    NAME(CLBlastInvalidVectorScalar);
    NAME(CLBlastInsufficientMemoryScalar);
    NAME(CLBlastDatabaseError);
    NAME(CLBlastUnknownError);
    NAME(CLBlastUnexpectedError);
#undef NAME
    default:
        return "unknown CLBlast status";
    }
}

static cnn_status clblast_fail(cnn_error *err, const char *call,
                               CLBlastStatusCode rc)
{
    return cnn_fail(err, CNN_ERR_RUNTIME,
                    "%s failed: %s (%d). Try CNN_CL_GEMM=kernel to use the "
                    "built-in GEMM kernels instead of CLBlast.",
                    call, dense_clblast_status_name(rc), (int)rc);
}

cnn_status dense_gemm_parse(const char *s, dense_gemm *out, cnn_error *err)
{
    if (!strcmp(s, "clblast"))
        *out = DENSE_GEMM_CLBLAST;
    else if (!strcmp(s, "kernel"))
        *out = DENSE_GEMM_KERNEL;
    else
        return cnn_fail(err, CNN_ERR_INPUT,
                        "unknown GEMM path '%s'; use clblast or kernel", s);
    return CNN_OK;
}

const char *dense_gemm_label(dense_gemm path)
{
    return path == DENSE_GEMM_CLBLAST ? "clblast" : "kernel";
}

const char *dense_gemm_name(const dense_layer *l)
{
    return dense_gemm_label(l->path);
}

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

/* Row-major C = op(A) op(B) on CLBlast, with the layer's own temp buffer. */
static cnn_status sgemm(const dense_layer *l, CLBlastTranspose ta,
                        CLBlastTranspose tb, size_t m, size_t n, size_t k,
                        cl_mem a, size_t lda, cl_mem b, size_t ldb, cl_mem c,
                        size_t ldc, cnn_error *err)
{
    cl_command_queue q = l->rt->queue;
    CLBlastStatusCode rc = CLBlastSgemmWithTempBuffer(
        CLBlastLayoutRowMajor, ta, tb, m, n, k, 1.0f, a, 0, lda, b, 0, ldb,
        0.0f, c, 0, ldc, &q, NULL, l->clblast_temp);
    if (rc != CLBlastSuccess)
        return clblast_fail(err, "CLBlastSgemmWithTempBuffer", rc);
    return CNN_OK;
}

/* Every launch keeps its kernel's work-group shape whatever the sizes
 * (l->wg, or nn_local for dense_gemm_nn), rounding the global size up, since
 * the kernels bounds-check: a compiler that specializes a kernel per shape
 * (PoCL) then builds it once, not once per layer and pass. */
static const size_t nn_local[2] = {1, 8};

static cnn_status launch1(const dense_layer *l, cl_kernel k, size_t count,
                          cnn_error *err)
{
    return clrt_launch(l->rt, k, 1, &count, &l->wg, NULL, err);
}

/* Hand path: C = A Bᵀ with split-K, a is (m, k), b is (n, k); y is (m, n)
 * and gets bias and the optional ReLU. */
static cnn_status gemm_nt(const dense_layer *l, int m, cl_mem a, cl_mem b,
                          cl_mem bias, cl_mem y, cnn_error *err)
{
    const int n = l->out, k = l->in, kc = l->tiles.kc;
    const int fuse = l->nsplit > 1 ? 0 : l->relu ? 2 : 1;
    cl_mem c = l->nsplit > 1 ? l->partial : y;
    cnn_status st = clrt_set_args(l->gemm_nt, err, 9, sizeof a, &a, sizeof b,
                                  &b, sizeof c, &c, sizeof bias, &bias,
                                  sizeof m, &m, sizeof n, &n, sizeof k, &k,
                                  sizeof kc, &kc, sizeof fuse, &fuse);
    if (st)
        return st;
    size_t tiles = ceil_div((size_t)m, (size_t)l->tiles.nt_rows) *
                   ceil_div((size_t)n, (size_t)l->tiles.nt_cols);
    size_t global[2] = {tiles, (size_t)l->nsplit};
    size_t local[2] = {l->wg, 1};
    if ((st = clrt_launch(l->rt, l->gemm_nt, 2, global, local, NULL, err)))
        return st;
    clrt_profile_flop(l->rt, 2.0 * m * n * k);
    if (l->nsplit == 1)
        return CNN_OK;
    st = clrt_set_args(l->splitk_reduce, err, 7, sizeof l->partial,
                       &l->partial, sizeof bias, &bias, sizeof y, &y,
                       sizeof m, &m, sizeof n, &n, sizeof l->nsplit,
                       &l->nsplit, sizeof l->relu, &l->relu);
    return st ? st : launch1(l, l->splitk_reduce, (size_t)m * n, err);
}

/* Hand path: C = A B, A(i, r) = a[i*sam + r*sak] (m, k), b is (k, n) with
 * row stride n, c is (m, n). */
static cnn_status gemm_nn(const dense_layer *l, int m, int n, int k,
                          cl_mem a, int sam, int sak, cl_mem b, cl_mem c,
                          cnn_error *err)
{
    cnn_status st = clrt_set_args(l->gemm_nn, err, 10, sizeof a, &a,
                                  sizeof sam, &sam, sizeof sak, &sak,
                                  sizeof b, &b, sizeof n, &n, sizeof c, &c,
                                  sizeof n, &n, sizeof m, &m, sizeof n, &n,
                                  sizeof k, &k);
    if (st)
        return st;
    size_t global[2] = {ceil_div((size_t)m, (size_t)l->tiles.nn_rows),
                        ceil_div((size_t)n, 16 * (size_t)l->tiles.nn_vecs)};
    if ((st = clrt_launch(l->rt, l->gemm_nn, 2, global, nn_local, NULL, err)))
        return st;
    clrt_profile_flop(l->rt, 2.0 * m * n * k);
    return CNN_OK;
}

/* One product on the GPU GEMM (see dense_gpu_gemm in kernels/dense.cl for
 * the operands' strides, the mask, the epilogue and the row sums); K is cut
 * into slices of kc. */
typedef struct {
    int m, n, k, kc;
    cl_mem a;
    int sam, sak;
    cl_mem y; /* the mask's source, or NULL */
    cl_mem b;
    int sbk, sbn;
    cl_mem c;
    int ldc;
    cl_mem bias;
    int epilogue;
    cl_mem db; /* row sums of A, or NULL */
} gpu_product;

static cnn_status gpu_gemm(const dense_layer *l, const gpu_product *g, cnn_error *err)
{
    const int mask = g->y != NULL, rowsum = g->db != NULL;
    cnn_status st = clrt_set_args(
        l->gpu_gemm, err, 18, sizeof g->a, &g->a, sizeof g->sam, &g->sam, sizeof g->sak,
        &g->sak, sizeof g->y, &g->y, sizeof mask, &mask, sizeof g->b, &g->b,
        sizeof g->sbk, &g->sbk, sizeof g->sbn, &g->sbn, sizeof g->c, &g->c,
        sizeof g->ldc, &g->ldc, sizeof g->m, &g->m, sizeof g->n, &g->n, sizeof g->k,
        &g->k, sizeof g->kc, &g->kc, sizeof g->bias, &g->bias, sizeof g->epilogue,
        &g->epilogue, sizeof g->db, &g->db, sizeof rowsum, &rowsum);
    if (st)
        return st;
    const dense_tiles *t = &l->tiles;
    const size_t local[3] = {(size_t)t->gpu_wn, (size_t)t->gpu_wm, 1};
    const size_t global[3] = {
        ceil_div((size_t)g->n, (size_t)(t->gpu_wn * t->gpu_rn)) * local[0],
        ceil_div((size_t)g->m, (size_t)(t->gpu_wm * t->gpu_rm)) * local[1],
        ceil_div((size_t)g->k, (size_t)g->kc)};
    if ((st = clrt_launch(l->rt, l->gpu_gemm, 3, global, local, NULL, err)))
        return st;
    clrt_profile_flop(l->rt, 2.0 * g->m * g->n * g->k);
    return CNN_OK;
}

/* GPU path forward: Y = X Wᵀ in slices of kc, each output's slices summed in
 * order with the bias (and ReLU) by dense_splitk_reduce, or fused into the
 * GEMM's store when there is one slice. */
static cnn_status gpu_forward(const dense_layer *l, int m, cl_mem x, cl_mem w,
                              cl_mem b, cl_mem y, cnn_error *err)
{
    const int split = l->nsplit > 1;
    const gpu_product g = {.m = m, .n = l->out, .k = l->in, .kc = l->tiles.kc,
                           .a = x, .sam = l->in, .sak = 1, .b = w, .sbk = 1,
                           .sbn = l->in, .c = split ? l->partial : y, .ldc = l->out,
                           .bias = b, .epilogue = split ? 0 : l->relu ? 2 : 1};
    cnn_status st = gpu_gemm(l, &g, err);
    if (st || !split)
        return st;
    st = clrt_set_args(l->splitk_reduce, err, 7, sizeof l->partial, &l->partial,
                       sizeof b, &b, sizeof y, &y, sizeof m, &m, sizeof l->out,
                       &l->out, sizeof l->nsplit, &l->nsplit, sizeof l->relu, &l->relu);
    return st ? st : launch1(l, l->splitk_reduce, (size_t)m * l->out, err);
}

/* GPU path backward: dX = dZ W and dW = dZᵀ X, each reading dY through the
 * ReLU's mask; dW's product also sums db. */
static cnn_status gpu_backward(const dense_layer *l, int n, cl_mem x, cl_mem w,
                               cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw, cl_mem db,
                               cnn_error *err)
{
    cl_mem mask = l->relu ? y : NULL;
    const gpu_product gx = {.m = n, .n = l->in, .k = l->out, .kc = l->out, .a = dy,
                            .sam = l->out, .sak = 1, .y = mask, .b = w, .sbk = l->in,
                            .sbn = 1, .c = dx, .ldc = l->in};
    const gpu_product gw = {.m = l->out, .n = l->in, .k = n, .kc = n, .a = dy,
                            .sam = 1, .sak = l->out, .y = mask, .b = x, .sbk = l->in,
                            .sbn = 1, .c = dw, .ldc = l->in, .db = db};
    cnn_status st = dx ? gpu_gemm(l, &gx, err) : CNN_OK;
    return st ? st : gpu_gemm(l, &gw, err);
}

cnn_status dense_forward(const dense_layer *l, int n, cl_mem x, cl_mem w,
                         cl_mem b, cl_mem y, cnn_error *err)
{
    cnn_status st = layer_check_batch("dense", n, l->max_batch, err);
    if (st)
        return st;
    if (l->gpu_gemm)
        return gpu_forward(l, n, x, w, b, y, err);
    if (l->path == DENSE_GEMM_KERNEL)
        return gemm_nt(l, n, x, w, b, y, err);

    if ((st = sgemm(l, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)n,
                    (size_t)l->out, (size_t)l->in, x, (size_t)l->in, w,
                    (size_t)l->in, y, (size_t)l->out, err)))
        return st;
    st = clrt_set_args(l->bias_act, err, 5, sizeof y, &y, sizeof b, &b,
                       sizeof n, &n, sizeof l->out, &l->out, sizeof l->relu,
                       &l->relu);
    return st ? st : launch1(l, l->bias_act, (size_t)n * l->out, err);
}

cnn_status dense_backward(const dense_layer *l, int n, cl_mem x, cl_mem w,
                          cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw,
                          cl_mem db, cnn_error *err)
{
    cnn_status st = layer_check_batch("dense", n, l->max_batch, err);
    if (st)
        return st;
    if (l->gpu_gemm)
        return gpu_backward(l, n, x, w, y, dy, dx, dw, db, err);
    /* One pass masks dY by the ReLU (into dz) and sums db. */
    cl_mem dz = l->relu ? l->dz : dy;
    if ((st = clrt_set_args(l->bias_grad, err, 7, sizeof y, &y, sizeof dy,
                            &dy, sizeof dz, &dz, sizeof db, &db, sizeof n, &n,
                            sizeof l->out, &l->out, sizeof l->relu,
                            &l->relu)) ||
        (st = launch1(l, l->bias_grad, (size_t)l->out, err)))
        return st;

    const size_t in = (size_t)l->in, out = (size_t)l->out;
    if (l->path == DENSE_GEMM_KERNEL) {
        /* dX = dZ W: dZ (n, out) read row by row; dW = dZᵀ X: dZ read by
         * columns, so its strides swap. */
        if (dx && (st = gemm_nn(l, n, l->in, l->out, dz, l->out, 1, w, dx, err)))
            return st;
        return gemm_nn(l, l->out, l->in, n, dz, 1, l->out, x, dw, err);
    }
    if (dx && (st = sgemm(l, CLBlastTransposeNo, CLBlastTransposeNo,
                          (size_t)n, in, out, dz, out, w, in, dx, in, err)))
        return st;
    return sgemm(l, CLBlastTransposeYes, CLBlastTransposeNo, out, in,
                 (size_t)n, dz, out, x, in, dw, in, err);
}

/* The most bytes of CLBlast scratch any of the layer's three GEMMs needs
 * at max_batch; smaller batches need no more (sizes are padded multiples
 * of the problem's dimensions). */
static cnn_status clblast_temp_size(const dense_layer *l, size_t *bytes,
                                    cnn_error *err)
{
    const size_t n = (size_t)l->max_batch, in = (size_t)l->in,
                 out = (size_t)l->out;
    const struct {
        CLBlastTranspose ta, tb;
        size_t m, n, k, lda, ldb, ldc;
    } g[3] = {
        {CLBlastTransposeNo, CLBlastTransposeYes, n, out, in, in, in, out},
        {CLBlastTransposeNo, CLBlastTransposeNo, n, in, out, out, in, in},
        {CLBlastTransposeYes, CLBlastTransposeNo, out, in, n, out, in, in},
    };
    cl_command_queue q = l->rt->queue;
    *bytes = 0;
    for (int i = 0; i < 3; i++) {
        size_t size = 0;
        CLBlastStatusCode rc = CLBlastSGemmTempBufferSize(
            CLBlastLayoutRowMajor, g[i].ta, g[i].tb, g[i].m, g[i].n, g[i].k,
            0, g[i].lda, 0, g[i].ldb, 0, g[i].ldc, &q, &size);
        if (rc != CLBlastSuccess)
            return clblast_fail(err, "CLBlastSGemmTempBufferSize", rc);
        if (size > *bytes)
            *bytes = size;
    }
    return CNN_OK;
}

/* CLBlast has no tuning for a PoCL CPU and falls back to GPU-style
 * parameters; the XgemmDirect parameters its database lists as the Intel
 * CPU default suit a SIMD CPU better. Measured at batch 32 on fc1 (7744 ->
 * 64, 2-core AVX-512 EPYC, PoCL 3.1, min of 20): dW 16 -> 28..32 GFLOPS,
 * dX 13 -> 11..17, forward unchanged at 11. Overriding makes CLBlast
 * rebuild its kernels, so it is done once per process and device, before
 * the first CLBlast call. */
static cnn_status clblast_tune_for_cpu(const clrt *rt, cnn_error *err)
{
    static cl_device_id done[8];
    static int ndone;
    if (!clrt_device_is_cpu(&rt->dev))
        return CNN_OK;
    for (int i = 0; i < ndone; i++)
        if (done[i] == rt->dev.device)
            return CNN_OK;
    const char *names[10] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                             "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
    const size_t values[10] = {2, 8, 8, 8, 8, 1, 1, 4, 4, 32};
    CLBlastStatusCode rc = CLBlastOverrideParameters(
        rt->dev.device, "XgemmDirect", CLBlastPrecisionSingle, 10, names,
        values);
    if (rc != CLBlastSuccess)
        return clblast_fail(err, "CLBlastOverrideParameters", rc);
    if (ndone < 8)
        done[ndone++] = rt->dev.device;
    return CNN_OK;
}

/* The GPU variants' GEMM from the variant's program and the split-K
 * reduction; the GEMM's work-group size is fixed by its tiles. */
static cnn_status create_gpu(dense_layer *l, const char *options, cnn_error *err)
{
    static const char *const gemm = "dense_gpu_gemm", *const reduce = "dense_splitk_reduce";
    cl_kernel *const out[2] = {&l->gpu_gemm, &l->splitk_reduce};
    cnn_status st = clrt_kernels_from(l->rt, "dense", options, 1, &gemm, out, err);
    if (st == CNN_OK)
        st = clrt_kernels(l->rt, 1, &reduce, out + 1, err);
    if (st)
        return st;
    if ((st = clrt_kernel_fits(l->rt, l->gpu_gemm, gemm,
                               (size_t)l->tiles.gpu_wm * l->tiles.gpu_wn, err)) ||
        (st = clrt_work_group(l->rt, &l->splitk_reduce, 1, 64, &l->wg, err)))
        return st;
    if (l->nsplit > 1)
        return clrt_buffer(l->rt, (size_t)l->nsplit * l->max_batch * l->out * sizeof(float),
                           &l->partial, err);
    return CNN_OK;
}

static cnn_status create(dense_layer *l, const char *options, cnn_error *err)
{
    if (l->tiles.gpu_wm)
        return create_gpu(l, options, err);
    static const char *const names[5] = {"dense_gemm_nt", "dense_gemm_nn",
                                         "dense_splitk_reduce",
                                         "dense_bias_act", "dense_bias_grad"};
    cl_kernel *const kernels[5] = {&l->gemm_nt, &l->gemm_nn,
                                   &l->splitk_reduce, &l->bias_act,
                                   &l->bias_grad};
    /* The GEMMs from the variant's program, the rest from the default. */
    cnn_status st = clrt_kernels_from(l->rt, "dense", options, 2, names, kernels, err);
    if (st == CNN_OK)
        st = clrt_kernels(l->rt, 3, names + 2, kernels + 2, err);
    if (st)
        return st;
    /* One work-group size legal for all five kernels, at most 64. */
    const cl_kernel all[5] = {l->gemm_nt, l->gemm_nn, l->splitk_reduce, l->bias_act,
                              l->bias_grad};
    if ((st = clrt_work_group(l->rt, all, 5, 64, &l->wg, err)) ||
        (st = clrt_kernel_fits(l->rt, l->gemm_nn, names[1], nn_local[0] * nn_local[1], err)))
        return st;

    const size_t n = (size_t)l->max_batch, out = (size_t)l->out;
    if ((l->nsplit > 1 &&
         (st = clrt_buffer(l->rt, (size_t)l->nsplit * n * out * sizeof(float),
                           &l->partial, err))) ||
        (l->relu &&
         (st = clrt_buffer(l->rt, n * out * sizeof(float), &l->dz, err))))
        return st;
    if (l->path == DENSE_GEMM_CLBLAST) {
        size_t bytes;
        if ((st = clblast_tune_for_cpu(l->rt, err)) ||
            (st = clblast_temp_size(l, &bytes, err)))
            return st;
        if (bytes && (st = clrt_buffer(l->rt, bytes, &l->clblast_temp, err)))
            return st;
    }
    return CNN_OK;
}

cnn_status dense_create(dense_layer *l, const clrt *rt, int max_batch,
                        int in, int out, int relu, int variant,
                        cnn_error *err)
{
    memset(l, 0, sizeof *l);
    if (max_batch < 1 || in < 1 || out < 1 || variant < 0 ||
        variant >= dense_variant_count)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "dense: batch %d, in %d, out %d must all be positive "
                        "(variant %d)", max_batch, in, out, variant);
    l->rt = rt;
    l->max_batch = max_batch;
    l->in = in;
    l->out = out;
    l->relu = relu != 0;
    const int *tiles = dense_variants[variant].tiles;
    char options[TUNE_OPTIONS];
    l->path = (dense_gemm)tiles[0];
    l->tiles = row_tiles(tiles);
    l->nsplit = (int)ceil_div((size_t)in, (size_t)l->tiles.kc);
    dense_options(tiles, options, sizeof options);
    cnn_status st = create(l, options, err);
    if (st) {
        dense_release(l);
        return cnn_fail_context(err, "dense layer %d -> %d", in, out);
    }
    return CNN_OK;
}

void dense_release(dense_layer *l)
{
    cl_kernel *const ks[6] = {&l->gemm_nt, &l->gemm_nn, &l->splitk_reduce,
                              &l->bias_act, &l->bias_grad, &l->gpu_gemm};
    cl_mem *const ms[3] = {&l->partial, &l->dz, &l->clblast_temp};
    for (int i = 0; i < 6; i++)
        clrt_release_kernel(ks[i]);
    for (int i = 0; i < 3; i++)
        clrt_release_mem(ms[i]);
    memset(l, 0, sizeof *l);
}

/* The layer table's row: token fc<N>. */

static cnn_status fc_parse(const char *rest, arch_layer *l, cnn_error *err)
{
    l->units = (int)layer_parse_number(&rest);
    return l->units < 1 || *rest ? layer_bad_token(l, err) : CNN_OK;
}

static cnn_status fc_shape(arch_layer *l, cnn_error *err)
{
    (void)err;
    l->out = (arch_shape){l->units, 1, 1};
    return CNN_OK;
}

static int fc_params(const arch_layer *l, layer_param *out)
{
    out[0] = (layer_param){.what = "weight", .ndim = 2, .shape = {l->units, l->in.c},
                           .init = LAYER_INIT_GLOROT, .fan_in = l->in.c,
                           .fan_out = l->units, .trainable = 1};
    out[1] = (layer_param){.what = "bias", .ndim = 1, .shape = {l->units},
                           .init = LAYER_INIT_ZERO, .trainable = 1};
    return 2;
}

typedef struct {
    const layer_node *nd;
    const layer_env *env;
    dense_layer l;
} fc_timing;

/* The timing's layer: the node's shapes as variant `index`. */
static cnn_status time_create(void *ctx, int index, const cl_mem *bufs, cnn_error *err)
{
    fc_timing *t = ctx;
    (void)bufs;
    return dense_create(&t->l, t->env->rt, t->env->max_batch, t->nd->spec->in.c,
                        t->nd->spec->units, t->nd->relu, index, err);
}

/* A forward and backward at max_batch on the scratch buffers x, w, b, y,
 * dy, dx, dw, db, CLBlast's helper kernels included. */
static cnn_status time_enqueue(void *ctx, const cl_mem *b, cnn_error *err)
{
    const dense_layer *l = &((const fc_timing *)ctx)->l;
    cnn_status st = dense_forward(l, l->max_batch, b[0], b[1], b[2], b[3], err);
    return st ? st : dense_backward(l, l->max_batch, b[0], b[1], b[3], b[4], b[5], b[6],
                                    b[7], err);
}

static void time_release(void *ctx)
{
    dense_release(&((fc_timing *)ctx)->l);
}

static cnn_status fc_create(layer_node *nd, const layer_env *env, cnn_error *err)
{
    char shape[96];
    snprintf(shape, sizeof shape, "fc in=%d out=%d relu=%d batch=%d", nd->spec->in.c,
             nd->spec->units, nd->relu, env->max_batch);
    const tune_site site = {.name = nd->spec->name, .kind = nd->spec->kind->prefix,
                            .shape_key = shape, .dev = &env->rt->dev,
                            .options = dense_options};
    const size_t n = (size_t)env->max_batch, in = (size_t)nd->spec->in.c,
                 out = (size_t)nd->spec->units;
    fc_timing t = {.nd = nd, .env = env};
    tune_timing timing = {.rt = env->rt, .nbufs = 8,
                          .counts = {n * in, out * in, out, n * out, n * out, n * in,
                                     out * in, out},
                          .ctx = &t, .create = time_create, .enqueue = time_enqueue,
                          .release = time_release};
    int variant;
    cnn_status st = tuner_choose(env->tune, &site, dense_variants, dense_variant_count,
                                 tune_time, &timing, &variant, err);
    return st ? st : dense_create(nd->op, env->rt, env->max_batch, nd->spec->in.c,
                                  nd->spec->units, nd->relu, variant, err);
}

static void fc_release(layer_node *nd) { dense_release(nd->op); }

static cnn_status fc_forward(layer_node *nd, const layer_pass *p, cl_mem x,
                             cnn_error *err)
{
    return dense_forward(nd->op, p->n, x, nd->params[0]->param, nd->params[1]->param,
                         nd->y, err);
}

static cnn_status fc_backward(layer_node *nd, const layer_pass *p, cl_mem x, cl_mem dx,
                              cnn_error *err)
{
    return dense_backward(nd->op, p->n, x, nd->params[0]->param, nd->y, nd->dy, dx,
                          nd->params[0]->grad, nd->params[1]->grad, err);
}

static void fc_ref_forward(const arch_layer *l, const ref_pass *p, double *const *params,
                           const double *x, double *y)
{
    ref_dense_forward(x, params[0], params[1], y, p->n, l->in.c, l->units, 0);
}

static void fc_ref_backward(const arch_layer *l, const ref_pass *p,
                            double *const *params, const double *x, const double *y,
                            const double *dy, double *dx, double *const *grads)
{
    ref_dense_backward(x, params[0], y, dy, dx, grads[0], grads[1], p->n, l->in.c,
                       l->units, 0);
}

static double fc_flops(const arch_layer *l) { return 2.0 * l->units * l->in.c; }

/* y = x W^T + b, W (OUT, IN) as PyTorch keeps it. */
static cnn_status fc_onnx(const arch_layer *l, onnx_layer_io *io, cnn_error *err)
{
    const char *in[] = {io->x, layer_onnx_tensor(io, 0), layer_onnx_tensor(io, 1)};
    const onnx_attr trans_b = ONNX_INT("transB", 1);
    io->y = onnx_graph_node(io->g, "Gemm", l->name, in, 3, &trans_b, 1);
    return onnx_graph_status(io->g, err);
}

const layer_kind layer_fc = {
    .prefix = "fc", .syntax = "fc<N>", .keras = "Dense",
    .flags = LAYER_FUSES_RELU | LAYER_FLAT_IN | LAYER_FLAT_OUT | LAYER_CLASSES,
    .parse = fc_parse, .shape = fc_shape, .params = fc_params,
    .op_size = sizeof(dense_layer),
    .create = fc_create, .release = fc_release,
    .forward = fc_forward, .backward = fc_backward,
    .ref_forward = fc_ref_forward, .ref_backward = fc_ref_backward,
    .flops = fc_flops, .onnx = fc_onnx,
};
