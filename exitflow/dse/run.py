"""The `dse` step's work on a run directory: inputs, search, outputs (docs/dse.md).

Writes dse/report.json (front, sweep, chosen design, stats), dse/report.md, and for a chosen
design dse/overlay.yaml and dse/design.yaml. Evaluations are cached under cache/dse/ (outside
dse/, which the step replaces as a whole), so an interrupted or repeated search resumes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from exitflow.core.files import write_json, write_text
from exitflow.core.outputs import load_outputs
from exitflow.dse.config import DseConfig
from exitflow.dse.headline import headline
from exitflow.dse.inputs import load_inputs
from exitflow.dse.overlay import merge, overlay
from exitflow.dse.report import report_markdown
from exitflow.dse.search import SearchResult, search
from exitflow.layout import RunLayout

__all__ = ["run_dse"]

log = logging.getLogger(__name__)


def run_dse(run_dir: Path, cfg: Any, dse: DseConfig | None = None) -> SearchResult:
    """Search the design space of a built run; `cfg` is its ProjectConfig (hw, and the base of
    design.yaml)."""
    from exitflow.core.schema import to_dict

    lay = RunLayout(Path(run_dir))
    dse = dse or cfg.dse
    inp = load_inputs(lay.run_dir, cfg.hw)
    result = search(inp, dse, lay.dse_cache)
    rep = result.report
    if lay.outputs_test.is_file():
        timing, note = _timing_for(lay, result.chosen)
        rep["headline"] = headline(result.chosen, result.designs, result.baselines, inp,
                                   dse.budget, load_outputs(lay.outputs_test), timing, note)  # fmt: skip
    else:
        rep["headline"] = {"refused": f"{lay.outputs_test} is missing: run `exitflow evaluate`"}
    if result.chosen is not None:
        c = result.chosen
        over = overlay(c, inp.topo, result.chosen_folds, inp.clock_mhz)
        write_text(lay.dse_overlay, _yaml(over, "the chosen design's settings (exitflow dse)"))
        whole = merge(to_dict(cfg), over)
        write_text(lay.dse_design, _yaml(whole, f"build it: exitflow build -c {lay.dse_design}"))
        rep["overlay"] = str(lay.rel(lay.dse_overlay))
        rep["design_yaml"] = str(lay.rel(lay.dse_design))
    else:
        log.warning("dse: no design meets the constraints (%s)", rep["chosen_rule"])
    write_json(lay.dse_report, rep)
    write_text(lay.dse_report_md, report_markdown(rep))
    st = rep["stats"]
    log.info(
        "dse: %d candidates, %d simulated, %d foldings (%d cache hits) in %.2f min",
        st["candidates"], st["simulated_designs"], st["partition_foldings"], st["cache_hits"],
        st["minutes"],
    )  # fmt: skip
    return result


def _timing_for(lay: RunLayout, chosen: Any) -> tuple[Any, str]:
    """The measured partition timing (build/rtl/timing.json) where it was measured on the chosen
    design itself (the built hwdesc has its partitions, cycles and beats), else None."""
    from exitflow.sim.rtl_timing import load_rtl_timing

    path = lay.build_dir / "rtl" / "timing.json"
    hw = lay.build_dir / "hwdesc.json"
    finn = "FINN's analytical cycles"
    if chosen is None or not path.is_file() or not hw.is_file():
        return None, f"{finn} (no build/rtl/timing.json)"
    built = {p["name"]: p for p in json.loads(hw.read_text())["partitions"]}
    mine = {p["name"]: p for p in (chosen.desc or {})["partitions"]}
    keys = ("cycles_per_frame", "in_beats", "out_beats")
    if set(built) != set(mine) or any(
        built[n].get(k) != mine[n].get(k) for n in mine for k in keys
    ):
        return None, (
            f"{finn}: build/rtl/timing.json was measured on the built design, whose folding "
            "differs from the chosen one's (build dse/design.yaml and measure it to use it)"
        )
    return load_rtl_timing(path), "measured RTL partition timing (build/rtl/timing.json)"


def _yaml(data: dict[str, Any], note: str) -> str:
    return f"# {note}\n" + yaml.safe_dump(data, sort_keys=False)
