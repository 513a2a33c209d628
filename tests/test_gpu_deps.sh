#!/usr/bin/env bash
# test_gpu_deps.sh: tools/gpu-check.sh's package list against what the build
# needs, so that a bare GPU machine can still build from the packages it
# unpacks into .deps/: the Debian package of each pkg-config dependency
# meson.build requires (Open MPI's is optional there), of each library its
# flags link, of protoc-c and of the libraries protoc-c runs on, and of
# onnx.proto. A system's own C library (with its headers), C++ runtime and
# zlib are taken as given.
# Skipped (77) where these files are not installed by dpkg.
# Usage: test_gpu_deps.sh path/to/source
set -uo pipefail
src=$1
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"

command -v dpkg > /dev/null || { echo "no dpkg here: skipped"; exit 77; }
fetched=" $(sed -n '/^deps=(/,/)/p' "$src/tools/gpu-check.sh" | sed 's/deps=//' | tr -d '()' |
  tr -s ' \n' '  ') "
given=" libc6 libc6-dev libgcc-s1 libstdc++6 zlib1g "

owner() { # FILE: the package that installed it (through links and /usr-merged paths)
  local f r
  for f in "$1" "$(readlink -f "$1")"; do
    for r in "$f" "/usr$f" "${f#/usr}"; do
      dpkg -S "$r" 2> /dev/null | head -1 | cut -d: -f1 && return 0
    done
  done
  return 1
}
need() { # WHAT FILE: FILE's package must be fetched or given
  local p
  if ! p=$(owner "$2"); then
    echo "$2 ($1) is not from a Debian package: skipped"
    exit 77
  fi
  [[ $fetched$given == *" $p "* ]] && ok || fail "gpu-check does not fetch $p, which holds $2 ($1)"
}

# meson.build's dependency() calls that the build cannot go without.
names=$(grep -E "dependency\('" "$src/meson.build" | grep -vE "required : (false|get_option\('mpi'\))" |
  sed -E "s/.*dependency\('([^']+)'.*/\1/" | grep -vx threads)
[ "$(wc -w <<<"$names")" -ge 5 ] && ok || fail "dependencies read from meson.build: '$names'"
libdir=$(pkg-config --variable=libdir zlib)
for name in $names; do
  pc=$(pkg-config --variable=pcfiledir "$name")/$name.pc
  need "pkg-config $name" "$pc"
  for l in $(pkg-config --libs-only-l "$name"); do
    lib=${l#-l}
    for f in "$libdir/lib$lib.so" "$libdir/lib$lib.a"; do
      if [ -e "$f" ]; then
        need "-l$lib of $name" "$f"
        need "-l$lib of $name" "$(readlink -f "$f")"
        break
      fi
    done
  done
done

protoc=$(command -v protoc-c) || { fail "no protoc-c here"; protoc=; }
if [ -n "$protoc" ]; then
  need protoc-c "$protoc"
  for f in $(ldd "$(readlink -f "$protoc")" | awk '/=>/ { print $3 }'); do
    need "a library of protoc-c" "$f"
  done
fi
proto=$(sed -nE "s/^option\('onnx_proto_dir'.*value : '([^']*)'.*/\1/p" "$src/meson_options.txt")
[ -n "$proto" ] && ok || fail "no onnx_proto_dir default in meson_options.txt"
need onnx.proto "$proto/onnx.proto"

echo "gpu_deps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
