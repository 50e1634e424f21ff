"""Figures of a run: throughput, latency, and the gain of the gated design over the baseline.

Throughput is frames over the span from the first frame's first read to the last result. The
gain is compared at equal resources by dividing by the LUT ratio of the two designs (LUT is what
FINN's MVAUs spend at low precision; every other resource ratio is reported beside it). The
physical bound is 1 / sum_k f_k P_k, with P_k the fraction of frames reaching segment k and f_k
segment k's share of the compute in MACs (stage and head; docs/simulator.md).

Steady-state figures need a run long enough to have one (`run_length`): the pipeline fill must be
a small share of the measured span, and there must be enough frames for the exit fractions (and
so P_k, the gain and the bound) to be more than sampling noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exitflow.sim.hwdesc import HwDesc
from exitflow.sim.result import RunResult

NORMALISE_BY = "LUT"
# A run shorter than this is flagged (docs/simulator.md, "Short runs"). The pipeline fill lowers
# frames/span by about fill/span, so a fill share of at most 10% keeps that bias under ~10%.
MAX_FILL_SHARE = 0.1
# An exit fraction estimated from n frames has a standard error of at most 0.5/sqrt(n): 100 frames
# keep it within 5 percentage points (a 95% interval of about +-10 points).
MIN_FRAMES = 100

__all__ = [
    "MAX_FILL_SHARE",
    "MIN_FRAMES",
    "compute_shares",
    "exit_fractions",
    "gated_resources",
    "headline",
    "latency",
    "noexit_check",
    "reach_fractions",
    "run_length",
    "span_cycles",
    "throughput_fps",
]


def span_cycles(r: RunResult) -> int:
    """Cycles from the first frame's first read to the last result, inclusive (0 if no frames)."""
    if r.num_frames == 0:
        return 0
    return int(r.finish.max()) - int(r.start.min()) + 1


def throughput_fps(r: RunResult, clock_mhz: float) -> float:
    """Frames per second over first read to last result."""
    if r.num_frames == 0:
        return 0.0
    return r.num_frames * clock_mhz * 1e6 / span_cycles(r)


def run_length(
    r: RunResult,
    fill_cycles: int,
    *,
    sampled: bool = True,
    max_fill_share: float = MAX_FILL_SHARE,
    min_frames: int = MIN_FRAMES,
) -> dict[str, Any]:
    """Whether a run is long enough for steady-state figures, and if not, why.

    fill_cycles: the latency of one frame through the empty pipeline on the deepest exit path the
    run's frames take (sim.pipeline.fill_cycles): nothing leaves that path sooner. sampled: the
    figures depend on which frames exit, so the frame count matters too (False for the no-exit
    run, where every frame takes the same path). The returned dict has `short_run` (bool) and `reasons` (empty when long enough).
    """
    span = span_cycles(r)
    share = fill_cycles / span if span else 1.0
    # frames needed for fill/span <= max_fill_share, with span = fill + (n-1) intervals and the
    # interval this run shows after its fill; unknown from one frame, or a span within the fill
    need_fill = None
    if r.num_frames > 1 and span > fill_cycles:
        interval = (span - fill_cycles) / (r.num_frames - 1)
        need_fill = int(np.ceil(fill_cycles * (1 / max_fill_share - 1) / interval)) + 1
    reasons = []
    if share > max_fill_share:
        reasons.append(
            f"the pipeline fill ({fill_cycles} cycles) is {share:.0%} of the {span}-cycle span "
            f"(at most {max_fill_share:.0%} for throughput within about {max_fill_share:.0%} of "
            "steady state" + (f"; about {need_fill} frames needed)" if need_fill else ")")
        )
    if sampled and r.num_frames < min_frames:
        reasons.append(
            f"{r.num_frames} frames give exit fractions with a standard error up to "
            f"{0.5 / np.sqrt(max(r.num_frames, 1)):.0%} (at least {min_frames} frames for 5%)"
        )
    return {
        "short_run": bool(reasons),
        "reasons": reasons,
        "frames": r.num_frames,
        "fill_cycles": int(fill_cycles),
        "span_cycles": span,
        "fill_share": share,
        "max_fill_share": max_fill_share,
        "min_frames": min_frames if sampled else None,
        # None when only the fill criterion fails and one frame cannot say how many would do
        "frames_needed": max(need_fill or 0, min_frames if sampled else 0) or None,
    }


def latency(r: RunResult, clock_mhz: float) -> dict[str, dict[str, float]]:
    """Percentiles of finish - start (pipeline latency) and start - arrival (input queueing)."""
    out = {}
    for name, values in (("latency", r.finish - r.start), ("queueing", r.start - r.arrival)):
        if len(values) == 0:
            values = np.zeros(1, np.int64)
        pct = {
            "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
        }
        out[f"{name}_cycles"] = pct
        out[f"{name}_us"] = {k: v / clock_mhz for k, v in pct.items()}
    return out


def reach_fractions(exit_index: np.ndarray, num_exits: int) -> list[float]:
    """P_k: fraction of frames that reach segment k."""
    n = max(1, len(exit_index))
    return [float((exit_index >= k).sum() / n) for k in range(num_exits)]


def exit_fractions(exit_index: np.ndarray, num_exits: int) -> list[float]:
    """Fraction of frames leaving at each exit."""
    n = max(1, len(exit_index))
    return [float(c / n) for c in np.bincount(exit_index, minlength=num_exits)]


def gated_resources(desc: HwDesc) -> dict[str, float]:
    """Sum over partitions and conditional buffers."""
    total: dict[str, float] = {}
    for resources in [p.resources for p in desc.partitions] + [
        b.resources for b in desc.cond_buffers
    ]:
        for k, v in resources.items():
            total[k] = total.get(k, 0.0) + v
    return total


def compute_shares(desc: HwDesc, exit_macs: np.ndarray | None) -> tuple[list[float] | None, str]:
    """f_k per segment and where it came from: hwdesc partition MACs, else reference exit_macs."""
    parts = {p.name: p for p in desc.partitions}
    stages = desc.stage_order()
    pos = {s.name: i for i, s in enumerate(stages)}
    work, first = [], 0
    for ex in desc.exits:
        last = pos[ex.after]
        members = [*stages[first : last + 1], parts[ex.head]]
        work.append([p.macs for p in members])
        first = last + 1
    if all(m is not None for w in work for m in w):
        total = [float(sum(m or 0 for m in w)) for w in work]  # (none is None here)
        source = "macs of each segment's stages and head (hwdesc)"
    elif exit_macs is not None and len(exit_macs) == len(desc.exits):
        cum = np.asarray(exit_macs, np.float64)
        total = [float(v) for v in np.diff(np.concatenate([[0.0], cum]))]
        source = "marginal exit_macs of reference.npz (heads of passed exits not counted)"
    else:
        return None, "unknown (no MACs in hwdesc or reference.npz)"
    s = sum(total)
    return ([t / s for t in total] if s > 0 else None), source


def headline(r: RunResult, desc: HwDesc, exit_macs: np.ndarray | None = None) -> dict[str, Any]:
    """Gain over the single-exit baseline at equal resources, and the fraction of the bound."""
    clock = desc.clock_mhz
    e = len(desc.exits)
    fps = throughput_fps(r, clock)
    out: dict[str, Any] = {"fps": fps, "reach_fractions": reach_fractions(r.exit_index, e)}
    shares, source = compute_shares(desc, exit_macs)
    out["compute_shares"] = shares
    out["compute_shares_source"] = source
    if shares is not None:
        cost = sum(f * p for f, p in zip(shares, out["reach_fractions"]))
        out["bound"] = 1.0 / cost if cost > 0 else None
    base = desc.baseline or {}
    if not base.get("cycles_per_frame"):
        out["baseline"] = None
        return out
    base_fps = clock * 1e6 / float(base["cycles_per_frame"])
    gated = gated_resources(desc)
    base_res = {k: float(v) for k, v in (base.get("resources") or {}).items()}
    ratios = {k: gated.get(k, 0.0) / v for k, v in base_res.items() if v > 0}
    norm = ratios.get(NORMALISE_BY)
    out.update(
        baseline_fps=base_fps,
        gain_raw=fps / base_fps,
        resource_ratios=ratios,
        normalised_by=NORMALISE_BY if norm else None,
        gain_equal_resources=(fps / base_fps) / norm if norm else None,
    )
    bound = out.get("bound")
    gain = out["gain_equal_resources"]
    out["fraction_of_bound"] = gain / bound if gain is not None and bound else None
    return out


def noexit_check(r: RunResult, desc: HwDesc, tolerance: float = 0.05) -> dict[str, Any]:
    """The all-continue throughput against hw's analytical (FINN) estimate."""
    fps = throughput_fps(r, desc.clock_mhz)
    est = (desc.finn_estimate or {}).get("fps")
    ratio = fps / float(est) if est else None
    return {
        "fps": fps,
        "finn_estimate_fps": est,
        "ratio": ratio,
        "tolerance": tolerance,
        "ok": None if ratio is None else bool(abs(ratio - 1.0) <= tolerance),
    }
