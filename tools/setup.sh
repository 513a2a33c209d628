#!/usr/bin/env bash
# Sets up cnn-cl on Debian 12, idempotently: installs the Debian packages that
# are missing (as root; otherwise prints the one apt-get line needed and
# stops), configures and builds into build/, and fetches MNIST into
# datasets/mnist/ unless it is there. A second run only rebuilds what changed.
# CNN_CL_MESON_OPTIONS is passed to the first `meson setup` (CI sets
# -Dwerror=true).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(gcc pkg-config meson ninja-build python3 ocl-icd-libopencl1 ocl-icd-opencl-dev
          opencl-c-headers libclblast-dev check zlib1g-dev libjansson-dev pocl-opencl-icd
          libopenmpi-dev openmpi-bin ca-certificates curl oclgrind python3-numpy
          protobuf-c-compiler libprotobuf-c-dev libonnx-dev)

need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages; run this, then tools/setup.sh again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f build/build.ninja ]; then
  # shellcheck disable=SC2086 # options are words on purpose
  meson setup build ${CNN_CL_MESON_OPTIONS:-}
fi
ninja -C build

tools/fetch-datasets.sh mnist
