#!/usr/bin/env bash
# test_normalize.sh: `train --normalize` from the command line — the
# statistics in the checkpoint against a NumPy reference, the cache used the
# second time and not after the data changes, eval, predict and predict
# --image applying them alike, a resume keeping them, and a checkpoint
# without them carrying no keys. Usage: test_normalize.sh path/to/cnn-cl
set -uo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"
export XDG_CACHE_HOME=$tmp/cache

# Random pixels: IDX of 23 training and 9 test images of 6x6, CIFAR-10
# batches of 2, 1, 1, 1 and 3 records and 2 test records.
gen() { # DIR SEED
  python3 - "$1" "$2" <<'EOF'
import os, random, struct, sys
d, rng = sys.argv[1], random.Random(int(sys.argv[2]))
os.makedirs(d + "/idx", exist_ok=True)
os.makedirs(d + "/cifar", exist_ok=True)
for name, n in (("train", 23), ("t10k", 9)):
    px = bytes(rng.randrange(256) for _ in range(n * 36))
    open(f"{d}/idx/{name}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, 6, 6) + px)
    open(f"{d}/idx/{name}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + bytes(i % 10 for i in range(n)))
# Channel c's bytes are below 256 / (c + 1), so the channels differ.
for name, n in [(f"data_batch_{i + 1}.bin", k) for i, k in enumerate((2, 1, 1, 1, 3))] + [("test_batch.bin", 2)]:
    open(f"{d}/cifar/{name}", "wb").write(b"".join(
        bytes([i % 10]) + bytes(rng.randrange(256 // (p // 1024 + 1)) for p in range(3072))
        for i in range(n)))
EOF
}
gen "$tmp" 1

# check_stats MODEL DIR LIMIT: the checkpoint's statistics are the float
# rounding (within 2e-7 relative) of the mean and population std, in
# double, of the first LIMIT training images' x / 255.
check_stats() {
  python3 - "$@" <<'EOF'
import json, math, os, struct, sys
model, d, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
blob = open(model, "rb").read()
meta = json.loads(blob[8:8 + struct.unpack("<Q", blob[:8])[0]])["__metadata__"]
if os.path.exists(d + "/test_batch.bin"):
    data = b"".join(open(f"{d}/data_batch_{i}.bin", "rb").read() for i in range(1, 6))
    images = [data[r * 3073 + 1:(r + 1) * 3073] for r in range(limit)]
    planes = [b"".join(im[c * 1024:(c + 1) * 1024] for im in images) for c in range(3)]
else:
    planes = [open(d + "/train-images-idx3-ubyte", "rb").read()[16:16 + limit * 36]]
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
for c, plane in enumerate(planes):
    x = [v / 255.0 for v in plane]
    mean = math.fsum(x) / len(x)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / len(x))
    for key, want in (("normalize_mean", mean), ("normalize_std", std)):
        got = float(meta[key].split(",")[c])
        assert abs(got - f32(want)) <= 2e-7 * abs(want), (key, c, got, want)
EOF
}

small=(--arch conv2k3-relu-flatten-fc10 --gemm kernel --batch 4 --seed 3)
m=$tmp/m.safetensors
expect "computed"        0 '^normalize: mean 0\.[0-9]+, std 0\.[0-9]+ \(computed\)$' -- train --data "$tmp/idx" "${small[@]}" --epochs 1 --limit 17 --normalize --save "$m"
check_stats "$m" "$tmp/idx" 17 && ok || fail "IDX statistics"
expect "cached"          0 '^normalize: .* \(cached\)$' -- train --data "$tmp/idx" "${small[@]}" --epochs 1 --limit 17 --normalize --save "$m"
expect "another limit"   0 '^normalize: .* \(computed\)$' -- train --data "$tmp/idx" "${small[@]}" --epochs 1 --limit 16 --normalize --save "$tmp/m16.safetensors"
# New data in the same files: computed again, and right.
mkdir -p "$tmp/new" && gen "$tmp/new" 2 && cp "$tmp/new/idx/train-images-idx3-ubyte" "$tmp/idx/"
expect "data changed"    0 '^normalize: .* \(computed\)$' -- train --data "$tmp/idx" "${small[@]}" --epochs 1 --limit 17 --normalize --save "$m"
check_stats "$m" "$tmp/idx" 17 && ok || fail "statistics after the data changed"

# The run's own validation, eval, predict on the test set and predict
# --image see the same inputs.
out=$("$bin" train --data "$tmp/idx" "${small[@]}" --epochs 2 --limit 17 --normalize --save "$m" --quiet 2>&1)
trained=$(sed -nE 's/^Test accuracy: ([0-9.]+) - test loss: ([0-9.]+) .*/\2 \1/p' <<<"$out")
evaluated=$("$bin" eval --model "$m" --data "$tmp/idx" 2>&1 | sed -nE 's/^test loss: ([0-9.]+) - test accuracy: ([0-9.]+)$/\1 \2/p')
[ -n "$trained" ] && [ "$trained" = "$evaluated" ] && ok || fail "train's validation '$trained', eval '$evaluated'"
predicted=$("$bin" predict --model "$m" --data "$tmp/idx" --first 9 2>&1)
right=$(grep -cE 'Predicted = ([0-9]), Actual = \1 ' <<<"$predicted")
[ "$(grep -c '^Image ' <<<"$predicted")" = 9 ] && [ "$(python3 -c "print(f'{$right / 9:.4f}')")" = "${evaluated#* }" ] &&
  ok || fail "predict's accuracy $right/9, eval's ${evaluated#* }"
python3 - "$tmp/idx/t10k-images-idx3-ubyte" "$tmp/first.pgm" <<'EOF'
import sys
open(sys.argv[2], "wb").write(b"P5\n6 6\n255\n" + open(sys.argv[1], "rb").read()[16:16 + 36])
EOF
first=$(sed -nE 's/^Image 1: (Predicted = [0-9]), Actual = [0-9] (\(probability .*\))$/\1 \2/p' <<<"$predicted")
image=$("$bin" predict --model "$m" --image "$tmp/first.pgm" 2>&1)
[ -n "$first" ] && [ "$image" = "$tmp/first.pgm: $first" ] && ok || fail "image 1 of the test set: '$first', as an image: '$image'"

# Without its keys the same weights give other outputs: eval and predict
# do apply them.
strip() { # IN OUT [KEY VALUE]: a copy without the normalize keys, or with KEY set
  python3 - "$@" <<'EOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
meta = header["__metadata__"]
if len(sys.argv) > 3:
    meta[sys.argv[3]] = sys.argv[4]
else:
    del meta["normalize_mean"], meta["normalize_std"]
text = json.dumps(header, separators=(",", ":")).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
EOF
}
strip "$m" "$tmp/bare.safetensors"
bare=$("$bin" eval --model "$tmp/bare.safetensors" --data "$tmp/idx" 2>&1 | sed -nE 's/^test loss: ([0-9.]+) - .*/\1/p')
[ -n "$bare" ] && [ "$bare" != "${evaluated% *}" ] && ok || fail "eval without the keys: $bare, with: ${evaluated% *}"
[ "$("$bin" predict --model "$tmp/bare.safetensors" --data "$tmp/idx" --first 9 2>&1)" != "$predicted" ] &&
  ok || fail "predict without the keys printed the same"
strip "$m" "$tmp/zero.safetensors" normalize_std 0
expect "std zero"        2 "zero\.safetensors: metadata 'normalize_std' is '0'; each must be above 0$" -- eval --model "$tmp/zero.safetensors" --data "$tmp/idx"
strip "$m" "$tmp/two.safetensors" normalize_mean 0.5,0.5
expect "mean count"      2 "two\.safetensors: metadata 'normalize_mean' is '0\.5,0\.5', not one number per input channel \\(1\\)$" -- predict --model "$tmp/two.safetensors" --image "$tmp/first.pgm"

# A resume keeps the checkpoint's statistics; --normalize on a run without
# them is refused. A run without --normalize writes no keys.
expect "resume keeps"    0 '^normalize: .* \(the checkpoint.s\)$' -- train --data "$tmp/idx" --resume "$m" --limit 17 --epochs 3 --save "$tmp/m3.safetensors"
expect "resume keeps, given" 0 '\(the checkpoint.s\)$' -- train --data "$tmp/idx" --resume "$m" --limit 17 --epochs 3 --normalize --save "$tmp/m3.safetensors"
plain=$tmp/plain.safetensors
expect "plain"           0 'Test accuracy' -- train --data "$tmp/idx" "${small[@]}" --epochs 1 --save "$plain" --quiet
! grep -q normalize_ "$plain" && ok || fail "a checkpoint without --normalize holds normalize keys"
expect "resume adds"     2 "^cnn-cl: --resume $plain: --normalize, but it was trained on inputs x / 255 without it; leave the option out" -- train --data "$tmp/idx" --resume "$plain" --epochs 2 --normalize

# Three channels: CIFAR-10's format, each channel its own statistics, and a
# colour image.
c=$tmp/c.safetensors
expect "cifar"           0 '^normalize: mean 0\.[0-9]+,0\.[0-9]+,0\.[0-9]+, std 0\.[0-9]+,0\.[0-9]+,0\.[0-9]+ \(computed\)$' -- train --data "$tmp/cifar" --arch conv2k3-relu-pool2-flatten-fc10 --gemm kernel --epochs 1 --batch 3 --limit 6 --normalize --save "$c"
check_stats "$c" "$tmp/cifar" 6 && ok || fail "CIFAR-10 statistics"
{ printf 'P3\n32 32\n255\n'; for _ in $(seq 1024); do printf '255 0 0\n'; done; } > "$tmp/red.ppm"
expect "colour image"    0 'red\.ppm: Predicted = [0-9] \(probability' -- predict --model "$c" --image "$tmp/red.ppm"

# The statistics go through ONNX and back: the export's Sub and Div become
# the import's statistics, and the predictions are the same bytes.
"$bin" export --model "$m" -o "$tmp/m.onnx" >/dev/null || fail "export $m"
[ "$("$bin" predict --model "$tmp/m.onnx" --data "$tmp/idx" --probabilities 2>&1)" = \
  "$("$bin" predict --model "$m" --data "$tmp/idx" --probabilities 2>&1)" ] && ok ||
  fail "import: $tmp/m.onnx predicts otherwise than $m"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
