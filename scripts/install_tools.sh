#!/usr/bin/env bash
# Install the open RTL simulator exitflow's own RTL is verified with (Debian's iverilog 11).
# Without root (and no passwordless sudo) it only warns: the RTL tests then skip with that reason.
set -uo pipefail
command -v iverilog >/dev/null && command -v vvp >/dev/null && command -v yosys >/dev/null && exit 0
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
