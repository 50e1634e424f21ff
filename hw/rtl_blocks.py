"""Cycle counts and resource estimates of exitflow's own RTL blocks (hw/rtl/*.v).

The behaviour references are `quant.policies` (exit_decision.v) and "continuing frames released
in order, exited frames dropped" (cond_buffer.v); tests/test_rtl.py checks the RTL against both
under Icarus. The resource formulas below were fitted to yosys 0.23 `synth_xilinx -family xc7`
runs of the same RTL (tests/test_rtl_estimates.py re-synthesises a few configurations and checks
them when yosys is installed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exitflow.core.policies import PolicySpec

RTL_POLICIES = ("max_logit", "margin")
# BRAM18 aspect ratios (port width, words) of 7-series/UltraScale simple dual-port mode: synthesis
# picks the one that needs the fewest blocks (a 4-bit buffer uses 4096 x 4, not 512 x 36)
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
LUTRAM_MAX_BITS = 2048  # smaller buffers map to distributed RAM (RAM32M/RAM64M)


def _clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


@dataclass(frozen=True)
class BlockEstimate:
    """Timing and resources of one RTL block instance."""

    cycles_per_frame: int  # initiation interval at full rate (one input beat per cycle)
    latency_cycles: int  # first input beat to output, with no back-pressure
    lut: int
    ff: int
    bram_18k: int

    def resources(self) -> dict[str, int]:
        return {"LUT": self.lut, "FF": self.ff, "BRAM_18K": self.bram_18k, "URAM": 0, "DSP": 0}


def logit_width(max_abs_logit: int) -> int:
    """Two's complement width that holds integer logits up to +-max_abs_logit."""
    return max(2, int(max_abs_logit).bit_length() + 1)


def decision_unit(policy: str, num_classes: int, width: int) -> BlockEstimate:
    """exit_decision.v: one logit per cycle, decision one cycle after the last logit."""
    if policy not in RTL_POLICIES:
        raise ValueError(
            f"the RTL decision unit implements {RTL_POLICIES}; {policy!r} needs state or tables "
            "(use the FINN-primitive unit or set policy.kind to max_logit or margin)"
        )
    cw = _clog2(num_classes)
    if policy == "margin":
        lut, ff = 5 * width + 2 * cw + 10, 2 * width + 2 * cw + 6
    else:
        lut, ff = round(2.5 * width) + 2 * cw - 1, width + 2 * cw + 6
    return BlockEstimate(num_classes, num_classes + 1, lut, ff, 0)


def cond_buffer(width_bits: int, frame_beats: int, depth_frames: int) -> BlockEstimate:
    """cond_buffer.v: passes one beat per cycle; drops a fully stored exited frame in one cycle."""
    bits = width_bits * frame_beats * depth_frames
    words = frame_beats * depth_frames
    if bits <= LUTRAM_MAX_BITS:
        bram, mem_lut = 0, math.ceil(bits / 64) * 4 // 3 + width_bits
    else:
        shape = min(
            BRAM18_SHAPES, key=lambda s: math.ceil(width_bits / s[0]) * math.ceil(words / s[1])
        )
        bram = math.ceil(width_bits / shape[0]) * math.ceil(words / shape[1])
        # blocks stacked in depth need write decoding and a read multiplexer: about 6 + w/4
        # LUTs per bank (fitted to yosys on 13- and 25-bank buffers)
        banks = math.ceil(words / shape[1])
        mem_lut = width_bits + (banks * (6 + width_bits // 4) if banks > 1 else 0)
    lut = 130 + round(0.4 * width_bits) + mem_lut
    ff = 4 * _clog2(words) + 16 + (width_bits if bram else 0)
    return BlockEstimate(frame_beats, 2, lut, ff, bram)


def decision_units(
    spec: PolicySpec, num_classes: int, max_abs_logit: list[int]
) -> list[BlockEstimate]:
    """Estimates of the decision unit of every non-final exit of a calibrated policy."""
    return [decision_unit(spec.kind, num_classes, logit_width(m)) for m in max_abs_logit[:-1]]
