/* checkpoint: a network's full training state as a safetensors file.
 *
 * Tensors: every parameter under its network name ("conv1.weight", PyTorch
 * layout), and the optimizer's state of the trainable ones under its own
 * prefix, "<optimizer>.<state>.<name>" ("adam.m.conv1.weight",
 * "sgd.momentum.fc1.bias"; optim.h's table names each rule's). __metadata__
 * holds the arch spec, the data's shape, the position in training (epoch,
 * batch within it, optimizer step), the seed, the optimizer and its
 * hyperparameters (a file without them trained with Adam's defaults) and
 * the other settings a resumed run must keep (the schedule and the epochs
 * it spans, the validation split, the best epoch so far and the
 * early-stopping patience among them; the input statistics of --normalize,
 * whose absence means inputs x / 255), among them the kernel
 * variants that computed the weights (tuner.h), so resuming continues
 * bit-exactly. Version 1 files, which name one dense GEMM path ("gemm")
 * instead, still load.
 *
 * Every tensor's CRC-32 is in the metadata too (safetensors.h); loading
 * checks each tensor it reads against it. A file without checksums (an older
 * cnn-cl's, or rewritten by another tool) loads unchecked, and its
 * checkpoint_meta.note says so for the command line to print.
 *
 * Where a model is read for inference or fine-tuning (checkpoint_read_arch,
 * checkpoint_init_spec, checkpoint_load_weights, checkpoint_open_replicas),
 * a path that onnx_import_is names (FILE.onnx) is an ONNX model instead,
 * imported (onnx_import.h): its arch, input, classes and input statistics
 * fill the metadata (the rest is zero), and its tensors load by name as a
 * checkpoint's do. */
#ifndef CHECKPOINT_H
#define CHECKPOINT_H

#include <stdint.h>

#include "data/normalize.h"
#include "nn/network.h"
#include "parallel/replicas.h"
#include "train/safetensors.h"
#include "train/stopping.h"

#define CHECKPOINT_FORMAT_VERSION 2

typedef struct {
    char arch[1024];
    arch_shape input;
    int classes;
    long epoch;          /* epochs completed */
    long batch;          /* batches done of epoch `epoch` (0 at a boundary) */
    long step;           /* optimizer steps taken */
    uint64_t seed;
    long samples;        /* training samples per epoch */
    int batch_size;
    float lr;
    optim_config optim;  /* read only: the optimizer and its hyperparameters
                            (its lr is `lr`); saving writes the network's */
    /* tuner_arithmetic's record: how the weights were computed
     * ("fc1=kernel;fc2=kernel"); from a version 1 file, "fc=<its gemm>" */
    char variants[TUNER_RECORD_SIZE];
    char schedule[64];   /* --lr-schedule's text (schedule_text) */
    long warmup;         /* --warmup steps */
    long epochs;         /* the epochs the run was planned for (--epochs) */
    float label_smoothing;
    double validation_split; /* the fraction held out (holdout.h); 0: none,
                            the test set validates */
    stopping stop;       /* the best epoch so far and the patience; a file
                            without them: none yet, patience 0 */
    norm_stats norm;     /* "normalize_mean", "normalize_std": channels 0
                            when the file has neither */
    char augment[128];   /* --augment's text (augment_text); "none" */
    double loss_sum, correct, seconds; /* the partial epoch's running totals */
    char note[512];      /* read only: one line for the user ("FILE has no
                            checksums ..."), or "" */
} checkpoint_meta;

/* Writes the network's parameters, its optimizer's state and settings, and
 * `meta` atomically.
 * Waits for the device. */
cnn_status checkpoint_save(const char *path, network *net,
                           const checkpoint_meta *meta, cnn_error *err);

/* Reads and checks the metadata of a checkpoint, so the caller can build the
 * network it describes. Sets meta->note when the file has no checksums. */
cnn_status checkpoint_read_meta(const char *path, checkpoint_meta *meta,
                                cnn_error *err);

/* checkpoint_read_meta, and the arch the checkpoint describes, parsed
 * (arch.h); an arch that does not parse is CNN_ERR_INPUT naming the file.
 * Needs no device: for building the network, and for export. */
cnn_status checkpoint_read_arch(const char *path, checkpoint_meta *meta, arch *a,
                                cnn_error *err);

/* Reads tensor `name` of a checkpoint's header h (st_read_header) into out:
 * it must be there as F32 of shape[0 .. ndim), and its bytes must match
 * their CRC-32; otherwise CNN_ERR_INPUT naming the file and the tensor. */
cnn_status checkpoint_read_tensor(const st_header *h, const char *name, int ndim,
                                  const int *shape, float *out, cnn_error *err);

/* Loads parameters (and, with state set, the optimizer's state and step)
 * into net; the file's optimizer must then be net's.
 * Every tensor's name, dtype, shape and byte range is checked against the
 * network, and its bytes against their CRC-32; a mismatch is CNN_ERR_INPUT
 * naming the file and the tensor. */
cnn_status checkpoint_load(const char *path, network *net, int state,
                           cnn_error *err);

/* Fine-tuning (--init): the arch a cnn-cl checkpoint at path was trained
 * as into spec (size bytes), or "" for a safetensors file another tool
 * wrote (PyTorch's), which records none. */
cnn_status checkpoint_init_spec(const char *path, char *spec, size_t size,
                                cnn_error *err);

/* Loads every parameter tensor of net (the moving statistics included) by
 * name from a cnn-cl checkpoint or another tool's safetensors file, and
 * nothing else: the optimizer starts afresh. Tensors the network lacks (an
 * optimizer's state, PyTorch's num_batches_tracked) are passed over. A
 * cnn-cl checkpoint of another arch, a missing tensor, or one of another
 * dtype or shape is CNN_ERR_INPUT naming it. */
cnn_status checkpoint_load_weights(const char *path, network *net, cnn_error *err);

/* Builds the network a checkpoint describes on the opened workers r
 * (replicas_create), for whole batches of up to `batch`, every device
 * loading its weights (not the optimizer's state): for eval and predict
 * (trainer_evaluate, network_probabilities on r->net[0]). Inference needs
 * no bit-exact match, so the layers' variants are tune's choices, whatever
 * the checkpoint recorded. On failure, replicas_close releases what was
 * built. */
cnn_status checkpoint_open_replicas(const char *path, replicas *r, int batch,
                                    tuner *tune, checkpoint_meta *meta, cnn_error *err);

#endif
