"""Folding (PE/SIMD) of each partition from its frame rate, user overrides checked before FINN.

Rates: stage 0 and every partition that sees all frames are folded for `hw.target_fps`; stage
k > 0 (with head k and decision k) only sees the frames that did not exit before it, a fraction
p_k of the frames, so it is folded for p_k * target_fps (fewer cycles per frame -> more cycles
per frame allowed -> less parallelism). p_k comes from `hw.stage_rate_fractions` or, by default,
from the calibrated policy applied to the validation outputs (eval/outputs_val.npz).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from exitflow.core.errors import ConfigError

log = logging.getLogger(__name__)


class FoldingError(ConfigError):
    """A folding override that FINN would reject (it would fail with a bare assertion)."""


# attribute -> (node attribute holding the dimension it must divide, what that dimension is)
_LIMITS: dict[str, dict[str, tuple[str, str]]] = {
    "MVAU": {"PE": ("MH", "output channels"), "SIMD": ("MW", "input features (k*k*C_in)")},
    "Thresholding": {"PE": ("NumChannels", "channels")},
    "ConvolutionInputGenerator": {"SIMD": ("IFMChannels", "input channels")},
    "FMPadding": {"SIMD": ("NumChannels", "channels")},
    "Pool": {"PE": ("Channels", "channels")},
    "DuplicateStreams": {"PE": ("NumChannels", "channels")},
    "StreamingMaxPool": {"PE": ("NumChannels", "channels")},
}


def _base(op_type: str) -> str:
    return op_type.rsplit("_", 1)[0] if op_type.endswith(("_hls", "_rtl")) else op_type


def check_override(model: ModelWrapper, partition: str, node_name: str, attr: str, value: int):
    """Raise FoldingError naming the layer and the fix if `attr=value` is invalid for the node."""
    node = model.get_node_from_name(node_name)
    if node is None:
        names = ", ".join(n.name for n in model.graph.node)
        raise FoldingError(
            f"hw.folding_overrides: {partition} has no layer {node_name!r}; its layers are {names}"
        )
    inst = getCustomOp(node)
    limits = _LIMITS.get(_base(node.op_type), {})
    if attr not in inst.get_nodeattr_types():
        raise FoldingError(f"{partition}/{node_name} ({node.op_type}) has no attribute {attr!r}")
    if attr == "parallel_window":  # a window generator's mode switch, not a factor
        if value not in (0, 1):
            raise FoldingError(f"{partition}/{node_name}: parallel_window={value} must be 0 or 1")
        return
    if value < 1:
        raise FoldingError(f"{partition}/{node_name}: {attr}={value} must be >= 1")
    least = _min_simd(node, inst) if attr == "SIMD" else 1
    if value < least:
        raise FoldingError(
            f"{partition}/{node_name} ({node.op_type}): SIMD={value} is below {least}, the "
            f"least FINN's HLS MVAU can generate for MW={inst.get_nodeattr('MW')} "
            "(SIMD >= MW/1024); use a larger SIMD that divides MW"
        )
    if attr in limits:
        dim_attr, what = limits[attr]
        dim = int(inst.get_nodeattr(dim_attr))
        if dim % value:
            ok = [d for d in range(1, dim + 1) if dim % d == 0]
            raise FoldingError(
                f"{partition}/{node_name} ({node.op_type}): {attr}={value} does not divide its "
                f"{dim} {what}; use one of {ok}"
            )


def _min_simd(node, inst) -> int:
    """Smallest SIMD FINN can generate: MVAU_hls needs SIMD >= MW / 1024 (its HLS input
    buffer depth; finn-plus 1.6.1 asserts this only at code generation)."""
    if node.op_type != "MVAU_hls":
        return 1
    mw = int(inst.get_nodeattr("MW"))
    return next(d for d in range(1, mw + 1) if mw % d == 0 and d * 1024 >= mw)


def raise_min_simd(model: ModelWrapper) -> ModelWrapper:
    """Lift SetFolding's SIMD where it is below the minimum FINN can generate."""
    for node in model.graph.node:
        inst = getCustomOp(node)
        least = _min_simd(node, inst)
        if least > 1 and int(inst.get_nodeattr("SIMD")) < least:
            log.info("%s: SIMD raised to %d (MVAU_hls needs SIMD >= MW/1024)", node.name, least)
            inst.set_nodeattr("SIMD", least)
    return model


def check_folding(model: ModelWrapper, partition: str) -> None:
    """Every PE/SIMD divides its dimension (SetFolding guarantees it; overrides may not)."""
    for node in model.graph.node:
        inst = getCustomOp(node)
        for attr in _LIMITS.get(_base(node.op_type), {}):
            if attr in inst.get_nodeattr_types():
                check_override(model, partition, node.name, attr, int(inst.get_nodeattr(attr)))


def fold(
    model: ModelWrapper,
    partition: str,
    target_cycles: int | None,
    overrides: dict[str, dict[str, int]],
) -> ModelWrapper:
    """SetFolding for `target_cycles`, then apply and check `overrides` ({node: {attr: value}})."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    if target_cycles is not None:
        model = model.transform(SetFolding(int(target_cycles), two_pass_relaxation=True))
        model = raise_min_simd(model)
    for node_name, attrs in overrides.items():
        for attr, value in attrs.items():
            check_override(model, partition, node_name, attr, int(value))
            getCustomOp(model.get_node_from_name(node_name)).set_nodeattr(attr, int(value))
    check_folding(model, partition)
    return model


def target_cycles(clock_mhz: float, fps: float) -> int:
    """Cycles per frame that sustain `fps` at `clock_mhz` (at least 1)."""
    return max(1, math.floor(clock_mhz * 1e6 / fps))


def reach_fractions(exit_index: np.ndarray, exit_after: list[int], num_stages: int) -> list[float]:
    """p_k: fraction of frames that reach stage k, from each frame's exit index."""
    n = max(1, len(exit_index))
    stage_of_exit = np.asarray(exit_after)[np.asarray(exit_index, dtype=np.int64)]
    # a frame exiting after stage s reaches stages 0..s
    return [float(np.count_nonzero(stage_of_exit >= k)) / n for k in range(num_stages)]


def stage_fractions(
    explicit: list[float] | None,
    exit_index: np.ndarray | None,
    exit_after: list[int],
    num_stages: int,
    floor: float = 0.05,
) -> list[float]:
    """Per-stage rate fraction: explicit config, else measured reach (never below `floor`).

    The floor keeps a stage that validation frames almost never reach from being folded so
    far that one unlucky burst stalls the pipeline for thousands of cycles.
    """
    if explicit is not None:
        if len(explicit) != num_stages:
            raise ValueError(
                f"hw.stage_rate_fractions has {len(explicit)} entries; the model has "
                f"{num_stages} stages"
            )
        return [float(f) for f in explicit]
    if exit_index is None:
        return [1.0] * num_stages
    fr = reach_fractions(exit_index, exit_after, num_stages)
    return [1.0 if k == 0 else max(floor, f) for k, f in enumerate(fr)]
