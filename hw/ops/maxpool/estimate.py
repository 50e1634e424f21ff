"""Cycles and resources of exitflow's RTL max-pool (exitflow_maxpool.sv).

Cycles: one input beat per cycle; per frame C/PE * KK beats for each of the OH*OW output pixels
(FINN's Pool formula), plus one cycle of latency for the output register.

Resources: fitted to yosys 0.23 `synth_xilinx -family xc7` of the same file (see
tests/test_ops_maxpool.py, which re-synthesises configurations outside the fit when yosys is
installed). Per lane a W-bit magnitude compare and a 2:1 select into the running maximum; the
window counter and the handshake are shared.
"""

from __future__ import annotations

import math

__all__ = ["exp_cycles", "latency_cycles", "resources"]


def _clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


def exp_cycles(channels: int, pe: int, kk: int, out_pixels: int) -> int:
    """Cycles per frame at full rate: one beat of PE channels per cycle."""
    return channels // pe * kk * out_pixels


def latency_cycles() -> int:
    """Last input beat of a window to its output beat: the output register."""
    return 1


def resources(pe: int, bits: int, kk: int) -> dict[str, int]:
    """LUT/FF/BRAM_18K/URAM/DSP of one instance.

    LUTs per lane: the W-bit select (about 0.75 W) and the compare, whose cost grows faster
    than W once it needs a carry chain (0.125 W^2); with a window counter wider than 2 bits the
    "window start" term no longer fits into the select LUTs (+2.5 per lane from 4-bit elements
    on). Fit to 26 yosys runs (PE 1-64, W 2-8, KK 4-64, signed and unsigned): within 2% from
    PE 8 up, within 25% for PE <= 4 (yosys packs small instances less evenly). FFs are exact.
    """
    cw = _clog2(kk) if kk > 1 else 0
    per_lane = 0.75 * bits + 0.125 * bits * bits + (2.5 if cw > 2 and bits >= 4 else 0.0)
    lut = round(pe * per_lane) + 3 + 2 * cw
    ff = 2 * pe * bits + cw + 1  # running maximum, output register, counter (none for KK=1), valid
    return {"LUT": lut, "FF": ff, "BRAM_18K": 0, "URAM": 0, "DSP": 0}
