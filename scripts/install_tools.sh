#!/usr/bin/env bash
# Install the open RTL simulator exitflow's own RTL is verified with (Debian's iverilog 11).
# Also Debian's chromium: tests/test_report_html.py renders report.html in it headless.
# Without root (and no passwordless sudo) it only warns: the RTL tests then skip with that reason.
set -uo pipefail
command -v iverilog >/dev/null && command -v vvp >/dev/null && command -v yosys >/dev/null &&
  command -v chromium >/dev/null && exit 0
as_root=()
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "warning: iverilog missing and no root: RTL tests will be skipped (apt-get install iverilog)" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q iverilog yosys >/dev/null 2>&1 || {
  "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -q iverilog yosys >/dev/null
}
command -v iverilog >/dev/null && echo "installed iverilog: $(iverilog -V 2>&1 | head -1)"
command -v chromium >/dev/null || "${as_root[@]}" apt-get install -y -q chromium >/dev/null 2>&1 ||
  echo "warning: chromium not installed: the report.html rendering tests will be skipped" >&2
