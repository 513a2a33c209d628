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
. tools/packages.sh

packages=(gcc pkg-config meson ninja-build python3 ocl-icd-libopencl1 ocl-icd-opencl-dev
          opencl-c-headers libclblast-dev check zlib1g-dev libjansson-dev pocl-opencl-icd
          libopenmpi-dev openmpi-bin ca-certificates curl oclgrind python3-numpy
          protobuf-c-compiler libprotobuf-c-dev libonnx-dev)

need_packages setup "${packages[@]}"

if [ ! -f build/build.ninja ]; then
  # shellcheck disable=SC2086 # options are words on purpose
  meson setup build ${CNN_CL_MESON_OPTIONS:-}
fi
ninja -C build

tools/fetch-datasets.sh mnist
