#!/usr/bin/env bash
# gpu-check.sh: builds cnn-cl on a machine with a GPU, runs the test suites
# against the GPU's OpenCL device, then measures it and prints one table
# for docs/BENCHMARKS.md. Meant to finish in under 6 minutes.
#
#   tools/gpu-check.sh --fetch-deps   (here, with Debian's packages: put
#                                      the build's .debs into .deps/)
#   tools/gpu-check.sh [--device N]   (there: build, test, measure)
#
# A machine that lacks Debian's packages (the lent GPU machines have the
# driver, meson and ninja only) takes the build dependencies from .deps/:
# each .deb is unpacked into .deps/root and found through pkg-config's
# sysroot. NVIDIA's OpenCL driver is registered with an ICD file naming
# libnvidia-opencl.so.1 when no vendor file names it. The device is the
# first GPU that `cnn-cl devices` lists, unless --device says otherwise.
# Measures, in this order: a first run on empty caches (the tuner's and the
# driver's kernel cache) and the same run again; `bench --json` at batch 32
# and 256 for the reference model and at batch 32 for network B, each with
# its per-kernel table; one MNIST epoch; the README's default command (5
# epochs with validation), from datasets/mnist; then the test suites. Every
# figure and log lands in build-gpu/ (results/ there: the JSON, the tuner's
# cache with every candidate's time, the logs).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

# protoc-c (protobuf-c-compiler, with the C++ protobuf libraries it runs on)
# and onnx.proto (libonnx-dev) generate the ONNX messages' code at build time.
deps=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1
      libclblast-dev check libsubunit0 libsubunit-dev zlib1g-dev libjansson4 libjansson-dev
      libprotobuf-c1 libprotobuf-c-dev protobuf-c-compiler libprotobuf32 libprotoc32
      libonnx-dev)

fail() { # MESSAGE: exit 2 with it
  echo "gpu-check: $1" >&2
  exit 2
}

device=
case ${1:-} in
  --fetch-deps)
    mkdir -p .deps
    grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo /.deps/ >> .git/info/exclude
    (cd .deps && apt-get download "${deps[@]}")
    echo "gpu-check: $(ls .deps/*.deb | wc -l) packages in .deps/; carry .deps (and datasets/mnist)"
    exit 0 ;;
  --device) [ $# -ge 2 ] || fail "--device needs a value"; device=$2 ;;
  '') ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) fail "unknown option '$1'; usage: tools/gpu-check.sh [--fetch-deps | --device N]" ;;
esac
[ -f datasets/mnist/t10k-labels-idx1-ubyte ] || [ -f datasets/mnist/t10k-labels-idx1-ubyte.gz ] ||
  fail "datasets/mnist is missing: carry it, or run tools/fetch-datasets.sh"

# Build dependencies from .deps/ when the system lacks them.
setup_options=()
if ! pkg-config --exists OpenCL clblast check zlib jansson libprotobuf-c 2>/dev/null ||
   ! command -v protoc-c > /dev/null || [ ! -f /usr/include/onnx/onnx.proto ]; then
  ls .deps/*.deb > /dev/null 2>&1 || fail "no OpenCL/CLBlast/Check/jansson/protobuf-c/onnx.proto here and no .deps/*.deb; run --fetch-deps where Debian's packages are"
  root=$PWD/.deps/root
  for d in .deps/*.deb; do dpkg -x "$d" "$root"; done
  lib=$root/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_SYSROOT_DIR=$root
  export PKG_CONFIG_PATH=$lib/pkgconfig:$root/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export CPATH=$root/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$lib${LIBRARY_PATH:+:$LIBRARY_PATH}
  export PATH=$PATH:$root/usr/bin
  setup_options=(-Donnx_proto_dir="$root/usr/include/onnx")
fi
if ! grep -qs libnvidia-opencl /etc/OpenCL/vendors/*.icd && ldconfig -p | grep -q libnvidia-opencl.so.1; then
  mkdir -p .deps/vendors
  echo libnvidia-opencl.so.1 > .deps/vendors/nvidia.icd
  export OCL_ICD_VENDORS=$PWD/.deps/vendors
fi

start=$EPOCHREALTIME
if [ ! -f build-gpu/build.ninja ]; then
  log=$(mktemp)
  meson setup build-gpu --buildtype=release -Dmpi=disabled -Dtests=enabled "${setup_options[@]}" \
    > "$log" 2>&1 || { tail -40 "$log"; fail "meson setup failed"; }
fi
ninja -C build-gpu > build-gpu/build.log 2>&1 || { tail -40 build-gpu/build.log; fail "the build failed"; }
bin=build-gpu/cnn-cl
res=build-gpu/results
rm -rf "$res" && mkdir -p "$res"
"$bin" devices
if [ -z "$device" ]; then
  device=$("$bin" devices | awk '$0 ~ / GPU / { print $1; exit }')
  [ -n "$device" ] || fail "no GPU among the OpenCL devices above"
fi
export CNN_CL_DEVICE=$device
# Caches of this run only, so the first run below finds them empty: the
# tuner's choices and NVIDIA's compiled kernels.
export XDG_CACHE_HOME=$PWD/$res/cache CUDA_CACHE_PATH=$PWD/$res/nv-cache

json() { # FILE KEY: one number from a bench --json file
  /usr/bin/env python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
kernels() { # FILE: a bench --json file's per-kernel table, as Markdown
  /usr/bin/env python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
print("| kernel | calls/step | ms/step | GFLOPS |")
print("| --- | ---: | ---: | ---: |")
for k in b["kernels"]:
    g = "%.0f" % k["gflops"] if "gflops" in k else ""
    print("| %s | %g | %.4f | %s |" % (k["name"], k["calls_per_step"], k["ms_per_step"], g))
print("busy share %.3f, %d steps of %.4f ms (profiled %.4f ms); variants: %s" %
      (b["busy_share"], b["steps"], b["step_ms"], b["profiled_step_ms"], b["variants"]))' "$1"
}
seconds() { # NAME COMMAND...: wall seconds of a command, its output in results/NAME.log
  local name=$1 t0=$EPOCHREALTIME
  shift
  "$@" > "$res/$name.log" 2>&1 || echo "gpu-check: '$*' failed; see $res/$name.log" >&2
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

first=(train --epochs 1 --limit 32 --save "$res/first.safetensors")
cold=$(seconds cold "$bin" "${first[@]}")
warm=$(seconds warm "$bin" "${first[@]}")

net_b=conv32k3same-bn-relu-conv32k3same-bn-relu-pool2-drop0.25-conv64k3same-bn-relu-conv64k3same-bn-relu-pool2-drop0.25-flatten-fc128-bn-relu-drop0.5-fc10
bench() { # NAME ARGS...: bench --json into results/NAME.json
  local name=$1
  shift
  "$bin" bench --json "$@" > "$res/$name.json" 2> "$res/$name.log" ||
    echo "gpu-check: 'bench $*' failed; see $res/$name.log" >&2
}
bench bench32 --steps 300
bench bench256 --steps 100 --batch 256
bench bench-b --steps 100 --arch "$net_b"

epoch=$(seconds epoch "$bin" train --epochs 1 --save "$res/epoch.safetensors" --log "$res/epoch.csv")
epoch_train=$(awk -F, 'NR == 2 { print $6 }' "$res/epoch.csv")
default=$(seconds default "$bin" train --save "$res/default.safetensors")
accuracy=$(grep -o 'Test accuracy: [0-9.]*' "$res/default.log" | awk '{ print $3 }')
eval_cold=$(XDG_CACHE_HOME=$PWD/$res/eval-cache CUDA_CACHE_PATH=$PWD/$res/eval-nv-cache \
  seconds eval "$bin" eval --model "$res/default.safetensors")

# The device and host suites only: the data-parallel suite needs two devices
# (PoCL's, on CI) and here is one GPU; the faults suite times its signals to
# PoCL's speed (a GPU finishes the validation it interrupts first), and CI
# runs both. The host suite's install test cannot find the packages unpacked
# in .deps/ from its staged install's pkg-config sysroot. The device suite
# (every kernel variant against its C reference) decides the exit status;
# the host suite's verdict, which also leans on this machine's Python, is
# reported beside it.
suite() { # SUITE: its tests into results/tests-SUITE.log; prints ok or FAILED, and the counts
  local log=$res/tests-$1.log verdict=ok
  timeout 300 meson test -C build-gpu --print-errorlogs --suite "$1" --no-suite install \
    > "$log" 2>&1 && grep -q '^Ok:' "$log" || verdict=FAILED
  echo "$verdict ($(grep -E '^(Ok|Fail|Timeout):' "$log" | tr -s ' ' | paste -sd' ' || true))"
}
device_tests=$(suite device)
host_tests=$(suite host)

card=$("$bin" devices | awk -v d="$device" '$1 == d' | sed 's/  */ /g')
{
  echo
  echo "gpu-check, $(date -u +%Y-%m-%d), device $card"
  echo "device tests: $device_tests; host tests: $host_tests"
  echo "| figure | value |"
  echo "| --- | ---: |"
  echo "| first run, empty caches (train --epochs 1 --limit 32), s | $cold |"
  echo "| the same again, s | $warm |"
  echo "| bench batch 32, ms per step | $(json "$res/bench32.json" step_ms) |"
  echo "| bench batch 32, busy share | $(json "$res/bench32.json" busy_share) |"
  echo "| bench batch 256, images/s | $(json "$res/bench256.json" images_per_second) |"
  echo "| bench batch 256, busy share | $(json "$res/bench256.json" busy_share) |"
  echo "| network B, batch 32, ms per step | $(json "$res/bench-b.json" step_ms) |"
  echo "| network B, batch 32, busy share | $(json "$res/bench-b.json" busy_share) |"
  echo "| one MNIST epoch: training s / whole command s | $epoch_train / $epoch |"
  echo "| default command (5 epochs with validation), s | $default |"
  echo "| its test accuracy | $accuracy |"
  echo "| eval of it, empty caches, s | $eval_cold |"
  for b in bench32 bench256 bench-b; do
    echo
    echo "$b:"
    kernels "$res/$b.json"
  done
} | tee "$res/summary.md"
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "gpu-check took %.0f s\n", b - a }'
[ "${device_tests%% *}" = ok ]
