#!/usr/bin/env bash
# test_alternate.sh: tools/alternate.py runs two commands an epoch at a time,
# each paused while the other runs, reads both line formats, goes on with
# the one left when the other ends, and says so in its exit status.
set -uo pipefail
tool=$(cd "$(dirname "$0")/../tools" && pwd)/alternate.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# Each fake epoch works (sleeps), notes its start in a shared file, then
# ends with its line: paused at once, a command notes nothing more until
# its turn comes again.
a='for i in 1 2 3; do sleep 0.3; echo a$i >> "$0"; echo "val_accuracy: 0.$i"; done'
b='for i in 4 5; do sleep 0.3; echo b$i >> "$0"; echo "test accuracy: 0.$i"; done; exit 3'
out=$(cd "$tmp" && /usr/bin/python3 "$tool" --names cnn,torch -- sh -c "$a" "$tmp/order" \
      -- sh -c "$b" "$tmp/order")
rc=$?
[ "$(tr '\n' ' ' < "$tmp/order")" = "a1 b4 a2 b5 a3 " ] && ok ||
  fail "order $(tr '\n' ' ' < "$tmp/order")"
[ "$rc" = 1 ] && ok || fail "exit $rc with a command failing"
grep -q '^| 2 | 0.2000 | [0-9.]* | 0.5000 | [0-9.]* |$' <<<"$out" && ok || fail "table: $out"
grep -q '^| 3 | 0.3000 | [0-9.]* |  |  |$' <<<"$out" && ok || fail "table: $out"
grep -q 'torch exited with status 3' <<<"$out" && ok || fail "no exit status: $out"
[ "$(cat "$tmp/cnn.out")" = "$(printf 'val_accuracy: 0.%s\n' 1 2 3)" ] && ok ||
  fail "cnn.out: $(cat "$tmp/cnn.out")"

out=$(/usr/bin/python3 "$tool" --names a,b --log "$tmp" -- true -- true)
[ $? = 0 ] && grep -q '^| whole run |' <<<"$out" && ok || fail "two commands without epochs: $out"
out=$(/usr/bin/python3 "$tool" -- true 2>&1)
[ $? = 2 ] && grep -q "give two commands" <<<"$out" && ok || fail "one command: $out"
out=$(/usr/bin/python3 "$tool" --names a,a -- true -- true 2>&1)
[ $? = 2 ] && grep -q "two different names" <<<"$out" && ok || fail "same names: $out"

echo "alternate: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
