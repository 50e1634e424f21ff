"""The cosim step's comparison of the RTL top with the cycle simulator (exitflow.step_rtl).

Two simulator models of the same frames, arrival and depths: one from FINN's estimates in
hwdesc.json alone, one with every partition's timing measured from the generated RTL
(`exitflow.hw.top.measure_partition_timing`, build/rtl/timing.json; docs/simulator.md,
"Measured RTL timing"). The measured one is the headline: FINN's estimates are not what its RTL
layers do, so the estimate-based figure measures FINN's estimator more than the simulator.
The measurement is cached by a digest of the partitions' sources and the top's depths
(build/rtl/timing-<key>.json, reused) and copied to build/rtl/timing.json for
`load_rtl_timing(run_dir)`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.files import write_json
from exitflow.sim.analysis import throughput_fps
from exitflow.sim.config import SimConfig
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.hwdesc import HwDesc
from exitflow.sim.model import Model
from exitflow.sim.rtl_timing import RtlTiming, load_rtl_timing
from exitflow.sim.run import simulate

__all__ = [
    "MEASUREMENT_VERSION",
    "compare_simulator",
    "measured_timing",
    "rtl_fps",
    "sim_model_for",
    "timing_key",
]

log = logging.getLogger(__name__)

# What hw.top.measure records and how: part of timing_key, so a cached timing-<key>.json from an
# older measurement (without fields the simulator now reads, e.g. read_ahead or the starved
# schedule) is measured again instead of reused. Raise it whenever measure.py changes what it
# measures or how.
MEASUREMENT_VERSION = 10


def timing_key(design: Any) -> str:
    """Digest of what the measured partition timing depends on: the partition modules'
    sources (contents, not paths), the converter measured in front of some, and the top's
    depths (timing.json records them for the simulator), and MEASUREMENT_VERSION (what is
    measured). Not the top's glue or generator, so a change there does not repeat the
    measurement."""
    from exitflow.hw.top.generate import GLUE

    glue = {g.name for g in GLUE} - {"elem_dwc.sv"}
    h = hashlib.sha256(f"measurement/{MEASUREMENT_VERSION}\0".encode())
    for src in sorted(design.sources, key=lambda p: p.name):
        if src.name not in glue and src != design.top_file:
            h.update(src.name.encode() + b"\0" + src.read_bytes())
    plan = design.plan
    depths = {
        "fifo": plan.fifo_depths,
        "cbuf": {e.cbuf: e.cbuf_frames for e in plan.exits if e.cbuf},
    }
    h.update(json.dumps(depths, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def measured_timing(run_dir: str | Path, design: Any, *, jobs: int = 1) -> tuple[RtlTiming, bool]:
    """Every partition's RTL timing for `design`: reused from build/rtl/timing-<key>.json
    (`timing_key`) when measured before, else measured (one Verilator build and run per
    partition). Also written to build/rtl/timing.json, which `load_rtl_timing(run_dir)` reads.
    Returns the timing and whether it was reused."""
    from exitflow.hw.top import measure_partition_timing

    key = timing_key(design)
    root = Path(run_dir).resolve() / "build" / "rtl"
    cached = root / f"timing-{key}.json"
    reused = cached.is_file()
    if not reused:
        t0 = time.perf_counter()
        path = measure_partition_timing(run_dir, design, jobs=jobs)
        data = json.loads(Path(path).read_text())
        data.setdefault("extra", {})["key"] = key
        write_json(cached, data)
        log.info("cosim: partition timing measured in RTL in %.1f s", time.perf_counter() - t0)
    write_json(root / "timing.json", json.loads(cached.read_text()))
    return load_rtl_timing(cached), reused


def sim_model_for(
    design: Any, desc: HwDesc, cfg: SimConfig, timing: RtlTiming | None = None
) -> tuple[Model, list[str]]:
    """The cycle simulator's model of `desc` (with measured RTL `timing` when given) with the
    FIFO and buffer depths the generated top was built with; also the names of top FIFOs the
    model has no link for (not applied)."""
    model = model_from_hwdesc(desc, cfg, timing=timing)
    links = {ln.name for ln in model.links()}
    fifo = {k: v for k, v in design.plan.fifo_depths.items() if k in links}
    missing = sorted(set(design.plan.fifo_depths) - links)
    cbufs = {s.cbuf.name for s in model.segments if s.cbuf is not None}
    frames = {e.cbuf: e.cbuf_frames for e in design.plan.exits if e.cbuf and e.cbuf in cbufs}
    return model.with_depths(fifo, frames), missing


def _first_chunk(res: Any) -> int:
    chunks = res.extra.get("chunks") if getattr(res, "extra", None) else None
    return int(chunks[0][1]) if chunks else len(res.records)


def rtl_fps(res: Any, clock_mhz: float) -> float:
    """Frames per second of a co-simulation (its first chunk when it ran in chunks): frames
    over first input word to last result, as the simulator's throughput_fps."""
    recs = res.records[: _first_chunk(res)]
    entry = min(r.entry_cycle for r in recs)
    last = max(r.result_cycle for r in recs)
    return len(recs) * clock_mhz * 1e6 / (last - entry + 1)


def compare_simulator(
    design: Any,
    res: Any,
    desc: HwDesc,
    cfg: SimConfig,
    exit_index: np.ndarray,
    arrival: np.ndarray,
    timing: RtlTiming | None = None,
) -> dict[str, Any]:
    """The cycle simulator on the frames, exits, arrival and depths of a co-simulation (its
    first chunk when it ran in chunks, which started from reset): the throughput ratio
    rtl_fps / sim_fps, and whether results leave in the same order. timing: measured RTL
    timing for the simulator's model (None: FINN's estimates)."""
    n = _first_chunk(res)
    recs = res.records[:n]
    model, missing = sim_model_for(design, desc, cfg, timing)
    at = np.asarray(arrival[:n], np.int64)
    t0 = time.perf_counter()
    sim = simulate(model, np.asarray(exit_index[:n], np.int64), at - at[0])
    sim_s = time.perf_counter() - t0
    r_fps, s_fps = rtl_fps(res, desc.clock_mhz), throughput_fps(sim, desc.clock_mhz)
    rtl_order = np.asarray([i for i in res.output_order if i < n], np.int64)
    sim_order = np.argsort(sim.finish, kind="stable")
    same = rtl_order == sim_order
    rtl_lat = np.array([r.result_cycle - r.entry_cycle for r in recs], np.int64)
    sim_lat = sim.finish - sim.start
    return {
        "timing": "measured RTL partition timing" if timing is not None else "FINN estimates",
        "frames_compared": n,
        "rtl_fps": r_fps,
        "sim_fps": s_fps,
        "fps_ratio": r_fps / s_fps if s_fps else math.nan,
        "rtl_span_cycles": max(r.result_cycle for r in recs) - min(r.entry_cycle for r in recs) + 1,
        "sim_span_cycles": int(sim.finish.max() - sim.start.min() + 1),
        "order_equal": bool(same.all()),
        "order_positions_equal": int(same.sum()),
        "first_order_difference": None if same.all() else int(np.flatnonzero(~same)[0]),
        "rtl_mean_latency_cycles": float(rtl_lat.mean()),
        "sim_mean_latency_cycles": float(sim_lat.mean()),
        "latency_ratio": float(rtl_lat.mean() / sim_lat.mean()) if sim_lat.mean() else math.nan,
        "sim_seconds": round(sim_s, 3),
        "depths_not_in_sim": missing,
        **_later_chunks(res, model, exit_index, np.asarray(arrival, np.int64), int(same.sum()), n),
        "_sim": sim,
        "_sim_order": sim_order,
    }


def _later_chunks(
    res: Any, model: Model, exit_index: np.ndarray, arrival: np.ndarray, equal: int, n: int
) -> dict[str, Any]:
    """The result order over every chunk of a chunked co-simulation: each chunk started from
    reset, so the simulator runs each chunk's frames alone and its order is compared within
    the chunk (the first chunk's is `equal` of `n`)."""
    chunks = res.extra.get("chunks") if getattr(res, "extra", None) else None
    order = np.asarray(res.output_order, np.int64)
    for off, count, _cycles in (chunks or [])[1:]:
        off, count = int(off), int(count)
        at = arrival[off : off + count]
        sim = simulate(model, np.asarray(exit_index[off : off + count], np.int64), at - at[0])
        rtl = order[(order >= off) & (order < off + count)] - off
        equal += int((rtl == np.argsort(sim.finish, kind="stable")).sum())
        n += count
    return {"order_frames_all_chunks": n, "order_positions_equal_all_chunks": equal}
