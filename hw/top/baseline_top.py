"""The single-exit baseline as one generated SystemVerilog top, beside the gated one.

The build folds and generates the baseline's own partitions (`base_<stage>`, `base_<head>`:
same stages and final head as the gated design, no exits, one throughput target; see
exitflow.hw.flow.baseline), and records them in hwdesc.json under `baseline`. `generate_baseline_top`
plans a top with one exit, the final one, over those partitions and hands it to
`exitflow.hw.top.generate.generate_top`, so input tagging, stream FIFOs, element converters,
argmax exit unit, merge, AXI-Lite registers and the output record format are the gated top's
own: one record per frame `{logits, class, forced = 0, exit = 0, frame id}`. Its FIFO between
two partitions is as deep as the gated design's stream between the same stages (hwdesc, or the
simulator's sizing when the run has one), so both tops pay for the same buffering.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from pathlib import Path

import numpy as np

from exitflow.core.errors import PrerequisiteError
from exitflow.core.hwdesc_load import load_hwdesc
from exitflow.hw.ops import clog2
from exitflow.hw.top.generate import TopDesign, generate_top
from exitflow.hw.top.plan import MIN_ID_FIFO, ExitPlan, TopPlan, _load_part, choose_depths

__all__ = ["BASE_PREFIX", "baseline_reference", "generate_baseline_top", "plan_baseline"]

log = logging.getLogger(__name__)

BASE_PREFIX = "base_"  # the build's names for the baseline's partitions (checkpoints, synth)


def plan_baseline(build_dir: Path, sim_report: Path | None = None) -> TopPlan:
    """A one-exit TopPlan over the baseline's partitions of the build in `build_dir`."""
    desc = load_hwdesc(Path(build_dir) / "hwdesc.json")
    base = desc.baseline or {}
    parts_desc = list(base.get("partitions") or [])
    if not parts_desc:
        raise PrerequisiteError(
            f"{build_dir}/hwdesc.json has no baseline partitions. Fix: rebuild with the "
            "baseline enabled (`exitflow build`; the baseline is part of every build)."
        )
    stages = [p for p in parts_desc if p["kind"] == "stage"]
    heads = [p for p in parts_desc if p["kind"] == "head"]
    if len(heads) != 1 or not stages:
        raise PrerequisiteError(
            f"the baseline in {build_dir}/hwdesc.json has {len(stages)} stages and "
            f"{len(heads)} heads; a single-exit top needs stages and exactly one head. Fix: "
            "rebuild the design."
        )
    parts = {}
    for p in [*stages, heads[0]]:
        name = BASE_PREFIX + p["name"]
        parts[name] = _load_part(Path(build_dir), name, p["kind"])
    gated_fifo, _, source = choose_depths(desc, sim_report)
    fifo: dict[str, int] = {}
    chain = [p["name"] for p in stages] + [heads[0]["name"]]
    for a, b in itertools.pairwise(chain):
        fifo[f"{BASE_PREFIX}{a}->{BASE_PREFIX}{b}"] = gated_fifo.get(f"{a}->{b}", 2)
    head = parts[BASE_PREFIX + heads[0]["name"]]
    if head.out.per_word * head.out.beats != desc.num_classes:
        raise PrerequisiteError(
            f"{BASE_PREFIX}{heads[0]['name']}: writes {head.out.beats} words of "
            f"{head.out.per_word} logits, not {desc.num_classes}. Fix: rebuild the baseline."
        )
    w = head.out.bits
    ex = ExitPlan(0, [BASE_PREFIX + p["name"] for p in stages], BASE_PREFIX + heads[0]["name"],
                  None, 0, -(1 << w), w)  # fmt: skip
    # ids in flight: every frame the pipeline and its FIFOs hold (as plan_top counts them)
    held = 2
    for p in parts_desc:
        held += math.ceil(int(p["latency_cycles"]) / max(1, int(p["cycles_per_frame"]))) + 1
    beats = sum(fifo.values())
    held += math.ceil(beats / max(1, parts[ex.stages[-1]].out.beats)) + 1
    ex.id_depth = max(MIN_ID_FIFO, 1 << clog2(held))
    span = sum(int(p["latency_cycles"]) + int(p["cycles_per_frame"]) for p in parts_desc)
    return TopPlan(desc.design, desc.num_classes, parts, [ex], fifo, source, "",
                   extra={"latency_cycles": span, "baseline": True})  # fmt: skip


def generate_baseline_top(
    run_dir: str | Path,
    *,
    out_dir: str | Path | None = None,
    logits: bool = True,
    id_bits: int = 16,
    sim_report: str | Path | None = None,
) -> TopDesign:
    """Generate `<design>_baseline_top.sv` (and its partition modules) under `out_dir`
    (default build/rtl-baseline/). Same ports and record format as generate_top's gated top,
    with one exit; its register block has one (unused) threshold and one exit counter."""
    run = Path(run_dir).resolve()
    build = run / "build"
    if not (build / "hwdesc.json").is_file():
        raise PrerequisiteError(f"{build / 'hwdesc.json'} is missing. Fix: run `exitflow build`.")
    report = Path(sim_report) if sim_report is not None else run / "sim" / "report.json"
    plan = plan_baseline(build, report if report.is_file() else None)
    out = Path(out_dir).resolve() if out_dir is not None else build / "rtl-baseline"
    name = re.sub(r"\W", "_", f"{plan.design}_baseline_top")
    design = generate_top(
        run, logits=logits, id_bits=id_bits, out_dir=out, plan=plan, top_name=name
    )
    text = design.top_file.read_text()
    design.top_file.write_text(text.replace("the gated accelerator", "the single-exit baseline", 1))
    design.meta["baseline"] = True
    log.info("generated the baseline top %s under %s", name, out)
    return design


def baseline_reference(reference: str | Path | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """quant/'s reference (export/reference.npz) as the baseline top should reproduce it: every
    frame leaves at its one exit with the final head's logits and their argmax (lowest class on
    a tie, as the argmax unit and quant/'s prediction), for `check_against_reference`."""
    ref = dict(np.load(reference)) if not isinstance(reference, dict) else dict(reference)
    final = np.asarray(ref["logits"])[:, -1:, :]
    ref["logits"] = final
    ref["exit_index"] = np.zeros(len(final), np.int64)
    ref["pred"] = np.argmax(final[:, 0, :], axis=1).astype(np.int64)
    return ref
