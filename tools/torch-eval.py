#!/usr/bin/python3
"""torch-eval.py: evaluates a cnn-cl checkpoint with PyTorch, as an
independent check of cnn-cl's own numbers.

    /usr/bin/python3 tools/torch-eval.py MODEL.safetensors [--data DIR]

Reads the safetensors file by hand (no safetensors package: an 8-byte
little-endian header length, a JSON header, raw little-endian data), builds
the torch.nn equivalent of the "arch" spec in its metadata for its "input"
shape (CxHxW) -- tokens conv<F>k<K>[s<S>][same|p<P>], pool<P>[s<S>],
avgpool<P>[s<S>], gap, bn, relu, drop<R>, flatten, fc<N>, with Keras'
semantics (p<P> is nn.Conv2d's padding=P), and residual blocks
res[TOKENS] (nesting), whose shortcut is
the input or, where the chain changes the shape, torchvision's
downsample: a 1x1 convolution without bias at the chain's stride, then
batch norm when the chain holds one; parameters named as cnn-cl names them
(conv1, conv2, bn1, fc1, res1.proj, res1.proj_bn, ...), in PyTorch
layouts, so load_state_dict takes them unchanged -- and
prints, in inference mode (dropout off, batch norm on its moving
statistics), the mean cross-entropy and accuracy on the test set of DIR:
t10k-{images-idx3,labels-idx1}-ubyte[.gz] (IDX) or test_batch.bin
(CIFAR-10 binary), pixels scaled by 1/255 and, where the metadata holds
"normalize_mean" and "normalize_std" (cnn-cl train --normalize), then
normalised per channel as cnn-cl does: (x - mean) / std in float32, in
that order (normalize below). The optimizer's state
(adam.*, adamw.*, sgd.*, rmsprop.*) is ignored. A bad file, argument or spec exits with status 2 and
one line. Needs PyTorch (Debian: apt-get install python3-torch) and NumPy.
torch-train.py imports the builder (Net) and the readers from here.
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

# The prefixes of the optimizers' state in a checkpoint (src/nn/optim.c's
# table): "adam.m.fc1.weight" and the like.
OPTIMIZERS = {"adam", "adamw", "sgd", "rmsprop"}
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
        if name.split(".")[0] in OPTIMIZERS:
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


# Tokens, as cnn-cl's arch parser takes them (matched by prefix, longer
# prefixes first); numbers are 1 to 2^20.
SYNTAX = {"conv": "conv<F>k<K>[s<S>][same|p<P>]", "avgpool": "avgpool<P>[s<S>]",
          "pool": "pool<P>[s<S>]", "gap": "gap", "bn": "bn", "relu": "relu",
          "drop": "drop<R>", "flatten": "flatten", "fc": "fc<N>", "res": "res[<TOKENS>]"}
MAX_NUMBER = 1 << 20


def _number(text, tok):
    v = int(text)
    if not 1 <= v <= MAX_NUMBER:
        raise InputError(f"arch: '{tok}': {text} is outside 1..{MAX_NUMBER}")
    return v


def _same_padding(size, k, s):
    """Keras' 'same' along one axis: (output size, padding before, after);
    the odd row or column of padding goes after (bottom, right)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


_GROUP = re.compile(r"(?<![^-\[(])\(([^()]*)\)x(\d+)(?![^-\])])")
MAX_LAYERS = 128


def _expand(spec):
    """The spec with every group "(TOKENS)xN" written out as TOKENS N times,
    joined by '-', innermost first, as cnn-cl's parser does."""
    text = spec
    while m := _GROUP.search(text):
        n = int(m[2])
        if not m[1] or not 1 <= n <= MAX_LAYERS:
            raise InputError(f"arch: a group in '{spec}' is not (TOKENS)x<N>, "
                             f"N from 1 to {MAX_LAYERS}")
        text = text[:m.start()] + "-".join([m[1]] * n) + text[m.end():]
        if len(text) > MAX_LAYERS * 33:  # a token and its '-' each, at most
            raise InputError(f"arch: '{spec}' has more than {MAX_LAYERS} layers, or an "
                             "overlong token, when its groups are written out")
    if "(" in text or ")" in text:
        raise InputError(f"arch: unbalanced or misplaced group in '{spec}'")
    return text


def _tokens(spec):
    """The spec's tokens, its groups written out, a block's 'res[' and ']'
    among them."""
    spec = _expand(spec)
    out, i = [], 0
    while i < len(spec):
        if spec.startswith("res[", i):
            out.append("res[")
            i += 4
            continue
        if spec[i] == "]":
            out.append("]")
            i += 1
        else:
            j = i
            while j < len(spec) and spec[j] not in "-]":
                j += 1
            if j == i:
                raise InputError(f"arch: empty token in '{spec}'")
            out.append(spec[i:j])
            i = j
        if i < len(spec) and spec[i] == "-":
            i += 1
            if i == len(spec) or spec[i] == "]":
                raise InputError(f"arch: empty token in '{spec}'")
        elif i < len(spec) and spec[i] != "]":
            raise InputError(f"arch: '{out[-1]}' is followed by '{spec[i]}' in '{spec}'")
    return out


class Shortcut(nn.Module):
    """A block's projection: proj, a 1x1 convolution without bias at the
    chain's stride, and proj_bn when the chain holds batch norm (torchvision's
    downsample). Flat features are taken as 1x1 images."""

    def __init__(self, c, f, stride, norm, flat):
        super().__init__()
        self.proj = nn.Conv2d(c, f, 1, stride=stride, bias=False)
        self.proj_bn = nn.BatchNorm2d(f, eps=1e-3, momentum=0.01) if norm else None
        self.flat = flat

    def forward(self, x):
        y = self.proj(x[:, :, None, None] if self.flat else x)
        if self.proj_bn is not None:
            y = self.proj_bn(y)
        return torch.flatten(y, 1) if self.flat else y


class Block:
    """A residual block: its chain's steps, plus its shortcut."""

    def __init__(self, steps, shortcut):
        self.steps, self.shortcut = steps, shortcut

    def __call__(self, x):
        y = x
        for step in self.steps:
            y = step(y)
        return y + self.shortcut(x)


class Net(nn.Module):
    """The network of a cnn-cl arch spec, for inputs of shape (c, h, w).
    Children are named as cnn-cl names layers: the kind's prefix and a running
    count per prefix (conv1, conv2, bn1, fc1), so the state dict's names are
    the checkpoint's. Raises InputError for a bad token or an impossible
    shape."""

    def __init__(self, spec, c, h, w):
        super().__init__()
        self.steps = []  # callables (child modules or functions), in order
        counts = {}
        flat = False  # after flatten, gap or fc: c features as an (n, c) tensor

        steps = self.steps  # the innermost open block's chain
        blocks = []  # the open blocks: outer steps, input shape, name, stride, norm

        def add(prefix, module):
            counts[prefix] = counts.get(prefix, 0) + 1
            self.add_module(f"{prefix}{counts[prefix]}", module)
            steps.append(module)

        def stride(s):
            for b in blocks:
                b["stride"] *= s

        tok = ""
        for tok in _tokens(spec):
            shape = f"{c}x{h}x{w}" if not flat else f"{c} features"
            if tok == "res[":
                counts["res"] = counts.get("res", 0) + 1
                blocks.append({"steps": steps, "in": (c, h, w, flat), "stride": 1,
                               "norm": False, "name": f"res{counts['res']}"})
                steps = []
                continue
            if tok == "]":
                if not blocks:
                    raise InputError(f"arch: a ']' closes no block in '{spec}'")
                b = blocks.pop()
                name, (ic, ih, iw, iflat) = b["name"], b["in"]
                if not steps:
                    raise InputError(f"arch: block {name} is empty")
                if flat and not iflat:
                    raise InputError(f"arch: block {name} makes its chain flat, but its "
                                     "shortcut keeps the input spatial")
                shortcut = lambda x: x
                if (ic, ih, iw) != (c, h, w):
                    st = b["stride"]
                    if ((ih - 1) // st + 1, (iw - 1) // st + 1) != (h, w):
                        raise InputError(f"arch: block {name} turns {ih}x{iw} into {h}x{w}, "
                                         f"which a 1x1 convolution at stride {st} does not")
                    shortcut = Shortcut(ic, c, st, b["norm"], flat)
                    self.add_module(name, shortcut)
                b["steps"].append(Block(steps, shortcut))
                steps = b["steps"]
                continue
            if flat and re.match(r"conv|pool|avgpool|gap", tok):
                raise InputError(f"arch: '{tok}' cannot follow a flat layer "
                                 f"(its input is {shape})")
            if m := re.fullmatch(r"conv(\d+)k(\d+)(?:s(\d+))?(?:(same)|p(0|[1-9]\d*))?",
                                 tok):
                f, k = _number(m[1], tok), _number(m[2], tok)
                s = _number(m[3], tok) if m[3] else 1
                # p<P>: P zeros on every side, fewer than the kernel's side.
                p = _number(m[5], tok) if m[5] and m[5] != "0" else 0
                if p >= k:
                    raise InputError(f"arch: '{tok}': padding {p} for a {k}x{k} kernel; "
                                     f"cnn-cl pads 0 to {k - 1}, less than the kernel's side")
                if m[4]:
                    oh, top, bottom = _same_padding(h, k, s)
                    ow, left, right = _same_padding(w, k, s)
                    if top or bottom or left or right:
                        pad = (left, right, top, bottom)
                        steps.append(lambda x, pad=pad: F.pad(x, pad))
                else:
                    if k > h + 2 * p or k > w + 2 * p:
                        padded = (f" padded by {p} on every side ({h + 2 * p}x{w + 2 * p})"
                                  if p else "")
                        raise InputError(f"arch: '{tok}': a {k}x{k} kernel is larger "
                                         f"than its {h}x{w} input{padded}")
                    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
                add("conv", nn.Conv2d(c, f, k, stride=s, padding=p))
                stride(s)
                c, h, w = f, oh, ow
            elif m := re.fullmatch(r"(avgpool|pool)(\d+)(?:s(\d+))?", tok):
                p = _number(m[2], tok)
                s = _number(m[3], tok) if m[3] else p
                if p > h or p > w:
                    raise InputError(f"arch: '{tok}': a {p}x{p} window is larger "
                                     f"than its {h}x{w} input")
                fn = F.avg_pool2d if m[1] == "avgpool" else F.max_pool2d
                steps.append(lambda x, fn=fn, p=p, s=s: fn(x, p, s))
                stride(s)
                h, w = (h - p) // s + 1, (w - p) // s + 1
            elif tok == "gap":
                steps.append(lambda x: x.mean((2, 3)))
                h, w, flat = 1, 1, True
            elif tok == "bn":
                norm = nn.BatchNorm1d if flat else nn.BatchNorm2d
                add("bn", norm(c, eps=1e-3, momentum=0.01))
                for b in blocks:
                    b["norm"] = True
            elif m := re.fullmatch(r"drop(\d+(?:\.\d+)?)", tok):
                if not float(m[1]) < 1:
                    raise InputError(f"arch: '{tok}': the dropout rate must be in [0, 1)")
                add("drop", nn.Dropout(float(m[1])))
            elif tok == "relu":
                steps.append(F.relu)
            elif tok == "flatten":
                steps.append(lambda x: torch.flatten(x, 1))
                c, h, w, flat = c * h * w, 1, 1, True
            elif m := re.fullmatch(r"fc(\d+)", tok):
                # cnn-cl takes any 1x1 input as flat, as it is laid out the same.
                if not flat and (h, w) != (1, 1):
                    raise InputError(f"arch: '{tok}' needs a flat input: put 'flatten' "
                                     f"before it (its input is {shape})")
                if not flat:
                    steps.append(lambda x: torch.flatten(x, 1))
                n = _number(m[1], tok)
                add("fc", nn.Linear(c, n))
                c, flat = n, True
            elif kind := next((k for k in SYNTAX if tok.startswith(k)), None):
                raise InputError(f"arch: '{tok}' is not {SYNTAX[kind]}")
            else:
                raise InputError(f"arch: unknown token '{tok}' in '{spec}' "
                                 f"(known: {', '.join(SYNTAX.values())})")
        if blocks:
            raise InputError(f"arch: block {blocks[-1]['name']} is never closed")
        if not re.fullmatch(r"fc\d+", tok):
            raise InputError(f"arch: '{spec}' does not end in fc<N> class scores")
        self.classes = c

    def forward(self, x):
        for step in self.steps:
            x = step(x)
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


CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then planar RGB 32x32
CIFAR_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)],
               "test": ["test_batch.bin"]}


def read_cifar(directory, base):
    """A CIFAR-10 binary file as uint8 arrays: images (count, 3, 32, 32) and
    labels (count,)."""
    path = os.path.join(directory, base)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}")
    if len(blob) == 0 or len(blob) % CIFAR_RECORD:
        raise InputError(f"{path}: {len(blob)} bytes are not whole CIFAR-10 records "
                         f"of {CIFAR_RECORD} bytes")
    records = np.frombuffer(blob, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0]


def read_dataset(directory, split):
    """The "train" or "test" split of DIR as uint8 arrays: images (count, c,
    h, w) and labels (count,). DIR holds either IDX files
    ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], c = 1) or CIFAR-10
    binary batches (data_batch_1..5.bin, test_batch.bin)."""
    if os.path.exists(os.path.join(directory, "test_batch.bin")):
        parts = [read_cifar(directory, base) for base in CIFAR_FILES[split]]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    else:
        prefix = "t10k" if split == "test" else "train"
        base = os.path.join(directory, f"{prefix}-images-idx3-ubyte")
        if not os.path.exists(base) and not os.path.exists(base + ".gz"):
            raise InputError(f"{directory}: holds neither IDX files ({prefix}-images-"
                             "idx3-ubyte[.gz]) nor CIFAR-10 batches (test_batch.bin)")
        images = read_idx(directory, f"{prefix}-images-idx3-ubyte", 2051)[:, None]
        labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte", 2049)
    if len(images) != len(labels) or len(images) == 0:
        raise InputError(f"{directory}: {len(images)} {split} images and "
                         f"{len(labels)} labels")
    return images, labels


def check_labels(directory, labels, classes):
    if int(labels.max()) >= classes:
        raise InputError(f"{directory}: label {int(labels.max())} is outside the "
                         f"model's {classes} classes")


def norm_stats(meta, path, channels):
    """The checkpoint's input statistics as float32 arrays (mean, std) of
    shape (channels, 1, 1), or None when it has none."""
    mean, std = meta.get("normalize_mean"), meta.get("normalize_std")
    if mean is None and std is None:
        return None
    try:
        stats = [np.array([float(v) for v in text.split(",")], dtype=np.float32)
                 for text in (mean, std)]
    except (AttributeError, ValueError):
        stats = None
    if stats is None or any(len(v) != channels for v in stats) or not (stats[1] > 0).all():
        raise InputError(f"{path}: metadata normalize_mean '{mean}' and normalize_std "
                         f"'{std}' are not {channels} numbers each (std above 0)")
    return tuple(v.reshape(channels, 1, 1) for v in stats)


def normalize(images, stats):
    """uint8 images (n, c, h, w) as cnn-cl feeds them: x / 255 in float32,
    then (x - mean) / std per channel when stats is not None."""
    x = images.astype(np.float32) / np.float32(255.0)
    if stats is not None:
        x = (x - stats[0]) / stats[1]
    return x


def load(net, tensors, path, spec):
    """Loads a checkpoint's tensors into net. Every tensor must be there, of
    its shape, except batch norm's num_batches_tracked, which cnn-cl does
    not keep (and eval does not use)."""
    want = net.state_dict()
    missing = sorted(n for n in set(want) - set(tensors)
                     if not n.endswith(".num_batches_tracked"))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise InputError(f"{path}: tensors do not match arch '{spec}' (missing "
                         f"{missing}, unexpected {extra})")
    for name, t in tensors.items():
        if t.shape != want[name].shape:
            raise InputError(f"{path}: {name} is {list(t.shape)}, the arch "
                             f"needs {list(want[name].shape)}")
    net.load_state_dict(tensors, strict=False)


def main():
    ap = argparse.ArgumentParser(description="Evaluates a cnn-cl checkpoint with PyTorch.")
    ap.add_argument("model", help="a cnn-cl checkpoint (.safetensors)")
    ap.add_argument("--data", default="datasets/mnist",
                    help="folder of the test set: t10k-*-ubyte[.gz] (IDX) or "
                    "test_batch.bin (CIFAR-10) (default: datasets/mnist)")
    ap.add_argument("--batch", type=int, default=1000, help="evaluation batch size")
    args = ap.parse_args()
    if args.batch < 1:
        raise InputError(f"--batch {args.batch}: must be at least 1")
    torch.set_num_threads(2)

    tensors, meta = read_safetensors(args.model)
    images, labels = read_dataset(args.data, "test")
    shape = "x".join(str(d) for d in images.shape[1:])
    if meta.get("input", shape) != shape:
        raise InputError(f"{args.model}: the model takes {meta['input']} inputs, "
                         f"the test images are {shape}")

    spec = meta.get("arch", DEFAULT_ARCH)
    net = Net(spec, *images.shape[1:])
    if meta.get("classes", str(net.classes)) != str(net.classes):
        raise InputError(f"{args.model}: metadata says {meta['classes']} classes, "
                         f"arch '{spec}' gives {net.classes}")
    check_labels(args.data, labels, net.classes)
    stats = norm_stats(meta, args.model, images.shape[1])
    load(net, tensors, args.model, spec)
    net.eval()

    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(images), args.batch):
            x = torch.from_numpy(normalize(images[i:i + args.batch], stats))
            y = torch.from_numpy(labels[i:i + args.batch].astype(np.int64))
            scores = net(x)
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
