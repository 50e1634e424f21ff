"""The occupancy plot's series: peaks kept without sorting every event of a long run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_engines import model
from test_sim_window import long_workload

import exitflow.sim.plots as plots
from exitflow.sim.plots import _thin, buffer_series, occupancy_series, peak_series
from exitflow.sim.stats import fast_run

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_buffer(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Beats entering in order (repeated cycles too) and leaving in order, each after entering."""
    adds = np.cumsum(rng.integers(0, 4, n)).astype(np.int32)
    removes = np.maximum.accumulate(adds + rng.integers(0, 40, n)).astype(np.int32)
    return adds, removes


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("points", [1, 7, 100, 10_000])
def test_peak_series_keeps_each_bins_maximum(monkeypatch, seed: int, points: int):
    monkeypatch.setattr(plots, "CHUNK", 64)  # several chunks, of uneven bins
    rng = np.random.default_rng(seed)
    adds, removes = _random_buffer(rng, int(rng.integers(1, 3000)))
    t_all, level = occupancy_series(adds, removes)
    t, y = peak_series(adds, removes, points)
    assert len(t) == min(points, len(adds))
    assert y.max() == level.max()
    edges = np.linspace(0, len(adds), len(t) + 1).astype(int)
    for (a, b), tb, yb in zip(itertools.pairwise(edges), t, y):
        # the bin's maximum of the exact series, over its first to its last add's cycle
        span = (t_all >= adds[a]) & (t_all <= adds[b - 1])
        assert yb == level[span].max()
        assert level[np.searchsorted(t_all, tb)] == yb  # drawn where it happens


def test_thin_keeps_the_first_maximum_of_each_bin():
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 10**6, 3 * plots.MAX_POINTS + 17))
    y = rng.integers(0, 5, len(t))
    edges = np.linspace(0, len(t), plots.MAX_POINTS + 1).astype(int)
    idx = [a + int(np.argmax(y[a:b])) for a, b in itertools.pairwise(edges)]  # (per bin)
    tt, yy = _thin(t, y)
    assert np.array_equal(tt, t[idx]) and np.array_equal(yy, y[idx])


@SETTINGS
@given(data=st.data())
def test_buffer_series_of_a_run(data):
    m = data.draw(model())
    ex, arrival = data.draw(long_workload(m))
    r = fast_run(m, ex, arrival, keep=False, window=1, block=3, buffers=True)
    whole, zoom_end = buffer_series(r), int(np.median(r.finish))
    zoom = buffer_series(r, zoom_end)
    for name, (adds, removes, beats) in r.extra["buffers"].items():
        # the engine's beats enter and leave in order: nothing to sort
        assert np.all(np.diff(adds) >= 0) and np.all(np.diff(removes) >= 0)
        if not len(removes):
            continue
        t_all, level = occupancy_series(adds, removes)
        t, y = whole[name]
        assert round(y.max() * beats) == level.max() == r.max_occupancy[name]
        assert np.array_equal(level[np.searchsorted(t_all, t)] / beats, y)  # on the exact curve
        keep = t_all <= zoom_end
        assert np.array_equal(zoom[name][0], t_all[keep])
        assert np.array_equal(zoom[name][1], level[keep] / beats)


@settings(max_examples=3, deadline=None)
@given(m=model())
def test_plot_occupancy_writes_a_png(tmp_path_factory, m):
    pytest.importorskip("matplotlib")
    tmp_path = tmp_path_factory.mktemp("plot")
    ex = np.arange(80) % m.num_exits
    r = fast_run(m, ex, np.zeros(80, np.int64), keep=False, buffers=True)
    assert plots.plot_occupancy(r, tmp_path / "occ.png", 100.0, zoom_frames=20) is not None
    assert (tmp_path / "occ.png").stat().st_size > 0


def test_occupancy_of_nothing_yet_is_empty():
    """A zoomed panel that ends before the first frame arrives (found by hypothesis)."""
    empty = np.zeros(0, np.int32)
    t, level = occupancy_series(empty, empty)
    assert len(t) == len(level) == 0
