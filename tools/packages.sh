# packages.sh: sourced by the set-up scripts. need_packages NAME PACKAGE...
# installs the Debian packages that are missing, as root; otherwise it prints
# the one apt-get line to run, then tools/NAME.sh again, and exits 1.
need_packages() {
  local name=$1 p need=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  [ ${#need[@]} -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$name: missing Debian packages; run this, then tools/$name.sh again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "$name: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
