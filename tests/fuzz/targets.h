/* targets: the parsers' fuzz targets, shared by the libFuzzer harnesses
 * (harness.c, built with -Dfuzz=true) and by the corpus test that the
 * default suite runs on the seeds and saved regressions.
 *
 * Each target hands its bytes to one parser's public entry point as a file,
 * then checks what the parser promised about what it accepted (a byte range
 * it validated can be read, a shape it worked out is positive, ...). A
 * broken promise aborts. The target returns the parser's status: CNN_OK or
 * CNN_ERR_INPUT for any input; CNN_ERR_RUNTIME only when the harness itself
 * could not write its files. */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

#include "util/cnn_error.h"

typedef cnn_status (*fuzz_target)(const uint8_t *data, size_t size);

/* IDX images and labels (idx_open, then the label scan), raw; input that is
 * not gzip is also gzip-compressed and must parse the same through the
 * decompressing path. */
cnn_status fuzz_idx(const uint8_t *data, size_t size);
/* The bytes as all six batch files of a CIFAR-10 folder
 * (dataset_format_cifar.open). */
cnn_status fuzz_cifar(const uint8_t *data, size_t size);
/* A safetensors file: st_read_header, every F32 tensor read, then the
 * checkpoint metadata (checkpoint_read_meta) and its arch spec. */
cnn_status fuzz_safetensors(const uint8_t *data, size_t size);
/* An ONNX model (onnx_import_read): its arch checked, every tensor of
 * its layers read at the declared shape. */
cnn_status fuzz_onnx(const uint8_t *data, size_t size);
/* A PGM or PPM (pnm_read) asked for at a few channel counts and sizes. */
cnn_status fuzz_pnm(const uint8_t *data, size_t size);
/* An arch spec (arch_parse) for a few input shapes and class counts. */
cnn_status fuzz_arch(const uint8_t *data, size_t size);
/* A metrics log (metrics_log_read), plotted as `plot` does when it holds
 * rows, and written back and read again. */
cnn_status fuzz_metrics(const uint8_t *data, size_t size);

typedef struct {
    const char *name; /* the harness and its corpus folder, tests/fuzz/<name> */
    fuzz_target run;
} fuzz_entry;

extern const fuzz_entry fuzz_targets[];
extern const int fuzz_target_count;

#endif
