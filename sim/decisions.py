"""The decision units and the final argmax, computed with quant.policies (the single reference).

Each non-final exit's unit sees only the frames that reached it, with the integer state the frame
carries from the earlier exits (patience, votes), exactly as the hardware's sideband does.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from exitflow.core.policies import (
    PolicySpec,
    decide,
    exit_prediction,
    init_state,
    integer_threshold,
    statistic,
    threshold_from_json,
)
from exitflow.sim.hwdesc import HwDesc, HwDescError

log = logging.getLogger(__name__)


def decide_frames(logits: np.ndarray, spec: PolicySpec) -> tuple[np.ndarray, np.ndarray]:
    """(exit index int64 [N], class int64 [N]) as the decision units and final head output them."""
    x = np.asarray(logits)
    if x.ndim != 3:
        raise ValueError(f"logits must be [N, E, C], got shape {x.shape}")
    n, num_exits, c = x.shape
    if num_exits != spec.num_exits:
        raise ValueError(
            f"the policy decides {spec.num_exits} exits but the logits have {num_exits}: "
            "hwdesc/policy and reference.npz come from different models"
        )
    exit_index = np.full(n, num_exits - 1, np.int64)
    pred = np.zeros(n, np.int64)
    alive = np.arange(n)
    state = init_state(spec.kind, n, c)
    for e in range(num_exits):
        xe = x[alive, e]
        if e < num_exits - 1:
            fire, new = decide(spec.kind, xe, spec.thresholds[e], state, spec.exit_params(e))
        else:  # the final head always outputs: its argmax unit still updates the carried state
            _, new = statistic(spec.kind, xe, state, spec.exit_params(e))
            fire = np.ones(len(alive), bool)
        cls = exit_prediction(spec.kind, xe, new)
        gone = alive[fire]
        exit_index[gone] = e
        pred[gone] = cls[fire]
        alive = alive[~fire]
        state = {k: v[~fire] for k, v in new.items()}
    return exit_index, pred


def never_exit(n: int, num_exits: int) -> np.ndarray:
    """The worst case: every frame runs to the final exit."""
    return np.full(n, num_exits - 1, np.int64)


def spec_from_hwdesc(desc: HwDesc) -> PolicySpec | None:
    """The policy the built decision units implement (hwdesc 'policy'), or None if absent."""
    pol = desc.policy
    if not pol:
        return None
    try:
        thresholds = tuple(threshold_from_json(t, desc.source) for t in pol.get("thresholds", []))
        return PolicySpec(pol["kind"], thresholds, dict(pol.get("params") or {}))
    except (KeyError, ValueError) as exc:
        raise HwDescError(f"{desc.source}: bad 'policy': {exc}") from None


def integer_thresholds(spec: PolicySpec) -> list[int | None]:
    """The constants the hardware compares against (None: the exit never fires)."""
    return [
        integer_threshold(spec.kind, t, spec.exit_params(e)) for e, t in enumerate(spec.thresholds)
    ]


def reconcile(hw: PolicySpec | None, calibrated: PolicySpec | None, source: str) -> PolicySpec:
    """The policy to simulate: the hardware's, which must equal the calibrated one if both exist."""
    if hw is None:
        if calibrated is None:
            raise HwDescError(
                f"{source} has no 'policy' and there is no calibrate/policy.json: run `exitflow "
                "calibrate` (and rebuild) so the simulator knows what the decision units compare"
            )
        return calibrated
    if calibrated is None:
        return hw
    a, b = integer_thresholds(hw), integer_thresholds(calibrated)
    if hw.kind != calibrated.kind or a != b:
        raise HwDescError(
            f"{source} was built for policy {hw.kind} with integer thresholds {a}, but "
            f"calibrate/policy.json says {calibrated.kind} {b}: rebuild (`exitflow build --force`)"
        )
    return hw


def compare_exits(
    exit_index: np.ndarray, pred: np.ndarray, ref_exit: np.ndarray, ref_pred: np.ndarray
) -> list[dict[str, Any]]:
    """One entry per frame whose exit or class differs from the software model's."""
    bad = np.flatnonzero((exit_index != ref_exit) | (pred != ref_pred))
    return [
        {
            "frame": int(f),
            "sim_exit": int(exit_index[f]),
            "ref_exit": int(ref_exit[f]),
            "sim_class": int(pred[f]),
            "ref_class": int(ref_pred[f]),
        }
        for f in bad
    ]
