/* devices.c: `cnn-cl devices` — the flat index that --device takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: cnn-cl devices\n"
    "\n"
    "Lists every OpenCL device of every platform with the index that\n"
    "--device N takes (CNN_CL_DEVICE sets the default, else 0).\n";

int cli_devices(int argc, char **argv)
{
    cnn_error err = {0};
    cli_args a;
    cli_args_init(&a, "devices", argc, argv);
    while (cli_args_next(&a)) {
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        }
        cli_args_unknown(&a, &err);
        return cli_report(&err);
    }
    cnn_cl_device_info *devs;
    int n;
    cnn_cl_error e;
    if (cli_api(cnn_cl_devices(&devs, &n, &e), &e, &err))
        return cli_report(&err);
    printf("%-3s %-28s %-40s %-5s %5s %9s %6s %-16s %4s %4s\n", "#",
           "platform", "device", "type", "CUs", "memory", "wg", "OpenCL C",
           "fp16", "fp64");
    for (int i = 0; i < n; i++) {
        const cnn_cl_device_info *d = &devs[i];
        printf("%-3d %-28.28s %-40.40s %-5s %5u %7.1fGi %6zu %-16.16s %4s %4s\n",
               d->index, d->platform, d->name, d->type, d->compute_units,
               (double)d->global_memory / (1024.0 * 1024.0 * 1024.0),
               d->max_work_group, d->opencl_c_version, d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no");
    }
    cnn_cl_devices_free(devs);
    return 0;
}
