/* device.c: the flat device index across all OpenCL platforms. */
#include "runtime/clrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_PLATFORM_HINT                                                   \
    "no OpenCL platform found. Install an OpenCL driver (ICD): for the "   \
    "CPU, `apt-get install pocl-opencl-icd`; for a GPU, its vendor's "     \
    "OpenCL driver. `clinfo -l` shows what the loader sees."

const char *clrt_device_type_name(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU)
        return "GPU";
    if (type & CL_DEVICE_TYPE_CPU)
        return "CPU";
    if (type & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    return "other";
}

int clrt_device_is_cpu(const clrt_device *d)
{
    return (d->type & CL_DEVICE_TYPE_CPU) && !(d->type & CL_DEVICE_TYPE_GPU);
}

static int has_extension(cl_device_id dev, const char *ext)
{
    size_t n = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &n) != CL_SUCCESS)
        return 0;
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    int found = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, n, s, NULL) == CL_SUCCESS) {
        s[n] = '\0';
        size_t len = strlen(ext);
        for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext))
            if ((p == s || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
                found = 1;
    }
    free(s);
    return found;
}

static cnn_status describe(clrt_device *d, cnn_error *err)
{
    CLRT_CALL(err, clGetPlatformInfo, (d->platform, CL_PLATFORM_NAME,
              sizeof d->platform_name, d->platform_name, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_NAME,
              sizeof d->name, d->name, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_TYPE,
              sizeof d->type, &d->type, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_MAX_COMPUTE_UNITS,
              sizeof d->compute_units, &d->compute_units, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_GLOBAL_MEM_SIZE,
              sizeof d->global_mem, &d->global_mem, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE,
              sizeof d->max_alloc, &d->max_alloc, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE,
              sizeof d->max_work_group, &d->max_work_group, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_OPENCL_C_VERSION,
              sizeof d->opencl_c_version, d->opencl_c_version, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DRIVER_VERSION,
              sizeof d->driver_version, d->driver_version, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (d->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN,
              sizeof d->base_align_bits, &d->base_align_bits, NULL));
    d->fp16 = has_extension(d->device, "cl_khr_fp16");
    d->fp64 = has_extension(d->device, "cl_khr_fp64");
    return CNN_OK;
}

cnn_status clrt_devices(clrt_device **out, int *count, cnn_error *err)
{
    *out = NULL;
    *count = 0;
    cl_uint nplat = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &nplat);
    if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (rc == CL_SUCCESS && nplat == 0))
        return cnn_fail(err, CNN_ERR_RUNTIME, NO_PLATFORM_HINT);
    if (rc != CL_SUCCESS)
        return clrt_fail(err, "clGetPlatformIDs", rc);

    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    clrt_device *devs = NULL;
    int n = 0;
    cnn_status st = CNN_OK;
    rc = clGetPlatformIDs(nplat, plats, NULL);
    if (rc != CL_SUCCESS) {
        st = clrt_fail(err, "clGetPlatformIDs", rc);
        goto done;
    }
    for (cl_uint p = 0; p < nplat && st == CNN_OK; p++) {
        cl_uint ndev = 0;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev);
        if (rc == CL_DEVICE_NOT_FOUND || ndev == 0)
            continue; /* a platform without devices is not an error */
        if (rc != CL_SUCCESS) {
            st = clrt_fail(err, "clGetDeviceIDs", rc);
            break;
        }
        cl_device_id *ids = calloc(ndev, sizeof *ids);
        clrt_device *grown = realloc(devs, (size_t)(n + (int)ndev) * sizeof *devs);
        if (!ids || !grown) {
            free(ids);
            st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
            break;
        }
        devs = grown;
        rc = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, ids, NULL);
        if (rc != CL_SUCCESS)
            st = clrt_fail(err, "clGetDeviceIDs", rc);
        for (cl_uint i = 0; i < ndev && st == CNN_OK; i++) {
            clrt_device *d = &devs[n];
            memset(d, 0, sizeof *d);
            d->index = n;
            d->platform = plats[p];
            d->device = ids[i];
            st = describe(d, err);
            n++;
        }
        free(ids);
    }
    if (st == CNN_OK && n == 0)
        st = cnn_fail(err, CNN_ERR_RUNTIME, NO_PLATFORM_HINT);
done:
    free(plats);
    if (st != CNN_OK) {
        free(devs);
        return st;
    }
    *out = devs;
    *count = n;
    return CNN_OK;
}

void clrt_device_describe(const clrt_device *d, char *buf, size_t size)
{
    snprintf(buf, size,
             "%d: %s | %s | %s | %u compute units | %.1f GiB | "
             "work-group %zu | %s | fp16 %s | fp64 %s",
             d->index, d->platform_name, d->name,
             clrt_device_type_name(d->type), d->compute_units,
             (double)d->global_mem / (1024.0 * 1024.0 * 1024.0),
             d->max_work_group, d->opencl_c_version, d->fp16 ? "yes" : "no",
             d->fp64 ? "yes" : "no");
}
