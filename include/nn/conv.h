/* conv: 2-D convolution layer, square kernels of any size, any stride, zero
 * padding before and after (Keras' 'valid' and 'same', PyTorch's
 * padding=P), any channel counts, with ReLU fused as an option.
 *
 * The functions only enqueue work on rt's queue. conv_create builds the
 * kernels and allocates the scratch a batch of up to max_batch needs; the
 * caller's buffers (which may be sub-buffers) keep PyTorch layouts. Results
 * are deterministic: no atomics, fixed summation orders. */
#ifndef CONV_H
#define CONV_H

#include "runtime/clrt.h"
#include "tune/tuner.h"

/* How a layer's kernels split their work; each field is set by a tuner
 * variant (the candidates are conv_forward_variants and the others below).
 * pixels, data_pixels, taps <= 16; blocks, data_blocks <= 4. A pass whose
 * gemm field is set runs as a tiled GEMM of kernels/conv_gpu.cl instead
 * (tiles of that many outputs a side, 32 or 64, for work-groups of
 * CLRT_WORK_GROUP work-items) and ignores the CPU-shaped fields. */
typedef struct {
    int pixels;      /* output pixels per work-item of the forward kernel */
    int blocks;      /* and its blocks of 16 output channels */
    int rows;        /* and the rows those pixels make (a tile of rows x
                        pixels/rows), 1 for pixels in row-major order */
    int data_pixels; /* input pixels per work-item of backward-data (at a
                        stride S above 1, cells of S x S pixels, each
                        taken one row phase at a time) */
    int data_blocks; /* and its blocks of 16 input channels */
    int taps;        /* weight taps per work-item of backward-weights */
    int weights_blocks; /* and its blocks of 16 output channels */
    int chunks;      /* the batch's chunks in the weight-gradient sum, 0 for
                        one image per chunk: the one choice that changes
                        the arithmetic (the order of the sum over images) */
    int gemm;        /* forward as a GEMM, 0 for the kernel of pixels x blocks */
    int data_gemm;   /* backward-data as a GEMM, 0 for data_pixels x data_blocks */
    int weights_gemm; /* backward-weights as a GEMM, 0 for taps and chunks, */
    int gemm_chunk;  /* summing chunks of this many output pixels (a multiple
                        of 16): changes the arithmetic as chunks does */
    int winograd;    /* forward by kernels/conv_winograd.cl, tiles of 2 x 2
                        pixels this many to a row of lanes (16, 8 or 4), 0
                        for the direct kernel: 3 x 3 at stride 1 only */
    int data_winograd; /* backward-data by conv_winograd.cl, rows of this
                          many tiles (8 or 4) in data_rows rows and
                          data_blocks blocks of 16 input channels a
                          work-item, 0 for the direct kernel: 3 x 3 at
                          stride 1 only */
    int data_rows;   /* (1, 2 or 4) */
} conv_tiles;

/* The defaults: what a layer gets without a tuner. */
extern const conv_tiles conv_default_tiles;

/* The backward passes a layer is built for: a network's first trainable
 * layer computes no dx, and eval and predict no backward at all, so their
 * kernels are neither built nor given scratch. */
enum { CONV_DATA = 1, CONV_WEIGHTS = 2, CONV_BACKWARD = CONV_DATA | CONV_WEIGHTS };

typedef struct {
    const clrt *rt;
    int max_batch, c, h, w, oc, k, relu;
    int backward; /* CONV_DATA, CONV_WEIGHTS: the passes built */
    conv_tiles tiles;
    int stride, pad_top, pad_left;
    int oh, ow;  /* output size */
    int padded;  /* pads: the forward and weight gradient read xpad */
    int prepadded; /* the layer writing x writes xpad's inside too
                      (conv_input_padded): the forward copies nothing */
    int hp, wp;  /* rows and columns the windows cover, padding included */
    int splits;  /* batch chunks of the weight-gradient reduction, or
                    pixel chunks of the GEMM one at max_batch */
    int uses_dzt; /* a pass runs a conv.cl kernel that reads dzt */
    int dz_written; /* the layer reading y writes dzt in its backward
                       (conv_dz_written): the backward reads no dy */
    /* The kernels of the variants chosen: forward, backward_data,
     * backward_weights and backward_weights_sum from conv.cl or
     * conv_gpu.cl. */
    cl_kernel pack, pad, forward, dz, backward_data, backward_weights,
        backward_weights_sum;
    cl_kernel winograd_pack; /* U from w, when the forward is Winograd's */
    cl_kernel winograd_pack_data; /* wb from w, when backward-data is */
    cl_mem wf;   /* forward weights, packed (OCpad/16, C, K, K, 16), unless
                    the forward is a GEMM (it reads w) or Winograd's */
    cl_mem u;    /* Winograd's transformed weights (OCpad/8, 16, C, 8), when
                    the forward is Winograd's */
    cl_mem wb;   /* backward-data weights, packed (Cpad/16, K, K, OC, 16),
                    or transformed (Cpad/16, 16, OC, 16) when Winograd's */
    cl_mem dzt;  /* dz as (max_batch*OH*OW + 1, OCpad), the last row zeros,
                    when uses_dzt */
    cl_mem xpad; /* x zero-padded, (max_batch, C, hp, wp), when padded */
    cl_mem part; /* gradient partial sums (splits, CKKpad + 1, OCpad), or
                    for the GEMM (splits, OC, CKK + 1) */
    cl_mem taps; /* for the forward and weight GEMMs: (CKK) ints, each
                    tap's offset in a window of x or xpad */
    cl_mem data_taps; /* for the data GEMM: (K*K*OC) int4s, (ky, kx,
                         o*OH*OW, 0) of each step of its sum */
} conv_layer;

/* The output size and the padding before the first value along one axis of
 * `in` values, for a kernel of k and a stride. Keras' 'same' (same set):
 * out = ceil(in/stride), and of the total padding max((out-1)*stride + k -
 * in, 0), half (rounded down) goes before the first value, the rest after
 * the last. Otherwise PyTorch's `pad` zeros at both ends (0: Keras'
 * 'valid'): out = floor((in + 2 pad - k)/stride) + 1, *before = pad; the
 * windows use at most pad of the zeros after the last value. Returns 0,
 * setting nothing, when no window fits (in + 2 pad < k). */
int conv_axis(int in, int k, int stride, int same, int pad, int *out, int *before);

/* Shapes: input (N, c, h, w) with N <= max_batch, weights (oc, c, k, k),
 * output (N, oc, oh, ow); output pixel (oy, ox) sees the input rows from
 * oy*stride - pad_top and columns from ox*stride - pad_left, zero outside
 * the input (so any padding after the last row and column follows from
 * oh, ow). Every window must overlap the input: 0 <= pad_top < k and
 * (oh-1)*stride - pad_top < h, likewise for the columns. relu fuses
 * max(., 0) into the forward. tiles NULL means conv_default_tiles. Bad
 * shapes are CNN_ERR_INPUT. backward says which backward passes to build
 * (CONV_DATA, CONV_WEIGHTS); conv_backward asks for no other. On failure
 * nothing needs releasing. */
cnn_status conv_create(conv_layer *l, const clrt *rt, int max_batch, int c,
                       int h, int w, int oc, int k, int stride, int pad_top,
                       int pad_left, int oh, int ow, int relu,
                       const conv_tiles *tiles, int backward, cnn_error *err);
void conv_release(conv_layer *l);

/* For a layer that pads: zeroes xpad, whose inside (x's place, rows
 * pad_top to pad_top + H, columns pad_left to pad_left + W, clipped to
 * hp x wp) the layer writing x then writes at every forward; the forward
 * reads it as it is and never reads x. Nothing for a layer that does not
 * pad. */
cnn_status conv_input_padded(conv_layer *l, cnn_error *err);

/* The buffer dz's transpose lies in (dzt above) when the backward reads
 * dz there alone: no ReLU to mask dy by, and no GEMM reading dy; else
 * NULL. */
cl_mem conv_transposed_dz(const conv_layer *l);

/* For a layer conv_transposed_dz gives a buffer: the layer reading y
 * writes dz there (its first N*OH*OW rows, each OC values then zeros),
 * and the backward then reads neither y nor dy. */
void conv_dz_written(conv_layer *l);

/* y = conv(x, w) + b, then max(y, 0) if the layer has relu.
 * x is (N, C, H, W), w is (OC, C, K, K), b is (OC) or NULL for no bias,
 * y is (N, OC, OH, OW); after conv_input_padded, x is not read. */
cnn_status conv_forward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                        cl_mem b, cl_mem y, cnn_error *err);

/* Gradients from dy, the gradient w.r.t. the layer's output y (after the
 * ReLU when fused). With relu, the mask is applied here, fused into the
 * passes that read dy: dz = dy where y > 0, else 0; y is only read then.
 * dx (N, C, H, W) is skipped when NULL (a first layer needs none);
 * dw (OC, C, K, K) and db (OC) are overwritten. x is (N, C, H, W),
 * w is (OC, C, K, K), y and dy are (N, OC, OH, OW); dy is not modified.
 * It follows a conv_forward of the same x, w and n, as a training step
 * does: a padded layer reads the zero-padded copy of x that pass made, and
 * backward-data the weights it packed. After conv_dz_written, dz is
 * already in place. dw and db are computed beside the queue's chain
 * (clrt_fork): they are ready after a clrt_join. */
cnn_status conv_backward(const conv_layer *l, int n, cl_mem x, cl_mem w,
                         cl_mem y, cl_mem dy, cl_mem dx, cl_mem dw, cl_mem db,
                         cnn_error *err);

/* The tuner's candidates for each of a layer's three sites, and how each
 * sets the tiles: forward (pixels, blocks or gemm, or winograd), data
 * (data_pixels, data_blocks or data_gemm, or data_winograd, data_rows and
 * data_blocks) and weights (taps and chunks, or weights_gemm and
 * gemm_chunk; only the chunks change the arithmetic). The GEMM
 * variants are TUNE_NOT_CPU; the forward and data ones sum in the order of
 * the others, so they share their key. Each table's count is beside it. */
extern const tune_variant conv_forward_variants[], conv_data_variants[],
    conv_weights_variants[];
extern const int conv_forward_variant_count, conv_data_variant_count,
    conv_weights_variant_count;

/* Whether site `site`'s variant `index` can run a layer of c input
 * channels, oc output channels, a k x k kernel and that stride: Winograd's
 * forward takes 3 x 3 at stride 1 and up to 64 input channels, its
 * backward-data up to 64 output channels (conv_create refuses them
 * elsewhere, and a layer offers the tuner only the variants that apply). */
int conv_variant_applies(int site, int index, int c, int oc, int k, int stride);

/* The tiles of `base` with the field(s) of site `site` (0 forward, 1
 * data, 2 weights) taken from that site's variant `index`. */
conv_tiles conv_tiles_with(conv_tiles base, int site, int index);

/* The -D options site `site`'s kernel is built with for a row's tiles:
 * what conv_create builds it with, and the tuner hashes. */
void conv_options(int site, const int *tiles, char *buf, size_t size);

#endif
