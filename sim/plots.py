"""Occupancy of the conditional buffers and exits over time (matplotlib only when plotting)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import numpy as np

from exitflow.core.files import atomic_path
from exitflow.sim.result import RunResult

log = logging.getLogger(__name__)
MAX_POINTS = 4000  # per curve; longer series keep the maximum of each bin
# Adds a peak_series step searches at once: bounds its temporaries (a long run stores ~16M
# beats a buffer, and an int64 level per beat would cost more than the stored arrays).
CHUNK = 1 << 20


def occupancy_series(adds: np.ndarray, removes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, count at the end of each cycle) of a buffer entered at `adds`, left at `removes`.

    Exact, but sorts every event: the plot only calls it on the first few (the zoomed panel).
    """
    t = np.concatenate([adds, removes])
    if not len(t):  # nothing entered yet (a zoom that ends before the first frame)
        return t, np.zeros(0, np.int64)
    d = np.concatenate([np.ones(len(adds), np.int64), -np.ones(len(removes), np.int64)])
    order = np.argsort(t, kind="stable")
    t, level = t[order], np.cumsum(d[order])
    last = np.r_[t[1:] != t[:-1], True]  # the count after the cycle's last change
    return t[last], level[last]


def _sorted(a: np.ndarray) -> np.ndarray:
    """a itself when non-decreasing (the engine's beats enter and leave in order), else a copy."""
    if len(a) > 1 and np.any(a[1:] < a[:-1]):
        return np.sort(a)
    return a


def _bin_max(t: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cycle, value) of each bin's first maximum; edges strictly increasing, from 0 to len(y)."""
    top = np.maximum.reduceat(y, edges[:-1])
    hit = np.flatnonzero(y == np.repeat(top, np.diff(edges)))
    first = hit[
        np.r_[
            True,
            np.searchsorted(edges, hit[1:], "right") != np.searchsorted(edges, hit[:-1], "right"),
        ]
    ]
    return t[first], y[first]


def _thin(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_POINTS points, keeping each bin's maximum (peaks matter for buffer sizes)."""
    if len(t) <= MAX_POINTS:
        return t, y
    return _bin_max(t, y, np.linspace(0, len(t), MAX_POINTS + 1).astype(np.int64))


def peak_series(
    adds: np.ndarray, removes: np.ndarray, points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, count) at most `points` long keeping the peaks of occupancy_series(adds, removes).

    adds and removes sorted. The count only rises at a cycle with an add, so every peak is the
    end-of-cycle count at some add: (adds <= adds[i]) - (removes <= adds[i]). Bins of adds keep
    their maximum; a bin's value is then the maximum of occupancy_series over the cycles from
    its first add to its last. Searched CHUNK adds at a time: no temporary as long as the input.
    """
    n = len(adds)
    if n == 0:
        return np.zeros(0, adds.dtype), np.zeros(0, np.int64)
    bins = min(points, n)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    step = max(1, bins * CHUNK // n)  # bins a chunk
    ts, ys = [], []
    for g in range(0, bins, step):
        e = edges[g : min(g + step, bins) + 1]
        seg = adds[e[0] : e[-1]]
        level = np.searchsorted(adds, seg, "right") - np.searchsorted(removes, seg, "right")
        t, y = _bin_max(seg, level, e - e[0])
        ts.append(t)
        ys.append(y)
    return np.concatenate(ts), np.concatenate(ys)


def buffer_series(r: RunResult, end: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fill of each conditional buffer over time, in frames (beats held / beats per frame).

    From the fast engine's copy of every buffer's stored and leaving beats (extra["buffers"]),
    which a windowed run keeps though it drops the other events. end None: the whole run, peaks
    only (peak_series); else every change up to cycle `end` (occupancy_series).
    """
    out = {}
    buffers = cast(dict[str, tuple[np.ndarray, np.ndarray, int]], r.extra.get("buffers", {}))
    for name, (adds, removes, beats_per_frame) in buffers.items():
        if not len(removes):
            continue
        adds, removes = _sorted(adds), _sorted(removes)
        if end is None:
            t, beats = peak_series(adds, removes)
        else:
            # end in the events' dtype: a Python int would make searchsorted cast a whole int32
            # array to int64 (128 MB for 16M beats)
            stop = adds.dtype.type(min(end, np.iinfo(adds.dtype).max))
            a, b = np.searchsorted(adds, stop, "right"), np.searchsorted(removes, stop, "right")
            t, beats = occupancy_series(adds[:a], removes[:b])
        out[name] = (t, beats / beats_per_frame)
    return out


def plot_occupancy(
    r: RunResult, path: Path, clock_mhz: float, zoom_frames: int = 200
) -> Path | None:
    """Write the plot; returns None (and logs why) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no %s (pip install matplotlib)", path.name)
        return None
    fig, (zoom, whole, exits) = plt.subplots(3, 1, figsize=(10, 8))
    ms = 1.0 / (clock_mhz * 1e3)  # cycles -> ms
    end = int(np.sort(r.finish)[min(zoom_frames, r.num_frames) - 1]) if r.num_frames else 0
    series = buffer_series(r)
    for name, (t, y) in buffer_series(r, end).items():
        zoom.step(t * ms, y, where="post", label=name)
    for name, (t, y) in series.items():
        whole.plot(t * ms, y, lw=0.6, label=name)
    zoom.set_title(f"Conditional-buffer fill, first {min(zoom_frames, r.num_frames)} results")
    whole.set_title("... whole run (maximum per bin)")
    for ax in (zoom, whole):
        ax.set_ylabel("frames held")
        if series:
            ax.legend(loc="upper right")
    num_exits = int(r.exit_index.max()) + 1 if r.num_frames else 1
    for e in range(num_exits):
        done = np.sort(r.finish[r.exit_index == e])
        t, y = _thin(done, np.arange(1, len(done) + 1))
        exits.step(t * ms, y, where="post", label=f"exit {e}")
    exits.set_ylabel("results (cumulative)")
    exits.set_xlabel("time (ms)")
    exits.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
