#!/bin/sh
# fuzz.sh [SECONDS]: builds the parsers' libFuzzer harnesses (tests/fuzz) in
# build-fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs each for SECONDS (default 60), one after another on one core.
# Prints one line per harness: its name, the runs made and the outcome.
#
# Each harness starts from its seed corpus, tests/fuzz/<name>/, and keeps
# what it finds new in build-fuzz/corpus/<name>/. A crash, leak, sanitizer
# report or timeout leaves its input in build-fuzz/findings/<name>/ and the
# log in build-fuzz/logs/<name>.log; once the parser is fixed, copy the input
# to tests/fuzz/regressions/<name>/ so that the default suite runs it.
# Environment: FUZZ_ONLY="idx pnm" runs only those harnesses.
set -eu
seconds=${1:-60}
case $seconds in '' | *[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
names=${FUZZ_ONLY:-"idx cifar safetensors pnm arch metrics onnx"}

command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
    setup_log=$(mktemp)
    CC=clang meson setup "$build" "$root" -Dfuzz=true -Dtests=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
        >"$setup_log" 2>&1 || { cat "$setup_log" >&2; rm -f "$setup_log"; exit 1; }
    rm -f "$setup_log"
fi
ninja -C "$build" $(for n in $names; do printf 'tests/fuzz/fuzz_%s ' "$n"; done) \
    >"$build/ninja.log" 2>&1 || { tail -n 40 "$build/ninja.log" >&2; exit 1; }

# Every sanitizer report is fatal; the harness's inputs go under the build.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Every input is written to a file: on a RAM disk where there is one.
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

status=0
for name in $names; do
    corpus=$build/corpus/$name findings=$build/findings/$name log=$build/logs/$name.log
    mkdir -p "$corpus" "$findings" "$build/logs"
    # CIFAR-10 records are 3073 bytes: room for three.
    max_len=4096
    [ "$name" = cifar ] && max_len=9300
    # The seed models (small exports) are up to 3 KiB.
    [ "$name" = onnx ] && max_len=8192
    rc=0
    # One process (no -jobs or -workers: they fork and log in the cwd).
    "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1 \
        -artifact_prefix="$findings/" \
        "$corpus" "$root/tests/fuzz/$name" >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        outcome=clean
    else
        status=1
        kind=$(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|ERROR: libFuzzer: [a-z-]*\|runtime error: .*\|parser promise broken: .*' "$log" || true)
        art=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
        outcome="FOUND ${kind:-exit $rc}: ${art:-see $log}"
    fi
    printf '%-12s %8s runs in %ss  %s\n' "$name" "${runs:-?}" "$seconds" "$outcome"
done
exit $status
