"""Exit policies: hand-worked examples of every kind, and properties of the integer rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from exitflow.core import fixedpoint
from exitflow.core.policies import (
    PolicySpec,
    apply_policy,
    decide,
    exit_mask,
    exit_prediction,
    exit_statistics,
    init_state,
    integer_threshold,
    load_policy,
    never_threshold,
    predicted_class,
    save_policy,
    statistic,
    threshold_for,
    voting_thresholds,
)

# Three samples, three exits, three classes (shared by the max_logit and margin examples).
X3 = np.array(
    [
        [[5, 1, 0], [0, 6, 1], [0, 0, 3]],
        [[2, 2, 1], [1, 7, 7], [4, 0, 1]],
        [[0, 3, 1], [2, 0, 5], [1, 1, 1]],
    ]
)
LN2 = math.log(2)


def _one_hot(classes: list[list[int]], num_classes: int) -> np.ndarray:
    """Logits [N, E, C] with a 1 at the given class of every exit (-1: all-equal logits)."""
    out = np.zeros((len(classes), len(classes[0]), num_classes), np.int64)
    for n, row in enumerate(classes):
        for e, c in enumerate(row):
            if c >= 0:
                out[n, e, c] = 1
    return out


def _table_params(num_exits: int, scale: float, frac_bits: int = 16) -> dict:
    return {
        "logit_scale": [scale] * num_exits,
        "frac_bits": frac_bits,
        "lut_shift": [0] * num_exits,
    }


def test_max_logit_by_hand() -> None:
    spec = PolicySpec("max_logit", (4, 7))
    # s0: max 5 >= 4 at exit 0. s1: 2 < 4, then 7 >= 7 (tie 7/7: class 1). s2: 3 < 4, 5 < 7.
    assert exit_mask(X3, spec).tolist() == [
        [True, False, True],
        [False, True, True],
        [False, False, True],
    ]
    exit_index, pred = apply_policy(X3, spec)
    assert exit_index.tolist() == [0, 1, 2]
    assert pred.tolist() == [0, 1, 0]  # s2's final logits are all equal: class 0
    # A fractional threshold means the next integer: 4.5 -> 5 still fires on max 5.
    assert exit_mask(X3, PolicySpec("max_logit", (4.5, 7)))[0, 0]
    assert not exit_mask(X3, PolicySpec("max_logit", (5.5, 7)))[0, 0]


def test_margin_by_hand() -> None:
    spec = PolicySpec("margin", (2, 1))
    # margins: s0 (4, 5, 3), s1 (0, 0, 3), s2 (2, 3, 0)
    stats, _ = exit_statistics(X3, "margin")
    assert stats.tolist() == [[4, 5, 3], [0, 0, 3], [2, 3, 0]]
    exit_index, pred = apply_policy(X3, spec)
    assert exit_index.tolist() == [0, 2, 0]
    assert pred.tolist() == [0, 0, 1]


def test_max_softmax_by_hand() -> None:
    # s = ln 2, F = 4: EXP[d] = 16 * 2^-d = [16, 8, 4, 2, 1, (0.5), 0, ...]
    params = _table_params(2, LN2, frac_bits=4)
    assert fixedpoint.exp_lut(LN2, 4).tolist()[:5] == [16, 8, 4, 2, 1]
    x = np.array([[[3, 2, 0], [0, 0, 0]], [[9, 2, 0], [0, 0, 0]]])
    stats, _ = exit_statistics(x, "max_softmax", params)
    # [3,2,0]: d = 0,1,3 -> 16 + 8 + 2 = 26 (float max softmax 1/1.625 = 0.615)
    # [9,2,0]: d = 0,7,9 -> 16 (both tiny terms round to 0): probability 1
    assert stats[:, 0].tolist() == [26, 16]
    assert stats[:, 1].tolist() == [48, 48]
    assert integer_threshold("max_softmax", 0.6, params) == 27  # floor(16/0.6 + 1/2)
    assert exit_mask(x, PolicySpec("max_softmax", (0.6,), params))[:, 0].tolist() == [True, True]
    # 0.62 -> T = 26: the integer rule fires although 0.615 < 0.62, inside the documented band
    # |1.625 - 1/0.62| = 0.012 <= (C/2 + 1) / 2^F = 0.156.
    assert exit_mask(x, PolicySpec("max_softmax", (0.62,), params))[:, 0].tolist() == [True, True]
    assert exit_mask(x, PolicySpec("max_softmax", (0.65,), params))[:, 0].tolist() == [False, True]


def test_entropy_by_hand() -> None:
    params = _table_params(2, 20.0)
    x = np.array([[[10, 0], [0, 0]], [[0, 0], [0, 0]]])
    stats, _ = exit_statistics(x, "entropy", params)
    ln2_fx = fixedpoint.ln2_fixed(16)
    assert ln2_fx == 45426
    # [10, 0] at s = 20: the second term is exp(-200): A = 2^16, B = 0, H = 0.
    # [0, 0]: A = 2 * 2^16, B = 0, H = ln 2 exactly from the octave term.
    assert stats[:, 0].tolist() == [0, ln2_fx]
    four = np.zeros((1, 1, 4), np.int64)
    assert exit_statistics(four, "entropy", _table_params(1, 1.0))[0][0, 0] == 2 * ln2_fx
    spec = PolicySpec("entropy", (0.5,), params)
    assert apply_policy(x, spec)[0].tolist() == [0, 1]
    assert integer_threshold("entropy", 0.5, params) == 32768
    # Entropy fires when low: -inf disables the exit, +inf always fires.
    assert not exit_mask(x, PolicySpec("entropy", (-math.inf,), params))[:, 0].any()
    assert exit_mask(x, PolicySpec("entropy", (math.inf,), params))[:, 0].all()


def test_patience_by_hand() -> None:
    # Classes per exit; -1 is a tie [0, 0], which predicts class 0.
    x = _one_hot([[0, 0, 1, 1], [0, 1, 1, 0], [1, 0, 1, 0], [-1, 0, 1, 1]], 2)
    spec = PolicySpec("patience", (2, 2, 2))
    stats, _ = exit_statistics(x, "patience")
    assert stats.tolist() == [[1, 2, 1, 2], [1, 1, 2, 1], [1, 1, 1, 1], [1, 2, 1, 2]]
    exit_index, pred = apply_policy(x, spec)
    assert exit_index.tolist() == [1, 2, 3, 1]
    assert pred.tolist() == [0, 1, 0, 0]
    # Threshold 1 at exit 0 fires always; the state carried is (last class, run length).
    _, state = decide("patience", x[:, 0], 1, init_state("patience", 4, 2))
    assert state["last"].tolist() == [0, 0, 1, 0] and state["run"].tolist() == [1, 1, 1, 1]


def test_voting_by_hand() -> None:
    x = _one_hot([[0, 1, 0, 2], [2, 2, 0, 0], [1, 0, 2, 1], [0, 0, 1, 1]], 3)
    stats, preds = exit_statistics(x, "voting")
    assert stats.tolist() == [[1, 1, 2, 2], [1, 2, 2, 2], [1, 1, 1, 2], [1, 2, 2, 2]]
    # voted class: ties between classes go to the lowest index
    assert preds.tolist() == [[0, 0, 0, 0], [2, 2, 2, 0], [1, 0, 0, 1], [0, 0, 0, 0]]
    exit_index, pred = apply_policy(x, PolicySpec("voting", (2, 2, 2)))
    assert exit_index.tolist() == [2, 1, 3, 1]
    assert pred.tolist() == [0, 2, 1, 0]
    # The output is the voted class, not the firing exit's argmax: s3 fires at exit 2 on two
    # votes for class 0 while exit 2 itself says class 1.
    exit_index, pred = apply_policy(x, PolicySpec("voting", (math.inf, math.inf, 2)))
    assert exit_index[3] == 2 and pred[3] == 0 and x[3, 2].argmax() == 1


def test_voting_thresholds_follow_sun_et_al() -> None:
    # ceil(delta * l^k) for l = 1, 2, 3
    assert voting_thresholds(1.0, 0.5, 4) == (1.0, 2.0, 2.0)
    assert voting_thresholds(2.0, 0.0, 4) == (2.0, 2.0, 2.0)
    # (2^0.5)^2 = 2.0000000000000004 must not demand a third vote
    assert voting_thresholds(2**0.5, 0.5, 3) == (2.0, 2.0)
    with pytest.raises(ValueError, match="voting_k"):
        voting_thresholds(1.0, 1.0, 3)


def test_single_class_and_empty_batch() -> None:
    one = np.array([[[4], [-3]], [[0], [0]]])
    for kind in ("max_logit", "margin", "max_softmax", "entropy", "patience", "voting"):
        params = _table_params(2, 0.1)
        _, preds = exit_statistics(one, kind, params)
        assert (preds == 0).all()
        spec = PolicySpec(kind, (never_threshold(kind),), params)
        assert apply_policy(one, spec)[0].tolist() == [1, 1]
        empty = np.zeros((0, 2, 3), np.int64)
        exit_index, pred = apply_policy(empty, spec)
        assert exit_index.shape == (0,) and pred.shape == (0,) and exit_index.dtype == np.int64
    assert exit_statistics(one, "margin")[0].tolist() == [[0, 0], [0, 0]]
    assert exit_statistics(one, "max_softmax", _table_params(2, 0.1))[0].max() == 2**16
    assert exit_statistics(one, "entropy", _table_params(2, 0.1))[0].max() == 0


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="one threshold per non-final exit"):
        exit_mask(X3, PolicySpec("margin", (1,)))
    with pytest.raises(ValueError, match="unknown policy kind"):
        PolicySpec("softmax", (1, 1))
    with pytest.raises(ValueError, match="logit_scale"):
        PolicySpec("entropy", (1, 1))
    with pytest.raises(ValueError, match="integers"):
        exit_mask(X3.astype(float), PolicySpec("margin", (1, 1)))
    with pytest.raises(ValueError, match="NaN"):
        PolicySpec("margin", (math.nan, 1))


def test_save_load_round_trip(tmp_path) -> None:
    params = fixedpoint.lut_params([0.02, 0.03, 0.05])
    spec = PolicySpec("max_softmax", (0.9, math.inf), params)
    path = save_policy(spec, tmp_path / "calibrate" / "policy.json", {"val": {"accuracy": 0.9}})
    back = load_policy(path)
    assert back == spec
    text = path.read_text()
    assert '"inf"' in text and '"integer_thresholds"' in text and "Infinity" not in text
    with pytest.raises(FileNotFoundError, match="exitflow calibrate"):
        load_policy(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"kind": "margin", "thresholds": ["high"]}')
    with pytest.raises(ValueError, match="numbers"):
        load_policy(tmp_path / "bad.json")


# ---- properties ---------------------------------------------------------------------------------

KINDS = ["max_logit", "margin", "max_softmax", "entropy", "patience", "voting"]


@st.composite
def logit_batches(draw, max_c: int = 6, lo: int = -40, hi: int = 40) -> np.ndarray:
    n = draw(st.integers(0, 12))
    e = draw(st.integers(1, 4))
    c = draw(st.integers(1, max_c))
    # A narrow range makes ties and equal logits common.
    return draw(arrays(np.int64, (n, e, c), elements=st.integers(lo, hi)))


def _stat_threshold(kind: str, stats: np.ndarray, draw_value: int, params: dict) -> float:
    """A threshold near the observed statistics (so firing and not firing both happen)."""
    pool = np.unique(stats).tolist() or [0]
    value = pool[draw_value % len(pool)] + (draw_value % 3) - 1
    if kind in ("max_softmax", "entropy"):
        value = max(value, 1)
    return threshold_for(kind, value, params)


@settings(max_examples=60, deadline=None)
@given(
    x=logit_batches(),
    kind=st.sampled_from(KINDS),
    picks=st.lists(st.integers(0, 999), min_size=6, max_size=6),
)
def test_mask_properties(x: np.ndarray, kind: str, picks: list[int]) -> None:
    """Last exit fires; exit_mask equals frame-by-frame decide(); apply_policy is the first True."""
    n, num_exits, c = x.shape
    params = _table_params(num_exits, 0.07)
    stats, preds = exit_statistics(x, kind, params)
    ts = tuple(_stat_threshold(kind, stats[:, e], picks[e], params) for e in range(num_exits - 1))
    spec = PolicySpec(kind, ts, params)
    mask = exit_mask(x, spec)
    assert mask[:, -1].all()
    exit_index, pred = apply_policy(x, spec)
    for i in range(n):  # one frame at a time, as the hardware sees it
        state = init_state(kind, 1, c)
        first = None
        for e in range(num_exits):
            xe = x[i : i + 1, e]
            if e < num_exits - 1:
                fire, state = decide(kind, xe, ts[e], state, spec.exit_params(e))
            else:
                fire, state = np.array([True]), statistic(kind, xe, state, spec.exit_params(e))[1]
            assert fire[0] == mask[i, e]
            if fire[0] and first is None:
                first = (e, int(exit_prediction(kind, xe, state)[0]))
        assert (int(exit_index[i]), int(pred[i])) == first
        assert pred[i] == preds[i, exit_index[i]]


@settings(max_examples=60, deadline=None)
@given(
    x=logit_batches(),
    kind=st.sampled_from(KINDS),
    picks=st.lists(st.integers(0, 999), min_size=8, max_size=8),
)
def test_stricter_thresholds_never_fire_more(x: np.ndarray, kind: str, picks: list[int]) -> None:
    """Raising t (entropy: lowering it) shrinks every exit's fire set."""
    num_exits = x.shape[1]
    params = _table_params(num_exits, 0.07)
    stats, _ = exit_statistics(x, kind, params)
    a = [_stat_threshold(kind, stats[:, e], picks[e], params) for e in range(num_exits - 1)]
    b = [_stat_threshold(kind, stats[:, e], picks[e + 4], params) for e in range(num_exits - 1)]
    stricter = min if kind == "entropy" else max
    loose = PolicySpec(kind, tuple(a), params)
    strict = PolicySpec(kind, tuple(stricter(p, q) for p, q in zip(a, b)), params)
    m_loose, m_strict = exit_mask(x, loose), exit_mask(x, strict)
    assert not (m_strict[:, :-1] & ~m_loose[:, :-1]).any()
    never = PolicySpec(kind, (never_threshold(kind),) * (num_exits - 1), params)
    assert (apply_policy(x, never)[0] == num_exits - 1).all()


@settings(max_examples=80, deadline=None)
@given(
    x=arrays(
        np.int64, st.tuples(st.integers(0, 10), st.integers(1, 6)), elements=st.integers(-3, 3)
    )
)
def test_ties_lowest_index_and_margin_zero(x: np.ndarray) -> None:
    pred = predicted_class(x)
    for i, row in enumerate(x):
        assert pred[i] == min(j for j, v in enumerate(row) if v == row.max())
    margin, _ = statistic("margin", x, None)
    for i, row in enumerate(x):
        top = sorted(row.tolist(), reverse=True)
        assert margin[i] == (top[0] - top[1] if len(top) > 1 else 0)


@settings(max_examples=40, deadline=None)
@given(value=st.integers(-1000, 1000), n=st.integers(1, 4), c=st.integers(1, 9))
def test_all_equal_logits(value: int, n: int, c: int) -> None:
    x = np.full((n, c), value, np.int64)
    assert (predicted_class(x) == 0).all()
    assert (statistic("margin", x, None)[0] == 0).all()
    assert (statistic("max_logit", x, None)[0] == value).all()
    p = {"logit_scale": 0.05}
    assert (statistic("max_softmax", x, None, p)[0] == c * 2**16).all()
    h = statistic("entropy", x, None, p)[0] / 2**16
    assert np.allclose(h, math.log(c), atol=2**-10 + 1e-4)


@settings(max_examples=150, deadline=None)
@given(
    x=arrays(np.int64, (8, 5), elements=st.integers(-3000, 3000)),
    scale=st.floats(1e-3, 0.2),
    t=st.floats(0.2, 1.0),
    shift=st.integers(0, 3),
)
def test_max_softmax_matches_float_except_near_threshold(
    x: np.ndarray, scale: float, t: float, shift: int
) -> None:
    """Integer and float rules differ only within the documented band around 1/t."""
    frac, c = 16, x.shape[1]
    params = {"logit_scale": scale, "frac_bits": frac, "lut_shift": shift}
    fire_int, _ = decide("max_softmax", x, t, None, params)
    total = fixedpoint.float_softmax_sum(x, scale)
    fire_float = 1.0 / total >= t
    # shift r reads exp at the bin's lower edge: each term is over-estimated by < exp(s(2^r-1))
    band = (c / 2 + 1) / 2**frac + total * (math.exp(scale * (2**shift - 1)) - 1)
    differ = fire_int != fire_float
    assert (np.abs(total[differ] - 1 / t) <= band[differ] + 1e-12).all()
    if shift == 0:  # the integer rule is conservative only up to rounding
        assert np.all(np.abs(fixedpoint.softmax_sum(x, scale) - total * 2**frac) <= c / 2 + 1e-6)


@settings(max_examples=100, deadline=None)
@given(x=arrays(np.int64, (6, 7), elements=st.integers(-2000, 2000)), scale=st.floats(1e-3, 0.5))
def test_entropy_fixed_point_close_to_float(x: np.ndarray, scale: float) -> None:
    frac, log_bits, c = 16, 10, x.shape[1]
    h_int = fixedpoint.entropy_fixed(x, scale, frac, 0, log_bits) / 2**frac
    h = fixedpoint.float_entropy(x, scale)
    bound = 2**-log_bits + c * 2**-frac * (3 + math.log(c))
    assert np.all(np.abs(h_int - h) <= bound)


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(KINDS), value=st.integers(1, 2**40))
def test_threshold_round_trip(kind: str, value: int) -> None:
    """Calibration stores t = threshold_for(v); the hardware constant must come back as v."""
    assert integer_threshold(kind, threshold_for(kind, value)) == value


def test_never_and_always_thresholds() -> None:
    for kind in KINDS:
        assert integer_threshold(kind, never_threshold(kind)) is None
    assert integer_threshold("max_logit", -math.inf) < -(2**62)
    assert integer_threshold("max_softmax", 0.0) > 2**62


def test_choose_shift_bounds_the_table() -> None:
    assert fixedpoint.choose_shift(0.05) == 0
    for scale in (1e-6, 1e-4, 3e-3):
        shift = fixedpoint.choose_shift(scale, max_lut=1024)
        assert shift > 0
        assert fixedpoint.entropy_luts(scale, 16, shift)[0].size <= 1024
        assert fixedpoint.entropy_luts(scale, 16, shift - 1)[0].size > 1024


def test_tables_are_pinned() -> None:
    """Golden values: hardware ROMs are generated from these tables, they must not drift."""
    assert fixedpoint.exp_lut(0.05, 16)[:3].tolist() == [65536, 62340, 59299]
    assert fixedpoint.entropy_luts(0.05, 16)[1][:3].tolist() == [0, 3117, 5930]
    assert fixedpoint.log_lut(16, 10)[[0, 1, 512, 1023]].tolist() == [0, 64, 26573, 45394]
    assert fixedpoint.exp_lut(0.05, 16).size == 236


# --- the rule registry (exitflow.core.rules) ---------------------------------------------------


def test_every_kind_has_one_rule_and_unknown_kinds_list_them() -> None:
    from exitflow.core.kinds import DecisionImpl, PolicyKind
    from exitflow.core.rules import RULES, rule

    assert all(RULES[k].kind is k for k in PolicyKind) and len(RULES) == len(PolicyKind)
    with pytest.raises(ValueError, match=r"unknown policy kind 'softmax'.*max_softmax"):
        rule("softmax")
    # the module docstring's table: who fires low, who needs tables, what hardware exists
    assert {k.value for k, r in RULES.items() if r.low_fires} == {"max_softmax", "entropy"}
    assert {k.value for k, r in RULES.items() if DecisionImpl.FINN in r.hw_impls} == {
        "max_logit",
        "margin",
    }
    assert {k.value for k, r in RULES.items() if DecisionImpl.RTL in r.hw_impls} == {
        "max_logit",
        "margin",
        "patience",
        "voting",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_state_travels_through_the_port_layout(kind: str) -> None:
    from exitflow.core.rules import rule

    r = rule(kind)
    rng = np.random.default_rng(3)
    x = rng.integers(-20, 20, size=(7, 3, 5))
    params = {"logit_scale": [0.5, 0.5, 0.5]}
    spec = PolicySpec(kind, (0.0, 0.0), params)
    state = r.init_state(7, 5)
    for e in range(3):
        _, state = statistic(kind, x[:, e], state, spec.exit_params(e))
        arr = r.state_to_array(state)
        if r.state_width(5) == 0:
            assert arr is None and state == {}
            continue
        assert arr.shape == (7, r.state_width(5))
        back = r.state_from_array(arr.astype(np.float32))  # the op's ports are float tensors
        assert back.keys() == state.keys()
        assert all(np.array_equal(back[k], state[k]) for k in state)
