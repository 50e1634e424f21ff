"""FINN's resource estimates of a folded partition corrected by yosys counts of the built one.

build/synth.json (`exitflow synth`) holds each partition's yosys counts at the folding the
build chose, and FINN's estimate of the same folding. The search folds every partition many
other ways, so it needs the counts at foldings yosys never saw:

- BRAM and DSP scale by yosys/FINN at the built folding (DSP: 1.0 on every fmnist3 part).
- LUT: FINN gives its DSP-based RTL MVU 0 LUTs, yet the MVU's adder trees, pipeline and
  weight-stream registers are most of a stage's LUTs and grow with its parallelism (PE x SIMD,
  i.e. its DSPs): fmnist3's stage1 at 36 DSPs is 6,379 LUTs, the baseline's stage1 at 18 DSPs
  3,370, FINN's LUT estimate 1,140 for both. Scaling the whole count by FINN's LUT ratio (the
  earlier rule) kept stage2's 21,864 LUTs at any folding, so a 55 frames/s baseline with 6
  DSPs took 51 % of the Pynq-Z2. The count is split instead: a part per DSP, `lut_per_dsp`
  (the slope between two foldings of the same partition that yosys synthesised, i.e. a stage
  and its baseline twin `base_<name>` with other DSP counts; least squares over such pairs,
  so a large step weighs more than a head's 2 -> 4 DSPs), capped
  so that it never exceeds the partition's own count; the rest scales with FINN's LUT
  estimate. At the built folding the result is yosys's count exactly. Without a pair the
  whole count scales by the LUT ratio, as before.
- FF: the LUT estimate times yosys's FF per LUT at the built folding.
"""

from __future__ import annotations

from typing import Any

__all__ = ["correct", "lut_per_dsp"]


def lut_per_dsp(synth: dict[str, Any] | None) -> float | None:
    """yosys LUTs per DSP between two synthesised foldings of one partition (the least-squares
    slope through the LUT and DSP differences of the partition / baseline-twin pairs of
    synth.json with different DSP counts); None without one."""
    parts = (synth or {}).get("parts", {})
    num = den = 0.0
    for name, entry in parts.items():
        twin = parts.get(f"base_{name}")
        if not twin:
            continue
        a, b = entry.get("yosys") or {}, twin.get("yosys") or {}
        d_dsp = float(a.get("DSP", 0)) - float(b.get("DSP", 0))
        if d_dsp and a.get("LUT") is not None and b.get("LUT") is not None:
            num += (float(a["LUT"]) - float(b["LUT"])) * d_dsp
            den += d_dsp * d_dsp
    return max(0.0, num / den) if den else None


def correct(name: str, res: dict[str, float], synth: dict[str, Any] | None) -> tuple[dict, str]:
    """FINN's estimate `res` of partition `name` at some folding, corrected by synth.json as the
    module docstring says; (res, "finn") where synth.json has no entry for it."""
    entry = (synth or {}).get("parts", {}).get(name)
    if not entry or "yosys_over_finn" not in entry:
        return dict(res), "finn"
    ratios = entry["yosys_over_finn"] or {}
    ys = entry.get("yosys", {})
    out = {k: v * float(ratios[k]) if ratios.get(k) is not None else v for k, v in res.items()}
    for k, r in ratios.items():
        if r is None and k != "FF" and ys.get(k) and not res.get(k):
            out[k] = float(ys[k])
    lut = _split_lut(entry, res, lut_per_dsp(synth))
    if lut is not None:
        out["LUT"] = lut
    if ys.get("LUT") and out.get("LUT"):
        out["FF"] = out["LUT"] * float(ys.get("FF", 0.0)) / float(ys["LUT"])
    elif ys.get("FF"):
        out["FF"] = float(ys["FF"])
    return out, "yosys"


def _split_lut(entry: dict[str, Any], res: dict[str, float], slope: float | None) -> float | None:
    """LUTs = a part per DSP + a part scaling with FINN's LUT estimate (None: no split known)."""
    ys, finn = entry.get("yosys") or {}, entry.get("finn") or {}
    built_lut, built_dsp = float(ys.get("LUT") or 0), float(finn.get("DSP") or 0)
    if slope is None or built_dsp <= 0 or not built_lut or "DSP" not in res:
        return None
    per_dsp = min(slope, built_lut / built_dsp)
    rest = built_lut - per_dsp * built_dsp
    finn_lut = float(finn.get("LUT") or 0)
    scale = float(res.get("LUT", 0.0)) / finn_lut if finn_lut > 0 else 1.0
    return rest * scale + per_dsp * float(res["DSP"])
