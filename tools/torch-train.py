#!/usr/bin/python3
"""torch-train.py: trains a cnn-cl network in PyTorch on the CPU, as the peer
that cnn-cl's speed and accuracy are measured against.

    /usr/bin/python3 tools/torch-train.py [--data DIR] [--epochs N] [--seed N]
                                          [--init keras|torch] [--arch SPEC]
                                          [--limit N]

DIR holds IDX files (train-*, t10k-*) or CIFAR-10 binary batches
(data_batch_1..5.bin, test_batch.bin); the network is torch-eval.py's
builder for SPEC (any cnn-cl arch spec) on DIR's image shape. Batch 32, Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-7 as Keras), mean sparse categorical
cross-entropy, reshuffled every epoch, two threads. --init keras (the
default) uses Glorot-uniform weights and zero biases as cnn-cl does (batch
norm starts at scale 1, shift 0 in both); --init torch keeps PyTorch's own
initialisation. --limit N trains on the first N training images only, as
cnn-cl's --limit does. Prints, per epoch, the training seconds (without
evaluation; also as CPU seconds of this process, which shared cores disturb
less) and the test loss and accuracy in inference mode, then the wall time
of the whole job (reading the data included).
"""
import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_spec = importlib.util.spec_from_file_location(
    "torch_eval", os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-eval.py"))
torch_eval = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_eval)

BATCH = 32


def pixels(images):
    """uint8 images (n, c, h, w) as floats in [0, 1]."""
    return images.float() / 255.0


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
    args = ap.parse_args()
    if args.epochs < 1:
        raise torch_eval.InputError(f"--epochs {args.epochs}: must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise torch_eval.InputError(f"--limit {args.limit}: must be at least 1")
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)

    # Kept as uint8 and scaled per batch: CIFAR-10 as floats would be 600 MB.
    x, y = (torch.from_numpy(a.copy()) for a in torch_eval.read_dataset(args.data, "train"))
    tx, ty = (torch.from_numpy(a.copy()) for a in torch_eval.read_dataset(args.data, "test"))
    x, y = x[:args.limit], y[:args.limit]
    if x.shape[1:] != tx.shape[1:]:
        raise torch_eval.InputError(f"{args.data}: training images are "
                                    f"{list(x.shape[1:])}, test images {list(tx.shape[1:])}")
    y, ty = y.long(), ty.long()
    net = torch_eval.Net(args.arch, *x.shape[1:])
    torch_eval.check_labels(args.data, y.numpy(), net.classes)
    torch_eval.check_labels(args.data, ty.numpy(), net.classes)
    if args.init == "keras":
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    print(f"arch {args.arch} on {'x'.join(map(str, x.shape[1:]))}: "
          f"{sum(p.numel() for p in net.parameters())} parameters; "
          f"{len(x)} training, {len(tx)} test images; seed {args.seed}", flush=True)
    # PyTorch's batch norm cannot train on a batch of one sample (Keras
    # can): such a final batch is left out when the net has batch norm.
    has_bn = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in net.modules())
    end = len(x) - 1 if has_bn and len(x) % BATCH == 1 else len(x)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(x))
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, end, BATCH):
            batch = order[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(net(pixels(x[batch])), y[batch]).backward()
            opt.step()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        net.eval()
        with torch.no_grad():
            scores = torch.cat([net(pixels(tx[i:i + 1000])) for i in range(0, len(tx), 1000)])
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
