"""`make bench`: run every benchmark script in order; each writes docs/benchmarks/<topic>.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_quant.py",
    "bench_hw.py",
    "bench_sim.py",
    "bench_rtl.py",
    "bench_deploy.py",
    "bench_codesign.py",
    "bench_demo.py",
]


def main() -> int:
    only = set(sys.argv[1:])
    failed = []
    for name in ORDER:
        script = HERE / name
        if only and script.stem.removeprefix("bench_") not in only:
            continue
        if not script.exists():
            print(f"skip {name}: not written yet")
            continue
        print(f"== {name}", flush=True)
        if subprocess.call([sys.executable, str(script)]) != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
