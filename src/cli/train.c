/* train.c: `cnn-cl train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/train.h"
#include "cli.h"
#include "nn/arch.h"
#include "parallel/comm.h"

static const char usage[] =
    "usage: cnn-cl train [--device N[,N...]] [--data DIR] [--epochs N] [--batch N] [--lr X]\n"
    "                    [--lr-schedule S] [--warmup N] [--label-smoothing E]\n"
    "                    [--optimizer adam|adamw|sgd|rmsprop] [--momentum M] [--nesterov]\n"
    "                    [--weight-decay W] [--eps E] [--rho R] [--clip-norm C]\n"
    "                    [--augment LIST] [--seed N] [--arch SPEC] [--save FILE] [--resume FILE]\n"
    "                    [--init FILE]\n"
    "                    [--log FILE.csv] [--limit N] [--validation-split F]\n"
    "                    [--early-stopping P] [--save-best FILE] [--normalize]\n"
    "                    [--gemm auto|clblast|kernel]\n"
    "                    [--allow-different-arithmetic] [--quiet]\n"
    "\n"
    "Trains the network with the optimizer on sparse categorical cross-entropy,\n"
    "validating after every epoch on the test set, or on the part of the training\n"
    "set --validation-split holds out (the test set is then evaluated once, at\n"
    "the end). Kernel variants not yet in the\n"
    "cache start on the device's defaults; after the first epoch the variants\n"
    "that compute the same bits are timed and the fastest cached (README, Kernel\n"
    "variants).\n"
    "\n"
    "  --device N     OpenCL device index from `cnn-cl devices`\n"
    "                 (default $CNN_CL_DEVICE, else 0); a list (0,1) trains on\n"
    "                 each, data-parallel: every batch is split between them\n"
    "  --data DIR     folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "                 t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or\n"
    "                 .gz, or with CIFAR-10's data_batch_1.bin ... data_batch_5.bin\n"
    "                 and test_batch.bin (default $CNN_CL_DATA, else datasets/mnist)\n"
    "  --epochs N     total epochs, counting those a resumed run already did (5)\n"
    "  --batch N      batch size (32)\n"
    "  --lr X         the learning rate, the schedule's peak (0.001)\n"
    "  --lr-schedule S  the rate of every step (docs/TRAINING.md): constant,\n"
    "                 step:E:G (times G every E epochs), cosine (to 0 over the\n"
    "                 run) or onecycle (PyTorch's OneCycleLR) (constant)\n"
    "  --warmup N     raise the rate linearly over the first N steps, then\n"
    "                 start the schedule (0)\n"
    "  --optimizer R  adam (Keras' rule and defaults), or as PyTorch's: adamw, sgd,\n"
    "                 rmsprop (default adam)\n"
    "  --momentum M   sgd's and rmsprop's momentum, in [0, 1) (0)\n"
    "  --nesterov     sgd: Nesterov momentum (needs --momentum above 0)\n"
    "  --weight-decay W  L2 term added to the gradients (adam, sgd, rmsprop; 0),\n"
    "                 or adamw's decoupled decay (0.01); trainable tensors only\n"
    "  --eps E        adam's, adamw's and rmsprop's epsilon (1e-7, 1e-8, 1e-7)\n"
    "  --rho R        rmsprop's discounting factor, PyTorch's alpha (0.9)\n"
    "  --clip-norm C  scale the gradients so their global L2 norm is at most C\n"
    "                 (torch.nn.utils.clip_grad_norm_; default off)\n"
    "  --label-smoothing E  train on targets (1 - E) one-hot + E / classes, as\n"
    "                 PyTorch's CrossEntropyLoss; val_loss stays plain (0)\n"
    "  --augment LIST transform the training images (never validation's): flip\n"
    "                 (mirror left to right with probability 0.5), crop:P\n"
    "                 (zero-pad by P pixels, crop at the original size at random)\n"
    "                 and cutout:S (zero an S x S square at a random centre),\n"
    "                 joined by commas, applied in that order (none)\n"
    "  --seed N       seed of the initial weights, the shuffling, dropout and\n"
    "                 augmentation (1)\n"
    "  --arch SPEC    the network: tokens joined by '-' (listed below; default\n"
    "                 " ARCH_DEFAULT ");\n"
    "                 a group (TOKENS)x<N> is its tokens N times, joined by\n"
    "                 '-': (res[conv16k3same-bn-relu-conv16k3same-bn]-relu)x3\n"
    "  --save FILE    checkpoint written after every epoch and on Ctrl-C\n"
    "                 (cnn-cl.safetensors)\n"
    "  --resume FILE  continue a run exactly where its checkpoint left off, with\n"
    "                 the kernel variants that computed it and its optimizer\n"
    "                 settings (one given must agree)\n"
    "  --init FILE    fine-tune: start from the weights of a checkpoint (cnn-cl's,\n"
    "                 or a PyTorch safetensors file with the same names) or of\n"
    "                 an ONNX model (FILE.onnx, imported: see README) with a\n"
    "                 fresh optimizer and schedule; --arch defaults to its arch\n"
    "  --log FILE     CSV of per-epoch metrics (for `cnn-cl plot`)\n"
    "  --limit N      train on the first N training samples only\n"
    "  --validation-split F  hold out the last F (0 < F < 1) of the training\n"
    "                 samples kept, before shuffling, and validate on them, as\n"
    "                 Keras's validation_split: floor(N (1 - F)) train\n"
    "  --early-stopping P  stop after P epochs without a lower val_loss\n"
    "                 (Keras's EarlyStopping(patience=P))\n"
    "  --save-best FILE  keep the epoch of the lowest val_loss in FILE (a\n"
    "                 checkpoint); the final test figures are its\n"
    "  --normalize    feed (x - mean) / std per channel, the training samples'\n"
    "                 mean and standard deviation (computed once, then cached);\n"
    "                 the checkpoint keeps them for eval, predict and --resume\n"
    "  --gemm PATH    dense layers' GEMM: auto (the tuner's choice), clblast\n"
    "                 or kernel (default $CNN_CL_GEMM, else auto)\n"
    "  --allow-different-arithmetic\n"
    "                 resume even where a variant the checkpoint recorded cannot\n"
    "                 run here (or --gemm forces another): a note names each, and\n"
    "                 the results differ from the original run's in rounding\n"
    "  --quiet        print only the final result\n"
    "\n"
    "Under mpirun (a build with Open MPI), every rank trains on its --device\n"
    "list and its share of every batch, read from its own --data; rank 0 prints,\n"
    "logs and saves. docs/SCALING.md says how it divides the work.\n";

/* Reports the run's end and returns the exit status; rank 0 alone speaks
 * of success, and another rank's failure names the rank. */
static int finish(const comm *job, const cnn_cl_train_config *c, const cnn_cl_train_result *r,
                  cnn_error *err)
{
    const char *epochs_s = r->epochs_done == 1 ? "" : "s";
    if (err->status) {
        /* Claim a saved state only where this run wrote one. */
        if (err->status == CNN_ERR_RUNTIME && r->saved_epochs)
            cnn_fail_context(err, "after %d epoch%s (%s holds the state after epoch %d)",
                             r->epochs_done, epochs_s, c->save, r->saved_epochs);
        else if (err->status == CNN_ERR_RUNTIME && r->epochs_done)
            cnn_fail_context(err, "after %d epoch%s (this run saved no checkpoint)",
                             r->epochs_done, epochs_s);
        if (comm_size(job) > 1)
            cnn_fail_context(err, "rank %d of %d", comm_rank(job), comm_size(job));
        return cli_report(err);
    }
    if (r->signal)
        return 128 + r->signal;
    char stopped[64] = "", kept[4200] = "";
    if (r->stopped_early)
        snprintf(stopped, sizeof stopped, " (stopped early: the lowest val_loss was "
                 "epoch %ld's)", r->best_epoch);
    if (c->save_best && r->best_epoch)
        snprintf(kept, sizeof kept, "; epoch %ld kept in %s", r->best_epoch, c->save_best);
    if (comm_rank(job) == 0)
        printf("Test accuracy: %.4f - test loss: %.4f after %d epoch%s%s%s%s%s\n",
               r->test_accuracy, r->test_loss, r->epochs_done, epochs_s, stopped,
               r->saved_epochs ? "; model saved to " : "", r->saved_epochs ? c->save : "",
               kept);
    return 0;
}

/* Whether the current argument is one of the numeric settings; if so it
 * is taken into c, *st saying how. */
static int numeric(cli_args *a, cnn_cl_train_config *c, cnn_status *st, cnn_error *err)
{
    const char *option, *text;
    for (int i = 0; (option = api_train_numeric(i)); i++)
        if (cli_args_is(a, option)) {
            if (!(*st = cli_args_value(a, &text, err)))
                *st = api_train_set(c, option, text, err);
            return 1;
        }
    return 0;
}

/* Trains as one rank of the job on the devices, each opened as the command
 * opens them. */
static cnn_status train(comm *job, const int *indices, int n, const char *gemm,
                        cnn_cl_train_config *c, cnn_cl_train_result *r, cnn_error *err)
{
    cnn_cl_device *devs[CNN_CL_MAX_DEVICES] = {0};
    cnn_status st = CNN_OK;
    for (int d = 0; d < n && st == CNN_OK; d++)
        st = cli_device_open(indices[d], gemm, &devs[d], err);
    if (st == CNN_OK) {
        cnn_cl_error e;
        st = cli_api(api_train_job(job, devs, n, c, r, &e), &e, err);
    }
    for (int d = 0; d < n; d++)
        cnn_cl_device_close(devs[d]);
    return st;
}

int cli_train(int argc, char **argv)
{
    cnn_error err = {0};
    cnn_cl_train_config c;
    cnn_cl_train_config_init(&c);
    int devices[CNN_CL_MAX_DEVICES], ndevices = 1;
    const char *gemm = NULL;
    if (cli_default_device(&devices[0], &err))
        return cli_report(&err);
    c.data = cli_default_data();
    c.out = stdout;
    c.catch_signals = 1;

    cli_args a;
    cli_args_init(&a, "train", argc, argv);
    while (cli_args_next(&a)) {
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            char tokens[512];
            arch_known_tokens(tokens, sizeof tokens);
            printf("%s\nArch tokens: %s\n", usage, tokens);
            return 0;
        } else if (cli_option_devices(&a, devices, CNN_CL_MAX_DEVICES, &ndevices, &st,
                                      &err) ||
                   cli_option_data(&a, &c.data, &st, &err) || numeric(&a, &c, &st, &err)) {
            /* taken */
        } else if (cli_args_is(&a, "--lr-schedule")) {
            st = cli_args_value(&a, &c.lr_schedule, &err);
        } else if (cli_args_is(&a, "--optimizer")) {
            st = cli_args_value(&a, &c.optimizer, &err);
        } else if (cli_args_is(&a, "--nesterov")) {
            c.nesterov = 1;
        } else if (cli_args_is(&a, "--augment")) {
            st = cli_args_value(&a, &c.augment, &err);
        } else if (cli_args_is(&a, "--arch")) {
            st = cli_args_value(&a, &c.arch, &err);
        } else if (cli_args_is(&a, "--save")) {
            st = cli_args_value(&a, &c.save, &err);
        } else if (cli_args_is(&a, "--resume")) {
            st = cli_args_value(&a, &c.resume, &err);
        } else if (cli_args_is(&a, "--init")) {
            st = cli_args_value(&a, &c.init, &err);
        } else if (cli_args_is(&a, "--log")) {
            st = cli_args_value(&a, &c.log, &err);
        } else if (cli_args_is(&a, "--save-best")) {
            st = cli_args_value(&a, &c.save_best, &err);
        } else if (cli_args_is(&a, "--normalize")) {
            c.normalize = 1;
        } else if (cli_args_is(&a, "--gemm")) {
            st = cli_args_value(&a, &gemm, &err);
        } else if (cli_args_is(&a, "--allow-different-arithmetic")) {
            c.allow_different_arithmetic = 1;
        } else if (cli_args_is(&a, "--quiet") || cli_args_is(&a, "-q")) {
            c.quiet = 1;
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    comm *job;
    if (comm_init(&job, cli_mpi_launched(), &err)) {
        comm_finalize(job);
        return cli_report(&err);
    }
    cnn_cl_train_result r = {0};
    train(job, devices, ndevices, gemm, &c, &r, &err);
    int code = finish(job, &c, &r, &err);
    /* A rank that fails takes the job down: none is left waiting for it. */
    if (code && code < 128 && comm_size(job) > 1)
        comm_abort(job, code);
    comm_finalize(job);
    return code;
}
