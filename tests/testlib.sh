# testlib.sh: sourced by the shell tests after they set bin, passed and
# failed — counts checks, runs cnn-cl expecting an outcome, and writes small
# IDX files.

# ok: one more check passed; fail WHY...: one more failed, said.
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect NAME CODE PATTERN -- ARGS...: runs cnn-cl ARGS, checks the exit code
# and that stdout+stderr matches the extended regex PATTERN.
expect() {
  local name=$1 code=$2 pattern=$3
  shift 4
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL %s: exit %d (want %d), output:\n%s\n' "$name" "$rc" "$code" "$out"
  fi
}

byte() { printf "\\x$(printf %02x "$1")"; }
be32() { byte $(($1 >> 24 & 255)); byte $(($1 >> 16 & 255)); byte $(($1 >> 8 & 255)); byte $(($1 & 255)); }
labels() { # COUNT CLASSES: label bytes i % CLASSES
  local i; for ((i = 0; i < $1; i++)); do byte $((i % $2)); done
}
idx() { # FILE NDIMS COUNT [ROWS COLS]: an IDX file of zero pixels, labels i % 10
  local f=$1 dims=$2 n=$3 r=${4:-} c=${5:-}
  { byte 0; byte 0; byte 8; byte "$dims"; be32 "$n"
    if [ -n "$r" ]; then be32 "$r"; be32 "$c"; head -c $((n * r * c)) /dev/zero
    else labels "$n" "${CLASSES:-10}"; fi; } > "$f"
}
