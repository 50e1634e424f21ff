"""Evaluation plots (matplotlib, Agg canvas): accuracy vs MACs per policy, exit histogram.

matplotlib is imported inside each function, so importing quant.evaluate stays light. Figures are
drawn on an Agg canvas without pyplot, so no global backend state changes, and saved atomically.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from exitflow.core.files import write_bytes


def _save(fig: Any, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return write_bytes(path, buf.getvalue())


def plot_tradeoff(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy vs mean MAC fraction: every policy's curve, single exits, oracle, calibrated."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5))
    ax = fig.add_subplot()
    for kind, curve in report["policies"].items():
        pts = sorted(curve["points"], key=lambda p: p["mac_fraction"])
        ax.plot(
            [p["mac_fraction"] for p in pts],
            [p["accuracy"] for p in pts],
            marker=".",
            linewidth=1,
            label=kind,
        )
    full = report["full_macs"]
    ax.scatter(
        [m / full for m in report["exit_macs"]],
        report["per_exit_accuracy"],
        marker="s",
        color="grey",
        zorder=3,
        label="single exit (subnet)",
    )
    orc, cal = report["oracle"], report["calibrated"]
    ax.scatter(
        [orc["mac_fraction"]], [orc["accuracy"]], marker="*", s=180, color="gold",
        edgecolor="black", zorder=4, label="oracle",
    )  # fmt: skip
    ax.scatter(
        [cal["mac_fraction"]], [cal["accuracy"]], marker="o", s=110, facecolor="none",
        edgecolor="red", linewidth=2, zorder=4, label=f"calibrated {report['kind']}",
    )  # fmt: skip
    ax.axhline(report["final_accuracy"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("mean MACs / full-network MACs")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Exit policies on {report['num_samples']} samples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_exits(report: dict[str, Any], path: str | Path) -> Path:
    """Fraction of samples leaving at each exit: calibrated policy beside the oracle."""
    from matplotlib.figure import Figure

    exits = range(report["num_exits"])
    width = 0.4
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.bar(
        [e - width / 2 for e in exits],
        report["calibrated"]["exit_fractions"],
        width,
        label=f"calibrated {report['kind']}",
    )
    ax.bar(
        [e + width / 2 for e in exits],
        report["oracle"]["exit_fractions"],
        width,
        label="oracle",
        color="gold",
    )
    ax.set_xticks(list(exits))
    ax.set_xlabel("exit")
    ax.set_ylabel("fraction of samples leaving")
    ax.set_ylim(0, 1)
    ax.legend()
    return _save(fig, path)
