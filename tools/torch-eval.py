#!/usr/bin/python3
"""torch-eval.py: evaluates a cnn-cl checkpoint with PyTorch, as an
independent check of cnn-cl's own numbers.

    /usr/bin/python3 tools/torch-eval.py MODEL.safetensors [--data DIR]

Reads the safetensors file by hand (no safetensors package: an 8-byte
little-endian header length, a JSON header, raw little-endian data), builds
the torch.nn equivalent of the "arch" spec in its metadata (conv<F>k<K>,
pool2, relu, flatten, fc<N>; parameters named conv1, conv2, ..., fc1, fc2,
... as cnn-cl names them, in PyTorch layouts, so load_state_dict takes them
unchanged), and prints the mean cross-entropy and accuracy on the test set
DIR/t10k-{images-idx3,labels-idx1}-ubyte[.gz] with pixels scaled by 1/255.
Adam's moments (adam.m.*, adam.v.*) are ignored. Needs PyTorch (Debian:
apt-get install python3-torch) and NumPy.
"""
import argparse
import gzip
import json
import os
import re
import struct
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

DEFAULT_ARCH = "conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10"


class InputError(Exception):
    """A fault in a file or argument: reported in one line, exit status 2."""


def read_safetensors(path):
    """Returns ({name: float32 tensor}, {metadata key: string})."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot open: {e.strerror}")
    if len(blob) < 8:
        raise InputError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise InputError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: header is not JSON: {e}")
    if not isinstance(header, dict):
        raise InputError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name.startswith("adam."):
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: tensor {name}: entry lacks dtype, shape or data_offsets")
        if dtype != "F32":
            raise InputError(f"{path}: tensor {name} is {dtype}, expected F32")
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(data) or end - begin != 4 * count:
            raise InputError(f"{path}: tensor {name}: bytes [{begin}, {end}) do not hold "
                             f"{count} floats inside the {len(data)}-byte data section")
        values = np.frombuffer(data, dtype="<f4", count=count, offset=begin)
        tensors[name] = torch.from_numpy(values.astype(np.float32)).reshape(shape)
    return tensors, meta


class Net(nn.Module):
    """The network of a cnn-cl arch spec, for inputs of shape (c, h, w)."""

    def __init__(self, spec, c, h, w):
        super().__init__()
        self.steps = []  # (name of a child module, or a function)
        convs = fcs = 0
        flat = None  # the width after flatten
        for tok in spec.split("-"):
            if flat is not None and (tok == "pool2" or tok.startswith("conv")):
                raise InputError(f"arch: '{tok}' cannot follow flatten")
            if m := re.fullmatch(r"conv(\d+)k(\d+)", tok):
                f, k = int(m[1]), int(m[2])
                if k > min(h, w):
                    raise InputError(f"arch: '{tok}' does not fit its input {c}x{h}x{w}")
                convs += 1
                self.add_module(f"conv{convs}", nn.Conv2d(c, f, k))
                self.steps.append(f"conv{convs}")
                c, h, w = f, h - k + 1, w - k + 1
            elif tok == "pool2":
                if h < 2 or w < 2:
                    raise InputError(f"arch: '{tok}' does not fit its input {c}x{h}x{w}")
                self.steps.append(lambda x: F.max_pool2d(x, 2))
                h, w = h // 2, w // 2
            elif tok == "relu":
                self.steps.append(F.relu)
            elif tok == "flatten":
                self.steps.append(lambda x: torch.flatten(x, 1))
                flat = c * h * w
            elif m := re.fullmatch(r"fc(\d+)", tok):
                if flat is None:
                    raise InputError(f"arch: '{tok}' needs 'flatten' before it")
                fcs += 1
                self.add_module(f"fc{fcs}", nn.Linear(flat, int(m[1])))
                self.steps.append(f"fc{fcs}")
                flat = int(m[1])
            else:
                raise InputError(f"arch: unknown token '{tok}' (expected conv<F>k<K>, "
                                 "pool2, relu, flatten, fc<N>)")
        if flat is None:
            raise InputError(f"arch: '{spec}' does not end in fc<N> class scores")
        self.classes = flat

    def forward(self, x):
        for step in self.steps:
            x = getattr(self, step)(x) if isinstance(step, str) else step(x)
        return x


def read_idx(directory, base, magic):
    """An IDX file as a uint8 array of shape (count, rows, cols) or (count,)."""
    path = os.path.join(directory, base)
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            blob = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}")
    dims = 3 if magic == 2051 else 1
    if len(blob) < 4 + 4 * dims or struct.unpack(">I", blob[:4])[0] != magic:
        raise InputError(f"{path}: not an IDX file with magic {magic}")
    shape = struct.unpack(">" + "I" * dims, blob[4:4 + 4 * dims])
    size = int(np.prod(shape))
    if len(blob) != 4 + 4 * dims + size:
        raise InputError(f"{path}: holds {len(blob) - 4 - 4 * dims} data bytes, "
                         f"its header says {size}")
    return np.frombuffer(blob, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description="Evaluates a cnn-cl checkpoint with PyTorch.")
    ap.add_argument("model", help="a cnn-cl checkpoint (.safetensors)")
    ap.add_argument("--data", default="datasets/mnist",
                    help="folder of the test set t10k-*-ubyte[.gz] (default: datasets/mnist)")
    ap.add_argument("--batch", type=int, default=1000, help="evaluation batch size")
    args = ap.parse_args()
    torch.set_num_threads(2)

    tensors, meta = read_safetensors(args.model)
    images = read_idx(args.data, "t10k-images-idx3-ubyte", 2051)
    labels = read_idx(args.data, "t10k-labels-idx1-ubyte", 2049)
    if len(images) != len(labels) or len(images) == 0:
        raise InputError(f"{args.data}: {len(images)} test images and {len(labels)} labels")
    shape = f"1x{images.shape[1]}x{images.shape[2]}"
    if meta.get("input", shape) != shape:
        raise InputError(f"{args.model}: the model takes {meta['input']} inputs, "
                         f"the test images are {shape}")

    net = Net(meta.get("arch", DEFAULT_ARCH), 1, images.shape[1], images.shape[2])
    if int(labels.max()) >= net.classes:
        raise InputError(f"{args.data}: label {int(labels.max())} is outside the "
                         f"model's {net.classes} classes")
    want = net.state_dict()
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise InputError(f"{args.model}: tensors do not match arch "
                         f"'{meta.get('arch', DEFAULT_ARCH)}' (missing {missing}, "
                         f"unexpected {extra})")
    for name, t in tensors.items():
        if t.shape != want[name].shape:
            raise InputError(f"{args.model}: {name} is {list(t.shape)}, the arch "
                             f"needs {list(want[name].shape)}")
    net.load_state_dict(tensors)
    net.eval()

    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(images), args.batch):
            x = torch.from_numpy(images[i:i + args.batch].astype(np.float32) / 255.0)
            y = torch.from_numpy(labels[i:i + args.batch].astype(np.int64))
            scores = net(x.unsqueeze(1))
            loss_sum += F.cross_entropy(scores, y, reduction="sum").item()
            correct += (scores.argmax(1) == y).sum().item()
    n = len(images)
    print(f"test loss: {loss_sum / n:.6f}  test accuracy: {correct / n:.6f}")


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"torch-eval: {e}", file=sys.stderr)
        sys.exit(2)
