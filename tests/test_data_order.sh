#!/usr/bin/env bash
# test_data_order.sh: tools/data_order.py (the order and augmentation draws
# torch-train.py feeds PyTorch) against cnn-cl's own, for awkward sizes,
# several seeds and epochs, and the full MNIST size; cutout's centres on
# images that are not square.
# Usage: test_data_order.sh path/to/order_dump
set -uo pipefail
dump=$1
tools=$(cd "$(dirname "$0")/../tools" && pwd)
check='
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import data_order as d
seed, epoch, n, pad, h, w = map(int, sys.argv[2:])
want = np.loadtxt(sys.stdin, dtype=np.int64, ndmin=2)
keys = d.augment_keys(seed, epoch, np.arange(n))
dy, dx = d.crop_draws(keys, 1, pad)
cy, cx = d.cutout_draws(keys, 2, h, w)
got = np.stack([np.arange(n), d.permutation(seed, epoch, n), d.flip_draws(keys, 0), dy, dx,
                cy, cx], 1)
if got.shape != want.shape:
    sys.exit(f"C printed {want.shape[0]} rows, Python made {n}")
bad = np.flatnonzero((got != want).any(1))
if bad.size:
    sys.exit(f"{bad.size} rows differ, first {bad[0]}: C {want[bad[0]].tolist()}, "
             f"Python {got[bad[0]].tolist()}")
'
failed=0
for c in "1 0 60000 2 28 28" "1 14 60000 4 32 24" "7 3 1 1 1 1" "12345678901 2 257 3 7 5" \
         "0 0 5 255 255 3"; do
  # shellcheck disable=SC2086 # the six numbers are words on purpose
  if ! "$dump" $c | /usr/bin/python3 -c "$check" "$tools" $c; then
    echo "FAIL: seed, epoch, n, pad, h, w $c"
    failed=$((failed + 1))
  fi
done
echo "data_order: $failed failed"
[ "$failed" -eq 0 ]
