#!/usr/bin/env bash
# oclgrind_cli.sh: cnn-cl on Oclgrind's simulated GPU, every kernel launch
# checked. The reference model trains on 64 images (two epochs of 32, so
# the timing after the first runs too) and evaluates, at the limits of the
# cards we target; then at a small card's (64 work-items, 16 KiB of local
# memory), where the variants that cannot run must be skipped with a note,
# and a forced one must fail saying why. The images are 8x8: the simulator
# runs every work-item in turn, and the GPU variants' tiles of 64 channels
# by 64 pixels cost as much for a small layer as for a full one.
# Usage: oclgrind_cli.sh oclgrind.sh cnn-cl
set -uo pipefail
grind=$1 cnn=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"
export XDG_CACHE_HOME=$tmp/cache

# 64 training and 16 test images of a fixed pattern, 8x8.
python3 - "$tmp" <<'PY'
import struct, sys
def write(name, n, images):
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        if images:
            f.write(struct.pack(">IIII", 0x803, n, 8, 8))
            f.write(bytes((i * 37 + i // 64 * 11) % 256 for i in range(n * 64)))
        else:
            f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
write("train-images-idx3-ubyte", 64, 1)
write("train-labels-idx1-ubyte", 64, 0)
write("t10k-images-idx3-ubyte", 16, 1)
write("t10k-labels-idx1-ubyte", 16, 0)
PY

card=(--data-races --check-api --max-wgsize 1024 --local-mem-size 49152)
small=(--check-api --max-wgsize 64 --local-mem-size 16384)
# expect runs the wrapper: OCLGRIND-OPTIONS... -- cnn-cl ARGS...
bin=$grind

expect "train" 0 'Test accuracy' -- "${card[@]}" -- "$cnn" train --data "$tmp" --epochs 2 \
  --limit 32 --batch 8 --save "$tmp/m.safetensors"
# The model evaluated was trained at 256 (on the host's device), so that
# eval's first load has no batch to time: 768 images' forward passes at 256
# would take minutes on the simulator.
"$cnn" train --data "$tmp" --epochs 1 --limit 32 --batch 256 --quiet \
  --save "$tmp/e.safetensors" > /dev/null || fail "training the model to evaluate"
expect "eval" 0 'accuracy' -- "${card[@]}" -- "$cnn" eval --data "$tmp" \
  --model "$tmp/e.safetensors"

# A small card, on an empty cache: the quick choice's first GPU variant
# cannot run, so the run goes on without it, saying so.
rm -rf "$tmp/cache"
expect "small card, the tuner skips" 0 \
  'conv1.forward: variant g64 skipped: .*work-groups of 256 work-items, and Oclgrind Simulator allows 64' \
  -- "${small[@]}" -- "$cnn" train --data "$tmp" --epochs 1 --limit 32 --batch 8 \
  --save "$tmp/s.safetensors"
forced=(bench --input 1x8x8 --batch 4 --steps 1
        --variants conv.forward=g64,conv.data=gd64,conv.weights=gw64k256)
expect "small card, forced" 1 \
  'conv_gpu_forward runs in work-groups of 256 work-items, and Oclgrind Simulator allows 64 for it' \
  -- "${small[@]}" -- "$cnn" "${forced[@]}"
# Local memory the GEMM's tiles need (8,320 bytes) beyond the card's.
expect "forced, local memory" 1 \
  'conv_gpu_forward needs [0-9]+ bytes of local memory, and Oclgrind Simulator has 4096' \
  -- --check-api --local-mem-size 4096 -- "$cnn" "${forced[@]}"

echo "oclgrind_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
