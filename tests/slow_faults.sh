#!/usr/bin/env bash
# slow_faults.sh: faults that take minutes to inject (the slow suite).
#   kill -9 at random moments, 50 times, during training and during saves:
#     afterwards the checkpoint is absent (killed before the first save) or
#     loads; never a torn file.
#   two runs sharing one cold cache folder at once: both succeed, and a run
#     after them finds every choice cached, times nothing.
# Usage: slow_faults.sh CNN_CL
set -u
bin=$1
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/testlib.sh"

data=$tmp/data
mkdir -p "$data"
idx "$data/train-images-idx3-ubyte" 3 2000 12 12
idx "$data/train-labels-idx1-ubyte" 1 2000
idx "$data/t10k-images-idx3-ubyte" 3 200 12 12
idx "$data/t10k-labels-idx1-ubyte" 1 200
arch=conv8k3-relu-pool2-flatten-fc10

# kill -9: each trial kills a fresh run after 0.2 to 3.2 s. Epochs of 2000
# images save often, so kills land in training and in saves alike.
torn=0 saved=0
for trial in $(seq 50); do
  model=$tmp/kill-$trial.safetensors
  "$bin" train --data "$data" --arch "$arch" --epochs 1000 --save "$model" --quiet \
    > /dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + 3 * r / 32768 }')"
  kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  if [ -e "$model" ]; then
    if "$bin" eval --model "$model" --data "$data" > /dev/null 2>&1; then
      saved=$((saved + 1))
    else
      torn=$((torn + 1))
      echo "FAIL kill -9 trial $trial: $model does not load"
    fi
  fi
done
if [ "$torn" -eq 0 ] && [ "$saved" -gt 0 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL kill -9: $torn torn checkpoints, $saved that load, of 50 trials"
fi
echo "kill -9: 50 trials, $saved checkpoints that load, $torn torn"

# Two cold runs on one cache folder at once, then one that must time nothing.
export XDG_CACHE_HOME=$tmp/cache POCL_CACHE_DIR=$tmp/cache/pocl
run() { "$bin" train --data "$data" --arch "$arch" --epochs 1 --save "$tmp/$1.safetensors" > "$tmp/$1.log" 2>&1; }
run a & a=$!
run b & b=$!
wait "$a"; ra=$?
wait "$b"; rb=$?
run c; rc=$?
if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] && [ "$rc" -eq 0 ] && ! grep -q '^tuning ' "$tmp/c.log"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  printf 'FAIL shared cache: exits %d %d %d; the third run:\n%s\n' "$ra" "$rb" "$rc" "$(cat "$tmp/c.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
