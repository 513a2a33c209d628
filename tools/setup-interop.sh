#!/usr/bin/env bash
# Sets up what the interop suite runs exported models in, idempotently:
# Debian's python3-onnx and python3-opencv (and node and npm where they are
# missing), installed as root, otherwise the one apt-get line needed is
# printed; then npm's onnxruntime-node into build/interop/. Its Linux x64
# library is inside the package; ONNXRUNTIME_NODE_INSTALL=skip stops its
# install script from fetching CUDA parts, which fails offline. Then:
#   meson test -C build --setup interop --suite interop
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. tools/packages.sh
ort_version=1.31.1
modules=build/interop

packages=(python3-onnx python3-opencv)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
need_packages setup-interop "${packages[@]}"

installed=$(node -p "require('./$modules/node_modules/onnxruntime-node/package.json').version" \
            2>/dev/null || true)
if [ "$installed" != "$ort_version" ]; then
  echo "setup-interop: installing onnxruntime-node $ort_version into $modules/"
  mkdir -p "$modules"
  ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$modules" --no-save --no-audit \
    --no-fund --loglevel=error "onnxruntime-node@$ort_version"
fi
