"""A windowed fast run (a few frames of events kept, counted block by block) gives exactly the
RunResult of a run that keeps every event: on random designs, with windows and blocks down to
one frame, deadlocks (node, frame, cycle), the int64 redo, and the block-wise occupancy count."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_engines import deadlocking_model, model, workload

import exitflow.sim.fast as fast_mod
from exitflow.sim.errors import DeadlockError
from exitflow.sim.model import Model
from exitflow.sim.occupancy import StreamOcc, _exact_held
from exitflow.sim.stats import fast_run

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def long_workload(m: Model) -> st.SearchStrategy:
    """Runs of up to 60 frames: many blocks and slides of a small window."""
    return workload(m, max_frames=60)


def _same(m: Model, ex: np.ndarray, arrival: np.ndarray, window: int, block: int) -> None:
    kept = fast_run(m, ex, arrival, keep=True)
    win = fast_run(m, ex, arrival, keep=False, window=window, block=block, buffers=True)
    assert win.timing_equal(kept) == []
    assert win.max_occupancy == kept.max_occupancy  # same keys, same order in reports
    assert list(win.stalls) == list(kept.stalls)
    assert win.blocked_by == kept.blocked_by
    assert not win.extra["engine"].keep  # (no silent fallback to keeping everything)
    for name, arrays in kept.extra["buffers"].items():
        got = win.extra["buffers"][name]
        assert all(np.array_equal(a, b) for a, b in zip(arrays, got))


@SETTINGS
@given(data=st.data())
def test_windowed_equals_keep_everything(data):
    m = data.draw(model())
    ex, arrival = data.draw(long_workload(m))
    _same(m, ex, arrival, data.draw(st.integers(0, 3)), data.draw(st.integers(1, 7)))


@SETTINGS
@given(data=st.data())
def test_windowed_int64_redo_is_exact(data):
    """A cycle limit drawn small forces the int64 redo somewhere in a windowed run: the
    counters start over and the result still equals the keep-everything one."""
    m = data.draw(model())
    ex, arrival = data.draw(long_workload(m))
    limit = data.draw(st.integers(1, 400))
    saved, fast_mod.CYCLE_LIMIT32 = fast_mod.CYCLE_LIMIT32, limit
    try:
        _same(m, ex, arrival, 0, data.draw(st.integers(1, 5)))
    finally:
        fast_mod.CYCLE_LIMIT32 = saved


@SETTINGS
@given(data=st.data())
def test_windowed_deadlock_is_the_same(data):
    m, k = data.draw(deadlocking_model())
    ex, arrival = data.draw(long_workload(m))
    block = data.draw(st.integers(1, 5))
    reports = []
    for keep in (True, False):
        try:
            fast_run(m, ex, arrival, keep=keep, block=block)
            reports.append(None)
        except DeadlockError as err:
            reports.append((err.node, err.frame, err.cycle))
    assert reports[0] == reports[1]
    assert (reports[0] is None) == (not (ex >= k).any())


def test_stream_occupancy_in_blocks_equals_the_exact_count(monkeypatch):
    """StreamOcc fed in random blocks, with only `depth` + 2 beats of reads kept before each
    block, finds the exact maximum and the first write reaching it."""
    from exitflow.sim import occupancy

    monkeypatch.setattr(occupancy, "CHUNK", 8)
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(1, 200))
        writes = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
        reads = np.maximum.accumulate(writes + 1 + rng.integers(0, 12, n))
        held, g = _exact_held(writes, reads)
        hist = held + 2  # a correct engine's FIFO never holds more than the window's depth
        occ, a = StreamOcc(n, n), 0
        while a < n:
            b = min(n, a + int(rng.integers(1, 20)))
            r0 = max(0, a - hist)
            occ.add(writes[a:b], a, reads[r0:b], r0)
            a = b
        assert occ.result() == (held, g, int(writes[g]))
