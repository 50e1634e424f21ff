"""Occupancy of the conditional buffers and exits over time (matplotlib only when plotting)."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np

from quant.files import atomic_path
from sim.result import RunResult

log = logging.getLogger(__name__)
MAX_POINTS = 4000  # per curve; longer series keep the maximum of each bin


def occupancy_series(adds: np.ndarray, removes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cycles, count at the end of each cycle) of a buffer entered at `adds`, left at `removes`."""
    t = np.concatenate([adds, removes])
    d = np.concatenate([np.ones(len(adds), np.int64), -np.ones(len(removes), np.int64)])
    order = np.argsort(t, kind="stable")
    t, level = t[order], np.cumsum(d[order])
    last = np.r_[t[1:] != t[:-1], True]  # the count after the cycle's last change
    return t[last], level[last]


def _thin(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_POINTS points, keeping each bin's maximum (peaks matter for buffer sizes)."""
    if len(t) <= MAX_POINTS:
        return t, y
    edges = np.linspace(0, len(t), MAX_POINTS + 1).astype(int)
    idx = np.array([a + int(np.argmax(y[a:b])) for a, b in itertools.pairwise(edges) if b > a])
    return t[idx], y[idx]


def buffer_series(r: RunResult) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fill of each conditional buffer over time, in frames (beats held / beats per frame).

    From the fast engine's copy of every buffer's stored and leaving beats (extra["buffers"]),
    which a windowed run keeps though it drops the other events.
    """
    out = {}
    for name, (adds, removes, beats_per_frame) in r.extra.get("buffers", {}).items():
        if len(removes):
            t, beats = occupancy_series(adds, removes)
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
    series = buffer_series(r)
    fig, (zoom, whole, exits) = plt.subplots(3, 1, figsize=(10, 8))
    ms = 1.0 / (clock_mhz * 1e3)  # cycles -> ms
    end = int(np.sort(r.finish)[min(zoom_frames, r.num_frames) - 1]) if r.num_frames else 0
    for name, (t, y) in series.items():
        keep = t <= end
        zoom.step(t[keep] * ms, y[keep], where="post", label=name)
        tt, yy = _thin(t, y)
        whole.plot(tt * ms, yy, lw=0.6, label=name)
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
