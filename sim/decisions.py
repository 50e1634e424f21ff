"""The decision units and the final argmax, computed with quant.policies (the single reference).

Each non-final exit's unit sees only the frames that reached it, with the integer state the frame
carries from the earlier exits (patience, votes), exactly as the hardware's sideband does.

A design built with hw.keep_exits has only some of the trained exits, numbered 0..K-1;
hwdesc.json's policy.trained_exits names the trained exit of each. `hardware_view` maps
calibrate/policy.json and export/reference.npz to that numbering (`outputs_view`,
`policy_view`, `reference_view`), so the simulator and the cosim compare hardware exits with
quant's reference of the same exits.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from exitflow.core.outputs import Outputs
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

__all__ = [
    "compare_exits",
    "decide_frames",
    "hardware_view",
    "integer_thresholds",
    "never_exit",
    "outputs_view",
    "policy_view",
    "reconcile",
    "reference_view",
    "spec_from_hwdesc",
    "trained_exits",
]

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


def trained_exits(desc: HwDesc) -> list[int] | None:
    """The trained exit of each hardware exit (hwdesc policy.trained_exits, written when
    hw.keep_exits left exits out), or None when the hardware has every trained exit."""
    kept = (desc.policy or {}).get("trained_exits")
    if kept is None:
        return None
    if (
        not isinstance(kept, list)
        or len(kept) != len(desc.exits)
        or not all(isinstance(e, int) and e >= 0 for e in kept)
        or kept != sorted(set(kept))
    ):
        raise HwDescError(
            f"{desc.source}: policy.trained_exits {kept!r} must name one increasing trained exit "
            f"per hardware exit ({len(desc.exits)}): rebuild (`exitflow build --force`)"
        )
    return list(kept)


def _check_trained(kept: list[int], num_exits: int, what: str) -> None:
    if kept[-1] != num_exits - 1:
        raise HwDescError(
            f"hwdesc.json's policy.trained_exits {kept} end at exit {kept[-1]}, but {what} has "
            f"{num_exits} exits (the final one is {num_exits - 1}): they come from different "
            "models; rerun `exitflow export` and `exitflow build`"
        )


def _dropped_taken(exit_index: np.ndarray | None, kept: list[int], what: str) -> None:
    if exit_index is None:
        return
    taken = sorted(set(np.unique(exit_index).tolist()) - set(kept))
    if taken:
        raise HwDescError(
            f"{what} takes exits {taken}, which the hardware leaves out (trained exits "
            f"{kept} built): set their policy.thresholds to inf and rerun calibrate, export and "
            "build, or build every exit (hw.keep_exits: null)"
        )


def _renumber(exit_index: np.ndarray, kept: list[int], num_exits: int) -> np.ndarray:
    pos = np.full(num_exits, -1, np.int64)
    pos[kept] = np.arange(len(kept))
    return pos[np.asarray(exit_index, np.int64)]


def outputs_view(outputs: Outputs, kept: list[int]) -> Outputs:
    """`outputs` (reference.npz) as the hardware with trained exits `kept` sees them: those
    exits' logits, scales and MACs, and the reference's exits renumbered 0..K-1. HwDescError if
    the reference takes a left-out exit."""
    _check_trained(kept, outputs.num_exits, "export/reference.npz")
    _dropped_taken(outputs.exit_index, kept, "export/reference.npz")
    return Outputs(
        outputs.logits[:, kept],
        outputs.labels,
        outputs.logit_scale[kept],
        outputs.exit_macs[kept],
        outputs.full_macs,
        exit_index=None
        if outputs.exit_index is None
        else _renumber(outputs.exit_index, kept, outputs.num_exits),
        pred=outputs.pred,
    )


def reference_view(ref: dict[str, np.ndarray], kept: list[int]) -> dict[str, np.ndarray]:
    """reference.npz's arrays (as the cosim reads them) for the hardware exits: `logits`,
    `logit_scale` and `exit_macs` of the kept exits, `exit_index` renumbered; the rest as is."""
    num_exits = int(np.asarray(ref["logits"]).shape[1])
    _check_trained(kept, num_exits, "export/reference.npz")
    _dropped_taken(np.asarray(ref["exit_index"]), kept, "export/reference.npz")
    out = dict(ref)
    out["logits"] = np.asarray(ref["logits"])[:, kept]
    out["exit_index"] = _renumber(ref["exit_index"], kept, num_exits)
    for key in ("logit_scale", "exit_macs"):
        if key in ref and np.asarray(ref[key]).shape[:1] == (num_exits,):
            out[key] = np.asarray(ref[key])[kept]
    return out


def policy_view(spec: PolicySpec, kept: list[int]) -> PolicySpec:
    """The policy of the kept exits alone (thresholds of the kept non-final exits, per-exit
    params reindexed), as hw.flow.design builds the decision units. HwDescError if a left-out
    exit could fire or the policy carries state between exits."""
    _check_trained(kept, spec.num_exits, "calibrate/policy.json")
    dropped = [e for e in range(spec.num_exits - 1) if e not in kept]
    fires = [e for e in dropped if integer_thresholds(spec)[e] is not None]
    if fires:
        raise HwDescError(
            f"calibrate/policy.json can take exits {fires} (thresholds "
            f"{[spec.thresholds[e] for e in fires]}), which the hardware leaves out: set their "
            "policy.thresholds to inf and rerun calibrate, export and build"
        )
    if dropped and spec.rule.state_width(2) > 0:
        raise HwDescError(
            f"policy {spec.kind} carries state from exit to exit, so leaving out exits {dropped} "
            "changes what the others decide: rebuild with every exit (hw.keep_exits: null)"
        )
    params = {
        k: [v[e] for e in kept] if isinstance(v, list) and len(v) == spec.num_exits else v
        for k, v in spec.params.items()
    }
    return PolicySpec(spec.kind, tuple(spec.thresholds[e] for e in kept[:-1]), params)


def hardware_view(
    desc: HwDesc, outputs: Outputs, calibrated: PolicySpec | None
) -> tuple[Outputs, PolicySpec | None]:
    """reference.npz and calibrate/policy.json in the hardware's exit numbering: unchanged when
    the design has every trained exit, else mapped through hwdesc's policy.trained_exits."""
    kept = trained_exits(desc)
    if kept is None:
        return outputs, calibrated
    log.info("the hardware's exits 0..%d are trained exits %s", len(kept) - 1, kept)
    view = outputs_view(outputs, kept)
    return view, None if calibrated is None else policy_view(calibrated, kept)
