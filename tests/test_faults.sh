#!/usr/bin/env bash
# test_faults.sh: faults injected into real runs (docs/RELIABILITY.md lists
# them) — unwritable outputs, a full disk, data truncated under a job, an
# impossible allocation, signals during validation, eval and predict.
# Usage: test_faults.sh path/to/cnn-cl
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"
skip() { echo "skip $*"; }

# in_mount MOUNT-OPTIONS DIR CMD...: runs CMD with a fresh tmpfs on DIR, in a
# mount namespace of its own (root only); 77 when none can be had.
in_mount() {
  local opts=$1 dir=$2
  shift 2
  unshare -m true 2>/dev/null || return 77
  unshare -m bash -c 'mount -t tmpfs -o "$0" tmpfs "$1" || exit 77; shift; "$@"' \
    "$opts" "$dir" "$@"
}

# Tiny data (images of random bytes, so a big network learns something),
# a job's data of 2,000 28x28 images, and a data set whose 8,000 test
# images take seconds to evaluate.
mkdir -p "$tmp/good" "$tmp/cut" "$tmp/slow"
idx "$tmp/good/train-labels-idx1-ubyte" 1 40
idx "$tmp/good/t10k-labels-idx1-ubyte" 1 8
python3 - "$tmp" <<'EOF'
import os, struct, sys
def images(path, n, side):
    with open(path, 'wb') as f:
        f.write(struct.pack('>BBBBIII', 0, 0, 8, 3, n, side, side) + os.urandom(n * side * side))
def labels(path, n):
    with open(path, 'wb') as f:
        f.write(struct.pack('>BBBBI', 0, 0, 8, 1, n) + bytes(i % 10 for i in range(n)))
t = sys.argv[1]
images(t + '/good/train-images-idx3-ubyte', 40, 6)
images(t + '/good/t10k-images-idx3-ubyte', 8, 6)
images(t + '/cut/train-images-idx3-ubyte', 2000, 28)
labels(t + '/cut/train-labels-idx1-ubyte', 2000)
images(t + '/cut/t10k-images-idx3-ubyte', 10, 28)
labels(t + '/cut/t10k-labels-idx1-ubyte', 10)
images(t + '/slow/train-images-idx3-ubyte', 10, 28)
labels(t + '/slow/train-labels-idx1-ubyte', 10)
images(t + '/slow/t10k-images-idx3-ubyte', 24000, 28)
labels(t + '/slow/t10k-labels-idx1-ubyte', 24000)
EOF
small=(--data "$tmp/good" --arch conv2k3-relu-flatten-fc10 --gemm kernel --batch 4 --quiet)
# A 3.4 MB checkpoint, larger than the 2 MB size limit below and than any
# file the OpenCL driver writes to its cache.
big=(--data "$tmp/good" --arch conv8k3-relu-flatten-fc2048-relu-fc10 --gemm kernel --batch 4
     --quiet --epochs 1)
no_temporaries() { # NAME DIR: no atomic writer's temporary left in DIR
  if compgen -G "$2/*.tmp-*" >/dev/null; then fail "$1: left $(echo "$2"/*.tmp-*)"; else ok; fi
}

# Unwritable --save or --log: exit 2 naming the path, before the data is
# read (the data folder here does not exist).
mkdir -p "$tmp/out/dir"
touch "$tmp/out/ro.safetensors" && chmod 444 "$tmp/out/ro.safetensors"
none=(train --data "$tmp/none" --quiet)
expect "save no folder"  2 "^cnn-cl: --save: $tmp/nofolder/m\.safetensors: cannot create: No such file or directory$" -- "${none[@]}" --save "$tmp/nofolder/m.safetensors"
expect "save is folder"  2 "^cnn-cl: --save: $tmp/out/dir: is a folder$" -- "${none[@]}" --save "$tmp/out/dir"
expect "save read-only"  2 "^cnn-cl: --save: $tmp/out/ro\.safetensors: is read-only$" -- "${none[@]}" --save "$tmp/out/ro.safetensors"
expect "save not a file" 2 "^cnn-cl: --save: /dev/null: is not a regular file$" -- "${none[@]}" --save /dev/null
expect "log no folder"   2 "^cnn-cl: --log: $tmp/nofolder/m\.csv: cannot create: No such file or directory$" -- "${none[@]}" --save "$tmp/out/m.safetensors" --log "$tmp/nofolder/m.csv"
expect "log is folder"   2 "^cnn-cl: --log: $tmp/out/dir: is a folder$" -- "${none[@]}" --save "$tmp/out/m.safetensors" --log "$tmp/out/dir"
no_temporaries "unwritable" "$tmp/out"
mkdir -p "$tmp/ro"
out=$(in_mount ro "$tmp/ro" "$bin" "${none[@]}" --save "$tmp/ro/m.safetensors" 2>&1)
rc=$?
if [ "$rc" -eq 77 ] && [ "$(id -u)" -ne 0 ]; then
  chmod 555 "$tmp/ro"
  out=$("$bin" "${none[@]}" --save "$tmp/ro/m.safetensors" 2>&1)
  rc=$?
  chmod 755 "$tmp/ro"
fi
if [ "$rc" -eq 77 ]; then
  skip "save read-only folder: neither a mount namespace nor a non-root user"
elif [ "$rc" -eq 2 ] && grep -Eq "^cnn-cl: --save: $tmp/ro/m\.safetensors: cannot create: (Read-only file system|Permission denied)$" <<<"$out"; then
  ok
else
  fail "save read-only folder: exit $rc: $out"
fi

# Disk full while saving: exit 1 naming the file, the previous checkpoint
# whole, no temporary left, and no claim of a saved state that is not there.
mkdir -p "$tmp/full"
prev=$tmp/full/prev.safetensors
"$bin" train "${big[@]}" --save "$prev" >/dev/null 2>&1 || fail "disk full: the first run"
cp "$prev" "$tmp/prev.copy"
limited() { (ulimit -f 2048 && exec "$bin" "$@"); }
out=$(limited train "${big[@]}" --save "$prev" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -Eq "^cnn-cl: after 1 epoch \(this run saved no checkpoint\): $prev: cannot write: File too large$" <<<"$out"; then
  ok
else
  fail "disk full over a checkpoint: exit $rc: $out"
fi
cmp -s "$prev" "$tmp/prev.copy" && ok || fail "disk full: the previous checkpoint changed"
expect "disk full: previous loads" 0 'test accuracy' -- eval --model "$prev" --data "$tmp/good"
out=$(limited train "${big[@]}" --save "$tmp/full/first.safetensors" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && [ ! -e "$tmp/full/first.safetensors" ] && ! grep -q holds <<<"$out" &&
   grep -q "first.safetensors: cannot write" <<<"$out"; then
  ok
else
  fail "disk full, first checkpoint: exit $rc: $out"
fi
no_temporaries "disk full" "$tmp/full"
# A real full disk (ENOSPC): a 1 MB tmpfs, checked from inside its namespace.
mkdir -p "$tmp/tiny"
out=$(in_mount size=1m "$tmp/tiny" bash -c '"$@"; rc=$?; ls "'"$tmp/tiny"'"; exit $rc' _ \
      "$bin" train "${big[@]}" --save "$tmp/tiny/m.safetensors" 2>&1)
rc=$?
if [ "$rc" -eq 77 ]; then
  skip "no space left: no mount namespace"
elif [ "$rc" -eq 1 ] && grep -Eq "^cnn-cl: .*$tmp/tiny/m\.safetensors: cannot write: No space left on device$" <<<"$out" &&
     ! grep -q "tmp-" <<<"$out"; then
  ok
else
  fail "no space left: exit $rc: $out"
fi

# --save-best on a full disk (a 1 MB tmpfs; --save elsewhere): exit 1 naming
# the best file, which is written before the latest checkpoint, so nothing
# claims an epoch that was not kept; no temporary left on the full disk.
mkdir -p "$tmp/tinybest"
out=$(in_mount size=1m "$tmp/tinybest" bash -c '"$@"; rc=$?; ls "'"$tmp/tinybest"'"; exit $rc' _ \
      "$bin" train "${big[@]}" --save "$tmp/sb.safetensors" \
      --save-best "$tmp/tinybest/best.safetensors" 2>&1)
rc=$?
if [ "$rc" -eq 77 ]; then
  skip "save-best no space left: no mount namespace"
elif [ "$rc" -eq 1 ] && [ ! -e "$tmp/sb.safetensors" ] && ! grep -q "tmp-" <<<"$out" &&
     grep -Eq "^cnn-cl: .*--save-best: $tmp/tinybest/best\.safetensors: cannot write: No space left on device$" <<<"$out"; then
  ok
else
  fail "save-best no space left: exit $rc: $out"
fi

# An allocation beyond the device: exit 1 naming the bytes and the limits.
expect "device memory"   1 '^cnn-cl: allocating [0-9]+ bytes: more than the [0-9]+ bytes the device allows in one buffer \([0-9]+ bytes in all\)' -- train "${small[@]}" --arch conv8k3-relu-flatten-fc65536-relu-fc65536-fc10 --save "$tmp/huge.safetensors"

# The training images truncated under a running job: exit 2 naming the file.
"$bin" train --data "$tmp/cut" --arch conv2k3-relu-flatten-fc10 --gemm kernel --batch 2 \
  --epochs 1000 --quiet --save "$tmp/cut.safetensors" >"$tmp/cut.out" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -f "$tmp/cut.safetensors" ] && break; sleep 0.1; done
truncate -s 100000 "$tmp/cut/train-images-idx3-ubyte"
wait "$pid"
rc=$?
if [ "$rc" -eq 2 ] && grep -Eq "^cnn-cl: $tmp/cut/train-images-idx3-ubyte: read failed at image [0-9]+ \(was the file changed\?\)$" "$tmp/cut.out"; then
  ok
else
  fail "data truncated: exit $rc: $(cat "$tmp/cut.out")"
fi

# SIGINT or SIGTERM while evaluating 24,000 images: a prompt exit 130 or 143.
# A model of the slow data set first: trained as the run interrupted below
# is, so the variants it tunes and the kernels the driver compiles on first
# use are cached, and the signal lands in validation, not in a compiler.
slowmodel=$tmp/slow.safetensors
"$bin" train --data "$tmp/slow" --arch conv32k3-relu-conv32k3-relu-flatten-fc10 --gemm kernel \
  --limit 8 --epochs 1 --quiet --save "$slowmodel" >/dev/null 2>&1 || fail "signals: the model"
real=$(readlink -f "$bin")
# interrupted NAME SIGNAL CODE WAIT-FOR-TEXT ARGS...: starts cnn-cl ARGS, sends
# SIGNAL a second after its output shows WAIT-FOR-TEXT (within 2 minutes:
# the tuner may run first), and wants exit CODE within 3 s.
interrupted() {
  local name=$1 sig=$2 code=$3 text=$4
  shift 4
  # A background job starts with SIGINT ignored; a terminal's would not.
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$bin" "$@" >"$tmp/sig.out" 2>&1 &
  local pid=$! rc
  # Signals before the exec would find SIGINT still ignored.
  for _ in $(seq 300); do [ "$(readlink "/proc/$pid/exe")" = "$real" ] && break; sleep 0.1; done
  [ -z "$text" ] || for _ in $(seq 1200); do grep -q -- "$text" "$tmp/sig.out" && break; sleep 0.1; done
  sleep 1
  local t0=$SECONDS
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  if [ "$rc" -eq "$code" ] && [ $((SECONDS - t0)) -le 3 ]; then
    ok
  else
    fail "$name: exit $rc (want $code) after $((SECONDS - t0)) s: $(cat "$tmp/sig.out")"
  fi
}
interrupted "eval SIGINT" INT 130 "" eval --model "$slowmodel" --data "$tmp/slow"
interrupted "predict SIGTERM" TERM 143 "" predict --model "$slowmodel" --data "$tmp/slow" --first 24000
# During validation (8 training images, then 24,000 to validate): the
# checkpoint holds the whole epoch, and a resume validates it again. The run
# has a schedule that spans its two epochs and label smoothing: the resume
# takes both, and its tensors are those of the run never stopped.
rm -f "$tmp/val.safetensors"
run=(--data "$tmp/slow" --arch conv32k3-relu-conv32k3-relu-flatten-fc10 --gemm kernel
     --limit 8 --epochs 2 --lr-schedule onecycle --label-smoothing 0.1)
interrupted "validation SIGTERM" TERM 143 "Epoch 1/2" train "${run[@]}" \
  --save "$tmp/val.safetensors"
grep -q "stopped at epoch 1, batch 1/1, validating; saved" "$tmp/sig.out" && ok ||
  fail "validation SIGTERM: $(cat "$tmp/sig.out")"
"$bin" train --data "$tmp/slow" --limit 8 --quiet --resume "$tmp/val.safetensors" \
  --save "$tmp/val1.safetensors" >"$tmp/val1.out" 2>&1 &&
  grep -q "after 2 epochs; model saved" "$tmp/val1.out" && ok ||
  fail "validation SIGTERM: resume: $(cat "$tmp/val1.out")"
"$bin" train "${run[@]}" --quiet --save "$tmp/straight.safetensors" >/dev/null 2>&1
python3 - "$tmp/val1.safetensors" "$tmp/straight.safetensors" <<'PY' && ok ||
import json, struct, sys
def tensors(path):
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__')
    return {k: data[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]
            for k, v in header.items()}
sys.exit(tensors(sys.argv[1]) != tensors(sys.argv[2]))
PY
  fail "validation SIGTERM: the resumed run's tensors are not the straight run's"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
