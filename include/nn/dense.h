/* dense: the fully connected layer, Y = X Wᵀ + b with optional fused ReLU,
 * forward and backward, on one of two GEMM paths: CLBlast's SGEMM or the
 * hand-written kernels of kernels/dense.cl. The path is fixed at create
 * time; the layer table's row (fc) asks the tuner (tuner.h) for it, which
 * times both on the layer's own shapes unless one is forced or cached.
 *
 * Functions other than dense_create only enqueue work on rt's queue; all
 * scratch memory is allocated by dense_create for up to max_batch rows.
 * Buffers may be sub-buffers. Results are deterministic for a given path. */
#ifndef DENSE_H
#define DENSE_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

typedef enum {
    DENSE_GEMM_KERNEL,  /* the kernels of kernels/dense.cl */
    DENSE_GEMM_CLBLAST, /* CLBlast SGEMM */
} dense_gemm;

/* The hand kernels' register tiles (see kernels/dense.cl) and the K of a
 * split-K slice of the forward GEMM. gpu_wm = 0: the CPU kernels
 * (dense_gemm_nt, dense_gemm_nn); else the GPU GEMM dense_gpu_gemm for all
 * three products, in work-groups of gpu_wn x gpu_wm work-items of gpu_rm x
 * gpu_rn outputs each. */
typedef struct {
    int nt_rows, nt_cols; /* C per work-item of dense_gemm_nt */
    int nn_rows, nn_vecs; /* rows and float16 columns of dense_gemm_nn */
    int kc;
    int gpu_wm, gpu_wn, gpu_rm, gpu_rn;
} dense_tiles;

/* The tuner's candidates for a layer (dense_variant_count of them):
 * CLBlast, or the hand kernels with some tiles. The tiles keep every sum's
 * order, so they share the arithmetic key "kernel"; another split-K slice
 * (and CLBlast) does not. The GPU GEMM's variants (TUNE_NOT_CPU, labels
 * "gpu-...") sum each output in one chain per slice, keyed by their slice
 * ("gpu-k64", "gpu-k256"). Indices DENSE_GEMM_KERNEL and
 * DENSE_GEMM_CLBLAST are the two paths' defaults. */
extern const tune_variant dense_variants[];
extern const int dense_variant_count;

/* The -D options of the program a row's kernels are built from, by its
 * tiles: what dense_create builds with, and the tuner hashes. */
void dense_options(const int *tiles, char *buf, size_t size);

typedef struct {
    const clrt *rt;
    int max_batch, in, out, relu;
    dense_gemm path;
    dense_tiles tiles;
    int nsplit;          /* split-K slices of the hand forward GEMM */
    size_t wg;           /* work-group size legal for every kernel here */
    cl_kernel gemm_nt, gemm_nn, splitk_reduce, bias_act, bias_grad;
    cl_kernel gpu_gemm;  /* the GPU variants' one GEMM (others unused) */
    cl_mem partial;      /* (nsplit, max_batch, out) split-K partial sums */
    cl_mem dz;           /* (max_batch, out) dY masked by ReLU (the GPU
                            GEMM masks as it reads dY instead) */
    cl_mem clblast_temp; /* CLBlast's GEMM scratch (NULL when not needed) */
} dense_layer;

/* Parses "clblast" or "kernel" (the paths' variant labels). */
cnn_status dense_gemm_parse(const char *s, dense_gemm *out, cnn_error *err);

/* Prepares a layer of `in` inputs and `out` outputs for batches of up to
 * max_batch rows as dense_variants[variant] (the first CLBlast call of a
 * run compiles its kernels: seconds on a CPU). */
cnn_status dense_create(dense_layer *l, const clrt *rt, int max_batch,
                        int in, int out, int relu, int variant,
                        cnn_error *err);
void dense_release(dense_layer *l);

/* The word dense_gemm_parse reads for a path: "clblast", "kernel". */
const char *dense_gemm_label(dense_gemm path);

/* "clblast" or "kernel": the path the layer runs. */
const char *dense_gemm_name(const dense_layer *l);

/* y = X Wᵀ + b, then ReLU if the layer has it.
 * x is (n, in), w is (out, in), b is (out), y is (n, out); n <= max_batch. */
cnn_status dense_forward(const dense_layer *l, int n, cl_mem x, cl_mem w,
                         cl_mem b, cl_mem y, cnn_error *err);

/* Gradients from dy = dL/dY (of the ReLU output when fused; y is the
 * forward output, whose sign gives the mask). Overwrites dx, dw, db.
 * x is (n, in), w is (out, in), y and dy are (n, out), dx is (n, in) or
 * NULL (not computed), dw is (out, in), db is (out). */
cnn_status dense_backward(const dense_layer *l, int n, cl_mem x, cl_mem w,
                          cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw,
                          cl_mem db, cnn_error *err);

/* The name of a CLBlastStatusCode ("CLBlastInvalidLocalMemUsage"). */
const char *dense_clblast_status_name(int code);

#endif
