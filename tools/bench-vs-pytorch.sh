#!/usr/bin/env bash
# bench-vs-pytorch.sh: the 19,200-image job, cnn-cl beside PyTorch. Each
# trains one epoch on the first 19,200 MNIST training images at the defaults
# (the reference model, batch 32, Adam), then evaluates the 10,000 test
# images; --arch, --data, --limit and --batch change the job alike for
# both. Each whole process is timed by the wall clock, start-up and data
# reading included: `cnn-cl train` (which also writes its checkpoint, to a
# temporary file) and tools/torch-train.py (PyTorch on 2 threads).
#
#   tools/bench-vs-pytorch.sh [--repeat N] [--build DIR] [--arch SPEC]
#                             [--data DIR] [--limit N] [--batch N]
#
# --repeat N runs the two alternately N times and reports each run and the
# medians; --build DIR holds cnn-cl (default build/). Start-up is the time
# from process start to the first training step, read from the output:
# cnn-cl's "Epoch 1/1" and PyTorch's "arch ..." lines are flushed just
# before it. cnn-cl's kernels compile lazily at their first launch (PoCL
# caches them across runs), so that cost falls into the training time.
# Exit 2 when datasets/mnist, the build or PyTorch is missing.
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and awk

limit=19200
repeat=1
arch=() # --arch SPEC, or each tool's default: the reference model
data=datasets/mnist
batch=32
build=build
python=/usr/bin/python3

fail() { # MESSAGE: exit 2 with it
  echo "bench-vs-pytorch: $1" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --repeat | --build | --arch | --data | --limit | --batch)
      [ $# -ge 2 ] || fail "$1 needs a value"
      case $1 in
        --repeat) repeat=$2 ;; --build) build=$2 ;; --arch) arch=(--arch "$2") ;;
        --data) data=$2 ;; --limit) limit=$2 ;; --batch) batch=$2 ;;
      esac
      shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) fail "unknown option '$1'; usage: tools/bench-vs-pytorch.sh [--repeat N] [--build DIR] [--arch SPEC] [--data DIR] [--limit N] [--batch N]" ;;
  esac
done
for n in repeat limit batch; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || fail "--$n '${!n}' is not a positive integer"
done
bin=$(cd "$build" 2>/dev/null && pwd)/cnn-cl || fail "$build: no such build folder"
[ -x "$bin" ] || fail "$build has no cnn-cl; build it first (ninja -C $build)"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -e "$data/$f" ] || [ -e "$data/$f.gz" ] ||
    fail "$data/$f is missing; fetch it with tools/fetch-datasets.sh"
done
torch_version=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
  fail "$python cannot import torch (Debian 12: apt-get install python3-torch)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

seconds() { # FROM TO: TO - FROM, two $EPOCHREALTIME stamps
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# timed LOG PATTERN COMMAND...: runs COMMAND with its output in LOG; sets
# wall (seconds to its exit) and startup (seconds to its first output line
# that matches the regex PATTERN). A failing command ends the script.
timed() {
  local log=$1 pattern=$2 t0 first="" line
  shift 2
  t0=$EPOCHREALTIME
  while IFS= read -r line; do
    if [ -z "$first" ] && [[ $line =~ $pattern ]]; then first=$EPOCHREALTIME; fi
    printf '%s\n' "$line"
  done < <("$@" 2>&1) > "$log"
  if ! wait $!; then
    echo "bench-vs-pytorch: $* failed:" >&2
    cat "$log" >&2
    exit 1
  fi
  wall=$(seconds "$t0" "$EPOCHREALTIME")
  [ -n "$first" ] || { echo "bench-vs-pytorch: no line matched '$pattern' in:" >&2; cat "$log" >&2; exit 1; }
  startup=$(seconds "$t0" "$first")
}

ratio() { # TORCH CNN_CL
  awk -v t="$1" -v c="$2" 'BEGIN { printf "%.2fx", t / c }'
}

median() { # VALUES...
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "1 epoch on the first $limit training images of $data, then its test images;"
echo "${arch[1]:-the reference model}, batch $batch, Adam; whole processes by the wall clock"
echo "cnn-cl: $bin; PyTorch $torch_version on 2 threads"
cnn_walls=() torch_walls=()
for ((r = 1; r <= repeat; r++)); do
  timed "$tmp/cnn-cl.log" '^Epoch 1/' \
    "$bin" train --data "$data" "${arch[@]}" --batch "$batch" --epochs 1 --limit "$limit" \
    --save "$tmp/model.safetensors"
  cnn_wall=$wall cnn_startup=$startup
  timed "$tmp/torch.log" '^arch ' \
    "$python" tools/torch-train.py --data "$data" "${arch[@]}" --batch "$batch" --epochs 1 \
    --limit "$limit"
  torch_wall=$wall torch_startup=$startup
  cnn_walls+=("$cnn_wall") torch_walls+=("$torch_wall")
  [ "$r" -gt 1 ] || sed -n 's/^device [0-9]*: /cnn-cl device: /p' "$tmp/cnn-cl.log"
  cnn_acc=$(sed -n 's/^Test accuracy: \([0-9.]*\).*/\1/p' "$tmp/cnn-cl.log")
  torch_acc=$(sed -n 's/.*test accuracy: \([0-9.]*\).*/\1/p' "$tmp/torch.log")
  echo "run $r/$repeat: cnn-cl $cnn_wall s, PyTorch $torch_wall s: $(ratio "$torch_wall" "$cnn_wall")"
  echo "  start-up (process start to the first training step): cnn-cl $cnn_startup s, PyTorch $torch_startup s"
  echo "  test accuracy: cnn-cl $cnn_acc, PyTorch $torch_acc"
done
if [ "$repeat" -gt 1 ]; then
  cnn_median=$(median "${cnn_walls[@]}") torch_median=$(median "${torch_walls[@]}")
  echo "median of $repeat: cnn-cl $cnn_median s, PyTorch $torch_median s: $(ratio "$torch_median" "$cnn_median")"
fi
