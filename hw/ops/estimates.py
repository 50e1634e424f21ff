"""Cycle counts and resource estimates of exitflow's own RTL blocks (compatibility names).

The blocks live in exitflow.hw.ops.<block> with their SystemVerilog, Python reference and
estimate side by side; this module keeps the names hw.estimates and hw.decision_op use. The
resource formulas are fitted to yosys `synth_xilinx -family xc7` of the same RTL
(tests/test_ops_estimates.py re-synthesises a few configurations when yosys is installed).
"""

from __future__ import annotations

from exitflow.core.policies import PolicySpec
from exitflow.hw.ops import BlockEstimate
from exitflow.hw.ops import cond_buffer as _cond_buffer
from exitflow.hw.ops import exit_decision as _exit_decision
from exitflow.hw.ops.cond_buffer import BRAM18_SHAPES, LUTRAM_MAX_BITS
from exitflow.hw.ops.exit_decision import RTL_POLICIES

__all__ = [
    "BRAM18_SHAPES",
    "LUTRAM_MAX_BITS",
    "RTL_POLICIES",
    "BlockEstimate",
    "cond_buffer",
    "decision_unit",
    "decision_units",
    "logit_width",
]


def logit_width(max_abs_logit: int) -> int:
    """Two's complement width that holds integer logits up to +-max_abs_logit."""
    return max(2, int(max_abs_logit).bit_length() + 1)


def decision_unit(policy: str, num_classes: int, width: int) -> BlockEstimate:
    """exit_decision.sv: one logit per cycle, decision C + 1 cycles after the first logit."""
    return _exit_decision.estimate(policy, num_classes, width)


def cond_buffer(width_bits: int, frame_beats: int, depth_frames: int) -> BlockEstimate:
    """cond_buffer.sv: frame_beats + 1 cycles per released frame, drops in one cycle."""
    return _cond_buffer.estimate(width_bits, frame_beats, depth_frames)


def decision_units(
    spec: PolicySpec, num_classes: int, max_abs_logit: list[int]
) -> list[BlockEstimate]:
    """Estimates of the decision unit of every non-final exit of a calibrated policy."""
    return [decision_unit(spec.kind, num_classes, logit_width(m)) for m in max_abs_logit[:-1]]
