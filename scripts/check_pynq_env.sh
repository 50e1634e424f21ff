#!/usr/bin/env bash
# The driver in a board's environment: pynq 4.0.0 pins numpy<2, so it cannot share .venv
# (finn-plus needs numpy>=2.4). This makes a separate small venv, .venv-pynq (pynq==4.0.0 and
# numpy<2; about 45 s the first time, an sdist), copies exitflow/driver there as the deploy
# package does (as `exitflow_driver`, no exitflow installed) and checks:
#   - the driver imports and its CLI runs under numpy 1.x with pynq present;
#   - a bitstream whose sha256 is not the manifest's is refused before pynq is touched;
#   - the pynq backend on a machine without a board fails with the driver's message naming what
#     is missing (pynq itself says "No Devices Found").
# It skips (exit 0, saying so) only when pip cannot reach PyPI; any other failure fails.
# Usage: bash scripts/check_pynq_env.sh   (PYNQ_PYTHON=python3.10 by default, else python3.11)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-pynq
STAMP=$VENV/.installed

pick_python() {
  for py in "${PYNQ_PYTHON:-}" python3.10 python3.11 python3; do
    [ -n "$py" ] && "$py" -c "import sys; assert sys.version_info >= (3, 10)" 2>/dev/null && {
      echo "$py"; return 0; }
  done
  echo "error: no Python >= 3.10 for $VENV (set PYNQ_PYTHON)" >&2
  return 1
}

if [ ! -f "$STAMP" ]; then
  PY=$(pick_python)
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  probe=$(mktemp -d)
  trap 'rm -rf "$probe"' EXIT
  if ! "$VENV/bin/python" -m pip download -q --no-deps pynq==4.0.0 -d "$probe" >"$probe/log" 2>&1; then
    if grep -qiE "connection|resolve|network|unreachable|timed out|No matching distribution" "$probe/log"; then
      echo "SKIP check_pynq_env: pip cannot reach PyPI to install pynq==4.0.0:"
      grep -iE "error|warning" "$probe/log" | tail -3
      rm -rf "$VENV"
      exit 0
    fi
    cat "$probe/log" >&2
    exit 1
  fi
  set -o pipefail
  "$VENV/bin/python" -m pip install -q pynq==4.0.0 "numpy<2" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  touch "$STAMP"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r exitflow/driver "$work/exitflow_driver"
rm -rf "$work/exitflow_driver/__pycache__"
cd "$work"
"$OLDPWD/$VENV/bin/python" - <<'EOF'
import json, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pynq  # noqa: F401  (the board's runtime imports without a board)

assert int(np.__version__.split(".")[0]) < 2, np.__version__
try:
    import exitflow  # noqa: F401
    sys.exit("exitflow is importable in .venv-pynq: the check would not prove self-containment")
except ImportError:
    pass
from exitflow_driver import DeviceError, ExitflowAccelerator, ManifestError, write_manifest
from exitflow_driver.manifest import SCHEMA, file_sha256, record_fields

rec = {"id_bits": 16, "exit_bits": 1, "class_bits": 4, "num_classes": 10, "logit_bits": 16,
       "logits": True}
fields = record_fields(rec)
m = {
    "schema": SCHEMA, "design": "pynqcheck", "clock_mhz": 100.0, "num_exits": 2,
    "num_classes": 10, "policy": {"kind": "margin", "thresholds": [7], "params": {}},
    "input": {"shape": [1, 28, 28], "dtype": "uint8", "stream_layout": "NHWC",
              "element_bits": 8, "signed": False, "elements_per_word": 1, "word_bits": 8,
              "word_bytes": 1, "words_per_frame": 784},
    "record": {**rec, "fields": fields, "width_bits": sum(f["bits"] for f in fields),
               "word_bytes": 32},
    "registers": {"magic": 0, "exits": 4, "control": 8, "frames_in": 12,
                  "magic_value": 0x45584631, "thresholds": [0x100], "counters": [0x200, 0x204],
                  "reset_thresholds": [7]},
    "hashes": {}, "bitstream": {"file": "d.bit", "hwh": "d.hwh", "sha256": None},
}
pkg = Path("pkg")
pkg.mkdir()
(pkg / "d.bit").write_bytes(b"not a real bitstream")
(pkg / "d.hwh").write_text("<hwh/>")
m["bitstream"]["sha256"] = "0" * 64
write_manifest(pkg, m)
try:
    ExitflowAccelerator(pkg, "pynq")
    sys.exit("a bitstream that does not match the manifest was accepted")
except ManifestError as exc:
    assert "does not belong to" in str(exc), exc
m["bitstream"]["sha256"] = file_sha256(pkg / "d.bit")
write_manifest(pkg, m)
warnings.simplefilter("ignore")  # pynq warns "No devices found, is the XRT environment sourced?"
try:
    ExitflowAccelerator(pkg, "pynq")
    sys.exit("the pynq backend opened without a board")
except DeviceError as exc:
    msg = str(exc)
    assert "No Devices Found" in msg and "PYNQ board" in msg, msg
    print("pynq backend without a board:", msg)
info = subprocess.run([sys.executable, "-m", "exitflow_driver", "info", "pkg"],
                      capture_output=True, text=True)
assert info.returncode == 0 and json.loads(info.stdout)["design"] == "pynqcheck", info.stderr
print(f"check_pynq_env: ok (Python {sys.version.split()[0]}, numpy {np.__version__}, "
      f"pynq {pynq.__version__})")
EOF
