#!/usr/bin/env bash
# test_parallel.sh: data-parallel training as a user runs it — two devices
# of one process (--device 0,1 on PoCL's two devices), and, given mpirun,
# two ranks: the job's output, bit-identical repeats, first-step gradients
# against one worker for every optimizer, an interrupted run resumed exactly (augmented too), resuming with
# another worker count, and how a signal or a dead rank ends the job.
# Usage: test_parallel.sh path/to/cnn-cl path/to/st_compare [mpirun]
set -uo pipefail
bin=$1 compare=$2 mpirun=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"
export POCL_DEVICES="pthread pthread"

# Random 8x8 images (never zero, so every weight has a gradient).
pixels() { # COUNT SEED
  LC_ALL=C awk -v n="$1" -v s="$2" 'BEGIN { srand(s); for (i = 0; i < n; i++)
    printf "%c", int(rand() * 255) + 1 }'
}
data() { # DIR TRAIN TEST
  mkdir -p "$1"
  { byte 0; byte 0; byte 8; byte 3; be32 "$2"; be32 8; be32 8; pixels $(($2 * 64)) 1; } \
    > "$1/train-images-idx3-ubyte"
  idx "$1/train-labels-idx1-ubyte" 1 "$2"
  { byte 0; byte 0; byte 8; byte 3; be32 "$3"; be32 8; be32 8; pixels $(($3 * 64)) 2; } \
    > "$1/t10k-images-idx3-ubyte"
  idx "$1/t10k-labels-idx1-ubyte" 1 "$3"
}
data "$tmp/d" 96 40
data "$tmp/long" 3000 40
arch=conv6k3-relu-pool2-conv5k2-relu-flatten-fc9-relu-drop0.25-fc10
train() { # SAVE ARGS...: a quiet run on the small data set
  local save=$1
  shift
  "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
    --save "$save" "$@"
}

# 1. Two devices: the header, then the same run again, byte for byte.
out=$(train "$tmp/two.safetensors" --device 0,1 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q 'data-parallel: 2 workers (1 rank x 2 devices), each batch of 8 split into 2 slices of 4-4' <<<"$out" &&
  grep -q '^Test accuracy' <<<"$out" && ok || fail "two devices: exit $rc: $out"
train "$tmp/again.safetensors" --device 0,1 -q >/dev/null 2>&1 &&
  cmp -s "$tmp/two.safetensors" "$tmp/again.safetensors" && ok ||
  fail "two devices twice: the checkpoints differ"

# 2. First-step gradients (Adam's first moment is 0.1 of them) against one
#    device, at the same global batch.
train "$tmp/g1.safetensors" --device 0 --limit 8 --epochs 1 -q >/dev/null 2>&1
train "$tmp/g2.safetensors" --device 0,1 --limit 8 --epochs 1 -q >/dev/null 2>&1
"$compare" "$tmp/g1.safetensors" "$tmp/g2.safetensors" adam.m. 1e-6 >"$tmp/cmp" && ok ||
  fail "first-step gradients of 2 devices against 1: $(cat "$tmp/cmp")"

# 2b. Every optimizer (momentum, Nesterov, weight decay, clipping that acts):
#     its state after the first step on two devices against one (the
#     gradients' sums differ only in rounding), and the clipped norm alike
#     on both devices: their checkpoints are the same run's.
optimizers=("sgd --lr 0.01 --momentum 0.9 --nesterov --weight-decay 1e-3 --clip-norm 0.01"
            "adamw --clip-norm 0.05" "rmsprop --momentum 0.5 --weight-decay 1e-3"
            "adam --weight-decay 1e-3 --clip-norm 0.05")
states=(sgd.momentum. adamw.exp_avg. rmsprop.square_avg. adam.m.)
for i in "${!optimizers[@]}"; do
  read -ra opt <<<"--optimizer ${optimizers[i]}"
  train "$tmp/o1-$i.safetensors" --device 0 --limit 8 --epochs 1 -q "${opt[@]}" >/dev/null 2>&1
  train "$tmp/o2-$i.safetensors" --device 0,1 --limit 8 --epochs 1 -q "${opt[@]}" >/dev/null 2>&1
  "$compare" "$tmp/o1-$i.safetensors" "$tmp/o2-$i.safetensors" "${states[i]}" 1e-5 >"$tmp/cmp" &&
    "$compare" "$tmp/o1-$i.safetensors" "$tmp/o2-$i.safetensors" conv1. 1e-5 >>"$tmp/cmp" && ok ||
    fail "${opt[*]}: first step of 2 devices against 1: $(cat "$tmp/cmp")"
done
# 2c. Every schedule, with warmup and label smoothing, over 8 steps: every
#     device takes each step's rate (the first step's weights against one
#     device), and two devices repeat byte for byte; 2 ranks must match
#     them (5).
schedules=(step:1:0.5 cosine onecycle)
recipe() { # SCHEDULE: the options of its run
  echo --optimizer sgd --lr 0.05 --momentum 0.9 --lr-schedule "$1" --warmup 3 \
    --label-smoothing 0.1
}
for s in "${schedules[@]}"; do
  read -ra r <<<"$(recipe "$s")"
  train "$tmp/r1-$s.safetensors" --device 0 --limit 8 --epochs 1 -q "${r[@]}" >/dev/null 2>&1
  train "$tmp/r2-$s.safetensors" --device 0,1 --limit 8 --epochs 1 -q "${r[@]}" >/dev/null 2>&1
  "$compare" "$tmp/r1-$s.safetensors" "$tmp/r2-$s.safetensors" conv1. 1e-5 >"$tmp/cmp" && ok ||
    fail "$s: first step of 2 devices against 1: $(cat "$tmp/cmp")"
  train "$tmp/rs-$s.safetensors" --device 0,1 --limit 32 -q "${r[@]}" >/dev/null 2>&1 &&
    train "$tmp/rs-again.safetensors" --device 0,1 --limit 32 -q "${r[@]}" >/dev/null 2>&1 &&
    cmp -s "$tmp/rs-$s.safetensors" "$tmp/rs-again.safetensors" && ok ||
    fail "$s, two devices twice: the checkpoints differ"
done

# 2d. A network of residual blocks (identity and projected at stride 2,
#     with batch norm): two devices repeat byte for byte, and their
#     first-step gradients are one device's.
blocks=conv6k3same-relu-res[conv6k3same-relu-conv6k3same]-relu-res[conv8k3s2same-bn-relu-conv8k3same-bn]-relu-gap-fc10
train "$tmp/b2.safetensors" --arch "$blocks" --device 0,1 -q >/dev/null 2>&1 &&
  train "$tmp/b2again.safetensors" --arch "$blocks" --device 0,1 -q >/dev/null 2>&1 &&
  cmp -s "$tmp/b2.safetensors" "$tmp/b2again.safetensors" && ok ||
  fail "blocks, two devices twice: the checkpoints differ"
blocks_nobn=conv6k3same-relu-res[conv6k3same-relu-conv6k3same]-relu-res[conv8k3s2same-relu-conv8k3same]-relu-gap-fc10
train "$tmp/bg1.safetensors" --arch "$blocks_nobn" --device 0 --limit 8 --epochs 1 -q >/dev/null 2>&1
train "$tmp/bg2.safetensors" --arch "$blocks_nobn" --device 0,1 --limit 8 --epochs 1 -q >/dev/null 2>&1
"$compare" "$tmp/bg1.safetensors" "$tmp/bg2.safetensors" adam.m. 1e-6 >"$tmp/cmp" && ok ||
  fail "blocks, first-step gradients of 2 devices against 1: $(cat "$tmp/cmp")"

# 3. A checkpoint of two devices resumes on one; a batch too small is refused.
train "$tmp/half.safetensors" --device 0,1 --epochs 1 -q >/dev/null 2>&1
expect "resume on one" 0 'resuming .* at epoch 2' -- train --data "$tmp/d" --epochs 2 \
  --resume "$tmp/half.safetensors" --save "$tmp/one.safetensors" --device 0 --gemm kernel
expect "batch < workers" 2 '--batch 1 is smaller than the 2 workers' -- train --data "$tmp/d" \
  --arch "$arch" --batch 1 --device 0,1 --save "$tmp/x.safetensors"

# 4. Interrupted on two devices and resumed there: the checkpoint a straight
#    run writes, byte for byte.
two_long() { # SAVE ARGS...
  local save=$1
  shift
  "$bin" train --data "$tmp/long" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
    --device 0,1 --save "$save" -q "$@"
}
# cut_resumed NAME FILE ARGS...: a straight run of ARGS into FILE-straight,
# one stopped by SIGINT into FILE and resumed there: exit 130, then the
# straight run's checkpoint byte for byte.
cut_resumed() {
  local name=$1 file=$2 rc cut
  shift 2
  two_long "$file-straight" "$@" >/dev/null 2>&1
  # cnn-cl itself in the background, not a function's subshell: that shell
  # (SIGINT ignored, as in any background job) would swallow the signal.
  "$bin" train --data "$tmp/long" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
    --device 0,1 --save "$file" -q "$@" >/dev/null 2>&1 &
  cut=$!
  # Signalled only once it trains: before that (timing the variants under
  # load can take a minute) SIGINT is still ignored, as in any background job.
  for _ in $(seq 3000); do
    [ -f "$file" ] || ! kill -0 $cut 2>/dev/null && break
    sleep 0.1
  done
  kill -INT $cut
  wait $cut
  rc=$?
  [ $rc -eq 130 ] && two_long "$file" --resume "$file" >/dev/null 2>&1 &&
    cmp -s "$file-straight" "$file" && ok ||
    fail "$name, interrupted (exit $rc) and resumed: the checkpoint differs from a straight run's"
}
cut_resumed "two devices" "$tmp/cut.safetensors"

# 4b. Augmented (flip, then crop): a sample is transformed alike on any
#     device, so two devices' first step is one device's (and not the
#     unaugmented one's), two devices repeat byte for byte, and a run
#     stopped by SIGINT resumes, taking the list from its checkpoint, to
#     the straight run's checkpoint byte for byte.
aug=(--augment flip,crop:2)
train "$tmp/a1.safetensors" --device 0 --limit 8 --epochs 1 -q "${aug[@]}" >/dev/null 2>&1
train "$tmp/a2.safetensors" --device 0,1 --limit 8 --epochs 1 -q "${aug[@]}" >/dev/null 2>&1
"$compare" "$tmp/a1.safetensors" "$tmp/a2.safetensors" adam.m. 1e-6 >"$tmp/cmp" &&
  "$compare" "$tmp/a1.safetensors" "$tmp/a2.safetensors" conv1. 1e-5 >>"$tmp/cmp" &&
  ! "$compare" "$tmp/g1.safetensors" "$tmp/a1.safetensors" adam.m. 1e-6 >/dev/null && ok ||
  fail "augmented: first step of 2 devices against 1 (or the unaugmented step): $(cat "$tmp/cmp")"
train "$tmp/a3.safetensors" --device 0,1 -q "${aug[@]}" >/dev/null 2>&1 &&
  train "$tmp/a4.safetensors" --device 0,1 -q "${aug[@]}" >/dev/null 2>&1 &&
  cmp -s "$tmp/a3.safetensors" "$tmp/a4.safetensors" && ok ||
  fail "augmented, two devices twice: the checkpoints differ"
cut_resumed "augmented" "$tmp/acut.safetensors" "${aug[@]}"

if [ -z "$mpirun" ]; then
  echo "$passed passed, $failed failed (no mpirun: the MPI checks did not run)"
  [ "$failed" -eq 0 ]
  exit
fi

# 5. Two ranks (one device each, as each is given): rank 0 alone speaks.
export POCL_DEVICES=pthread OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Under the sanitizers (CI), Open MPI's components leak at exit from
# libraries MPI_Finalize has unloaded, which no suppression can name; the
# leak check stays on for everything above.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi() { "$mpirun" -np 2 --oversubscribe "$@"; }
out=$(mpi "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
  --save "$tmp/m1.safetensors" 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q 'data-parallel: 2 workers (2 ranks x 1 device)' <<<"$out" &&
  [ "$(grep -c '^Test accuracy' <<<"$out")" -eq 1 ] && [ "$(grep -c '^Model:' <<<"$out")" -eq 1 ] &&
  ok || fail "two ranks: exit $rc: $out"
mpi "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
  --save "$tmp/m2.safetensors" -q >/dev/null 2>&1 &&
  cmp -s "$tmp/m1.safetensors" "$tmp/m2.safetensors" && ok || fail "two ranks twice: the checkpoints differ"
mpi "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 1 --limit 8 --gemm kernel \
  --save "$tmp/mg.safetensors" -q >/dev/null 2>&1
"$compare" "$tmp/g1.safetensors" "$tmp/mg.safetensors" adam.m. 1e-6 >"$tmp/cmp" && ok ||
  fail "first-step gradients of 2 ranks against 1 device: $(cat "$tmp/cmp")"
# Every optimizer on 2 ranks computes what 2 devices of one rank do, bit for
# bit: the same slices, summed in the same order.
for i in "${!optimizers[@]}"; do
  read -ra opt <<<"--optimizer ${optimizers[i]}"
  mpi "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 1 --limit 8 --gemm kernel \
    --save "$tmp/om-$i.safetensors" -q "${opt[@]}" >/dev/null 2>&1
  "$compare" "$tmp/o2-$i.safetensors" "$tmp/om-$i.safetensors" "" 0 >"$tmp/cmp" && ok ||
    fail "${opt[*]}: 2 ranks against 2 devices: $(cat "$tmp/cmp")"
done
# Every schedule's 8 steps on 2 ranks, bit for bit as on 2 devices.
for s in "${schedules[@]}"; do
  read -ra r <<<"$(recipe "$s")"
  mpi "$bin" train --data "$tmp/d" --arch "$arch" --batch 8 --epochs 2 --gemm kernel \
    --limit 32 --save "$tmp/rm-$s.safetensors" -q "${r[@]}" >/dev/null 2>&1
  "$compare" "$tmp/rs-$s.safetensors" "$tmp/rm-$s.safetensors" "" 0 >"$tmp/cmp" && ok ||
    fail "$s: 2 ranks against 2 devices: $(cat "$tmp/cmp")"
done
# Ranks and devices combine: 2 ranks x 2 devices.
POCL_DEVICES="pthread pthread" bin=$mpirun expect "ranks x devices" 0 \
  '4 workers \(2 ranks x 2 devices\)' -- -np 2 --oversubscribe "$bin" train --data "$tmp/d" \
  --arch "$arch" --batch 8 --epochs 1 --device 0,1 --gemm kernel --save "$tmp/m4.safetensors"

# 6. SIGINT at rank 1 alone: every rank stops at the same step, rank 0 saves
#    one checkpoint, which resumes in one process.
rank_pid() { # SAVE RANK: the process of that rank in the run saving to SAVE
  local p
  for p in $(pgrep -f -- "--save $1"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" &&
      echo "$p"
  done
}
long() { # SAVE: a long run in the background; sets job
  mpi "$bin" train --data "$tmp/long" --arch "$arch" --batch 8 --epochs 50 --gemm kernel \
    --save "$1" >"$tmp/long.out" 2>&1 &
  job=$!
  for _ in $(seq 600); do [ -f "$1" ] && break; sleep 0.1; done
}
long "$tmp/sig.safetensors"
kill -INT "$(rank_pid "$tmp/sig.safetensors" 1)"
wait $job
rc=$?
[ $rc -eq 130 ] && grep -q 'Interrupt: stopped at epoch' "$tmp/long.out" && ok ||
  fail "SIGINT at rank 1: exit $rc: $(tail -5 "$tmp/long.out")"
expect "resume a 2-rank checkpoint" 0 'resuming' -- train --data "$tmp/long" --epochs 2 \
  --resume "$tmp/sig.safetensors" --save "$tmp/sig2.safetensors" --device 0 --gemm kernel --limit 3000

# 7. A rank killed outright ends the job; a rank that fails names itself.
long "$tmp/dead.safetensors"
kill -9 "$(rank_pid "$tmp/dead.safetensors" 1)"
timeout 60 tail --pid=$job -f /dev/null
wait $job
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'rank 1.*exited on signal 9' "$tmp/long.out" && ok ||
  fail "kill -9 at rank 1: exit $rc: $(tail -5 "$tmp/long.out")"
bin=$mpirun expect "failing rank" 2 'rank 1 of 2: .*no such data folder' -- --oversubscribe \
  -np 1 "$bin" train --data "$tmp/d" --save "$tmp/f.safetensors" \
  : -np 1 "$bin" train --data "$tmp/none" --save "$tmp/f.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
