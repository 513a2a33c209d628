#!/usr/bin/env bash
# test_docs.sh: the manual page and the bash completion against the program,
# so they cannot drift from it: every command `cnn-cl --help` lists and
# every option each `cnn-cl CMD --help` prints is in the page and is what
# the completion offers for that command; the page's version is the
# program's, and it renders without warnings where groff is installed. The
# README's "Use from C" quotes tests/use_from_c.c whole.
# Usage: test_docs.sh path/to/cnn-cl path/to/cnn-cl.1 path/to/cnn-cl.bash
#                     path/to/README.md path/to/use_from_c.c
set -uo pipefail
bin=$1 page=$2 completion=$3 readme=$4 program=$5
passed=0 failed=0
. "$(dirname "$0")/testlib.sh"

commands=$("$bin" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}')
[ "$(wc -w <<<"$commands")" -ge 7 ] && ok || fail "commands from --help: '$commands'"

# The page as text: roff's escaped hyphens and font changes undone.
text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$page")
# The completion's offers, with bash-completion's helpers stubbed: words
# typed so far in, COMPREPLY out.
offers() { # WORD...: what completing the last word offers
  bash -c '
    _init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
                         cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD - 1]}; }
    _filedir() { COMPREPLY=(FILES); }
    complete() { :; }
    . "$0"
    COMP_WORDS=(cnn-cl "$@"); COMP_CWORD=$#
    _cnn_cl
    printf "%s\n" "${COMPREPLY[@]}"' "$completion" "$@"
}

top=$(offers "")
for cmd in $commands; do
  grep -qx -- "$cmd" <<<"$top" && ok || fail "completion does not offer the command $cmd"
  grep -q -- "^\.SS $cmd\$" "$page" && ok || fail "$page has no section for $cmd"
  # Every option the command's help gives: in its usage (up to the first
  # blank line) and at the head of each option's description.
  options=$("$bin" "$cmd" --help | awk 'NR == 1, /^$/ {print; next}
                                        /^  -/ {print $1, $2}' |
            grep -oE -- '(^|[[ ])--?[a-z][a-z0-9-]*' | grep -oE -- '--?[a-z][a-z0-9-]*' |
            sort -u)
  offered=$(offers "$cmd" "-")$'\n'$(offers "$cmd" "--")
  # The page's section of the command, up to the next section.
  section=$(awk -v s=".SS $cmd" '$0 == s {on = 1; next} /^\.S[SH] / {on = 0} on' <<<"$text")
  for opt in $options; do
    grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" <<<"$section" && ok ||
      fail "$page does not give '$cmd $opt'"
    grep -qx -- "$opt" <<<"$offered" && ok || fail "completion does not offer '$cmd $opt'"
  done
done

version=$("$bin" --version | awk '{print $2}')
grep -q "^\.TH CNN-CL 1 .*\"cnn-cl $version\"" "$page" && ok ||
  fail "$page's .TH does not say cnn-cl $version"

if command -v groff >/dev/null; then
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  [ -z "$warnings" ] && ok || fail "groff warns about $page: $warnings"
else
  echo "groff is not installed: the page's rendering was not checked"
fi

quoted=$(awk '/^## Use from C$/ {on = 1} on && /^```c$/ {c = 1; next} c && /^```$/ {exit} c' \
         "$readme")
[ "$quoted" = "$(cat "$program")" ] && ok ||
  fail "README's Use from C does not quote $program: $(diff <(echo "$quoted") "$program" | head -4)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
