#!/usr/bin/python3
"""torch-train.py: trains a cnn-cl network in PyTorch on the CPU, as the peer
that cnn-cl's speed and accuracy are measured against.

    /usr/bin/python3 tools/torch-train.py [--data DIR] [--epochs N] [--seed N]
                                          [--init keras|torch] [--arch SPEC]
                                          [--limit N] [--batch N] [--normalize]
                                          [--augment LIST]
                                          [RECIPE]

RECIPE takes the options of `cnn-cl train` that choose how it trains, with
the same defaults and meanings (docs/TRAINING.md): --lr, --optimizer
adam|adamw|sgd|rmsprop, --momentum, --nesterov, --weight-decay, --eps,
--rho, --lr-schedule, --warmup, --label-smoothing and --clip-norm. `adam`
is Keras' rule as cnn-cl computes it (KerasAdam below; torch.optim.Adam
places eps differently), the others are torch.optim's, and the schedules
torch.optim.lr_scheduler's, stepped once per batch. DIR holds IDX files
(train-*, t10k-*) or CIFAR-10 binary batches (data_batch_1..5.bin,
test_batch.bin); the network is torch-eval.py's builder for SPEC (any
cnn-cl arch spec) on DIR's image shape. Batch 32 by default, mean sparse
categorical cross-entropy, reshuffled every epoch, two threads. --init
keras (the default) uses Glorot-uniform weights and zero biases as cnn-cl
does (batch norm starts at scale 1, shift 0 in both); --init torch keeps
PyTorch's own initialisation. --limit N trains on the first N training
images only, as cnn-cl's --limit does. --normalize feeds (x - mean) / std
per channel, with the mean and population standard deviation of the
training images used (after --limit; std 1 for a constant channel), as
cnn-cl's --normalize does. --augment LIST transforms the training images
as cnn-cl's does (docs/TRAINING.md, Augmentation): flip, crop:P and
cutout:S, joined by commas, before the normalisation (torchvision is not
needed). The training order and the augmentation's draws are cnn-cl's for
the same --seed (data_order.py), so both see the same images in the same
order; the initial weights are torch's draws. Prints, per epoch, the training
seconds (without evaluation; also as CPU seconds of this process, which
shared cores disturb less) and the test loss and accuracy in inference
mode, then the wall time of the whole job (reading the data included).
torch-compare.py imports the recipe (recipe_options, make_optimizer,
make_scheduler) and keras_init from here.
"""
import argparse
import importlib.util
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import data_order

_spec = importlib.util.spec_from_file_location(
    "torch_eval", os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-eval.py"))
torch_eval = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_eval)

BATCH = 32


class KerasAdam(torch.optim.Optimizer):
    """cnn-cl's `adam`: Keras' rule, m / (sqrt(v) + eps) with both bias
    corrections folded into the rate, and --weight-decay added to the
    gradient as torch.optim.Adam adds it."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
                state["t"] += 1
                t = state["t"]
                g = p.grad + group["weight_decay"] * p
                state["m"].mul_(b1).add_((1 - b1) * g)
                state["v"].mul_(b2).add_((1 - b2) * g * g)
                lr_t = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p.sub_(lr_t * state["m"] / (state["v"].sqrt() + group["eps"]))


def keras_init(net):
    """cnn-cl's (Keras') initialisation: Glorot-uniform weights, zero biases
    (a shortcut's projection has none)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def recipe_options(ap):
    """Adds cnn-cl train's recipe options, with its defaults, to parser ap."""
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", choices=["adam", "adamw", "sgd", "rmsprop"], default="adam")
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--weight-decay", type=float,
                    help="default 0.01 for adamw, else 0")
    ap.add_argument("--eps", type=float, help="default 1e-8 for adamw, else 1e-7")
    ap.add_argument("--rho", type=float, default=0.9, help="rmsprop's alpha (0.9)")
    ap.add_argument("--lr-schedule", default="constant")
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--clip-norm", type=float, default=0.0)


def make_optimizer(args, params):
    """The optimizer of parsed recipe options."""
    adamw = args.optimizer == "adamw"
    wd = args.weight_decay if args.weight_decay is not None else 0.01 if adamw else 0.0
    eps = args.eps if args.eps is not None else 1e-8 if adamw else 1e-7
    if args.optimizer == "adam":
        return KerasAdam(params, args.lr, eps=eps, weight_decay=wd)
    if adamw:
        return torch.optim.AdamW(params, lr=args.lr, eps=eps, weight_decay=wd)
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum,
                               nesterov=args.nesterov, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=args.lr, alpha=args.rho, eps=eps,
                               momentum=args.momentum, weight_decay=wd)


def make_scheduler(args, opt, steps, per_epoch):
    """The scheduler of --lr-schedule and --warmup over a run of `steps`
    steps, `per_epoch` a epoch, stepped after every step; None for a
    constant rate. The schedule starts after the warmup, over the steps
    left (SequentialLR), as cnn-cl's does."""
    n, schedule = steps - args.warmup, args.lr_schedule
    lrs = torch.optim.lr_scheduler
    if schedule == "cosine":
        main = lrs.CosineAnnealingLR(opt, T_max=n, eta_min=0)
    elif schedule == "onecycle":
        main = lrs.OneCycleLR(opt, max_lr=args.lr, total_steps=n, cycle_momentum=False)
    elif schedule.startswith("step:"):
        _, every, gamma = schedule.split(":")
        main = lrs.StepLR(opt, step_size=int(every) * per_epoch, gamma=float(gamma))
    elif schedule == "constant":
        main = None
    else:
        raise torch_eval.InputError(f"--lr-schedule: '{schedule}' is not constant, "
                                    "step:E:G, cosine or onecycle")
    if not args.warmup:
        return main
    linear = lrs.LinearLR(opt, start_factor=1 / args.warmup, end_factor=1,
                          total_iters=args.warmup - 1)
    return lrs.SequentialLR(opt, [linear, main], milestones=[args.warmup]) if main else linear


def input_stats(images):
    """cnn-cl's --normalize statistics of uint8 images (n, c, h, w): float32
    (mean, std) of shape (c, 1, 1), the mean and population standard
    deviation of each channel's x / 255 in double, std 1 where it is 0."""
    counts = [np.bincount(images[:, c].reshape(-1), minlength=256)
              for c in range(images.shape[1])]
    v = np.arange(256) / 255.0
    mean = np.array([(n * v).sum() / n.sum() for n in counts])
    std = np.sqrt([(n * (v - m) ** 2).sum() / n.sum() for n, m in zip(counts, mean)])
    std[std.astype(np.float32) == 0] = 1
    return tuple(torch.from_numpy(a.astype(np.float32).reshape(-1, 1, 1)) for a in (mean, std))


def pixels(images, stats=None):
    """uint8 images (n, c, h, w) as cnn-cl feeds them: x / 255, then
    normalised per channel when stats is not None."""
    return normalized(images.float() / 255.0, stats)


def normalized(x, stats):
    """x in [0, 1] normalised per channel by stats (mean, std), or as it is
    when stats is None."""
    return x if stats is None else (x - stats[0]) / stats[1]


AUGMENT_FORMS = ("flip (mirror left to right with probability 0.5), crop:P (zero-pad by P "
                 "pixels, P from 1 to 255, then crop at the original size at random), "
                 "cutout:S (set an S x S square at a random centre to 0, S from 1 to 255), "
                 "joined by commas, or none")


def parse_augment(text):
    """--augment's list as cnn-cl reads it: [("flip", 0), ("crop", P),
    ("cutout", S), ...]."""
    if text == "none":
        return []
    steps = []
    for item in text.split(","):
        name, colon, arg = item.partition(":")
        if name == "flip" and not colon:
            steps.append(("flip", 0))
        elif name in ("crop", "cutout") and arg.isdigit() and 1 <= int(arg) <= 255:
            steps.append((name, int(arg)))
        else:
            raise torch_eval.InputError(f"--augment: '{item}' in '{text}' is not a transform; "
                                        f"it takes {AUGMENT_FORMS}")
    return steps


def augment(images, steps, keys):
    """steps applied in order to float images (n, c, h, w) with cnn-cl's
    draws for their augmentation keys: RandomHorizontalFlip(),
    RandomCrop(size, padding=P) and Cutout's S x S square in torch ops."""
    n, c, h, w = images.shape
    for step, (name, param) in enumerate(steps):
        if name == "flip":
            mirror = torch.from_numpy(data_order.flip_draws(keys, step))
            images = torch.where(mirror[:, None, None, None], images.flip(3), images)
        elif name == "cutout":
            cy, cx = (torch.from_numpy(a) for a in data_order.cutout_draws(keys, step, h, w))
            # Each row's and column's place in its image's square, [0, S) inside.
            rows = torch.arange(h) - (cy[:, None] - param // 2)
            cols = torch.arange(w) - (cx[:, None] - param // 2)
            inside = (((rows >= 0) & (rows < param))[:, :, None] &
                      ((cols >= 0) & (cols < param))[:, None, :])
            images = images.masked_fill(inside[:, None], 0.0)
        else:
            padded = F.pad(images, (param, param, param, param))
            dy, dx = (torch.from_numpy(a) for a in data_order.crop_draws(keys, step, param))
            rows = dy[:, None] + torch.arange(h)
            cols = dx[:, None] + torch.arange(w)
            images = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                            rows[:, None, :, None], cols[:, None, None, :]]
    return images


def main():
    started = time.perf_counter()
    ap = argparse.ArgumentParser(description="Trains a cnn-cl network in PyTorch.")
    ap.add_argument("--data", default="datasets/mnist",
                    help="IDX or CIFAR-10 binary folder (default: datasets/mnist)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", choices=["keras", "torch"], default="keras")
    ap.add_argument("--arch", default=torch_eval.DEFAULT_ARCH)
    ap.add_argument("--limit", type=int, help="train on the first N training images only")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--normalize", action="store_true",
                    help="normalise inputs per channel by the training images' statistics")
    ap.add_argument("--augment", default="none",
                    help="flip, crop:P, cutout:S, joined by commas")
    recipe_options(ap)
    args = ap.parse_args()
    steps = parse_augment(args.augment)
    if args.epochs < 1:
        raise torch_eval.InputError(f"--epochs {args.epochs}: must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise torch_eval.InputError(f"--limit {args.limit}: must be at least 1")
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    # SequentialLR steps its schedules with an epoch argument, which 1.13 warns of.
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.optim.lr_scheduler")

    # Kept as uint8 and scaled per batch: CIFAR-10 as floats would be 600 MB.
    x, y = (torch.from_numpy(a.copy()) for a in torch_eval.read_dataset(args.data, "train"))
    tx, ty = (torch.from_numpy(a.copy()) for a in torch_eval.read_dataset(args.data, "test"))
    x, y = x[:args.limit], y[:args.limit]
    if x.shape[1:] != tx.shape[1:]:
        raise torch_eval.InputError(f"{args.data}: training images are "
                                    f"{list(x.shape[1:])}, test images {list(tx.shape[1:])}")
    y, ty = y.long(), ty.long()
    stats = input_stats(x.numpy()) if args.normalize else None
    if stats is not None:
        print(f"normalize: mean {','.join(f'{v:.9g}' for v in stats[0].flatten().tolist())}, "
              f"std {','.join(f'{v:.9g}' for v in stats[1].flatten().tolist())}", flush=True)
    net = torch_eval.Net(args.arch, *x.shape[1:])
    torch_eval.check_labels(args.data, y.numpy(), net.classes)
    torch_eval.check_labels(args.data, ty.numpy(), net.classes)
    if args.init == "keras":
        keras_init(net)
    print(f"arch {args.arch} on {'x'.join(map(str, x.shape[1:]))}: "
          f"{sum(p.numel() for p in net.parameters())} parameters; "
          f"{len(x)} training, {len(tx)} test images; seed {args.seed}", flush=True)
    # PyTorch's batch norm cannot train on a batch of one sample (Keras
    # can): such a final batch is left out when the net has batch norm.
    has_bn = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules())
    end = len(x) - 1 if has_bn and len(x) % args.batch == 1 else len(x)
    per_epoch = -(-end // args.batch)
    opt = make_optimizer(args, net.parameters())
    sched = make_scheduler(args, opt, args.epochs * per_epoch, per_epoch)
    for epoch in range(1, args.epochs + 1):
        net.train()
        start, cpu = time.perf_counter(), time.process_time()
        order = data_order.permutation(args.seed, epoch - 1, len(x))
        keys = data_order.augment_keys(args.seed, epoch - 1, order) if steps else None
        for i in range(0, end, args.batch):
            batch = torch.from_numpy(order[i:i + args.batch])
            images = pixels(x[batch])
            if steps:
                images = augment(images, steps, keys[i:i + args.batch])
            opt.zero_grad()
            F.cross_entropy(net(normalized(images, stats)), y[batch],
                            label_smoothing=args.label_smoothing).backward()
            if args.clip_norm:
                nn.utils.clip_grad_norm_(net.parameters(), args.clip_norm)
            opt.step()
            if sched:
                sched.step()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        net.eval()
        with torch.no_grad():
            scores = torch.cat([net(pixels(tx[i:i + 1000], stats))
                                for i in range(0, len(tx), 1000)])
            loss = F.cross_entropy(scores, ty).item()
            accuracy = (scores.argmax(1) == ty).float().mean().item()
        print(f"epoch {epoch}: {seconds:.1f} s training ({cpu:.1f} s CPU) - test loss: {loss:.4f} - "
              f"test accuracy: {accuracy:.4f}", flush=True)
    print(f"total: {time.perf_counter() - started:.1f} s wall", flush=True)


if __name__ == "__main__":
    try:
        main()
    except torch_eval.InputError as e:
        print(f"torch-train: {e}", file=sys.stderr)
        sys.exit(2)
