/* api/devices: the library's device handle (cnn_cl_device) — an index
 * checked against the device list and the settings every network built for
 * it takes: the dense layers' GEMM, a kernel folder, the log. */
#ifndef API_DEVICES_H
#define API_DEVICES_H

#include <stdio.h>

#include "cnn_cl.h"
#include "tune/tuner.h"

struct cnn_cl_device {
    cnn_cl_device_info info;
    char gemm[16];   /* "": the tuner's choice */
    char *kernels;   /* NULL: the embedded kernels */
    FILE *log;       /* NULL: nowhere */
};

/* The dense layers' GEMM path forced on t: NULL, "" or "auto" leave it to
 * the tuner; "clblast" or "kernel" force that variant of the kind "fc".
 * Any other path is CNN_ERR_INPUT, "unknown GEMM path 'P'; use auto,
 * clblast or kernel", for the caller to say where it came from. */
cnn_status api_force_gemm(tuner *t, const char *path, cnn_error *err);

/* A quick tuner for networks on dev (tuner.h): its GEMM forced, its
 * progress lines to dev's log. */
cnn_status api_device_tuner(const cnn_cl_device *dev, tuner *t, cnn_error *err);

#endif
