#!/usr/bin/python3
"""torch-compare.py: trains the same network from the same weights on the same
batches in cnn-cl and in PyTorch, once per training recipe, and reports how
far apart the weights end: the check that every optimizer, schedule and loss
option follows PyTorch's definition.

    /usr/bin/python3 tools/torch-compare.py [--cnn-cl build/cnn-cl] [--steps 200]
                                            [--data DIR] [--arch SPEC]
                                            [--case NAME ...] [--device N]

Each case writes the first 32 training and 8 test images of DIR's IDX files
(default datasets/mnist) as a folder of their own and a Glorot-uniform
initialisation of SPEC as a PyTorch-style safetensors file, then runs
`cnn-cl train --init` on them with batch 32 and --limit 32, so every step
is the whole set and the shuffle cannot matter, for --steps epochs of one
step. PyTorch (torch-eval.py's builder for SPEC, two threads) takes the
same steps with the recipe that torch-train.py builds from the same
options: its optimizer, scheduler, loss and clipping, in float as cnn-cl
does and in double, the run both are held against. Rounding alone moves a
float run away from the double one, more with every step and most where a
gradient is ill-conditioned (a conv bias that feeds a batch norm, even
through a ReLU, has a gradient that cancels to rounding; the default SPEC
has none). Printed per case: the largest absolute difference from the
double run of cnn-cl's tensors (the moving statistics included) and its
tensor, the same for PyTorch's float run, and the largest weight. Exits 1
when a case differs by more than --noise times PyTorch's float run and
more than --tolerance times the largest weight, 2 on bad usage.
"""
import argparse
import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _tool(name):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_eval = _tool("torch-eval")
torch_train = _tool("torch-train")

SAMPLES, TESTS = 32, 8
DEFAULT_ARCH = ("conv8k3same-relu-res[conv8k3same-relu-conv8k3same]-relu-"
                "res[conv12k3s2same-relu-conv12k3same]-relu-gap-fc10")

# Each case is a list of `cnn-cl train` options: cnn-cl takes them as they
# are, and torch-train.py's parser of the same options builds PyTorch's run.
CASES = {
    "adam": ["--lr", "2e-4"],
    "adam-l2": ["--lr", "2e-4", "--weight-decay", "1e-3"],
    "adamw": ["--optimizer", "adamw", "--lr", "2e-4"],
    "sgd": ["--optimizer", "sgd", "--lr", "0.05"],
    "sgd-momentum": ["--optimizer", "sgd", "--lr", "0.005", "--momentum", "0.9"],
    "sgd-nesterov-l2": ["--optimizer", "sgd", "--lr", "0.005", "--momentum", "0.9",
                        "--nesterov", "--weight-decay", "5e-4"],
    "rmsprop": ["--optimizer", "rmsprop", "--lr", "2e-4"],
    "rmsprop-momentum-l2": ["--optimizer", "rmsprop", "--lr", "1e-4", "--momentum", "0.9",
                            "--weight-decay", "1e-3"],
    "step": ["--optimizer", "sgd", "--lr", "0.05", "--lr-schedule", "step:50:0.5"],
    "cosine-warmup": ["--optimizer", "sgd", "--lr", "0.05", "--lr-schedule", "cosine",
                      "--warmup", "20"],
    "onecycle": ["--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9",
                 "--lr-schedule", "onecycle"],
    "label-smoothing": ["--optimizer", "sgd", "--lr", "0.05", "--label-smoothing", "0.1"],
    "clip-norm": ["--optimizer", "sgd", "--lr", "0.1", "--clip-norm", "0.5"],
}


def recipe(options):
    ap = argparse.ArgumentParser()
    torch_train.recipe_options(ap)
    return ap.parse_args(options)


def write_idx(path, array):
    dims = array.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, len(dims)))
        f.write(struct.pack(">" + "I" * len(dims), *dims))
        f.write(array.astype(np.uint8).tobytes())


def write_data(source, folder):
    """The first images of source's IDX split as a data folder; their shape."""
    for split, base, n in (("train", "train", SAMPLES), ("test", "t10k", TESTS)):
        images, labels = torch_eval.read_dataset(source, split)
        if images.shape[1] != 1:
            raise torch_eval.InputError(f"{source}: grey IDX images wanted")
        write_idx(os.path.join(folder, f"{base}-images-idx3-ubyte"), images[:n, 0])
        write_idx(os.path.join(folder, f"{base}-labels-idx1-ubyte"), labels[:n])
    return images.shape[1:]


def write_state(path, state):
    """A state dict as a safetensors file, as PyTorch's tools write one: no
    cnn-cl metadata, the batch counters as I64."""
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        a = t.detach().cpu().numpy()
        dtype = {np.float32: "F32", np.int64: "I64"}[a.dtype.type]
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def torch_run(net, x, y, args, steps):
    opt = torch_train.make_optimizer(args, net.parameters())
    sched = torch_train.make_scheduler(args, opt, steps, 1)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x), y, label_smoothing=args.label_smoothing).backward()
        if args.clip_norm:
            nn.utils.clip_grad_norm_(net.parameters(), args.clip_norm)
        opt.step()
        if sched:
            sched.step()


def initial(args, shape):
    """SPEC's network with Glorot-uniform weights and zero biases, seed 1."""
    torch.manual_seed(1)
    net = torch_eval.Net(args.arch, *shape)
    torch_train.keras_init(net)
    return net


def largest_difference(a, b):
    """The largest |a - b| over the tensors of state dict b, and its name."""
    worst, where = 0.0, ""
    for key, value in b.items():
        if not key.endswith("num_batches_tracked"):
            diff = (a[key] - value).abs().max().item()
            worst, where = (diff, key) if diff >= worst else (worst, where)
    return worst, where


def compare(name, options, args, folder, shape):
    """Trains case `name` in cnn-cl and in PyTorch in float and in double:
    the largest difference of cnn-cl's tensors from PyTorch's in double and
    its tensor, PyTorch's in float from its own in double, and the largest
    weight."""
    net = initial(args, shape)
    init = os.path.join(folder, "init.safetensors")
    write_state(init, net.state_dict())
    out = os.path.join(folder, f"{name}.safetensors")
    command = [args.cnn_cl, "train", "--data", folder, "--init", init, "--arch", args.arch,
               "--batch", str(SAMPLES), "--limit", str(SAMPLES), "--epochs", str(args.steps),
               "--save", out, "--quiet"] + options
    if args.device is not None:
        command += ["--device", str(args.device)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"{name}: cnn-cl exited {run.returncode}: {run.stderr.strip()}")
    images, labels = torch_eval.read_dataset(folder, "train")
    x = torch.from_numpy(images.copy()).float() / 255
    y = torch.from_numpy(labels.copy()).long()
    exact = initial(args, shape).double()
    torch_run(exact, x.double(), y, recipe(options), args.steps)
    torch_run(net, x, y, recipe(options), args.steps)
    truth = {k: v.float() for k, v in exact.state_dict().items()}
    theirs, _ = torch_eval.read_safetensors(out)
    worst, where = largest_difference(theirs, truth)
    noise, _ = largest_difference(net.state_dict(), truth)
    largest = max(v.abs().max().item() for k, v in truth.items()
                  if not k.endswith("num_batches_tracked"))
    return worst, where, noise, largest


def main():
    ap = argparse.ArgumentParser(description="cnn-cl against PyTorch, recipe by recipe.")
    ap.add_argument("--cnn-cl", default="build/cnn-cl", help="the binary (build/cnn-cl)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--data", default="datasets/mnist", help="an IDX folder (datasets/mnist)")
    ap.add_argument("--arch", default=DEFAULT_ARCH)
    ap.add_argument("--case", action="append", choices=sorted(CASES),
                    help="run only these (repeatable; default: all)")
    ap.add_argument("--device", type=int)
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="a difference allowed, over the largest weight (1e-4)")
    ap.add_argument("--noise", type=float, default=10,
                    help="or allowed, over PyTorch's float run's (10)")
    args = ap.parse_args()
    if args.steps < 2:
        raise torch_eval.InputError("--steps: at least 2")
    torch.set_num_threads(2)
    # SequentialLR steps its schedules with an epoch argument, which 1.13 warns of.
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.optim.lr_scheduler")
    bad = 0
    with tempfile.TemporaryDirectory() as folder:
        shape = write_data(args.data, folder)
        print(f"{args.steps} steps of batch {SAMPLES} on {args.data}'s first images, "
              f"{args.arch}")
        print(f"{'':20} {'float64 PyTorch, minus':>21}")
        print(f"{'case':20} {'cnn-cl':>10} {'PyTorch':>10} {'max |w|':>8}  cnn-cl's largest")
        for name in args.case or CASES:
            worst, where, noise, largest = compare(name, CASES[name], args, folder, shape)
            bad += not worst <= max(args.noise * noise, args.tolerance * largest)
            print(f"{name:20} {worst:10.2e} {noise:10.2e} {largest:8.3f}  {where}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except torch_eval.InputError as e:
        print(f"torch-compare: {e}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as e:
        print(f"torch-compare: {e}", file=sys.stderr)
        sys.exit(1)
