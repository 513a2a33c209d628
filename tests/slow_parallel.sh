#!/usr/bin/env bash
# slow_parallel.sh: the `slow` suite's data-parallel check on real MNIST —
# one epoch of the reference model at the same global batch on one worker,
# on two devices of one process, and (given mpirun) on two ranks: each test
# accuracy within 0.5 points of one worker's.
# Usage: slow_parallel.sh path/to/cnn-cl path/to/datasets/mnist [mpirun]
set -uo pipefail
bin=$1 data=$2 mpirun=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
export POCL_DEVICES="pthread pthread" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

accuracy() { # NAME COMMAND...: one epoch of COMMAND (a train command line),
  # then its test accuracy
  local name=$1
  shift
  "$@" --data "$data" --epochs 1 --save "$tmp/$name.safetensors" --quiet \
    >"$tmp/$name.out" 2>&1
  sed -n 's/^Test accuracy: \([0-9.]*\).*/\1/p' "$tmp/$name.out"
}
within() { # NAME ACCURACY: within half a point of one worker's
  if [ -n "$2" ] && awk -v a="$2" -v b="$one" 'BEGIN { d = a - b; exit !(d <= 0.005 && d >= -0.005) }'
  then passed=$((passed + 1)); echo "ok: $1: $2 against one worker's $one"
  else failed=$((failed + 1)); echo "FAIL: $1: '$2' against one worker's $one"; cat "$tmp/$1.out"; fi
}

one=$(accuracy one "$bin" train --device 0)
two=$(accuracy devices "$bin" train --device 0,1)
within devices "$two"
if [ -n "$mpirun" ]; then
  export POCL_DEVICES=pthread
  ranks=$(accuracy ranks "$mpirun" -np 2 --oversubscribe "$bin" train)
  within ranks "$ranks"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ -n "$one" ]
