/* cli: the command line. Each command is one file; they share the option
 * helpers below. Commands return an exit code: 0, 1 (runtime) or 2 (usage
 * or input). Nothing outside src/cli knows about argv, nor reads the
 * environment (but for the cache folder's, util/cache.h). devices, eval,
 * predict and train are clients of the library (cnn_cl.h); bench, plot and
 * export use internal modules it does not offer. */
#ifndef CLI_H
#define CLI_H

#include "cnn_cl.h"
#include "nn/layer.h"
#include "util/cnn_error.h"

/* Walks argv of one command. `--name value` and `--name=value` both work. */
typedef struct {
    int argc;
    char **argv;
    int i;              /* next argument to read */
    const char *command;
    const char *name;   /* the option just matched, without its value */
    const char *inline_value; /* the text after '=' in --name=value */
} cli_args;

void cli_args_init(cli_args *a, const char *command, int argc, char **argv);

/* Moves to the next argument; returns 0 when none remain. */
int cli_args_next(cli_args *a);

/* True when the current argument is the option `name` (e.g. "--device"). */
int cli_args_is(cli_args *a, const char *name);

/* The value of the current option (inline or the next argument). */
cnn_status cli_args_value(cli_args *a, const char **value, cnn_error *err);

/* The value parsed as an integer in [min, max]. */
cnn_status cli_args_int(cli_args *a, long min, long max, long *out,
                        cnn_error *err);

/* True when the current argument asks for help (--help or -h). */
int cli_args_help(cli_args *a);

/* Options several commands share. Each returns 1 when the current argument
 * is its option and consumes it, setting *st (CNN_OK, or the failure). */
int cli_option_device(cli_args *a, int *device, cnn_status *st, cnn_error *err);
int cli_option_data(cli_args *a, const char **data, cnn_status *st, cnn_error *err);
/* --device as a list ("0" or "0,1,2"): up to max indices into devices[],
 * their count into *n. */
int cli_option_devices(cli_args *a, int *devices, int max, int *n, cnn_status *st,
                       cnn_error *err);

/* Parses "CxHxW" (e.g. 3x32x32) for `option`. */
cnn_status cli_parse_shape(const char *option, const char *text, arch_shape *out,
                           cnn_error *err);

/* The dense layers' GEMM path from --gemm's value (`option`; NULL when the
 * option is absent), else from $CNN_CL_GEMM: "auto" or "" leaves it to the
 * tuner; "clblast" or "kernel" forces that variant on the kind "fc" in t.
 * Any other path is CNN_ERR_INPUT naming where it came from. */
cnn_status cli_force_gemm(tuner *t, const char *option, cnn_error *err);

/* A library call's result as the command's: st, and e's message in err. */
cnn_status cli_api(cnn_cl_status st, const cnn_cl_error *e, cnn_error *err);

/* Opens device `index` as the commands use it: the GEMM path as
 * cli_force_gemm takes it, the kernels of $CNN_CL_KERNELS, the log on
 * stderr. */
cnn_status cli_device_open(int index, const char *gemm, cnn_cl_device **out,
                           cnn_error *err);

/* The default data folder: $CNN_CL_DATA, else datasets/mnist. */
const char *cli_default_data(void);

/* The device index when --device is absent: $CNN_CL_DEVICE, else 0. A
 * value that is not an index is CNN_ERR_INPUT. */
cnn_status cli_default_device(int *index, cnn_error *err);

/* The folder of $CNN_CL_KERNELS, whose .cl files are built instead of the
 * embedded kernels (kernel work without a rebuild); NULL when unset. */
const char *cli_kernels(void);

/* Whether mpirun started this process (it says so in the environment):
 * MPI joins only then. */
int cli_mpi_launched(void);

/* The error for the current argument when no option matched it. */
cnn_status cli_args_unknown(const cli_args *a, cnn_error *err);

/* Prints "cnn-cl: <message>" to stderr and returns err->status. */
int cli_report(const cnn_error *err);

int cli_devices(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_plot(int argc, char **argv);
int cli_export(int argc, char **argv);

#endif
