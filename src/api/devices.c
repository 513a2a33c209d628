/* devices.c: listing OpenCL devices and the device handle (cnn_cl.h,
 * api/devices.h). */
#include "api/devices.h"

#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "runtime/clrt.h"

static void describe(const clrt_device *d, cnn_cl_device_info *out)
{
    memset(out, 0, sizeof *out);
    out->index = d->index;
    snprintf(out->platform, sizeof out->platform, "%s", d->platform_name);
    snprintf(out->name, sizeof out->name, "%s", d->name);
    snprintf(out->type, sizeof out->type, "%s", clrt_device_type_name(d->type));
    out->compute_units = d->compute_units;
    out->global_memory = d->global_mem;
    out->max_work_group = d->max_work_group;
    snprintf(out->opencl_c_version, sizeof out->opencl_c_version, "%s",
             d->opencl_c_version);
    out->fp16 = d->fp16;
    out->fp64 = d->fp64;
}

cnn_cl_status cnn_cl_devices(cnn_cl_device_info **list, int *count, cnn_cl_error *err)
{
    cnn_error e = {0};
    clrt_device *devs;
    int n;
    if (!list || !count)
        return api_status(err, api_null(&e, "cnn_cl_devices", list ? "count" : "list"), &e);
    *list = NULL;
    *count = 0;
    cnn_status st = clrt_devices(&devs, &n, &e);
    if (st)
        return api_status(err, st, &e);
    cnn_cl_device_info *out = calloc((size_t)n + 1, sizeof *out);
    if (!out)
        st = cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory");
    for (int i = 0; out && i < n; i++)
        describe(&devs[i], &out[i]);
    free(devs);
    if (out) {
        *list = out;
        *count = n;
    }
    return api_status(err, st, &e);
}

void cnn_cl_devices_free(cnn_cl_device_info *list)
{
    free(list);
}

cnn_cl_status cnn_cl_device_open(int index, cnn_cl_device **out, cnn_cl_error *err)
{
    cnn_error e = {0};
    if (!out)
        return api_status(err, api_null(&e, "cnn_cl_device_open", "out"), &e);
    *out = NULL;
    clrt_device d;
    cnn_status st = clrt_device_get(index, &d, &e);
    if (st)
        return api_status(err, st, &e);
    cnn_cl_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return api_status(err, cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory"), &e);
    describe(&d, &dev->info);
    *out = dev;
    return api_status(err, CNN_OK, &e);
}

void cnn_cl_device_close(cnn_cl_device *dev)
{
    if (!dev)
        return;
    free(dev->kernels);
    free(dev);
}

const cnn_cl_device_info *cnn_cl_device_get_info(const cnn_cl_device *dev)
{
    return &dev->info;
}

cnn_status api_force_gemm(tuner *t, const char *path, cnn_error *err)
{
    char rule[64];
    if (!path || !*path || !strcmp(path, "auto"))
        return CNN_OK;
    if (strcmp(path, "clblast") && strcmp(path, "kernel"))
        return cnn_fail(err, CNN_ERR_INPUT, "unknown GEMM path '%s'; use auto, clblast or "
                        "kernel", path);
    /* Each path is a variant of the dense layers' kind, by the same name. */
    snprintf(rule, sizeof rule, "fc=%s", path);
    return tuner_force(t, rule, err);
}

cnn_cl_status cnn_cl_device_set_gemm(cnn_cl_device *dev, const char *path,
                                     cnn_cl_error *err)
{
    cnn_error e = {0};
    tuner check;
    tuner_init(&check);
    cnn_status st = api_force_gemm(&check, path, &e);
    if (st == CNN_OK)
        snprintf(dev->gemm, sizeof dev->gemm, "%s", path ? path : "");
    return api_status(err, st, &e);
}

cnn_cl_status cnn_cl_device_set_kernels(cnn_cl_device *dev, const char *dir,
                                        cnn_cl_error *err)
{
    cnn_error e = {0};
    char *copy = dir ? strdup(dir) : NULL;
    if (dir && !copy)
        return api_status(err, cnn_fail(&e, CNN_ERR_RUNTIME, "out of host memory"), &e);
    free(dev->kernels);
    dev->kernels = copy;
    return api_status(err, CNN_OK, &e);
}

void cnn_cl_device_set_log(cnn_cl_device *dev, FILE *log)
{
    dev->log = log;
}

cnn_status api_device_tuner(const cnn_cl_device *dev, tuner *t, cnn_error *err)
{
    tuner_init(t);
    t->quick = 1;
    t->progress = dev->log;
    return api_force_gemm(t, dev->gemm, err);
}
