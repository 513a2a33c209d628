/* export.c: `cnn-cl export` — a checkpoint as an ONNX model. */
#include <stdio.h>

#include "cli.h"
#include "interop/onnx_export.h"

static const char usage[] =
    "usage: cnn-cl export --model FILE.safetensors -o FILE.onnx\n"
    "\n"
    "Writes a checkpoint as an ONNX model (opset 13) for other runtimes, such\n"
    "as ONNX Runtime and OpenCV's dnn. The model takes `input`, float\n"
    "(N, C, H, W), pixel values 0 to 255 as predict reads them; scales and\n"
    "normalises them as the checkpoint was trained; and gives `probabilities`,\n"
    "(N, classes), after a softmax. Needs no OpenCL device. Prints the path\n"
    "written.\n"
    "\n"
    "  --model FILE       the checkpoint (train --save)\n"
    "  -o, --output FILE  where to write the model\n";

int cli_export(int argc, char **argv)
{
    cnn_error err = {0};
    const char *model = NULL, *output = NULL;
    cli_args a;
    cli_args_init(&a, "export", argc, argv);
    while (cli_args_next(&a)) {
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            fputs(usage, stdout);
            return 0;
        } else if (cli_args_is(&a, "--model")) {
            st = cli_args_value(&a, &model, &err);
        } else if (cli_args_is(&a, "--output") || cli_args_is(&a, "-o")) {
            st = cli_args_value(&a, &output, &err);
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (!model || !output) {
        cnn_fail(&err, CNN_ERR_INPUT, "export needs --model FILE and -o FILE.onnx; see "
                 "`cnn-cl export --help`");
        return cli_report(&err);
    }
    checkpoint_meta meta;
    if (onnx_export_checkpoint(model, output, &meta, &err))
        return cli_report(&err);
    if (*meta.note)
        fprintf(stderr, "note: %s\n", meta.note);
    printf("%s\n", output);
    return 0;
}
