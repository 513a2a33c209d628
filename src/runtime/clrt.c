/* clrt.c: opening a device — context, profiling queue, the one program —
 * and the small checked helpers the layers use to move data and launch. */
#include "runtime/clrt.h"

#include <clblast_c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* OpenCL C 1.2 everywhere; no fast-math, so results stay reproducible. -w:
 * a compiler's warnings are for this project's developers, not for a user's
 * terminal, where PoCL printed "8 warnings generated." at each first build
 * (unroll requests a kernel's general-K path cannot honour); a failed build
 * still reports its log. */
#define BUILD_OPTIONS "-cl-std=CL1.2 -w"

static cnn_status out_of_range(int index, const clrt_device *devs, int n,
                               cnn_error *err)
{
    char list[1536] = "";
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof list; i++) {
        char line[512];
        clrt_device_describe(&devs[i], line, sizeof line);
        used += (size_t)snprintf(list + used, sizeof list - used, "\n  %s", line);
    }
    return cnn_fail(err, CNN_ERR_INPUT,
                    "--device %d is out of range; valid devices:%s", index, list);
}

cnn_status clrt_device_get(int index, clrt_device *out, cnn_error *err)
{
    clrt_device *devs;
    int n;
    cnn_status st = clrt_devices(&devs, &n, err);
    if (st)
        return st;
    if (index < 0 || index >= n)
        st = out_of_range(index, devs, n, err);
    else
        *out = devs[index];
    free(devs);
    return st;
}

/* The second queue, and whether it holds commands enqueued since the last
 * join. */
struct clrt_side {
    cl_command_queue queue;
    int pending;
};

struct clrt_builds {
    char *kernels;  /* the folder the source is read from; NULL: embedded */
    char *source;   /* the kernels' source, as rt->program was built from it */
    struct clrt_built {
        char *file;     /* one kernel file's program, or NULL: all of them */
        char *options;
        cl_program program;
    } *programs;
    int count;
};

cnn_status clrt_open(clrt *rt, int index, const char *kernels, cnn_error *err)
{
    memset(rt, 0, sizeof *rt);
    cnn_status st = clrt_device_get(index, &rt->dev, err);
    if (st)
        return st;

    cl_int rc;
    cl_context_properties props[] = {
        CL_CONTEXT_PLATFORM, (cl_context_properties)rt->dev.platform, 0};
    rt->context = clCreateContext(props, 1, &rt->dev.device, NULL, NULL, &rc);
    if (rc != CL_SUCCESS)
        return clrt_fail(err, "clCreateContext", rc);
    if (!(rt->side = calloc(1, sizeof *rt->side))) {
        clrt_close(rt);
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    }
    cl_command_queue *queues[] = {&rt->queue, &rt->side->queue};
    for (size_t q = 0; q < sizeof queues / sizeof *queues; q++) {
        *queues[q] = clCreateCommandQueue(rt->context, rt->dev.device,
                                          CL_QUEUE_PROFILING_ENABLE, &rc);
        if (rc != CL_SUCCESS) {
            clrt_close(rt);
            return clrt_fail(err, "clCreateCommandQueue", rc);
        }
    }
    rt->builds = calloc(1, sizeof *rt->builds);
    if (!rt->builds || (kernels && !(rt->builds->kernels = strdup(kernels))))
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (st == CNN_OK)
        st = clrt_kernel_source(kernels, &rt->builds->source, err);
    if (st == CNN_OK) {
        const char *src = rt->builds->source;
        rt->dev.kernels_crc = (uint32_t)crc32_z(0, (const Bytef *)src, strlen(src));
        st = clrt_build(rt, src, NULL, &rt->program, err);
    }
    if (st)
        clrt_close(rt);
    return st;
}

void clrt_close(clrt *rt)
{
    /* CLBlast keeps the programs it built for the dense layers until told:
     * released here, with their context, not by its destructors at exit,
     * where an OpenCL call corrupts Oclgrind's heap (its thread-local state
     * is freed by then). */
    CLBlastClearCache();
    clrt_builds *b = rt->builds;
    for (int i = 0; b && i < b->count; i++) {
        clReleaseProgram(b->programs[i].program);
        free(b->programs[i].options);
        free(b->programs[i].file);
    }
    if (b) {
        free(b->programs);
        free(b->source);
        free(b->kernels);
        free(b);
    }
    if (rt->program)
        clReleaseProgram(rt->program);
    if (rt->side && rt->side->queue)
        clReleaseCommandQueue(rt->side->queue);
    free(rt->side);
    rt->side = NULL;
    if (rt->queue)
        clReleaseCommandQueue(rt->queue);
    if (rt->context)
        clReleaseContext(rt->context);
    rt->builds = NULL;
    rt->program = NULL;
    rt->queue = NULL;
    rt->context = NULL;
}

cnn_status clrt_build(const clrt *rt, const char *source, const char *options,
                      cl_program *out, cnn_error *err)
{
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(rt->context, 1, &source, NULL, &rc);
    if (rc != CL_SUCCESS)
        return clrt_fail(err, "clCreateProgramWithSource", rc);
    char opts[512];
    if ((size_t)snprintf(opts, sizeof opts, "%s %s", BUILD_OPTIONS,
                         options ? options : "") >= sizeof opts) {
        clReleaseProgram(prog);
        return cnn_fail(err, CNN_ERR_RUNTIME, "build options '%s' are longer than "
                        "%zu bytes", options, sizeof opts - sizeof BUILD_OPTIONS - 1);
    }
    rc = clBuildProgram(prog, 1, &rt->dev.device, opts, NULL, NULL);
    if (rc != CL_SUCCESS) {
        size_t n = 0;
        char *log = NULL;
        if (clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG,
                                  0, NULL, &n) == CL_SUCCESS &&
            (log = calloc(n + 1, 1)) != NULL)
            clGetProgramBuildInfo(prog, rt->dev.device, CL_PROGRAM_BUILD_LOG,
                                  n, log, NULL);
        clReleaseProgram(prog);
        clrt_fail(err, "clBuildProgram", rc);
        char call[sizeof err->msg];
        snprintf(call, sizeof call, "%s", err ? err->msg : "");
        cnn_fail(err, CNN_ERR_RUNTIME, "%s\nbuild log for %s:\n%s", call,
                 rt->dev.name, log && *log ? log : "(empty)");
        free(log);
        return CNN_ERR_RUNTIME;
    }
    *out = prog;
    return CNN_OK;
}

static cnn_status kernel_of(cl_program program, const char *name, cl_kernel *out,
                            cnn_error *err)
{
    cl_int rc;
    *out = clCreateKernel(program, name, &rc);
    if (rc != CL_SUCCESS) {
        clrt_fail(err, "clCreateKernel", rc);
        return cnn_fail_context(err, "kernel %s", name);
    }
    return CNN_OK;
}

cnn_status clrt_kernel(const clrt *rt, const char *name, cl_kernel *out,
                       cnn_error *err)
{
    return kernel_of(rt->program, name, out, err);
}

/* The program of the source built with `options`, building it the first
 * time those options are asked for. */
static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The program of `file` (NULL: every file) built with `options`, built on
 * first use. */
static cnn_status program_built(const clrt *rt, const char *file, const char *options,
                                cl_program *out, cnn_error *err)
{
    if (!file && (!options || !*options)) {
        *out = rt->program;
        return CNN_OK;
    }
    if (!options)
        options = "";
    clrt_builds *b = rt->builds;
    for (int i = 0; i < b->count; i++)
        if (same(b->programs[i].file, file) && !strcmp(b->programs[i].options, options)) {
            *out = b->programs[i].program;
            return CNN_OK;
        }
    struct clrt_built *grown = realloc(b->programs, (size_t)(b->count + 1) * sizeof *grown);
    if (!grown)
        return cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    b->programs = grown;
    struct clrt_built *p = &b->programs[b->count];
    *p = (struct clrt_built){0};
    char *source = b->source;
    cnn_status st = CNN_OK;
    if (!(p->options = strdup(options)) || (file && !(p->file = strdup(file))))
        st = cnn_fail(err, CNN_ERR_RUNTIME, "out of host memory");
    if (!st && file)
        st = clrt_kernel_file_source(b->kernels, file, &source, err);
    if (!st && clrt_build(rt, source, options, &p->program, err))
        st = cnn_fail_context(err, "kernels%s%s built with '%s'", file ? " of " : "",
                              file ? file : "", options);
    if (source != b->source)
        free(source);
    if (st) {
        free(p->options);
        free(p->file);
        return st;
    }
    b->count++;
    *out = p->program;
    return CNN_OK;
}

cnn_status clrt_kernels_from(const clrt *rt, const char *file, const char *options,
                             int count, const char *const *names,
                             cl_kernel *const *out, cnn_error *err)
{
    cl_program program = NULL;
    cnn_status st = program_built(rt, file, options, &program, err);
    if (st)
        return st;
    for (int i = 0; i < count; i++)
        if ((st = kernel_of(program, names[i], out[i], err))) {
            while (i-- > 0)
                clrt_release_kernel(out[i]);
            return st;
        }
    return CNN_OK;
}

cnn_status clrt_kernels_built(const clrt *rt, const char *options, int count,
                              const char *const *names, cl_kernel *const *out,
                              cnn_error *err)
{
    return clrt_kernels_from(rt, NULL, options, count, names, out, err);
}

cnn_status clrt_kernels(const clrt *rt, int count, const char *const *names,
                        cl_kernel *const *out, cnn_error *err)
{
    return clrt_kernels_built(rt, NULL, count, names, out, err);
}

void clrt_release_kernel(cl_kernel *k)
{
    if (*k)
        clReleaseKernel(*k);
    *k = NULL;
}

void clrt_release_mem(cl_mem *m)
{
    if (*m)
        clReleaseMemObject(*m);
    *m = NULL;
}

cnn_status clrt_buffer(const clrt *rt, size_t bytes, cl_mem *out,
                       cnn_error *err)
{
    const clrt_device *d = &rt->dev;
    *out = NULL;
    if (bytes > d->max_alloc)
        return cnn_fail(err, CNN_ERR_RUNTIME, "allocating %zu bytes: more than the %llu "
                        "bytes the device allows in one buffer (%llu bytes in all); try "
                        "a smaller --batch or network, or another --device (see `cnn-cl "
                        "devices`)", bytes, (unsigned long long)d->max_alloc,
                        (unsigned long long)d->global_mem);
    cl_int rc;
    *out = clCreateBuffer(rt->context, CL_MEM_READ_WRITE, bytes ? bytes : 4,
                          NULL, &rc);
    if (rc != CL_SUCCESS) {
        clrt_fail(err, "clCreateBuffer", rc);
        return cnn_fail_context(err, "allocating %zu bytes (the device allows %llu in "
                                "one buffer, %llu in all)", bytes,
                                (unsigned long long)d->max_alloc,
                                (unsigned long long)d->global_mem);
    }
    return CNN_OK;
}

size_t clrt_align(const clrt *rt)
{
    size_t bytes = rt->dev.base_align_bits / 8;
    return bytes < 64 ? 64 : bytes;
}

cnn_status clrt_sub_buffer(cl_mem parent, size_t offset,
                           size_t bytes, cl_mem *out, cnn_error *err)
{
    cl_buffer_region region = {offset, bytes};
    cl_int rc;
    *out = clCreateSubBuffer(parent, CL_MEM_READ_WRITE,
                             CL_BUFFER_CREATE_TYPE_REGION, &region, &rc);
    if (rc != CL_SUCCESS) {
        clrt_fail(err, "clCreateSubBuffer", rc);
        return cnn_fail_context(err, "bytes %zu..%zu", offset, offset + bytes);
    }
    return CNN_OK;
}

cnn_status clrt_write(const clrt *rt, cl_mem buf, const void *src,
                      size_t bytes, cnn_error *err)
{
    CLRT_CALL(err, clEnqueueWriteBuffer,
              (rt->queue, buf, CL_TRUE, 0, bytes, src, 0, NULL, NULL));
    return CNN_OK;
}

cnn_status clrt_read(const clrt *rt, cl_mem buf, void *dst, size_t bytes,
                     cnn_error *err)
{
    CLRT_CALL(err, clEnqueueReadBuffer,
              (rt->queue, buf, CL_TRUE, 0, bytes, dst, 0, NULL, NULL));
    return CNN_OK;
}

cnn_status clrt_set_args(cl_kernel k, cnn_error *err, int nargs, ...)
{
    va_list ap;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) {
        size_t size = va_arg(ap, size_t);
        const void *value = va_arg(ap, const void *);
        cl_int rc = clSetKernelArg(k, (cl_uint)i, size, value);
        if (rc != CL_SUCCESS) {
            va_end(ap);
            clrt_fail(err, "clSetKernelArg", rc);
            return cnn_fail_context(err, "argument %d", i);
        }
    }
    va_end(ap);
    return CNN_OK;
}

cnn_status clrt_work_group(const clrt *rt, const cl_kernel *k, int n, size_t start,
                           size_t *out, cnn_error *err)
{
    *out = start;
    for (int i = 0; i < n; i++) {
        size_t most;
        CLRT_CALL(err, clGetKernelWorkGroupInfo, (k[i], rt->dev.device,
                                                  CL_KERNEL_WORK_GROUP_SIZE, sizeof most,
                                                  &most, NULL));
        while (*out > most && *out > 1)
            *out /= 2;
    }
    return CNN_OK;
}

cnn_status clrt_kernel_fits(const clrt *rt, cl_kernel k, const char *name, size_t items,
                            cnn_error *err)
{
    size_t most;
    cl_ulong used, have;
    CLRT_CALL(err, clGetKernelWorkGroupInfo, (k, rt->dev.device, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof most, &most, NULL));
    CLRT_CALL(err, clGetKernelWorkGroupInfo, (k, rt->dev.device, CL_KERNEL_LOCAL_MEM_SIZE,
                                              sizeof used, &used, NULL));
    CLRT_CALL(err, clGetDeviceInfo, (rt->dev.device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof have,
                                     &have, NULL));
    if (most < items)
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s runs in work-groups of %zu work-items, "
                        "and %s allows %zu for it: choose another variant (--variants)",
                        name, items, rt->dev.name, most);
    if (used > have)
        return cnn_fail(err, CNN_ERR_RUNTIME, "%s needs %llu bytes of local memory, and %s "
                        "has %llu: choose another variant (--variants)", name,
                        (unsigned long long)used, rt->dev.name, (unsigned long long)have);
    return CNN_OK;
}

/* clrt_launch on queue q, after `after` where it is not NULL. */
static cnn_status launch_on(const clrt *rt, cl_command_queue q, cl_kernel k, cl_uint dims,
                            const size_t *global, const size_t *local, cl_event after,
                            cl_event *event, cnn_error *err)
{
    size_t g[3];
    for (cl_uint d = 0; d < dims; d++) {
        g[d] = global[d];
        if (local && g[d] % local[d])
            g[d] += local[d] - g[d] % local[d];
    }
    cl_event recorded = NULL;
    if (rt->profile && !event)
        event = &recorded;
    CLRT_CALL(err, clEnqueueNDRangeKernel,
              (q, k, dims, NULL, g, local, after ? 1 : 0, after ? &after : NULL, event));
    if (recorded)
        return clrt_profile_record(rt, k, recorded, err);
    return CNN_OK;
}

cnn_status clrt_launch(const clrt *rt, cl_kernel k, cl_uint dims,
                       const size_t *global, const size_t *local,
                       cl_event *event, cnn_error *err)
{
    return launch_on(rt, rt->queue, k, dims, global, local, NULL, event, err);
}

cnn_status clrt_fork(const clrt *rt, cl_event *ready, cnn_error *err)
{
    *ready = NULL;
    if (rt->profile)
        return CNN_OK;
    CLRT_CALL(err, clEnqueueMarkerWithWaitList, (rt->queue, 0, NULL, ready));
    /* another queue waits on it: the spec asks its queue be flushed */
    cl_int rc = clFlush(rt->queue);
    if (rc == CL_SUCCESS)
        return CNN_OK;
    clReleaseEvent(*ready);
    *ready = NULL;
    return clrt_fail(err, "clFlush", rc);
}

cnn_status clrt_launch_beside(const clrt *rt, cl_kernel k, cl_uint dims,
                              const size_t *global, const size_t *local, cl_event after,
                              cnn_error *err)
{
    if (rt->profile)
        return launch_on(rt, rt->queue, k, dims, global, local, NULL, NULL, err);
    rt->side->pending = 1;
    return launch_on(rt, rt->side->queue, k, dims, global, local, after, NULL, err);
}

cnn_status clrt_join(const clrt *rt, cnn_error *err)
{
    if (!rt->side->pending) /* set only by launches beside, never while profiling */
        return CNN_OK;
    rt->side->pending = 0;
    cl_event done;
    CLRT_CALL(err, clEnqueueMarkerWithWaitList, (rt->side->queue, 0, NULL, &done));
    cl_int rc = clFlush(rt->side->queue);
    const char *call = "clFlush";
    if (rc == CL_SUCCESS) {
        rc = clEnqueueBarrierWithWaitList(rt->queue, 1, &done, NULL);
        call = "clEnqueueBarrierWithWaitList";
    }
    clReleaseEvent(done);
    return rc == CL_SUCCESS ? CNN_OK : clrt_fail(err, call, rc);
}
