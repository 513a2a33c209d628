#!/usr/bin/env bash
# slow_train.sh: the `slow` suite — real MNIST, end to end. One epoch of the
# reference model must reach 98.0% test accuracy; Ctrl-C in mid-epoch and a
# resume must give the same checkpoint, byte for byte, as a straight run;
# eval must agree with training's validation; plot must draw the log.
# Usage: slow_train.sh path/to/cnn-cl path/to/datasets/mnist
set -uo pipefail
bin=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

if [ ! -f "$data/train-images-idx3-ubyte" ] && [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "MNIST is not in $data: run tools/fetch-datasets.sh mnist"
  echo "0 passed, 1 failed"
  exit 1
fi

# 1. One epoch of the reference model.
"$bin" train --data "$data" --epochs 1 --save "$tmp/e1.safetensors" --log "$tmp/e1.csv" \
  >"$tmp/e1.out" 2>&1
rc=$?
cat "$tmp/e1.out"
acc=$(sed -n 's/^Test accuracy: \([0-9.]*\).*/\1/p' "$tmp/e1.out")
if [ "$rc" -eq 0 ] && [ -n "$acc" ] && awk -v a="$acc" 'BEGIN { exit !(a >= 0.980) }'; then
  ok "one epoch: test accuracy $acc >= 0.980"
else
  fail "one epoch: exit $rc, test accuracy '${acc}' (want >= 0.980)"
fi

# 2. eval agrees with the validation of the same weights.
eval_acc=$("$bin" eval --model "$tmp/e1.safetensors" --data "$data" |
           sed -n 's/.*test accuracy: \([0-9.]*\)$/\1/p')
[ -n "$eval_acc" ] && [ "$eval_acc" = "$acc" ] && ok "eval agrees ($eval_acc)" ||
  fail "eval says '$eval_acc', training said '$acc'"

# 3. plot draws the log.
"$bin" plot "$tmp/e1.csv" -o "$tmp/e1.svg" >/dev/null && grep -q '</svg>' "$tmp/e1.svg" &&
  ok "plot" || fail "plot"

# 4. Interrupted in mid-epoch and resumed = straight, byte for byte: the
# reference model, then a network whose batch norm and dropout carry state.
interrupt_and_resume() { # NAME ARCH
  # Three epochs, so that the cut lands before the end: the batch-norm
  # network's epoch can take under the half second waited below.
  local name=$1 common=(--data "$data" --limit 6000 --epochs 3 --gemm kernel --quiet --arch "$2")
  "$bin" train "${common[@]}" --save "$tmp/straight.safetensors" >/dev/null 2>&1 ||
    fail "$name: straight run"
  rm -f "$tmp/cut.safetensors"
  "$bin" train "${common[@]}" --save "$tmp/cut.safetensors" >"$tmp/cut.out" 2>&1 &
  local pid=$! rc
  # Interrupt once the first epoch's checkpoint exists, so the cut is mid-run.
  for _ in $(seq 600); do [ -f "$tmp/cut.safetensors" ] && break; sleep 0.1; done
  sleep 0.5
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 130 ]; then ok "$name: SIGINT exits 130"; else fail "$name: SIGINT: exit $rc"; cat "$tmp/cut.out"; fi
  "$bin" train --resume "$tmp/cut.safetensors" --data "$data" --limit 6000 --epochs 3 --quiet \
    --save "$tmp/resumed.safetensors" >/dev/null 2>&1 || fail "$name: resumed run"
  cmp -s "$tmp/straight.safetensors" "$tmp/resumed.safetensors" &&
    ok "$name: interrupted and resumed = straight" || fail "$name: resumed checkpoint differs from straight run"
}
interrupt_and_resume "reference model" conv32k3-relu-pool2-conv64k3-relu-flatten-fc64-relu-fc10
interrupt_and_resume "batch norm and dropout" conv16k3same-bn-relu-pool2-drop0.25-conv32k3s2same-relu-gap-bn-fc32-relu-drop0.5-fc10

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
