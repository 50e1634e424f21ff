#!/usr/bin/env bash
# mypy over the exitflow namespace as it installs: quant/, hw/ and sim/ become exitflow.quant,
# exitflow.hw and exitflow.sim (pyproject's package-dir). mypy cannot follow setuptools' editable
# finder, so it checks a tree of symbolic links laid out like the installed package; without it,
# every cross-package import would be an unchecked Any.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# a private tree per run: two checks at once (make lint beside make test) must not share one
tree=$(mktemp -d "${TMPDIR:-/tmp}/exitflow-typecheck.XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/exitflow"
for entry in exitflow/*; do
  ln -s "$repo/$entry" "$tree/exitflow/"
done
for pkg in quant hw sim; do
  ln -s "$repo/$pkg" "$tree/exitflow/$pkg"
done
cd "$tree"
"$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" --cache-dir "$repo/.mypy_cache" \
  -p exitflow "$@"
