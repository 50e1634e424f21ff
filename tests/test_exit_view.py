"""A design built without some exits (hw.keep_exits): calibrate/policy.json and
export/reference.npz mapped to the hardware's exit numbering through hwdesc's
policy.trained_exits (exitflow.sim.decisions.hardware_view), as simulate and cosim read them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from exitflow.core.outputs import Outputs
from exitflow.core.policies import PolicySpec, apply_policy
from exitflow.sim.decisions import (
    decide_frames,
    hardware_view,
    integer_thresholds,
    reconcile,
    reference_view,
    trained_exits,
)
from exitflow.sim.hwdesc import HwDescError


def _desc(trained: list[int] | None, num_exits: int) -> SimpleNamespace:
    policy = {"kind": "margin", "thresholds": ["inf"] * (num_exits - 1)}
    if trained is not None:
        policy["trained_exits"] = trained
    return SimpleNamespace(policy=policy, exits=[object()] * num_exits, source="hwdesc.json")


def _reference(spec: PolicySpec, n: int = 400, exits: int = 3, classes: int = 5) -> Outputs:
    rng = np.random.default_rng(0)
    logits = rng.integers(-64, 64, size=(n, exits, classes))
    exit_index, pred = apply_policy(logits, spec)
    return Outputs(
        logits, rng.integers(0, classes, n), np.array([0.1, 0.2, 0.3]),
        np.array([10, 20, 30]), 25, exit_index=exit_index, pred=pred,
    )  # fmt: skip


def test_a_design_without_exit_0_decides_as_quant_in_its_own_numbering() -> None:
    calibrated = PolicySpec("margin", (math.inf, 20.0))
    ref = _reference(calibrated)
    assert set(np.unique(ref.exit_index)) == {1, 2}  # both remaining exits are taken
    view, spec = hardware_view(_desc([1, 2], 2), ref, calibrated)
    assert spec is not None and spec.thresholds == (20.0,)
    assert view.logits.shape == (400, 2, 5) and np.array_equal(view.logits, ref.logits[:, 1:])
    assert view.logit_scale.tolist() == [0.2, 0.3] and view.exit_macs.tolist() == [20, 30]
    assert np.array_equal(view.exit_index, ref.exit_index - 1)
    # the hardware's policy (hwdesc: the kept threshold) reconciles with the mapped calibration
    hw = PolicySpec("margin", (20.0,))
    assert integer_thresholds(reconcile(hw, spec, "hwdesc.json")) == [20]
    exit_index, pred = decide_frames(view.logits, hw)
    assert np.array_equal(exit_index, view.exit_index) and np.array_equal(pred, ref.pred)
    # unmapped, the same check refuses: one threshold for one hardware exit against two
    with pytest.raises(HwDescError, match="integer thresholds"):
        reconcile(hw, calibrated, "hwdesc.json")


def test_every_exit_built_leaves_the_inputs_as_they_are() -> None:
    calibrated = PolicySpec("margin", (10.0, 20.0))
    ref = _reference(calibrated)
    desc = _desc(None, 3)
    assert trained_exits(desc) is None
    view, spec = hardware_view(desc, ref, calibrated)
    assert view is ref and spec is calibrated


def test_the_cosim_reference_arrays_are_mapped_alike() -> None:
    calibrated = PolicySpec("margin", (math.inf, 20.0))
    ref = _reference(calibrated)
    arrays = {"logits": ref.logits, "exit_index": ref.exit_index, "pred": ref.pred,
              "exit_macs": ref.exit_macs, "input": np.zeros((4, 1, 28, 28))}  # fmt: skip
    view = reference_view(arrays, [1, 2])
    assert np.array_equal(view["logits"], ref.logits[:, [1, 2]])
    assert np.array_equal(view["exit_index"], ref.exit_index - 1)
    assert view["exit_macs"].tolist() == [20, 30] and view["input"] is arrays["input"]


def test_a_left_out_exit_that_can_fire_is_refused_naming_the_fix() -> None:
    calibrated = PolicySpec("margin", (10.0, 20.0))  # exit 0 fires, but is not built
    ref = _reference(calibrated)
    with pytest.raises(HwDescError, match=r"takes exits \[0\].*thresholds to inf"):
        hardware_view(_desc([1, 2], 2), ref, calibrated)
    ref_ok = _reference(PolicySpec("margin", (math.inf, 20.0)))
    with pytest.raises(HwDescError, match=r"can take exits \[0\].*inf"):
        hardware_view(_desc([1, 2], 2), ref_ok, calibrated)


def test_trained_exits_from_another_model_are_refused() -> None:
    calibrated = PolicySpec("margin", (math.inf, 20.0))
    ref = _reference(calibrated)
    with pytest.raises(HwDescError, match="different models"):
        hardware_view(_desc([0, 1], 2), ref, calibrated)  # 1 is not the final exit of 3
    with pytest.raises(HwDescError, match="one increasing trained exit"):
        trained_exits(_desc([2, 1], 2))
