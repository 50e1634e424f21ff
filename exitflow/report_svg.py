"""Inline SVG charts for the run's HTML report: no scripts, no fonts, no files beside the page.

Each function returns one `<svg>` element as text; values are data units, the chart scales them.
Every mark carries a `<title>` (the browser's tooltip) with its exact value, so the figures stay
readable in the DOM as well as on screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["Series", "bar_groups", "line_chart", "stacked_bars"]

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
]  # fmt: skip
_W, _H = 560, 300  # the drawing's size (CSS scales it to the column)
_L, _R, _T, _B = 56, 16, 14, 44  # margins: axis labels left and bottom


@dataclass
class Series:
    """One set of (x, y) points: a line (`line=True`) and/or markers, named in the legend."""

    name: str
    points: list[tuple[float, float]]
    color: str = ""
    line: bool = True
    marker: str = "circle"  # circle, square, diamond or star
    size: float = 3.0
    labels: list[str] = field(default_factory=list)  # per point, for its tooltip


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _marker(kind: str, x: float, y: float, r: float, color: str, title: str) -> str:
    tip = f"<title>{escape(title)}</title>"
    if kind == "square":
        return (
            f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" '
            f'fill="{color}" stroke="#000" stroke-width="0.6">{tip}</rect>'
        )
    if kind in ("diamond", "star"):
        k = 1.4 if kind == "diamond" else 1.8
        pts = (
            [(x, y - k * r), (x + r, y), (x, y + k * r), (x - r, y)]
            if kind == "diamond"
            else [
                (
                    x + (k * r if i % 2 == 0 else 0.45 * k * r) * math.sin(i * math.pi / 5),
                    y - (k * r if i % 2 == 0 else 0.45 * k * r) * math.cos(i * math.pi / 5),
                )
                for i in range(10)
            ]
        )
        d = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        return (
            f'<polygon points="{d}" fill="{color}" stroke="#000" stroke-width="0.6">{tip}</polygon>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{color}">{tip}</circle>'


def _frame(label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="{escape(label)}" class="chart">'
    )


def line_chart(
    series: Sequence[Series], xlabel: str, ylabel: str, title: str = "", pad: float = 0.05
) -> str:
    """Lines and markers on linear axes fitted to every series' points (with a margin)."""
    pts = [p for s in series for p in s.points if all(math.isfinite(v) for v in p)]
    if not pts:
        return ""
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or abs(x0) or 1.0, (y1 - y0) or abs(y0) or 1.0
    x0, x1, y0, y1 = x0 - pad * dx, x1 + pad * dx, y0 - pad * dy, y1 + pad * dy
    pw, ph = _W - _L - _R, _H - _T - _B

    def sx(v: float) -> float:
        return _L + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return _T + (1 - (v - y0) / (y1 - y0)) * ph

    out = [_frame(title or f"{ylabel} against {xlabel}")]
    out.append(f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>')
    for t in _ticks(x0, x1):
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{_T}" x2="{sx(t):.1f}" y2="{_T + ph}" stroke="#eee"/>'
            f'<text x="{sx(t):.1f}" y="{_T + ph + 14}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in _ticks(y0, y1):
        out.append(
            f'<line x1="{_L}" y1="{sy(t):.1f}" x2="{_L + pw}" y2="{sy(t):.1f}" stroke="#eee"/>'
            f'<text x="{_L - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    out.append(
        f'<text x="{_L + pw / 2}" y="{_H - 8}" text-anchor="middle">{escape(xlabel)}</text>'
        f'<text transform="translate(13 {_T + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>"
    )
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        good = [p for p in s.points if all(math.isfinite(v) for v in p)]
        if s.line and len(good) > 1:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for j, (x, y) in enumerate(good):
            extra = f" {s.labels[j]}" if j < len(s.labels) else ""
            tip = f"{s.name}{extra}: {xlabel} {_fmt(x)}, {ylabel} {_fmt(y)}"
            out.append(_marker(s.marker, sx(x), sy(y), s.size, color, tip))
    out.append("</svg>")
    return "".join(out)


def bar_groups(
    categories: Sequence[str],
    groups: dict[str, Sequence[float]],
    ylabel: str,
    title: str = "",
    percent: bool = True,
) -> str:
    """Grouped vertical bars: one group per category, one bar per named group of values."""
    if not categories or not groups:
        return ""
    top = max([v for vals in groups.values() for v in vals if math.isfinite(v)] + [1e-12])
    top = top * 1.12
    pw, ph = _W - _L - _R, _H - _T - _B
    n = len(groups)
    slot = pw / len(categories)
    bw = 0.8 * slot / n
    out = [_frame(title or ylabel)]
    out.append(f'<rect x="{_L}" y="{_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>')
    for t in _ticks(0.0, top):
        y = _T + (1 - t / top) * ph
        label = f"{100 * t:.0f}%" if percent else _fmt(t)
        out.append(
            f'<line x1="{_L}" y1="{y:.1f}" x2="{_L + pw}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{_L - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    for c, cat in enumerate(categories):
        x_mid = _L + (c + 0.5) * slot
        out.append(
            f'<text x="{x_mid:.1f}" y="{_T + ph + 14}" text-anchor="middle">{escape(cat)}</text>'
        )
        for g, (name, vals) in enumerate(groups.items()):
            v = vals[c] if c < len(vals) else float("nan")
            if not math.isfinite(v):
                continue
            h = v / top * ph
            x = _L + c * slot + 0.1 * slot + g * bw
            label = f"{100 * v:.1f}%" if percent else _fmt(v)
            out.append(
                f'<rect x="{x:.1f}" y="{_T + ph - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[g % len(PALETTE)]}"><title>{escape(name)}, {escape(cat)}: '
                f"{label}</title></rect>"
            )
    out.append(_legend(list(groups), _L + 6, _T + 6))
    out.append(
        f'<text transform="translate(13 {_T + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text></svg>"
    )
    return "".join(out)


def _legend(names: list[str], x: float, y: float) -> str:
    out = []
    for i, name in enumerate(names):
        out.append(
            f'<rect x="{x}" y="{y + 14 * i}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{y + 9 + 14 * i}">{escape(name)}</text>'
        )
    return "".join(out)


def stacked_bars(rows: dict[str, dict[str, float]], budgets: dict[str, float], title: str) -> str:
    """One horizontal bar per resource, as wide as the board's budget, filled part by part.

    rows: resource -> {part name: amount}; budgets: resource -> the board's total. Parts keep
    their colour across resources; the bar's label says the total fraction of the board.
    """
    keys = [k for k in rows if budgets.get(k)]
    if not keys:
        return ""
    parts = list(dict.fromkeys(p for k in keys for p in rows[k]))
    lab, bar_h, gap = 80, 22, 12
    width = _W - lab - _R
    height = _T + len(keys) * (bar_h + gap) + 14 * ((len(parts) + 3) // 4) + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" role="img" '
        f'aria-label="{escape(title)}" class="chart">'
    ]
    for i, key in enumerate(keys):
        y = _T + i * (bar_h + gap)
        budget = budgets[key]
        out.append(
            f'<text x="{lab - 6}" y="{y + 15}" text-anchor="end">{escape(key)}</text>'
            f'<rect x="{lab}" y="{y}" width="{width}" height="{bar_h}" fill="#f4f4f4" '
            f'stroke="#999"/>'
        )
        x, used = float(lab), 0.0
        for j, part in enumerate(parts):
            amount = rows[key].get(part, 0.0)
            if amount <= 0:
                continue
            used += amount
            w = min(amount / budget, 1.0) * width
            out.append(
                f'<rect x="{x:.2f}" y="{y}" width="{max(w, 0.5):.2f}" height="{bar_h}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(part)}: {_fmt(amount)} '
                f"{escape(key)} = {100 * amount / budget:.2f}% of the board</title></rect>"
            )
            x += w
        out.append(
            f'<text x="{min(x + 4, lab + width - 60):.1f}" y="{y + 15}">'
            f"{100 * used / budget:.1f}% of {_fmt(budget)}</text>"
        )
    y0 = _T + len(keys) * (bar_h + gap)
    for j, part in enumerate(parts):
        x, y = lab + (j % 4) * 115, y0 + 14 * (j // 4)
        out.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{y + 9}">{escape(part)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
