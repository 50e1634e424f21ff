"""exitflow's own RTL under Icarus Verilog, against its Python references.

The decision unit must equal quant.policies bit for bit (fire and class), under random
back-pressure; the conditional buffer must release exactly the continuing frames, in order.
"""

from __future__ import annotations

import numpy as np
import pytest

from exitflow.core.policies import decide, predicted_class
from exitflow.hw.rtlsim import simulate_cond_buffer, simulate_exit_decision


def _logits_with_ties(rng: np.random.Generator, n: int, c: int, span: int) -> np.ndarray:
    x = rng.integers(-span, span + 1, size=(n, c))
    if c > 1:
        k = n // 4
        x[:k, 1] = x[:k, 0] = x[:k].max(axis=1)  # tied maximum: margin 0, class 0 wins
        x[k : 2 * k] = x[k : 2 * k, :1]  # all-equal rows
        x[2 * k : 3 * k, -1] = x[2 * k : 3 * k].max(axis=1) + 1  # maximum in the last class
    return x


@pytest.mark.parametrize("policy", ["max_logit", "margin"])
@pytest.mark.parametrize(
    ("c", "threshold", "seed"), [(10, 5, 1), (10, 0, 2), (10, -3, 3), (2, 7, 4), (1, 0, 5)]
)
def test_decision_unit_matches_policy_module(rtl_tools, policy, c, threshold, seed):
    rng = np.random.default_rng(seed)
    logits = _logits_with_ties(rng, 120, c, span=40)
    fire, cls, _ = simulate_exit_decision(rtl_tools, logits, policy, threshold, seed=seed)
    ref_fire, _ = decide(policy, logits, threshold)
    np.testing.assert_array_equal(fire, ref_fire)
    np.testing.assert_array_equal(cls, predicted_class(logits))


def test_decision_unit_wide_logits_and_extremes(rtl_tools):
    rng = np.random.default_rng(7)
    logits = rng.integers(-(2**15), 2**15, size=(64, 10))
    logits[0] = 2**15 - 1
    logits[1] = -(2**15)
    logits[2, 3], logits[2, 4] = 2**15 - 1, -(2**15)  # largest margin the width allows
    for policy, threshold in [("margin", 2**15), ("max_logit", 2**14)]:
        fire, cls, _ = simulate_exit_decision(rtl_tools, logits, policy, threshold, width=16)
        np.testing.assert_array_equal(fire, decide(policy, logits, threshold)[0])
        np.testing.assert_array_equal(cls, predicted_class(logits))


def test_decision_unit_rate_is_one_logit_per_cycle(rtl_tools):
    logits = np.arange(50 * 10).reshape(50, 10) % 17
    _, _, cycles = simulate_exit_decision(rtl_tools, logits, "margin", 3, stall_percent=(0, 0))
    # C cycles per frame (II = C) plus the pipeline fill; stalls only slow it down
    assert 50 * 10 <= cycles <= 50 * 10 + 5


def test_decision_unit_rejects_out_of_range_logits(rtl_tools):
    with pytest.raises(ValueError, match="widen"):
        simulate_exit_decision(rtl_tools, np.array([[40000, 0]]), "margin", 1, width=16)
    with pytest.raises(ValueError, match="implements"):
        simulate_exit_decision(rtl_tools, np.zeros((1, 2), np.int64), "entropy", 1)


@pytest.mark.parametrize(
    ("depth", "lag", "drop_p", "seed"),
    [
        (1, 0, 0.5, 1),
        (2, 1, 0.5, 2),
        (3, 3, 0.3, 3),
        (2, 0, 0.0, 4),
        (2, 2, 1.0, 5),
        (4, 1, 0.8, 6),
    ],
)
def test_cond_buffer_releases_continuing_frames_in_order(rtl_tools, depth, lag, drop_p, seed):
    rng = np.random.default_rng(seed)
    frames = np.arange(60 * 4).reshape(60, 4) * 7 + 1
    drop = rng.random(60) < drop_p
    out, _ = simulate_cond_buffer(
        rtl_tools, frames, drop, depth_frames=depth, decision_lag_beats=lag, seed=seed
    )
    np.testing.assert_array_equal(out, frames[~drop].ravel())


def test_cond_buffer_bursts_of_continuing_frames_under_heavy_backpressure(rtl_tools):
    frames = np.arange(80 * 3).reshape(80, 3)
    drop = np.zeros(80, dtype=bool)
    drop[::9] = True  # long runs of continuing frames: the worst case for the buffer
    out, _ = simulate_cond_buffer(
        rtl_tools, frames, drop, depth_frames=1, stall_percent=(10, 70), seed=11
    )
    np.testing.assert_array_equal(out, frames[~drop].ravel())
