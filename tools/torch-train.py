#!/usr/bin/python3
"""torch-train.py: trains the same network in PyTorch on the CPU, as the peer
that cnn-cl's speed and accuracy are measured against.

    /usr/bin/python3 tools/torch-train.py [--data DIR] [--epochs N] [--seed N]
                                          [--init keras|torch] [--arch SPEC]

Batch 32, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-7 as Keras), mean sparse
categorical cross-entropy, reshuffled every epoch, two threads. --init keras
(the default) uses Glorot-uniform weights and zero biases as cnn-cl does;
--init torch keeps PyTorch's own initialisation. Prints, per epoch, the
training seconds (without evaluation) and the test loss and accuracy.
"""
import argparse
import importlib.util
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_spec = importlib.util.spec_from_file_location(
    "torch_eval", os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-eval.py"))
torch_eval = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_eval)


def tensors(directory, prefix):
    images = torch_eval.read_idx(directory, f"{prefix}-images-idx3-ubyte", 2051)
    labels = torch_eval.read_idx(directory, f"{prefix}-labels-idx1-ubyte", 2049)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description="Trains the cnn-cl network in PyTorch.")
    ap.add_argument("--data", default="datasets/mnist")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", choices=["keras", "torch"], default="keras")
    ap.add_argument("--arch", default=torch_eval.DEFAULT_ARCH)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)

    x, y = tensors(args.data, "train")
    tx, ty = tensors(args.data, "t10k")
    net = torch_eval.Net(args.arch, 1, x.shape[2], x.shape[3])
    if args.init == "keras":
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(x))
        start = time.perf_counter()
        for i in range(0, len(x), 32):
            batch = order[i:i + 32]
            opt.zero_grad()
            F.cross_entropy(net(x[batch]), y[batch]).backward()
            opt.step()
        seconds = time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            scores = torch.cat([net(tx[i:i + 1000]) for i in range(0, len(tx), 1000)])
            loss = F.cross_entropy(scores, ty).item()
            accuracy = (scores.argmax(1) == ty).float().mean().item()
        print(f"epoch {epoch}: {seconds:.1f} s training - test loss: {loss:.4f} - "
              f"test accuracy: {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
