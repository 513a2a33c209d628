"""interop.py: the interop suite's Python side (Debian's python3-onnx and
python3-opencv, run with /usr/bin/python3).

  interop.py images DATA COUNT OUT
      writes the first COUNT test images of the IDX folder DATA (raw or .gz)
      to OUT as float32 pixel values 0..255, (COUNT, C, H, W), the input
      every runtime is given.
  interop.py check MODEL.onnx IMAGES CNNCL ORT
      checks MODEL with onnx's full checker and strict shape inference, runs
      it in OpenCV's dnn on IMAGES, and holds OpenCV's and ONNX Runtime's
      probabilities (ORT, one line per image, from interop.js) against
      cnn-cl's (CNNCL, `predict --probabilities` output): every probability
      within TOLERANCE, and the same class chosen for every image.
  interop.py torch DATA OUT.onnx
      trains a small CNN in PyTorch (Debian's python3-torch) on the first
      2,000 training images of DATA, its input divided by 255 inside the
      model, exports it to OUT.onnx (opset 13), and prints its accuracy on
      the whole test set, which cnn-cl's eval of the import must match.
"""
import gzip
import os
import sys

import numpy as np

TOLERANCE = 1e-5


def read_idx(data, name):
    path = os.path.join(data, name)
    return open(path, 'rb').read() if os.path.exists(path) else gzip.open(path + '.gz').read()


def read_idx_images(data, count, split='t10k'):
    path = split + '-images-idx3-ubyte'
    raw = read_idx(data, path)
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(3))
    assert raw[:4] == b'\0\0\x08\x03' and n >= count, path
    pixels = np.frombuffer(raw, np.uint8, count * rows * cols, 16)
    return pixels.reshape(count, 1, rows, cols).astype(np.float32)


def read_idx_labels(data, count, split='t10k'):
    raw = read_idx(data, split + '-labels-idx1-ubyte')
    return np.frombuffer(raw, np.uint8, count, 8).astype(np.int64)


def torch_model(data, out):
    """PyTorch's own network, trained briefly and exported; its accuracy."""
    import torch
    from torch import nn
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x):
            return self.body(x / 255)

    net = Net()
    x = torch.from_numpy(read_idx_images(data, 2000, 'train'))
    y = torch.from_numpy(read_idx_labels(data, 2000, 'train'))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(2):
        for i in range(0, 2000, 32):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i:i + 32]), y[i:i + 32]).backward()
            opt.step()
    net.eval()
    tx = torch.from_numpy(read_idx_images(data, 10000))
    ty = torch.from_numpy(read_idx_labels(data, 10000))
    with torch.no_grad():
        correct = (net(tx).argmax(1) == ty).sum().item()
    torch.onnx.export(net, tx[:1], out, opset_version=13, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}})
    print('%.6f' % (correct / 10000))


def cnncl_probabilities(path):
    rows = [line.split()[1:] for line in open(path) if line.startswith('  probabilities:')]
    return np.array(rows, np.float64)


def check(model_path, images_path, cnncl_path, ort_path):
    import cv2
    import onnx
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    images = np.fromfile(images_path, np.float32).reshape([-1] + dims)
    count = len(images)
    net = cv2.dnn.readNetFromONNX(model_path)
    net.setInput(images)
    results = {'opencv': net.forward().astype(np.float64),
               'onnxruntime': np.loadtxt(ort_path, np.float64, ndmin=2)}
    want = cnncl_probabilities(cnncl_path)
    failed = 0
    for name, got in results.items():
        if got.shape != want.shape:
            print(f'FAIL {model_path}: {name} gives {got.shape}, cnn-cl {want.shape}')
            failed += 1
            continue
        worst = np.abs(got - want).max()
        flips = np.flatnonzero(got.argmax(1) != want.argmax(1))
        ok = worst <= TOLERANCE and not flips.size
        print(f'{"ok" if ok else "FAIL"} {os.path.basename(model_path)}: {name} against '
              f'cnn-cl on {count} images: largest difference {worst:.3g} (at most '
              f'{TOLERANCE:g}), {flips.size} other classes chosen {list(flips[:5] + 1)}')
        failed += not ok
    return failed


def main(argv):
    if argv[1] == 'images':
        read_idx_images(argv[2], int(argv[3])).tofile(argv[4])
        return 0
    if argv[1] == 'torch':
        torch_model(argv[2], argv[3])
        return 0
    return 1 if check(*argv[2:6]) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
