/* api/model: the library's model handle (cnn_cl_model) — a network loaded
 * from a checkpoint or an ONNX model on one device, for inference, with
 * the host buffers predict fills. */
#ifndef API_MODEL_H
#define API_MODEL_H

#include <stdint.h>

#include "cnn_cl.h"
#include "parallel/replicas.h"
#include "train/checkpoint.h"
#include "tune/tuner.h"

/* Images per forward pass: inference has no backward pass to hold, so it
 * takes large batches (eval and predict alike). */
#define API_MODEL_BATCH 256

struct cnn_cl_model {
    replicas rep;        /* one device: one worker (trainer_evaluate) */
    checkpoint_meta meta;
    tuner tune;
    float *images;       /* API_MODEL_BATCH inputs, scaled and normalised */
    int32_t *labels;     /* API_MODEL_BATCH zeros: the forward pass reads none */
    int onnx;            /* imported from ONNX: no training history */
};

/* The network inference runs: the model's one worker. */
network *api_model_network(cnn_cl_model *m);

#endif
