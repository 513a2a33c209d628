/* train.c: `cnn-cl train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/arch.h"
#include "cli.h"
#include "runtime/clrt.h"
#include "parallel/comm.h"
#include "train/trainer.h"

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
    "                 (mirror left to right with probability 0.5) and crop:P\n"
    "                 (zero-pad by P pixels, crop at the original size at random),\n"
    "                 joined by commas, applied in that order (none)\n"
    "  --seed N       seed of the initial weights, the shuffling, dropout and\n"
    "                 augmentation (1)\n"
    "  --arch SPEC    the network: tokens joined by '-' (listed below; default\n"
    "                 " ARCH_DEFAULT ")\n"
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
static int finish(const train_options *o, const train_result *r, cnn_status st,
                  cnn_error *err)
{
    const char *epochs_s = r->epochs_done == 1 ? "" : "s";
    if (st) {
        /* Claim a saved state only where this run wrote one. */
        if (err->status == CNN_ERR_RUNTIME && r->saved_epochs)
            cnn_fail_context(err, "after %d epoch%s (%s holds the state after epoch %d)",
                             r->epochs_done, epochs_s, o->save, r->saved_epochs);
        else if (err->status == CNN_ERR_RUNTIME && r->epochs_done)
            cnn_fail_context(err, "after %d epoch%s (this run saved no checkpoint)",
                             r->epochs_done, epochs_s);
        if (comm_size(o->comm) > 1)
            cnn_fail_context(err, "rank %d of %d", comm_rank(o->comm), comm_size(o->comm));
        return cli_report(err);
    }
    if (r->signal)
        return 128 + r->signal;
    char stopped[64] = "", kept[4200] = "";
    if (r->stopped_early)
        snprintf(stopped, sizeof stopped, " (stopped early: the lowest val_loss was "
                 "epoch %ld's)", r->best_epoch);
    if (o->save_best && r->best_epoch)
        snprintf(kept, sizeof kept, "; epoch %ld kept in %s", r->best_epoch, o->save_best);
    if (comm_rank(o->comm) == 0)
        printf("Test accuracy: %.4f - test loss: %.4f after %d epoch%s%s%s%s%s\n",
               r->test_accuracy, r->test_loss, r->epochs_done, epochs_s, stopped,
               r->saved_epochs ? "; model saved to " : "", r->saved_epochs ? o->save : "",
               kept);
    return 0;
}

/* --option's value as a number in [min, max) (max_in: [min, max]) into
 * *out; min_out excludes min. */
static cnn_status number(cli_args *a, double min, int min_out, double max, int max_in,
                         float *out, cnn_error *err)
{
    const char *text;
    cnn_status st = cli_args_value(a, &text, err);
    if (st)
        return st;
    char *end;
    double x = strtod(text, &end);
    if (end == text || *end || !(min_out ? x > min : x >= min) || !(max_in ? x <= max : x < max))
        return cnn_fail(err, CNN_ERR_INPUT, "%s: '%s' is not a number in %c%g, %g%c", a->name,
                        text, min_out ? '(' : '[', min, max, max_in ? ']' : ')');
    *out = (float)x;
    return CNN_OK;
}

int cli_train(int argc, char **argv)
{
    cnn_error err = {0};
    train_options o = {.epochs = 5, .batch = 32, .lr = 0.001f, .seed = 1,
                       .save = "cnn-cl.safetensors"};
    tuner_init(&o.tune);
    o.tune.quick = 1;
    const char *gemm = NULL;
    const char *optimizer = "adam";
    optim_config given = {0}; /* the optimizer settings given, by o.set_optim */
    if (cli_default_device(&o.devices[0], &err))
        return cli_report(&err);
    o.ndevices = 1;
    o.data = cli_default_data();
    o.kernels = cli_kernels();

    cli_args a;
    cli_args_init(&a, "train", argc, argv);
    while (cli_args_next(&a)) {
        long v;
        const char *text;
        cnn_status st = CNN_OK;
        if (cli_args_help(&a)) {
            char tokens[512];
            arch_known_tokens(tokens, sizeof tokens);
            printf("%s\nArch tokens: %s\n", usage, tokens);
            return 0;
        } else if (cli_option_devices(&a, o.devices, REPLICAS_MAX_DEVICES, &o.ndevices,
                                      &st, &err) ||
                   cli_option_data(&a, &o.data, &st, &err)) {
            /* taken */
        } else if (cli_args_is(&a, "--epochs")) {
            if (!(st = cli_args_int(&a, 1, 100000, &v, &err)))
                o.epochs = (int)v;
            o.set_epochs = 1;
        } else if (cli_args_is(&a, "--lr-schedule")) {
            if (!(st = cli_args_value(&a, &text, &err)))
                st = schedule_parse(text, &o.sched, &err);
            o.set_schedule = 1;
        } else if (cli_args_is(&a, "--warmup")) {
            if (!(st = cli_args_int(&a, 0, 0x7fffffffL, &v, &err)))
                o.sched.warmup = v;
            o.set_warmup = 1;
        } else if (cli_args_is(&a, "--label-smoothing")) {
            if (!(st = cli_args_value(&a, &text, &err))) {
                char *end;
                double e = strtod(text, &end);
                if (end == text || *end || !(e >= 0 && e < 1))
                    st = cnn_fail(&err, CNN_ERR_INPUT, "--label-smoothing: '%s' is not "
                                  "a number in [0, 1)", text);
                o.label_smoothing = (float)e;
            }
            o.set_smoothing = 1;
        } else if (cli_args_is(&a, "--batch")) {
            if (!(st = cli_args_int(&a, 1, 65536, &v, &err)))
                o.batch = (int)v;
            o.set_batch = 1;
        } else if (cli_args_is(&a, "--lr")) {
            if (!(st = cli_args_value(&a, &text, &err))) {
                char *end;
                double lr = strtod(text, &end);
                if (end == text || *end || !(lr > 0) || lr > 10)
                    st = cnn_fail(&err, CNN_ERR_INPUT, "--lr: '%s' is not a learning "
                                  "rate in (0, 10]", text);
                o.lr = (float)lr;
            }
            o.set_lr = 1;
        } else if (cli_args_is(&a, "--optimizer")) {
            if (!(st = cli_args_value(&a, &optimizer, &err)) && !optim_find(optimizer))
                st = cnn_fail(&err, CNN_ERR_INPUT, "--optimizer: '%s' is none of adam, "
                              "adamw, sgd, rmsprop", optimizer);
            o.set_optim |= TRAIN_SET_OPTIMIZER;
        } else if (cli_args_is(&a, "--momentum")) {
            st = number(&a, 0, 0, 1, 0, &given.momentum, &err);
            o.set_optim |= TRAIN_SET_MOMENTUM;
        } else if (cli_args_is(&a, "--nesterov")) {
            given.nesterov = 1;
            o.set_optim |= TRAIN_SET_NESTEROV;
        } else if (cli_args_is(&a, "--weight-decay")) {
            st = number(&a, 0, 0, 1, 1, &given.weight_decay, &err);
            o.set_optim |= TRAIN_SET_WEIGHT_DECAY;
        } else if (cli_args_is(&a, "--eps")) {
            /* 0 would divide zero by zero where moments are zero (padding) */
            st = number(&a, 0, 1, 1, 1, &given.eps, &err);
            o.set_optim |= TRAIN_SET_EPS;
        } else if (cli_args_is(&a, "--rho")) {
            st = number(&a, 0, 0, 1, 0, &given.rho, &err);
            o.set_optim |= TRAIN_SET_RHO;
        } else if (cli_args_is(&a, "--clip-norm")) {
            st = number(&a, 0, 1, 1e30, 1, &given.clip_norm, &err);
            o.set_optim |= TRAIN_SET_CLIP_NORM;
        } else if (cli_args_is(&a, "--augment")) {
            if (!(st = cli_args_value(&a, &text, &err)))
                st = augment_parse(text, "--augment", &o.augment, &err);
            o.set_augment = 1;
        } else if (cli_args_is(&a, "--seed")) {
            if (!(st = cli_args_int(&a, 0, 0x7fffffffL, &v, &err)))
                o.seed = (uint64_t)v;
            o.set_seed = 1;
        } else if (cli_args_is(&a, "--arch")) {
            st = cli_args_value(&a, &o.arch, &err);
        } else if (cli_args_is(&a, "--save")) {
            st = cli_args_value(&a, &o.save, &err);
        } else if (cli_args_is(&a, "--resume")) {
            st = cli_args_value(&a, &o.resume, &err);
        } else if (cli_args_is(&a, "--init")) {
            st = cli_args_value(&a, &o.init, &err);
        } else if (cli_args_is(&a, "--log")) {
            st = cli_args_value(&a, &o.log, &err);
        } else if (cli_args_is(&a, "--limit")) {
            st = cli_args_int(&a, 1, 0x7fffffffL, &o.limit, &err);
        } else if (cli_args_is(&a, "--validation-split")) {
            /* In double, as Keras counts: a float's 0.2 would train one fewer. */
            if (!(st = cli_args_value(&a, &text, &err))) {
                char *end;
                o.validation_split = strtod(text, &end);
                if (end == text || *end || !(o.validation_split > 0 &&
                                             o.validation_split < 1))
                    st = cnn_fail(&err, CNN_ERR_INPUT, "--validation-split: '%s' is not "
                                  "a number in (0, 1)", text);
            }
        } else if (cli_args_is(&a, "--early-stopping")) {
            if (!(st = cli_args_int(&a, 1, 100000, &v, &err)))
                o.patience = (int)v;
            o.set_patience = 1;
        } else if (cli_args_is(&a, "--save-best")) {
            st = cli_args_value(&a, &o.save_best, &err);
        } else if (cli_args_is(&a, "--normalize")) {
            o.normalize = 1;
        } else if (cli_args_is(&a, "--gemm")) {
            st = cli_args_value(&a, &gemm, &err);
        } else if (cli_args_is(&a, "--allow-different-arithmetic")) {
            o.tune.allow_different = 1;
        } else if (cli_args_is(&a, "--quiet") || cli_args_is(&a, "-q")) {
            o.quiet = 1;
        } else {
            st = cli_args_unknown(&a, &err);
        }
        if (st)
            return cli_report(&err);
    }
    if (o.init && o.resume) {
        cnn_fail(&err, CNN_ERR_INPUT, "--init %s starts a new run and --resume %s "
                 "continues one; give one of them", o.init, o.resume);
        return cli_report(&err);
    }
    if (cli_force_gemm(&o.tune, gemm, &err))
        return cli_report(&err);
    /* The optimizer's defaults, then what was given, in any order. */
    o.optim = optim_defaults(optim_find(optimizer));
    if (o.set_optim & TRAIN_SET_MOMENTUM)
        o.optim.momentum = given.momentum;
    o.optim.nesterov = given.nesterov;
    if (o.set_optim & TRAIN_SET_WEIGHT_DECAY)
        o.optim.weight_decay = given.weight_decay;
    if (o.set_optim & TRAIN_SET_EPS)
        o.optim.eps = given.eps;
    if (o.set_optim & TRAIN_SET_RHO)
        o.optim.rho = given.rho;
    o.optim.clip_norm = given.clip_norm;
    if (comm_init(&o.comm, cli_mpi_launched(), &err)) {
        comm_finalize(o.comm);
        return cli_report(&err);
    }
    int root = comm_rank(o.comm) == 0;
    o.tune.progress = o.quiet || !root ? NULL : stderr;
    o.out = stdout;
    o.notes = stderr;
    o.catch_signals = 1;
    train_result r;
    cnn_status st = train_run(&o, &r, &err);
    int code = finish(&o, &r, st, &err);
    /* A rank that fails takes the job down: none is left waiting for it. */
    if (code && code < 128 && comm_size(o.comm) > 1)
        comm_abort(o.comm, code);
    comm_finalize(o.comm);
    return code;
}
