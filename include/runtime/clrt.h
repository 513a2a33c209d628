/* clrt: the OpenCL runtime — devices, context and queue, the program built
 * from the embedded kernels (and the same source built with other -D
 * options, each once), buffers, and error names.
 *
 * It knows nothing of layers. Every OpenCL call goes through CLRT_CALL or an
 * explicit check so a failure names the call, the error and a next step. */
#ifndef CLRT_H
#define CLRT_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/cnn_error.h"

/* The work-group size of the kernels shaped for GPUs (conv_gpu.cl's 16 x 16
 * tiles, the flat ranges of max-pooling and Adam, batch norm's
 * reductions): 8 warps of 32 or 4 wavefronts of 64, which every GPU allows.
 * Kernels that take any size are launched with the most a device allows
 * up to it. */
#define CLRT_WORK_GROUP 256

/* One entry of the flat device index across all platforms. */
typedef struct {
    int index;
    cl_platform_id platform;
    cl_device_id device;
    char platform_name[128];
    char name[128];
    cl_device_type type;
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong max_alloc;      /* CL_DEVICE_MAX_MEM_ALLOC_SIZE: one buffer's most */
    size_t max_work_group;
    char opencl_c_version[64];
    char driver_version[64];
    int fp16;
    int fp64;
    cl_uint base_align_bits; /* CL_DEVICE_MEM_BASE_ADDR_ALIGN */
    uint32_t kernels_crc;    /* clrt_open's: the CRC-32 of the kernels' source
                                it builds, so that what was timed with other
                                kernels is not taken as timed with these */
} clrt_device;

/* Kernel launches recorded for profiling (see clrt_profile_start). */
typedef struct {
    struct clrt_launch_record {
        cl_event event;
        char kernel[64];
        double flop; /* what the launch computed, when its caller said */
    } *launches;
    int count, capacity;
} clrt_profile;

/* The programs built with extra options (clrt_kernels_built). */
typedef struct clrt_builds clrt_builds;

typedef struct {
    clrt_device dev;
    cl_context context;
    cl_command_queue queue; /* in-order, profiling enabled */
    struct clrt_side *side; /* a second queue, for work beside queue's
                               chain (clrt_fork); behind a pointer so a
                               const clrt can note what it holds */
    cl_program program;     /* every embedded kernel, built once */
    clrt_builds *builds;    /* the source again, and its programs by options;
                               behind a pointer so a const clrt can add one */
    clrt_profile *profile;  /* when set, clrt_launch records an event each */
} clrt;

/* The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *clrt_error_name(cl_int code);

/* Fills err with "<call> failed: <NAME> (<code>). <hint>" and returns
 * CNN_ERR_RUNTIME. */
cnn_status clrt_fail(cnn_error *err, const char *call, cl_int code);

/* Checks a call that returns cl_int; on failure returns from the enclosing
 * function with the status. Usage: CLRT_CALL(err, clFinish, (q)); */
#define CLRT_CALL(err, fn, args)                                   \
    do {                                                           \
        cl_int clrt_rc_ = fn args;                                 \
        if (clrt_rc_ != CL_SUCCESS)                                \
            return clrt_fail((err), #fn, clrt_rc_);                \
    } while (0)

/* Every device of every platform, in one flat index. *out is malloc'd.
 * No platform at all is a runtime error that says how to install one. */
cnn_status clrt_devices(clrt_device **out, int *count, cnn_error *err);

/* Opens device `index`: context, profiling queue, and the program of all
 * kernels — the embedded copies, or, when `kernels` names a folder, its .cl
 * files (kernel work without a rebuild; every later build reads it too).
 * An index out of range is CNN_ERR_INPUT with the list of valid devices in
 * the message. */
cnn_status clrt_open(clrt *rt, int index, const char *kernels, cnn_error *err);
void clrt_close(clrt *rt);

/* Builds a program from source for rt's device; a compile failure puts the
 * compiler's build log into the message. */
cnn_status clrt_build(const clrt *rt, const char *source, const char *options,
                      cl_program *out, cnn_error *err);

/* A kernel from rt's program, by function name. */
cnn_status clrt_kernel(const clrt *rt, const char *name, cl_kernel *out,
                       cnn_error *err);

/* Kernels names[i] into *out[i], i < count. On failure the ones it made
 * are released and set to NULL. */
cnn_status clrt_kernels(const clrt *rt, int count, const char *const *names,
                        cl_kernel *const *out, cnn_error *err);

/* As clrt_kernels, from the same source built with extra build `options`
 * ("-DCONV_P=8 -DCONV_T=4"); NULL or "" is rt->program. Each distinct
 * option string is built once per rt, on first use (this waits for the
 * compiler), and kept until clrt_close. A build failure names the options
 * and carries the compiler's log. */
cnn_status clrt_kernels_built(const clrt *rt, const char *options, int count,
                              const char *const *names, cl_kernel *const *out,
                              cnn_error *err);

/* clrt_kernels_built from the program of one kernel file ("conv") alone:
 * a tuner's variants are built this way, since a program of one file
 * compiles in a fraction of the time of all of them. */
cnn_status clrt_kernels_from(const clrt *rt, const char *file, const char *options,
                             int count, const char *const *names,
                             cl_kernel *const *out, cnn_error *err);

/* Release *k (*m) when set, then set it to NULL: safe on a half-built
 * object and when called twice. */
void clrt_release_kernel(cl_kernel *k);
void clrt_release_mem(cl_mem *m);

/* A device buffer of `bytes` bytes. A request above the device's largest
 * buffer is refused without asking the driver; a failure names the bytes
 * asked for and the device's limits. */
cnn_status clrt_buffer(const clrt *rt, size_t bytes, cl_mem *out,
                       cnn_error *err);

/* A view of bytes [offset, offset + bytes) of parent, usable as its own
 * buffer. offset must be a multiple of clrt_align(rt). */
cnn_status clrt_sub_buffer(cl_mem parent, size_t offset,
                           size_t bytes, cl_mem *out, cnn_error *err);

/* The alignment in bytes that sub-buffer offsets need on rt's device. */
size_t clrt_align(const clrt *rt);

/* Checks that `index` names a device and fills *out; an index out of range
 * is CNN_ERR_INPUT listing the valid devices. Cheap: builds nothing. */
cnn_status clrt_device_get(int index, clrt_device *out, cnn_error *err);

/* Blocking host<->device copies (for set-up and tests, not the hot path). */
cnn_status clrt_write(const clrt *rt, cl_mem buf, const void *src,
                      size_t bytes, cnn_error *err);
cnn_status clrt_read(const clrt *rt, cl_mem buf, void *dst, size_t bytes,
                     cnn_error *err);

/* Sets kernel arguments in order; each pair is (size, pointer). Stops at the
 * first failure, naming the argument index. */
cnn_status clrt_set_args(cl_kernel k, cnn_error *err, int nargs, ...);

/* *out: the largest power of two up to `start` (itself one) that each of
 * the n kernels allows in a work-group on rt's device, for kernels written
 * for any work-group size. */
cnn_status clrt_work_group(const clrt *rt, const cl_kernel *k, int n, size_t start,
                           size_t *out, cnn_error *err);

/* Checks that kernel `name` (k) can run on rt's device in work-groups of
 * `items` work-items, and that its local memory fits the device's; else
 * CNN_ERR_RUNTIME naming the limit, which a tuner takes as a variant that
 * cannot run here (skipped with a note) and a forced variant as the
 * reason the run stops. */
cnn_status clrt_kernel_fits(const clrt *rt, cl_kernel k, const char *name, size_t items,
                            cnn_error *err);

/* Enqueues k over `dims` dimensions; global sizes are rounded up to the
 * local size when one is given (local may be NULL). No host sync. */
cnn_status clrt_launch(const clrt *rt, cl_kernel k, cl_uint dims,
                       const size_t *global, const size_t *local,
                       cl_event *event, cnn_error *err);

/* Work beside the queue's chain: a kernel whose results nothing on queue
 * reads until a join (a layer's weight gradient, which only the optimizer
 * reads) runs on a second queue, so that a core the chain leaves idle, at
 * a kernel's tail or between two kernels, takes it up. clrt_fork gives an
 * event that completes once everything enqueued on queue so far has;
 * clrt_launch_beside enqueues k on the second queue after it (after may be
 * NULL: after that queue's own commands only); clrt_join makes queue's
 * later commands wait for every command there, and enqueues nothing when
 * none came since the last join. Nothing on queue may write what a
 * command beside reads, or read what it writes, before the join. Each
 * command keeps its order and its arithmetic: the bits are those of one
 * queue. While profiling, everything runs on queue, so that each kernel's
 * device time is its own; fork gives NULL and join does nothing. */
cnn_status clrt_fork(const clrt *rt, cl_event *ready, cnn_error *err);
cnn_status clrt_launch_beside(const clrt *rt, cl_kernel k, cl_uint dims,
                              const size_t *global, const size_t *local, cl_event after,
                              cnn_error *err);
cnn_status clrt_join(const clrt *rt, cnn_error *err);

/* One line describing d, as `cnn-cl devices` prints it. */
void clrt_device_describe(const clrt_device *d, char *buf, size_t size);

/* Starts recording every clrt_launch into rt->profile (for benchmarks). */
cnn_status clrt_profile_start(clrt *rt, cnn_error *err);

/* Records a launch of k with its event (called by clrt_launch). */
cnn_status clrt_profile_record(const clrt *rt, cl_kernel k, cl_event event,
                               cnn_error *err);

/* Credits the launch just recorded with `flop` floating-point operations
 * (for the benchmark's per-kernel GFLOPS); nothing when not profiling. */
void clrt_profile_flop(const clrt *rt, double flop);

/* One kernel's recorded launches: how many, their summed device time, and
 * the operations credited to them (0 when none were). */
typedef struct {
    char name[64];
    int calls;
    double ms;
    double flop;
} clrt_kernel_time;

/* Waits for the device, then stops recording and hands back what was
 * recorded, one entry per kernel name in the order of their first launch:
 * *times is malloc'd (free it; NULL when nothing was recorded). */
cnn_status clrt_profile_collect(clrt *rt, clrt_kernel_time **times, int *count,
                                cnn_error *err);

/* Human-readable type ("CPU", "GPU", "accelerator"). */
const char *clrt_device_type_name(cl_device_type type);

/* Whether d is a CPU, for the choices that depend on it: its type says CPU
 * and not GPU (Oclgrind's simulator reports every type, and simulates a
 * GPU). */
int clrt_device_is_cpu(const clrt_device *d);

/* The source of all kernels as one string (malloc'd): the embedded copies,
 * or the files of the folder `dir` when it is not NULL. */
cnn_status clrt_kernel_source(const char *dir, char **out, cnn_error *err);

/* The same for one file, by its name without ".cl" ("conv"), after the
 * helpers every file may use (vec.cl). */
cnn_status clrt_kernel_file_source(const char *dir, const char *file, char **out,
                                   cnn_error *err);

#endif
