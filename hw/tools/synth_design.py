"""yosys synthesis of every partition of a built design, beside FINN's estimates.

`synthesise_design(run_dir, yosys)` reads the build's hwdesc.json and checkpoints and synthesises
(`synth_xilinx`, 7-series counting rules in exitflow.hw.tools.yosys):
- every FINN partition (stages, heads, the baseline's own `base_*` partitions) as the last
  checkpoint (step_hw_codegen) holds it, stitched into one top exactly as the Verilator check
  simulates it (exitflow.hw.tools.finn_rtl): all its layers must be RTL (`hw.mvau_style: dsp`;
  FINN's LUT-based MVAU exists only in HLS, which yosys cannot read; such a partition is listed
  under `skipped` with the reason);
- exitflow's blocks: each decision unit (its generated wrapper), each conditional buffer, and
  the merge, with the parameters the hwdesc gives them.

Each result sits beside FINN's estimate of the same partition (hwdesc.json), with the ratio
yosys / FINN per resource, and goes into `build/synth.json` (written atomically after every
partition, so an interrupted run keeps what it finished; every synthesis is cached by digest
under `build/synth/`, so a rerun resumes where it stopped). It is a separate step from the
build: seconds per partition on a small design, longer on large ones (docs/rtl.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from exitflow.core.errors import PrerequisiteError
from exitflow.core.files import write_json, write_text
from exitflow.hw.tools.synth_rtl import synthesise_top
from exitflow.hw.tools.yosys import SynthResult, Yosys

__all__ = [
    "MERGE_ID_BITS",
    "benchmark_keys",
    "compare",
    "fpga_family",
    "glue_blocks",
    "record_top",
    "synthesise_design",
    "synthesise_partition",
]

log = logging.getLogger(__name__)

# frame-id width of the merge's records until the generated top fixes it
MERGE_ID_BITS = 16
RES_KEYS = ("LUT", "FF", "BRAM_18K", "DSP")


def fpga_family(part: str) -> str:
    """synth_xilinx's family for a part name; only 7-series (DSP48E1) is supported."""
    if part.lower().startswith("xc7"):
        return "xc7"
    raise PrerequisiteError(
        f"yosys synthesis of {part}: only 7-series parts (xc7*) are supported; FINN uses DSP48E2 "
        "or DSP58 on newer families, which exitflow does not black-box yet. Fix: synthesise for "
        "a 7-series board, or use Vivado's reports for this part."
    )


def synthesise_partition(
    model: Any, name: str, workdir: Path, yosys: Yosys, *, family: str = "xc7"
) -> SynthResult:
    """Stitch a specialised partition (all layers RTL, HDL generated) and synthesise it."""
    from exitflow.hw.tools.finn_rtl import stitch, uncovered
    from exitflow.hw.tools.rtllib import finn_rtllib_source, patched_rtllib

    missing = uncovered(model)
    if missing:
        raise PrerequisiteError(
            f"{name}: no RTL for {', '.join(missing)}, so yosys cannot synthesise it. Fix: build "
            "with hw.mvau_style: dsp (FINN's RTL MVAU) so that every layer is RTL."
        )
    workdir = Path(workdir).resolve()
    installed, _ = finn_rtllib_source()
    top = stitch(model, f"{name}_top", patched_rtllib(workdir / "cache"), installed)
    top_file = workdir / "tops" / f"{top.name}.sv"
    write_text(top_file, top.text)
    return synthesise_top([*top.sources, top_file], top.name, workdir, yosys, family=family)


def glue_blocks(hwdesc: dict) -> dict[str, tuple[str, list[Path], dict[str, int]]]:
    """exitflow's blocks of a design: name -> (top module, sources, parameters)."""
    from exitflow.hw.ops import clog2, cond_buffer, merge, sources

    out: dict[str, tuple[str, list[Path], dict[str, int]]] = {}
    verdict = {s["dst"]: int(s["fifo_depth"]) for s in hwdesc["streams"]}
    for cb in hwdesc["cond_buffers"]:
        params = cond_buffer.params(
            int(cb["width_bits"]),
            int(cb["frame_beats"]),
            int(cb["depth_frames"]),
            verdict.get(cb["name"], int(cb["depth_frames"])),
        )
        out[cb["name"]] = ("cond_buffer", sources("cond_buffer"), params)
    if len(hwdesc["exits"]) > 1:
        classes = clog2(int(hwdesc["num_classes"]))
        params = merge.params(len(hwdesc["exits"]), MERGE_ID_BITS, classes)
        out["merge"] = ("merge", sources("merge"), params)
    return out


def compare(synth: dict[str, int], finn: dict[str, float]) -> dict[str, float | None]:
    """yosys / FINN per resource key (None where FINN estimates zero or nothing)."""
    out: dict[str, float | None] = {}
    for k in RES_KEYS:
        f = float(finn.get(k, 0) or 0)
        out[k] = round(synth[k] / f, 3) if f > 0 else None
    return out


def _entry(kind: str, res: SynthResult, finn: dict[str, float] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, "yosys": res.resources(), "lutram": res.lutram}
    if finn is not None:
        entry["finn"] = {k: finn.get(k) for k in RES_KEYS if k in finn}
        entry["yosys_over_finn"] = compare(res.resources(), finn)
    entry.update(seconds=res.seconds, cached=res.cached, log=res.log_path, cells=res.cells)
    entry["rtl_dsp_instances"] = res.extra.get("rtl_dsp_instances")
    return entry


def _sum(entries: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {k: sum(float(e[key].get(k) or 0) for e in entries if key in e) for k in RES_KEYS}


def _total_ratio(entries: list[dict[str, Any]]) -> dict[str, float | None]:
    """yosys / FINN per key over the parts FINN estimates that key for (FINN has no FF figure
    for its own layers, no figure at all for the merge): like for like, never a part against
    nothing."""
    out: dict[str, float | None] = {}
    for k in RES_KEYS:
        both = [e for e in entries if k in e.get("finn", {})]
        f = sum(float(e["finn"][k] or 0) for e in both)
        out[k] = round(sum(e["yosys"][k] for e in both) / f, 3) if f > 0 else None
    return out


def synthesise_design(
    run_dir: Path,
    yosys: Yosys,
    *,
    only: list[str] | None = None,
    timeout: float | None = None,
) -> dict[str, SynthResult]:
    """Synthesise every partition and block of the run's build; write build/synth.json.

    `only` restricts it to the named entries (partition names, `base_<name>` for the baseline's,
    `cbuf<k>`, `merge`); synth.json keeps the other entries. Returns name -> SynthResult. Raises PrerequisiteError when the build has
    not run (no hwdesc.json) and for a part outside the 7-series.
    """
    from qonnx.core.modelwrapper import ModelWrapper

    from exitflow.hw.flow import finn_compat
    from exitflow.hw.flow.builder import rtl_checkpoint
    from exitflow.hw.ops import sources
    from exitflow.layout import RunLayout

    paths = RunLayout(Path(run_dir))
    if not paths.hwdesc.is_file():
        raise PrerequisiteError(f"{paths.hwdesc} does not exist: run `exitflow build` first.")
    desc = json.loads(paths.hwdesc.read_text())
    report = json.loads(paths.build_report.read_text()) if paths.build_report.is_file() else {}
    family = fpga_family(str(report.get("part", "xc7z020clg400-1")))
    work = paths.build_dir / "synth"
    finn_compat.init_finn(paths.finn_dir, workers=1)  # FINN's settings name its rtllib
    out_file = paths.build_dir / "synth.json"
    results: dict[str, SynthResult] = {}
    entries: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    if only is not None and out_file.is_file():  # a partial run updates the other parts' file
        old = json.loads(out_file.read_text())
        if old.get("yosys") == yosys.version:
            entries, skipped = dict(old.get("parts", {})), dict(old.get("skipped", {}))
    jobs: list[tuple[str, str, dict[str, float] | None]] = []
    for p in desc["partitions"]:
        jobs.append((p["name"], p["kind"], p["resources"]))
    for p in desc["baseline"]["partitions"]:
        jobs.append((f"base_{p['name']}", f"baseline {p['kind']}", p["resources"]))
    glue = glue_blocks(desc)
    for cb in desc["cond_buffers"]:
        jobs.append((cb["name"], "cond_buffer", cb["resources"]))
    if "merge" in glue:
        jobs.append(("merge", "merge", None))

    def save() -> None:
        gated = [e for n, e in entries.items() if not n.startswith("base_")]
        base = [e for n, e in entries.items() if n.startswith("base_")]
        totals = {}
        for label, group in (("gated", gated), ("baseline", base)):
            totals[label] = {"yosys": _sum(group, "yosys"), "finn": _sum(group, "finn"),
                             "yosys_over_finn": _total_ratio(group)}  # fmt: skip
        write_json(out_file, {
            "schema": "exitflow.synth/1", "yosys": yosys.version, "family": family,
            "note": "totals are sums over the synthesised parts (the generated top adds its "
                    "stream FIFOs and wiring); each total ratio is over the parts FINN estimates "
                    "that resource for", "parts": entries, "totals": totals,
            "skipped": skipped,
        })  # fmt: skip

    for name, kind, finn in jobs:
        if only is not None and name not in only:
            continue
        codegen = paths.build_dir / "partitions" / name / "codegen" / f"{name}.v"
        try:
            if name in glue:
                module, files, params = glue[name]
                res = synthesise_top(
                    files, module, work, yosys, family=family, params=dict(params), timeout=timeout
                )
            elif kind == "decision" and codegen.is_file():
                files = [codegen, *sources("exit_decision")]
                res = synthesise_top(files, name, work, yosys, family=family, timeout=timeout)
            else:
                ckpt = rtl_checkpoint(paths.build_dir, name)
                if not ckpt.is_file():
                    raise PrerequisiteError(f"{ckpt} is missing: the build did not reach codegen")
                model = ModelWrapper(str(ckpt))
                res = synthesise_partition(model, name, work, yosys, family=family)
        except PrerequisiteError as exc:
            skipped[name] = str(exc)
            log.warning("%s: not synthesised: %s", name, exc)
            save()
            continue
        results[name] = res
        skipped.pop(name, None)
        entries[name] = _entry(kind, res, finn)
        log.info("%s: yosys %s, FINN %s", name, res.resources(), finn)
        save()
    return results


def record_top(
    run_dir: Path, label: str, result: SynthResult, finn: dict[str, float] | None = None
) -> Path:
    """Put a whole top's synthesis (label "gated" or "baseline": synthesise_top of the generated
    accelerator) into build/synth.json under `tops`, beside the per-part results; `finn` (the
    sum of FINN's and exitflow's estimates of its parts) adds the ratio per resource."""
    from exitflow.layout import RunLayout

    out_file = RunLayout(Path(run_dir)).build_dir / "synth.json"
    report = json.loads(out_file.read_text()) if out_file.is_file() else {"parts": {}}
    report.setdefault("tops", {})[label] = _entry("top", result, finn)
    return write_json(out_file, report)


def benchmark_keys(report: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures of a synth.json: `gated_*`/`baseline_*` (lut, ff, bram18, dsp) from
    the whole top where it was synthesised, else the sum of the parts; `yosys_over_finn_lut` of
    the gated design (parts FINN estimates); LUTs of exitflow's blocks summed by kind."""
    out: dict[str, float | None] = {}
    names = {"LUT": "lut", "FF": "ff", "BRAM_18K": "bram18", "DSP": "dsp"}
    for label in ("gated", "baseline"):
        top = report.get("tops", {}).get(label)
        res = top["yosys"] if top else report.get("totals", {}).get(label, {}).get("yosys", {})
        for k, short in names.items():
            out[f"{label}_{short}"] = res.get(k)
        out[f"{label}_source"] = None if not res else ("top" if top else "sum_of_parts")  # type: ignore[assignment]
    gated = report.get("totals", {}).get("gated", {}).get("yosys_over_finn", {})
    out["yosys_over_finn_lut"] = gated.get("LUT")
    parts = report.get("parts", {})
    for key, kind in (("decision_unit_luts", "decision"), ("cond_buffer_luts", "cond_buffer"),
                      ("merge_luts", "merge")):  # fmt: skip
        found = [p["yosys"]["LUT"] for p in parts.values() if p.get("kind") == kind]
        out[key] = sum(found) if found else None
    return out
