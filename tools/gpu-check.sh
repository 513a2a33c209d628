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
# Measures: `bench --json` at batch 32 and 256, one MNIST epoch, and the
# README's default command (5 epochs with validation), from datasets/mnist.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

deps=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1
      libclblast-dev check zlib1g-dev libjansson4 libjansson-dev)

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
if ! pkg-config --exists OpenCL clblast check zlib jansson 2>/dev/null; then
  ls .deps/*.deb > /dev/null 2>&1 || fail "no OpenCL/CLBlast/Check/jansson here and no .deps/*.deb; run --fetch-deps where Debian's packages are"
  root=$PWD/.deps/root
  for d in .deps/*.deb; do dpkg -x "$d" "$root"; done
  lib=$root/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_SYSROOT_DIR=$root
  export PKG_CONFIG_PATH=$lib/pkgconfig:$root/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export CPATH=$root/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$lib${LIBRARY_PATH:+:$LIBRARY_PATH}
fi
if ! grep -qs libnvidia-opencl /etc/OpenCL/vendors/*.icd && ldconfig -p | grep -q libnvidia-opencl.so.1; then
  mkdir -p .deps/vendors
  echo libnvidia-opencl.so.1 > .deps/vendors/nvidia.icd
  export OCL_ICD_VENDORS=$PWD/.deps/vendors
fi

start=$EPOCHREALTIME
[ -f build-gpu/build.ninja ] || meson setup build-gpu --buildtype=release > /dev/null
ninja -C build-gpu > /dev/null
bin=build-gpu/cnn-cl
"$bin" devices
if [ -z "$device" ]; then
  device=$("$bin" devices | awk '$0 ~ / GPU / { print $1; exit }')
  [ -n "$device" ] || fail "no GPU among the OpenCL devices above"
fi
export CNN_CL_DEVICE=$device

tests=ok
# The data-parallel suites need two devices (PoCL's, on CI); here is one GPU.
meson test -C build-gpu --print-errorlogs --no-suite parallel > build-gpu/gpu-tests.log 2>&1 ||
  tests=FAILED
summary=$(grep -E '^(Ok|Fail|Timeout):' build-gpu/gpu-tests.log | tr -s ' ' | paste -sd' ')

json() { # FILE KEY: one number from a bench --json file
  /usr/bin/env python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
"$bin" bench --json --steps 300 > build-gpu/bench32.json
"$bin" bench --json --steps 100 --batch 256 > build-gpu/bench256.json

seconds() { # COMMAND...: wall seconds of a command, its output in build-gpu/last.log
  local t0=$EPOCHREALTIME
  "$@" > build-gpu/last.log 2>&1
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}
epoch=$(seconds "$bin" train --epochs 1 --save build-gpu/epoch.safetensors --log build-gpu/epoch.csv)
epoch_train=$(awk -F, 'NR == 2 { print $6 }' build-gpu/epoch.csv)
default=$(seconds "$bin" train --save build-gpu/default.safetensors)
accuracy=$(grep -o 'Test accuracy: [0-9.]*' build-gpu/last.log | awk '{ print $3 }')

card=$("$bin" devices | awk -v d="$device" '$1 == d' | sed 's/  */ /g')
echo
echo "gpu-check, $(date -u +%Y-%m-%d), device $card"
echo "tests: $tests ($summary)"
echo "| figure | value |"
echo "| --- | ---: |"
echo "| bench batch 32, ms per step | $(json build-gpu/bench32.json step_ms) |"
echo "| bench batch 32, busy share | $(json build-gpu/bench32.json busy_share) |"
echo "| bench batch 256, images/s | $(json build-gpu/bench256.json images_per_second) |"
echo "| bench batch 256, busy share | $(json build-gpu/bench256.json busy_share) |"
echo "| one MNIST epoch: training s / whole command s | $epoch_train / $epoch |"
echo "| default command (5 epochs with validation), s | $default |"
echo "| its test accuracy | $accuracy |"
echo "| variants at batch 32 | $(json build-gpu/bench32.json variants) |"
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "gpu-check took %.0f s\n", b - a }'
[ "$tests" = ok ]
