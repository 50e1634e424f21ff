"""The simulator's checks: decisions equal quant.policies, mismatches fail, the no-exit rate equals
FINN's estimate, the full test set is fast, buffer sizing, too-small buffers, arrivals, imports."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exitflow.core.policies import PolicySpec, apply_policy, never_threshold
from exitflow.sim.analysis import noexit_check, throughput_fps
from exitflow.sim.arrival import arrival_cycles, read_trace
from exitflow.sim.config import Arrival, SimConfig
from exitflow.sim.decisions import decide_frames, never_exit, reconcile
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.errors import ExitMismatchError
from exitflow.sim.hwdesc import HwDescError, load_hwdesc
from exitflow.sim.pipeline import check_exits
from exitflow.sim.run import simulate
from exitflow.sim.sizing import size_buffers
from exitflow.sim.synthetic import synthetic_reference

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "fmnist3_hwdesc.json"


@pytest.mark.parametrize(
    ("kind", "thresholds", "params"),
    [
        ("max_logit", (20, 25), {}),
        ("margin", (10, 8), {}),
        ("patience", (2, 3), {}),
        ("voting", (1, 2), {}),
        ("max_softmax", (0.5, 0.6), {"logit_scale": [0.1, 0.1, 0.1]}),
        ("entropy", (1.0, 0.8), {"logit_scale": [0.1, 0.1, 0.1]}),
    ],
)
def test_decision_units_equal_the_policy_module(kind, thresholds, params):
    x = np.random.default_rng(1).integers(-30, 30, (600, 3, 10))
    spec = PolicySpec(kind, thresholds, params)
    ref_exit, ref_pred = apply_policy(x, spec)
    exit_index, pred = decide_frames(x, spec)
    np.testing.assert_array_equal(exit_index, ref_exit)
    np.testing.assert_array_equal(pred, ref_pred)


def test_a_mismatch_names_the_frame_and_both_values(tmp_path):
    outputs, spec = synthetic_reference(200, (12, 9), (0.5, 0.2, 0.3), seed=3)
    check_exits(outputs, spec, 200, tmp_path)  # agrees
    outputs.exit_index[17] = (outputs.exit_index[17] + 1) % 3
    with pytest.raises(ExitMismatchError, match=r"frame 17: exit \d class \d+ \(sim\) vs exit"):
        check_exits(outputs, spec, 200, tmp_path)
    assert (tmp_path / "mismatches.json").is_file()


def test_policy_of_the_build_must_equal_the_calibrated_one():
    hw = PolicySpec("margin", (12, 9))
    assert reconcile(hw, PolicySpec("margin", (11.5, 8.2)), "hwdesc.json") is hw  # same integers
    with pytest.raises(HwDescError, match=r"integer thresholds \[12, 9\].*\[13, 9\]: rebuild"):
        reconcile(hw, PolicySpec("margin", (13, 9)), "hwdesc.json")


def test_no_exit_throughput_equals_finn_estimate():
    desc = load_hwdesc(DATA)
    m = model_from_hwdesc(desc)
    # exits disabled: the policy never fires, every frame runs to the final exit
    spec = PolicySpec("margin", (never_threshold("margin"),) * 2)
    x = np.random.default_rng(0).integers(-9, 9, (400, 3, 10))
    exit_index, _ = decide_frames(x, spec)
    np.testing.assert_array_equal(exit_index, never_exit(400, 3))
    check = noexit_check(simulate(m, exit_index), desc)
    assert check["ok"] and abs(check["ratio"] - 1) < 0.05, check


def test_full_test_set_in_under_five_seconds():
    """10,000 frames through the 3-exit design (CPU time, so that other users' load is excluded)."""
    m = model_from_hwdesc(load_hwdesc(DATA))
    outputs, spec = synthetic_reference(10_000, (12, 9), (0.6, 0.15, 0.25), burst=0.3, seed=2)
    t0 = time.process_time()
    exit_index, _ = decide_frames(outputs.logits, spec)
    r = simulate(m, exit_index)
    seconds = time.process_time() - t0
    assert seconds < 5.0, f"{seconds:.2f} s of CPU for 10,000 frames"
    assert r.num_frames == 10_000 and (r.finish > r.start).all()


def test_sizing_keeps_throughput_and_is_minimal():
    m = model_from_hwdesc(load_hwdesc(DATA))
    outputs, spec = synthetic_reference(150, (12, 9), (0.6, 0.15, 0.25), burst=0.3, seed=4)
    ex, _ = decide_frames(outputs.logits, spec)
    sized = size_buffers(m, ex)
    fit = m.with_depths(fifo=sized.fifo_beats, cbuf_frames=sized.cbuf_frames)
    assert simulate(fit, ex).cycles == sized.makespan_cycles
    assert sized.cbuf_frames["cbuf0"] > 1  # bursts of continuing frames need room
    last = "cbuf1"  # sized last: one frame less must cost throughput
    if sized.cbuf_frames[last] > 1:
        less = fit.with_depths(cbuf_frames={last: sized.cbuf_frames[last] - 1})
        assert simulate(less, ex).cycles > sized.makespan_cycles
    worst = size_buffers(m, never_exit(60, 3))
    assert set(worst.cbuf_frames.values()) == {1}


def test_too_small_buffer_shows_as_stalls_naming_the_node():
    desc = load_hwdesc(DATA)
    outputs, spec = synthetic_reference(300, (12, 9), (0.5, 0.2, 0.3), burst=0.5, seed=5)
    ex, _ = decide_frames(outputs.logits, spec)
    roomy = simulate(model_from_hwdesc(desc, SimConfig(cond_buffer_frames=32)), ex)
    tight = simulate(model_from_hwdesc(desc, SimConfig(cond_buffer_frames=1)), ex)
    assert throughput_fps(tight, 100.0) < throughput_fps(roomy, 100.0)
    assert tight.blocked_by["stage0"]["cbuf0"] > 0
    assert tight.stalls["stage0"]["blocked"] > roomy.stalls["stage0"]["blocked"]


def test_arrival_processes(tmp_path):
    assert arrival_cycles(SimConfig(), 3).tolist() == [0, 0, 0]
    cfg = SimConfig(arrival=Arrival.PERIODIC, period_cycles=7)
    assert arrival_cycles(cfg, 3).tolist() == [0, 7, 14]
    trace = tmp_path / "arrivals.txt"
    trace.write_text("# cycles\n0\n5\n\n5  # same cycle\n90\n")
    assert read_trace(trace, 3).tolist() == [0, 5, 5]
    with pytest.raises(ValueError, match="gives 4 arrival cycles but 6 frames"):
        read_trace(trace, 6)
    trace.write_text("0\n9\n3\n")
    with pytest.raises(ValueError, match=r"arrivals.txt:3: .*non-decreasing"):
        read_trace(trace, 3)


def test_periodic_input_slower_than_the_pipeline_has_no_queueing():
    m = model_from_hwdesc(load_hwdesc(DATA))
    ex = never_exit(20, 3)
    r = simulate(m, ex, np.arange(20) * 40_000)
    assert (r.start - r.arrival == 1).all()  # read the cycle after it is offered
    assert len(set((r.finish - r.start).tolist())) == 1  # identical latency: no interference


def test_sim_imports_neither_torch_nor_finn_nor_matplotlib():
    modules = sorted(p.stem for p in (REPO / "sim").glob("*.py") if p.stem != "__init__")
    modules = [f"exitflow.sim.{m}" for m in modules] + [
        f"exitflow.core.{p.stem}" for p in (REPO / "exitflow" / "core").glob("*.py")
    ]
    code = (
        f"import exitflow.sim, {', '.join(modules)}; import sys; "
        "bad = [m for m in ('torch', 'finn', 'matplotlib', 'brevitas', 'exitflow.quant',"
        " 'exitflow.hw') if m in sys.modules]; "
        "assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_blocked_occupancy_equals_the_exact_count(monkeypatch):
    """The block-wise occupancy count (one compare per beat, galloping where a block beats the
    best so far) agrees with two binary searches per beat, across block boundaries, with
    repeated read cycles (a dropped frame leaves at once) and when the FIFO overflowed."""
    from exitflow.sim import occupancy as stats

    monkeypatch.setattr(stats, "CHUNK", 16)  # many blocks per stream
    rng = np.random.default_rng(0)
    overflowed = 0
    for _ in range(300):
        n, depth = int(rng.integers(1, 300)), int(rng.integers(1, 8))
        writes = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
        reads = np.empty(n, np.int64)
        last = -(10**9)
        for g in range(n):
            step = int(rng.integers(0, 2))  # 0: same cycle as the previous read
            last = reads[g] = max(writes[g] + 1, last + step) + rng.integers(0, 6)
        exact = stats._exact_held(writes, reads)
        assert stats.max_occupancy(writes, reads) == exact
        overflowed += exact[0] > depth
    assert overflowed > 0  # large occupancies (long gallops) were exercised too
    # writes repeating a cycle (the merge) are counted exactly
    assert stats.max_occupancy(np.array([3, 3, 3]), np.array([4, 5, 6])) == (3, 0)


def test_an_engine_run_frees_its_arrays_without_the_cycle_collector():
    """Buffer sizing runs the engine hundreds of times: arrays kept alive by reference cycles
    until the cyclic collector ran grew one sizing to 1.7 GB."""
    import gc
    import weakref

    from exitflow.sim.fast import FastEngine

    model = model_from_hwdesc(load_hwdesc(DATA))
    exits = np.random.default_rng(3).integers(0, model.num_exits, 50)
    gc.disable()
    try:
        eng = FastEngine(model, exits, np.zeros(50, np.int64)).run()
        segs = [weakref.ref(s) for s in eng.segs]
        assert any(s.seg.cbuf is not None for s in eng.segs)  # the consumers that point back
        del eng
        assert all(ref() is None for ref in segs), "a SegState outlived its engine"
    finally:
        gc.enable()
