#!/usr/bin/env bash
# oclgrind.sh OPTIONS... -- PROGRAM ARGS...: runs PROGRAM on Oclgrind's
# simulated GPU with OPTIONS. Exits as PROGRAM does, or with 3 when Oclgrind
# reports anything: its reports go to a log, and it may still exit 0.
set -uo pipefail
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  opts+=("$1")
  shift
done
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
oclgrind "${opts[@]}" --log "$log" "$@"
rc=$?
if [ -s "$log" ]; then
  echo "FAIL: Oclgrind reported, running $*:"
  head -c 20000 "$log"
  exit 3
fi
exit "$rc"
