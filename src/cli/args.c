/* args.c: option parsing shared by every command. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/devices.h"

void cli_args_init(cli_args *a, const char *command, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->command = command;
    a->name = NULL;
    a->inline_value = NULL;
}

int cli_args_next(cli_args *a)
{
    if (a->i >= a->argc)
        return 0;
    a->name = a->argv[a->i++];
    a->inline_value = NULL;
    return 1;
}

int cli_args_is(cli_args *a, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(a->name, name, n) != 0)
        return 0;
    if (a->name[n] == '\0')
        return 1;
    if (a->name[n] == '=') {
        a->inline_value = a->name + n + 1;
        return 1;
    }
    return 0;
}

cnn_status cli_args_value(cli_args *a, const char **value, cnn_error *err)
{
    if (a->inline_value) {
        *value = a->inline_value;
        return CNN_OK;
    }
    if (a->i >= a->argc)
        return cnn_fail(err, CNN_ERR_INPUT, "%s %s needs a value; see "
                        "`cnn-cl %s --help`", a->command, a->name, a->command);
    *value = a->argv[a->i++];
    return CNN_OK;
}

cnn_status cli_args_int(cli_args *a, long min, long max, long *out,
                        cnn_error *err)
{
    const char *text = NULL;
    cnn_status st = cli_args_value(a, &text, err);
    if (st)
        return st;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "%s: '%s' is not an integer in [%ld, %ld]",
                        a->name, text, min, max);
    *out = v;
    return CNN_OK;
}

int cli_args_help(cli_args *a)
{
    return cli_args_is(a, "--help") || cli_args_is(a, "-h");
}

int cli_option_device(cli_args *a, int *device, cnn_status *st, cnn_error *err)
{
    if (!cli_args_is(a, "--device"))
        return 0;
    long v;
    if (!(*st = cli_args_int(a, 0, 1 << 20, &v, err)))
        *device = (int)v;
    return 1;
}

int cli_option_devices(cli_args *a, int *devices, int max, int *n, cnn_status *st,
                       cnn_error *err)
{
    if (!cli_args_is(a, "--device"))
        return 0;
    const char *text = "";
    if ((*st = cli_args_value(a, &text, err)))
        return 1;
    int count = 0;
    for (const char *p = text;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1 << 20 || (*end && *end != ',') || count == max) {
            *st = cnn_fail(err, CNN_ERR_INPUT, "--device: '%s' is not a list of up to %d "
                           "device indices such as 0 or 0,1", text, max);
            return 1;
        }
        devices[count++] = (int)v;
        if (!*end)
            break;
        p = end + 1;
    }
    *n = count;
    return 1;
}

int cli_option_data(cli_args *a, const char **data, cnn_status *st, cnn_error *err)
{
    if (!cli_args_is(a, "--data"))
        return 0;
    *st = cli_args_value(a, data, err);
    return 1;
}

/* Where the GEMM path comes from: --gemm's value, else $CNN_CL_GEMM. */
static const char *gemm_source(const char *option, const char **path)
{
    *path = option ? option : getenv("CNN_CL_GEMM");
    return option ? "--gemm" : "CNN_CL_GEMM";
}

cnn_status cli_force_gemm(tuner *t, const char *option, cnn_error *err)
{
    const char *path, *source = gemm_source(option, &path);
    cnn_status st = api_force_gemm(t, path, err);
    return st ? cnn_fail_context(err, "%s", source) : CNN_OK;
}

cnn_status cli_api(cnn_cl_status st, const cnn_cl_error *e, cnn_error *err)
{
    return st ? cnn_fail(err, (cnn_status)st, "%s", e->message) : CNN_OK;
}

cnn_status cli_device_open(int index, const char *gemm, cnn_cl_device **out,
                           cnn_error *err)
{
    cnn_cl_error e;
    const char *path, *source = gemm_source(gemm, &path);
    cnn_status st = cli_api(cnn_cl_device_open(index, out, &e), &e, err);
    if (st)
        return st;
    if ((st = cli_api(cnn_cl_device_set_gemm(*out, path, &e), &e, err)))
        cnn_fail_context(err, "%s", source);
    else
        st = cli_api(cnn_cl_device_set_kernels(*out, cli_kernels(), &e), &e, err);
    if (st) {
        cnn_cl_device_close(*out);
        *out = NULL;
        return st;
    }
    cnn_cl_device_set_log(*out, stderr);
    return CNN_OK;
}

const char *cli_default_data(void)
{
    const char *data = getenv("CNN_CL_DATA");
    return data && *data ? data : "datasets/mnist";
}

cnn_status cli_default_device(int *index, cnn_error *err)
{
    const char *env = getenv("CNN_CL_DEVICE");
    *index = 0;
    if (!env || !*env)
        return CNN_OK;
    char *end;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (errno || *end || v < 0 || v > 1 << 20)
        return cnn_fail(err, CNN_ERR_INPUT,
                        "CNN_CL_DEVICE=%s is not a device index; "
                        "`cnn-cl devices` lists them", env);
    *index = (int)v;
    return CNN_OK;
}

const char *cli_kernels(void)
{
    const char *dir = getenv("CNN_CL_KERNELS");
    return dir && *dir ? dir : NULL;
}

int cli_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

cnn_status cli_args_unknown(const cli_args *a, cnn_error *err)
{
    return cnn_fail(err, CNN_ERR_INPUT,
                    "%s: unknown option '%s'; see `cnn-cl %s --help`",
                    a->command, a->name, a->command);
}

int cli_report(const cnn_error *err)
{
    fprintf(stderr, "cnn-cl: %s\n", err->msg);
    return err->status;
}

cnn_status cli_parse_shape(const char *option, const char *text, arch_shape *out,
                           cnn_error *err)
{
    int c, h, w, used = 0;
    if (sscanf(text, "%dx%dx%d%n", &c, &h, &w, &used) != 3 || text[used] || c < 1 ||
        h < 1 || w < 1 || c > 4096 || h > 4096 || w > 4096)
        return cnn_fail(err, CNN_ERR_INPUT, "%s: '%s' is not CxHxW (e.g. 3x32x32)",
                        option, text);
    *out = (arch_shape){c, h, w};
    return CNN_OK;
}
