"""Exit-decision unit (exit_decision.sv): max-logit or top-1 minus top-2 margin thresholding.

Behaviour: `reference` = exitflow.core.policies (what the simulator and quant/ use), so hardware
and software decide identically. Timing: the simulator's node with I = C, O = 1, ii = C and
latency C + 1 (`timing`): the decision leaves at least 2 cycles after the last logit and at
least C cycles after the previous one; at most two frames in flight. Cycle-exact for C >= 2 (with
one class the simulator's node would hold a third frame the RTL has no register for).
"""

from __future__ import annotations

import numpy as np

from exitflow.core.errors import ConfigError
from exitflow.core.policies import decide, predicted_class
from exitflow.hw.ops import BlockEstimate, clog2

__all__ = ["POLICY_CODES", "RTL_POLICIES", "estimate", "params", "reference", "timing"]

RTL_POLICIES = ("max_logit", "margin")
POLICY_CODES = {"max_logit": 0, "margin": 1}


def _check_policy(policy: str) -> None:
    if policy not in POLICY_CODES:
        raise ConfigError(
            f"the RTL decision unit implements {RTL_POLICIES}; {policy!r} needs state or tables "
            "(use the FINN-primitive unit or set policy.kind to max_logit or margin)"
        )


def reference(
    logits: np.ndarray, policy: str, threshold: int, single_margin: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(fire bool [N], class int64 [N]) of integer logits [N, C], as the RTL computes them."""
    _check_policy(policy)
    x = np.asarray(logits, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ConfigError(f"logits must be [N, C] with C >= 1, got shape {x.shape}")
    if x.shape[1] == 1 and policy == "margin":
        # no second class: the RTL reports SINGLE_MARGIN as the margin
        return np.full(len(x), single_margin >= threshold), np.zeros(len(x), np.int64)
    fire, _ = decide(policy, x, float(threshold))
    return fire, predicted_class(x).astype(np.int64)


def params(
    policy: str, num_classes: int, width: int, threshold: int, single_margin: int = 0
) -> dict[str, int]:
    """Verilog parameters of one instance; the threshold is clamped to [-2^W, 2^W].

    The statistic (a logit, or a margin below 2^W) lies in [-2^W, 2^W), so clamping keeps every
    decision and fits the RTL's W+2-bit compare; 2^W means "never fires".
    """
    _check_policy(policy)
    if not 2 <= width <= 30:
        raise ConfigError(f"logit width {width} outside 2..30 bits: requantise the head's output")
    bound = 1 << width
    return {
        "C": num_classes,
        "W": width,
        "POLICY": POLICY_CODES[policy],
        "THRESHOLD": min(max(int(threshold), -bound), bound),
        "SINGLE_MARGIN": min(max(int(single_margin), -bound), bound - 1),
        "CW": clog2(num_classes),
    }


def timing(num_classes: int) -> tuple[int, int]:
    """(cycles_per_frame, latency_cycles) the simulator models: (C, C + 1)."""
    return num_classes, num_classes + 1


def estimate(policy: str, num_classes: int, width: int) -> BlockEstimate:
    """Cycles and resources (fitted to yosys synth_xilinx, tests/test_ops_estimates.py)."""
    _check_policy(policy)
    cw = clog2(num_classes)
    pw = clog2(num_classes + 1)
    if policy == "margin":
        lut, ff = round(3.75 * width) + 2 * cw + pw + 9, 2 * width + 3 * cw + pw + 3
    else:
        lut, ff = round(1.25 * width) + 2 * cw + pw + 5, width + 3 * cw + pw + 3
    ii, lat = timing(num_classes)
    return BlockEstimate(ii, lat, lut, ff, 0)
