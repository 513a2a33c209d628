#!/usr/bin/env bash
# test_interop.sh: the interop suite — checkpoints exported as ONNX and run
# elsewhere. Six networks (the reference model, normalised; both every-kind
# networks and the p<P> one of tests/archs.h; a residual network with a
# projected block, one with an identity block and a projected flat one)
# train briefly on MNIST and are exported.
# Each model must pass onnx's full checker and strict shape inference, and
# OpenCV's dnn and ONNX Runtime must give every probability of 100 test
# images within 1e-5 of `cnn-cl predict --probabilities`, choosing the same
# classes (tests/interop.py, tests/interop.js). Then a PyTorch model comes
# the other way: imported, its accuracy must be PyTorch's.
# Usage: test_interop.sh path/to/cnn-cl path/to/archs DATA MODULES
# where MODULES holds node_modules/onnxruntime-node (tools/setup-interop.sh).
set -uo pipefail
bin=$1 archs=$2 data=$3 modules=$4
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$here/testlib.sh"

if ! /usr/bin/python3 -c 'import onnx, cv2' 2>/dev/null ||
   [ ! -d "$modules/node_modules/onnxruntime-node" ]; then
  echo "the interop suite needs python3-onnx, python3-opencv and onnxruntime-node in" \
       "$modules: run tools/setup-interop.sh" >&2
  exit 1
fi

# The networks of tests/archs.h give 4 classes; MNIST has 10.
declare -A shared
while IFS='=' read -r name spec; do shared[$name]=${spec%fc4}fc10; done < <("$archs")
declare -A specs=(
  [reference]=''
  [every_kind]=${shared[EVERY_KIND_ARCH]}
  [every_kind_gap]=${shared[EVERY_KIND_GAP_ARCH]}
  [padded]=${shared[PAD_ARCH]}
  [projected]='conv8k3same-bn-relu-res[conv16k3s2same-bn-relu-conv16k3same-bn]-relu-gap-fc10'
  [identity]='conv8k3s2same-bn-relu-res[conv8k3same-bn-relu-conv8k3same-bn]-relu-flatten-fc16-relu-res[fc8-relu-bn]-relu-fc10'
)
images=$tmp/images.f32
/usr/bin/python3 "$here/interop.py" images "$data" 100 "$images" || exit 1

for name in reference every_kind every_kind_gap padded projected identity; do
  m=$tmp/$name
  args=(--data "$data" --limit 256 --epochs 1 --save "$m.safetensors" --quiet)
  if [ -n "${specs[$name]}" ]; then args+=(--arch "${specs[$name]}"); else args+=(--normalize); fi
  expect "train $name" 0 '^Test accuracy' -- train "${args[@]}"
  expect "export $name" 0 "^$m\.onnx$" -- export --model "$m.safetensors" -o "$m.onnx"
  "$bin" predict --model "$m.safetensors" --data "$data" --first 100 --probabilities \
    > "$m.cnn-cl.txt" 2>&1 || fail "predict $name: $(cat "$m.cnn-cl.txt")"
  node "$here/interop.js" "$modules" "$m.onnx" "$images" > "$m.ort.txt" ||
    fail "onnxruntime $name"
  if /usr/bin/python3 "$here/interop.py" check "$m.onnx" "$images" "$m.cnn-cl.txt" \
       "$m.ort.txt"; then ok; else fail "$name: see above"; fi
done

# Import: a network trained and exported by PyTorch (interop.py torch, its
# input divided by 255 inside the model) evaluates in cnn-cl to PyTorch's
# own test accuracy within 1e-4, and fine-tunes from it.
if want=$(/usr/bin/python3 "$here/interop.py" torch "$data" "$tmp/torch.onnx"); then
  out=$("$bin" eval --model "$tmp/torch.onnx" --data "$data" 2>&1)
  got=$(sed -n 's/^test loss: .* - test accuracy: //p' <<<"$out")
  if [ -n "$got" ] && awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(d <= 1e-4 && d >= -1e-4) }'; then
    ok
  else
    fail "import: PyTorch's accuracy $want, cnn-cl's eval: $out"
  fi
  expect "import init torch" 0 '^Test accuracy' -- train --data "$data" --init "$tmp/torch.onnx" \
    --epochs 1 --limit 256 --save "$tmp/torch.safetensors" --quiet
else
  fail "import: PyTorch could not train and export its model"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
