#!/usr/bin/env bash
# test_install.sh: cnn-cl installed as a user installs it, and used from C as
# the README shows. `meson install` into a staging root puts the program,
# libcnn-cl (shared, with its soname, and static), cnn_cl.h, cnn-cl.pc, the
# manual page and the bash completion where they belong; both libraries
# export the header's functions and nothing else; tests/use_from_c.c
# compiled through `pkg-config --cflags --libs cnn-cl` against the staged
# tree, once on the shared library and once on the static one alone
# (--static), prints exactly what the installed `cnn-cl predict
# --probabilities` prints for the same model and images.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR CC [ARG...]
set -uo pipefail
build=$1 src=$2
shift 2
cc=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"
# The tuner's choices come from this test's own cache, the same for the
# command and the program.
export XDG_CACHE_HOME=$tmp/cache
device=${CNN_CL_DEVICE:-0}

root=$tmp/root
if ! meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
  fail "meson install: $(cat "$tmp/install.log")"
  echo "$passed passed, $failed failed"
  exit 1
fi
# Where meson put things: the build's own directory options.
eval "$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
options = {o["name"]: o["value"] for o in json.load(sys.stdin)}
for name in ("prefix", "bindir", "libdir", "includedir", "mandir", "datadir"):
    value = options[name]
    if not value.startswith("/"):
        value = options["prefix"] + "/" + value
    print("%s=%s" % (name, value))')"
bindir=$root$bindir libdir=$root$libdir includedir=$root$includedir
bin=$bindir/cnn-cl
for f in "$bindir/cnn-cl" "$libdir/libcnn-cl.so" "$libdir/libcnn-cl.a" "$includedir/cnn_cl.h" \
         "$libdir/pkgconfig/cnn-cl.pc" "$root$mandir/man1/cnn-cl.1"; do
  [ -e "$f" ] && ok || fail "not installed: ${f#"$root"}"
done
# The completion goes where bash-completion's own .pc says, under this
# prefix, else datadir/bash-completion/completions.
completion=$(find "$root$prefix" -path '*/bash-completion/completions/cnn-cl' | head -1)
[ -n "$completion" ] && ok || fail "the bash completion was not installed"
soname=$(readelf -d "$libdir/libcnn-cl.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libcnn-cl.so.[0-9]* ]] && [ -e "$libdir/$soname" ] && ok ||
  fail "soname '$soname' is not libcnn-cl.so.N, installed"
[[ $("$bin" --version) =~ ^cnn-cl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && ok ||
  fail "installed cnn-cl --version: $("$bin" --version 2>&1)"

# Exports: the functions cnn_cl.h declares (CNN_CL_API or not), all of them
# and nothing else.
declared=$(grep -oE '(^|[ *])cnn_cl_[a-z_0-9]+\(' "$includedir/cnn_cl.h" |
           grep -oE 'cnn_cl_[a-z_0-9]+' | sort -u)
for lib in "$libdir/libcnn-cl.so" "$libdir/libcnn-cl.a"; do
  if [[ $lib == *.so ]]; then flags=(-D --defined-only); else flags=(-g --defined-only); fi
  exported=$(nm "${flags[@]}" "$lib" | awk 'NF == 3 && $2 ~ /[A-Z]/ {print $3}' | sort -u)
  [ "$exported" = "$declared" ] && ok ||
    fail "${lib##*/} exports other than cnn_cl.h declares: $(diff <(echo "$declared") <(echo "$exported") | grep '^[<>]' | head -5 | tr '\n' ' ')"
done

# A small data set whose images differ (a bright bar whose place is the
# label, on noise), and a model trained on it with --normalize.
python3 - "$tmp/data" <<'EOF'
import os, random, struct, sys
d = sys.argv[1]
os.makedirs(d)
rng = random.Random(7)
def write(name, n):
    labels = [i % 10 for i in range(n)]
    pixels = bytearray()
    for y in labels:
        for r in range(10):
            for c in range(10):
                pixels.append(min(255, rng.randrange(60) + (180 if c == y else 0)))
    open(os.path.join(d, name + '-images-idx3-ubyte'), 'wb').write(
        struct.pack('>IIII', 0x803, n, 10, 10) + bytes(pixels))
    open(os.path.join(d, name + '-labels-idx1-ubyte'), 'wb').write(
        struct.pack('>II', 0x801, n) + bytes(labels))
write('train', 300)
write('t10k', 40)
EOF
model=$tmp/model.safetensors
expect "train" 0 '^Test accuracy' -- train --device "$device" --data "$tmp/data" --epochs 1 \
  --batch 16 --normalize --arch conv4k3-relu-flatten-fc10 --save "$model" --quiet
"$bin" predict --device "$device" --model "$model" --data "$tmp/data" --first 40 \
  --probabilities >"$tmp/predict.txt" 2>"$tmp/predict.err"
[ "$(grep -c '^Image ' "$tmp/predict.txt")" -eq 40 ] && ok ||
  fail "installed cnn-cl predict: $(cat "$tmp/predict.txt" "$tmp/predict.err")"

# The README's program, on the shared library, then on the static one.
config=(env PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" pkg-config)
program() { # NAME PKG-CONFIG-FLAGS...: builds use_from_c as NAME, runs it into NAME.txt
  local name=$1 flags
  shift
  if ! flags=$("${config[@]}" "$@" --cflags --libs cnn-cl 2>"$tmp/$name.err"); then
    fail "pkg-config $* cnn-cl: $(cat "$tmp/$name.err")"
    return 1
  fi
  # shellcheck disable=SC2086 # flags are words
  if ! "${cc[@]}" -std=c11 -Wall -Wextra -pedantic -Werror "$src/tests/use_from_c.c" \
       -o "$tmp/$name" $flags 2>"$tmp/$name.err"; then
    fail "compiling use_from_c ($name): $(cat "$tmp/$name.err")"
    return 1
  fi
  LD_LIBRARY_PATH=$libdir "$tmp/$name" "$model" "$tmp/data" 40 "$device" >"$tmp/$name.txt" \
    2>"$tmp/$name.err"
  local rc=$?
  [ $rc -eq 0 ] && ok || fail "use_from_c ($name) exit $rc: $(cat "$tmp/$name.err")"
  cmp -s "$tmp/predict.txt" "$tmp/$name.txt" && ok ||
    fail "use_from_c ($name) and cnn-cl predict differ: $(diff "$tmp/predict.txt" "$tmp/$name.txt" | head -4)"
}
program shared
loads=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/shared")
grep -q "libcnn-cl.so.* => $libdir/" <<<"$loads" && ok ||
  fail "use_from_c (shared) does not load the installed libcnn-cl: $loads"
# The program's predictions tally to the confusion matrix `cnn-cl eval`
# computes on its own path (the loader's scaling and normalisation, the
# evaluation step's logits), so a fault both predict and the program share
# shows too.
tally() { awk '/^Image /{sub(/,/, "", $5); n[$8 " " $5]++} END {for (k in n) print k, n[k]}' "$1" | sort; }
matrix() { awk '/^confusion matrix/{on = 1; getline; next}
                on {for (p = 2; p <= NF; p++) if ($p) print $1, p - 2, $p}' "$1" | sort; }
"$bin" eval --device "$device" --model "$model" --data "$tmp/data" >"$tmp/eval.txt" 2>&1
[ -n "$(tally "$tmp/shared.txt")" ] && [ "$(tally "$tmp/shared.txt")" = "$(matrix "$tmp/eval.txt")" ] &&
  ok || fail "use_from_c's predictions do not tally to eval's confusion matrix: $(cat "$tmp/eval.txt")"
# --static alone must be enough: the shared library is taken away.
rm -f "$libdir"/libcnn-cl.so*
program static --static
loads=$(ldd "$tmp/static")
grep -q libcnn-cl <<<"$loads" && fail "use_from_c (static) loads libcnn-cl: $loads" || ok

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
