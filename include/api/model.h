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

struct cnn_cl_model {
    replicas rep;        /* one device: one worker (trainer_evaluate) */
    checkpoint_meta meta;
    tuner tune;
    float *images;       /* a batch of inputs (the network's max_batch), scaled
                            and normalised */
    int32_t *labels;     /* a batch of zeros: the forward pass reads none */
    int onnx;            /* imported from ONNX: no training history */
};

/* The network inference runs: the model's one worker. */
network *api_model_network(cnn_cl_model *m);

#endif
