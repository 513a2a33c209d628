#!/usr/bin/env bash
# test_validation.sh: --validation-split, --early-stopping and --save-best
# as a user runs them — which samples are held out, the counts, the stop
# epoch and the kept weights against a run of exactly that many epochs, a
# resume in the middle of the patience, and the same on two devices and,
# given mpirun, on two ranks with normalised inputs.
# Usage: test_validation.sh path/to/cnn-cl path/to/st_compare [mpirun]
set -uo pipefail
bin=$1 compare=$2 mpirun=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"

# 40 training and 10 test images of random pixels, labels i % 10: nothing
# to generalise, so after a few epochs the held-out loss rises while the
# training loss falls.
pixels() { # COUNT SEED
  LC_ALL=C awk -v n="$1" -v s="$2" 'BEGIN { srand(s); for (i = 0; i < n; i++)
    printf "%c", int(rand() * 255) + 1 }'
}
images() { # COUNT SEED
  byte 0; byte 0; byte 8; byte 3; be32 "$1"; be32 8; be32 8; pixels $(($1 * 64)) "$2"
}
mkdir -p "$tmp/d" "$tmp/last"
images 40 1 > "$tmp/d/train-images-idx3-ubyte"
idx "$tmp/d/train-labels-idx1-ubyte" 1 40
images 10 2 > "$tmp/d/t10k-images-idx3-ubyte"
idx "$tmp/d/t10k-labels-idx1-ubyte" 1 10
# The same training set whose test set is its last 10 samples (labels 30 %
# 10 .. 39 % 10): what a 0.25 split holds out.
cp "$tmp/d"/train-* "$tmp/last/"
{ byte 0; byte 0; byte 8; byte 3; be32 10; be32 8; be32 8
  tail -c $((10 * 64)) "$tmp/d/train-images-idx3-ubyte"; } > "$tmp/last/t10k-images-idx3-ubyte"
idx "$tmp/last/t10k-labels-idx1-ubyte" 1 10

run=(train --arch conv4k3-relu-flatten-fc10 --gemm kernel --batch 4 --lr 0.001)

# The split: counts, Keras's rounding, and refusals naming both sides.
expect "split counts" 0 '^data: .*: 30 training images, 10 held out for validation \(--validation-split 0\.25\), 10 test images' -- "${run[@]}" --data "$tmp/d" --epochs 1 --validation-split 0.25 --save "$tmp/x.st"
expect "split limit" 0 '^data: .*: 14 training images \(--limit\), 6 held out for validation \(--validation-split 0\.3\), 10 test' -- "${run[@]}" --data "$tmp/d" --epochs 1 --limit 20 --validation-split 0.3 --save "$tmp/x.st"
expect "split no training" 2 '^cnn-cl: --validation-split 0\.8 of 1 samples leaves 0 for training and 1 for validation; each side needs one at least' -- "${run[@]}" --data "$tmp/d" --limit 1 --validation-split 0.8 --save "$tmp/x.st"
expect "split no validation" 2 'of 40 samples leaves 40 for training and 0 for validation' -- "${run[@]}" --data "$tmp/d" --validation-split 1e-20 --save "$tmp/x.st"
expect "split range" 2 "^cnn-cl: --validation-split: '1' is not a number in \(0, 1\)$" -- train --validation-split 1
expect "patience range" 2 "^cnn-cl: --early-stopping: '0' is not an integer" -- train --early-stopping 0
expect "best no folder" 2 "^cnn-cl: --save-best: $tmp/none/b\.st: cannot create" -- "${run[@]}" --data "$tmp/d" --save-best "$tmp/none/b.st" --save "$tmp/x.st"

# The last 10 samples, before shuffling, are held out: validating on them
# is evaluating on a test set of those 10 (the final line's test loss of
# the same weights), and the real test set is evaluated once at the end.
"$bin" "${run[@]}" --data "$tmp/last" --epochs 1 --validation-split 0.25 --save "$tmp/h.st" \
  --log "$tmp/h.csv" >"$tmp/h.out" 2>&1
held=$(awk -F, 'NR == 2 { printf "%.4f", $4 }' "$tmp/h.csv")
grep -q "^Test accuracy: [0-9.]* - test loss: $held after 1 epoch" "$tmp/h.out" && ok ||
  fail "held out: val_loss $held is not the last samples' loss: $(tail -1 "$tmp/h.out")"
"$bin" "${run[@]}" --data "$tmp/d" --epochs 1 --validation-split 0.25 --save "$tmp/t.st" >"$tmp/t.out" 2>&1
loss=$(sed -n 's/^Test accuracy: [0-9.]* - test loss: \([0-9.]*\) after.*/\1/p' "$tmp/t.out")
expect "test at the end" 0 "^test loss: ${loss:-none} - test accuracy" -- eval --model "$tmp/t.st" --data "$tmp/d"

# A full run's log says where patience 3 stops: the first epoch 3 after
# the lowest val_loss (strictly lower, as Keras's EarlyStopping).
split=(--data "$tmp/d" --validation-split 0.25)
"$bin" "${run[@]}" "${split[@]}" --epochs 8 --save "$tmp/full.st" --log "$tmp/full.csv" -q >/dev/null 2>&1
read -r best stop < <(awk -F, 'NR > 1 { if (!seen || $4 + 0 < low) { low = $4 + 0; b = $1; seen = 1 }
  else if ($1 - b >= 3 && !s) s = $1 } END { print b, s }' "$tmp/full.csv")
[ "${best:-0}" -gt 1 ] && [ -n "${stop:-}" ] && ok ||
  fail "the data no longer has a best epoch after the first and a stop before the eighth: $(cat "$tmp/full.csv")"
stop=${stop:-0} best=${best:-0}
pat="^Test accuracy: [0-9.]+ - test loss: [0-9.]+ after $stop epochs \(stopped early: the lowest val_loss was epoch $best's\); model saved to .*; epoch $best kept in "
expect "early stopping" 0 "^Early stopping after epoch $stop: no lower val_loss for 3 epochs; the lowest was epoch $best's" -- "${run[@]}" "${split[@]}" --epochs 8 --early-stopping 3 --save "$tmp/e.st" --save-best "$tmp/best.st" --log "$tmp/e.csv"
expect "final line" 0 "$pat$tmp/best\.st$" -- "${run[@]}" "${split[@]}" --epochs 8 --early-stopping 3 --save "$tmp/e.st" --save-best "$tmp/best.st" --log "$tmp/e.csv" -q
[ "$(tail -n +2 "$tmp/e.csv" | wc -l)" -eq "$stop" ] && ok || fail "the log of a stopped run: $(cat "$tmp/e.csv")"
"$bin" "${run[@]}" "${split[@]}" --epochs "$best" --save "$tmp/exact.st" -q >/dev/null 2>&1
"$compare" "$tmp/best.st" "$tmp/exact.st" "" 0 >"$tmp/cmp" && ok ||
  fail "the best file is not the run of $best epochs: $(cat "$tmp/cmp")"
expect "best evaluates" 0 'test accuracy: [0-9.]+$' -- eval --model "$tmp/best.st" --data "$tmp/d"
expect "stopped resume" 0 "already holds $stop epochs; nothing to train \(it stopped early; raise --early-stopping\)" -- train --data "$tmp/d" --resume "$tmp/e.st" --save "$tmp/x.st"

# Resumed one epoch after the best, in the middle of the patience: the same
# stop, the same best weights, the same latest checkpoint.
"$bin" "${run[@]}" "${split[@]}" --epochs $((best + 1)) --early-stopping 3 --save "$tmp/r.st" \
  --save-best "$tmp/rbest.st" -q >/dev/null 2>&1
expect "resume patience" 0 "$pat$tmp/rbest\.st$" -- train --data "$tmp/d" --resume "$tmp/r.st" --epochs 8 --save "$tmp/r2.st" --save-best "$tmp/rbest.st" -q
"$compare" "$tmp/best.st" "$tmp/rbest.st" "" 0 >"$tmp/cmp" && cmp -s "$tmp/e.st" "$tmp/r2.st" && ok ||
  fail "resumed: not the uninterrupted run's files: $(cat "$tmp/cmp")"
"$bin" "${run[@]}" --data "$tmp/d" --epochs 1 --save "$tmp/n.st" -q >/dev/null 2>&1
expect "resume split" 2 "^cnn-cl: --resume $tmp/r\.st: --validation-split 0\.5 differs from its 0\.25; leave the option out" -- train --data "$tmp/d" --resume "$tmp/r.st" --epochs 8 --validation-split 0.5
expect "resume no split" 2 "--validation-split 0\.25 differs from its 0 \(it validated on the test set\)" -- train --data "$tmp/d" --resume "$tmp/n.st" --epochs 2 --validation-split 0.25

# Two devices: the workers validate on the held-out part together and stop
# where their own full run's log says.
two=(--device 0,1 "${split[@]}")
POCL_DEVICES="pthread pthread" "$bin" "${run[@]}" "${two[@]}" --epochs 8 --save "$tmp/f2.st" --log "$tmp/f2.csv" -q >/dev/null 2>&1
read -r best2 stop2 < <(awk -F, 'NR > 1 { if (!seen || $4 + 0 < low) { low = $4 + 0; b = $1; seen = 1 }
  else if ($1 - b >= 3 && !s) s = $1 } END { print b, s }' "$tmp/f2.csv")
POCL_DEVICES="pthread pthread" expect "two devices" 0 "after ${stop2:-8} epochs \(stopped early: the lowest val_loss was epoch ${best2:-0}'s\); .*; epoch ${best2:-0} kept in" -- "${run[@]}" "${two[@]}" --epochs 8 --early-stopping 3 --save "$tmp/e2.st" --save-best "$tmp/best2.st" -q

# Two ranks with --normalize: the statistics, the stop, the best file and
# the latest checkpoint are those of the two devices of one process.
if [ -n "$mpirun" ]; then
  stopped=(--epochs 8 --early-stopping 3 --normalize -q)
  POCL_DEVICES="pthread pthread" "$bin" "${run[@]}" "${two[@]}" "${stopped[@]}" \
    --save "$tmp/n2.st" --save-best "$tmp/nbest2.st" >/dev/null 2>&1
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 POCL_DEVICES=pthread \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    "$mpirun" -np 2 --oversubscribe "$bin" "${run[@]}" "${split[@]}" "${stopped[@]}" \
    --save "$tmp/nm.st" --save-best "$tmp/nbestm.st" >"$tmp/nm.out" 2>&1
  "$compare" "$tmp/n2.st" "$tmp/nm.st" "" 0 >"$tmp/cmp" &&
    "$compare" "$tmp/nbest2.st" "$tmp/nbestm.st" "" 0 >>"$tmp/cmp" && cmp -s "$tmp/n2.st" "$tmp/nm.st" &&
    ok || fail "two ranks, normalised: not the two devices' files: $(cat "$tmp/cmp" "$tmp/nm.out")"
else
  echo "no mpirun: the two-rank check did not run"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
