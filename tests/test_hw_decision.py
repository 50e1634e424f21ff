"""Exit-decision units equal quant.policies bit for bit: own op (all stateful/stateless kinds)
and FINN-primitive graphs (max_logit, margin) through FINN's HW conversion, folding and bit-width
passes, on real-looking logits and adversarial ties and extremes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("finn")

from qonnx.core.datatype import DataType

from exitflow.core import policies
from exitflow.hw.flow import decision, finn_compat, steps, verify
from exitflow.hw.ops.exit_decision import op as decision_op

C = 10
LOGIT = DataType["INT12"]


def _adversarial(rng: np.random.Generator, n: int = 240) -> np.ndarray:
    """Ties everywhere: tiny ranges, all-equal rows, top-2 ties, the type's extremes."""
    x = rng.integers(-40, 41, (n, C))
    x[:80] = rng.integers(-2, 3, (80, C))  # many tied maxima and margins of 0, 1, 2
    x[80:90] = 7  # all equal: margin 0, class 0
    x[90:100, 3] = x[90:100, 8] = 500  # top-2 tie at the top
    x[100] = LOGIT.max()
    x[101] = LOGIT.min()
    x[102] = LOGIT.min()
    x[102, 9] = LOGIT.max()  # largest possible margin, class at the last index
    x[103] = LOGIT.min()
    x[103, 0] = LOGIT.max()
    return x.astype(np.int64)


@pytest.fixture(scope="module")
def logits() -> np.ndarray:
    return _adversarial(np.random.default_rng(0))


@pytest.fixture(scope="module", autouse=True)
def finn_dir(tmp_path_factory):
    finn_compat.init_finn(tmp_path_factory.mktemp("finn"))


@pytest.mark.parametrize("kind", ["max_logit", "margin"])
@pytest.mark.parametrize("t", [None, -5000, -1, 0, 1, 2, 3, 57, 4096])
def test_own_op_stateless_equals_policies(kind, t, logits):
    model = decision_op.make_model(kind, t, C, LOGIT.bitwidth(), 3)
    fire, cls = verify.run(model, [logits])
    thr = np.inf if t is None else float(t)
    want, state = policies.decide(kind, logits, thr)
    assert np.array_equal(fire.reshape(-1).astype(bool), want)
    assert np.array_equal(cls.reshape(-1), policies.exit_prediction(kind, logits, state))


@pytest.mark.parametrize("kind", ["patience", "voting"])
def test_own_op_state_chain_equals_apply_policy(kind):
    rng = np.random.default_rng(1)
    n, exits = 150, 4
    x = rng.integers(-3, 4, (n, exits, C)).astype(np.int64)  # small range: frequent ties
    spec = policies.PolicySpec(kind, (1.0, 2.0, 3.0))
    state = policies.init_state(kind, n, C)
    fired = np.zeros(n, bool)
    exit_index = np.full(n, exits - 1)
    pred = np.zeros(n, np.int64)
    for e in range(exits - 1):
        model = decision_op.make_model(kind, int(spec.thresholds[e]), C, 4, exits)
        s_in = (
            np.stack([state["last"], state["run"]], axis=1)
            if kind == "patience"
            else state["votes"]
        )
        fire, cls, s_out = verify.run(model, [x[:, e], s_in])
        fire = fire.reshape(n).astype(bool)
        s_out = np.rint(s_out).astype(np.int64)
        state = (
            {"last": s_out[:, 0], "run": s_out[:, 1]} if kind == "patience" else {"votes": s_out}
        )
        new = fire & ~fired
        exit_index[new], pred[new] = e, cls.reshape(n)[new]
        fired |= fire
    want_exit, want_pred = policies.apply_policy(x, spec)
    assert np.array_equal(exit_index, want_exit)
    assert np.array_equal(pred[fired], want_pred[fired])


def _finn_built(model, name: str, tmp_path):
    """The FINN-primitive unit through every python-executable build step."""
    cfg = steps.PartitionCfg(
        name, "decision", "xc7z020clg400-1", 10.0, target_cycles=5000, work_dir=tmp_path
    )
    for step in steps.STEPS:
        if step.requires or step.name == "step_hw_codegen":
            continue
        model = step.fn(model, cfg)
    return model


@pytest.mark.parametrize("kind", ["max_logit", "margin"])
def test_finn_primitive_unit_bit_exact_after_build(kind, logits, tmp_path):
    for t in (None, -1, 0, 1, 2, 57):
        src = decision.finn_decision_model(kind, t, C, LOGIT)
        thr = np.inf if t is None else float(t)
        want, _ = policies.decide(kind, logits, thr)
        got = verify.run(src, [logits])[0].reshape(-1).astype(bool)
        assert np.array_equal(got, want), f"source graph, T={t}"
        if t in (0, 2):  # the built (specialised, folded, minimised) unit, via despecialisation
            built = _finn_built(src, f"{kind}{t}", tmp_path / f"{kind}{t}")
            assert finn_compat.is_specialised(built)
            ops = {n.op_type.rsplit("_", 1)[0] for n in built.graph.node}
            assert ops <= {"MVAU", "Thresholding", "StreamingDataWidthConverter"}, ops
            got = verify.run(built, [logits])[0].reshape(-1).astype(bool)
            assert np.array_equal(got, want), f"built unit, T={t}"


def test_finn_unit_rejects_what_it_cannot_build():
    with pytest.raises(ValueError, match="rtl"):
        decision.finn_decision_model("patience", 1, C, LOGIT)
    with pytest.raises(ValueError, match="classes"):
        decision.finn_decision_model("margin", 1, 1, LOGIT)


def test_own_op_estimate_small_and_wrapper(tmp_path):
    res = decision_op.estimate("margin", 10, 16, 3)
    assert 40 < res["LUT"] < 200 and res["DSP"] == 0
    assert decision_op.estimate("voting", 10, 16, 3)["LUT"] > res["LUT"] - 30
    model = decision_op.make_model("margin", None, C, 16, 3)
    decision_op.write_wrapper(model, tmp_path, "decision0")
    text = (tmp_path / "decision0.v").read_text()
    assert ".THRESHOLD(65536)" in text and ".POLICY(1)" in text  # never fires: 2^W
