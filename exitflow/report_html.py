"""runs/<name>/report.html: the one page a person reads first, self-contained and offline.

Inline CSS, charts as inline SVG (exitflow.report_svg), the simulator's occupancy plot as a
base64 PNG; no scripts, fonts or links outside the run directory. `render(index, run_dir)` draws
the report step's index (exitflow.step_report: headline, figures, rungs, states); every section
renders from whatever the run has and names the step that produces what is missing.
"""

from __future__ import annotations

import base64
import logging
import math
from html import escape
from pathlib import Path
from typing import Any

from exitflow.layout import RunLayout
from exitflow.report_svg import Series, bar_groups, line_chart, stacked_bars
from exitflow.sim.streams import STREAMS

__all__ = ["fmt_headline", "render"]

log = logging.getLogger(__name__)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:0 0 8px}
.sub{color:#555;margin-bottom:14px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:14px 16px;
margin:0 0 14px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.grid section{margin:0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6e8eb;padding:4px 8px;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
#headline td.value{font-size:20px;font-weight:600;white-space:nowrap}
.missing{color:#8a5a00;background:#fff6e0;border-left:3px solid #e0a100;padding:6px 10px;margin:6px 0}
.warn{color:#7a1010;background:#fdecec;border-left:3px solid #d62728;padding:6px 10px;
margin:6px 0}
.note{color:#666;font-size:12px}
.passed{color:#17702b;font-weight:600}.failed{color:#b00;font-weight:600}
.skipped{color:#8a5a00;font-weight:600}.notrun{color:#777;font-weight:600}
svg.chart{width:100%;max-width:640px;height:auto;display:block;font:11px system-ui,sans-serif}
img.plot{max-width:100%;height:auto;border:1px solid #eee}
code{background:#f0f1f3;padding:0 3px;border-radius:3px}
@media (max-width:800px){.grid{grid-template-columns:1fr}}
"""


def fmt_headline(key: str, value: float | None) -> str:
    """How the headline table shows a value (the test formats it the same way to find it)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if key == "accuracy":
        return f"{100 * value:.2f} %"
    if key == "accuracy_drop":
        return f"{100 * value:.2f} points"
    if key == "throughput_fps":
        return f"{value:,.0f} frames/s"
    if key in ("gain_equal_resources", "gain_iso_resource"):
        return f"{value:.3f}x"
    if key in ("fraction_of_bound", "resource_fraction"):
        return f"{100 * value:.1f} %"
    return f"{value:.4g}"


def _missing(step: str, what: str = "") -> str:
    what = f" ({what})" if what else ""
    return (
        f'<p class="missing">Not produced yet{what}: run <code>exitflow {escape(step)}</code>.</p>'
    )


def _num(v: Any, spec: str = ".4g") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return format(v, spec) if math.isfinite(v) else str(v)
    return escape(str(v))


def _headline(index: dict[str, Any]) -> str:
    rows = []
    for key, item in (index.get("headline") or {}).items():
        value = item.get("value")
        shown = fmt_headline(key, value)
        if item.get("missing"):
            note = f"not produced yet: run <code>exitflow {escape(item['missing'])}</code>"
        else:
            note = escape(item.get("note") or "")
        data = "" if value is None else f' data-value="{value!r}"'
        rows.append(
            f'<tr data-key="{escape(key)}"><th>{escape(item["label"])}</th>'
            f'<td class="value num"{data}>{escape(shown)}</td><td>{note}</td>'
            f'<td class="note">{escape(item.get("source") or "")}</td></tr>'
        )
    return (
        '<section id="headline-section"><h2>Headline</h2><table id="headline">'
        "<tr><th>figure</th><th class=num>value</th><th>about it</th><th>from</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _tradeoff(fig: dict[str, Any]) -> str:
    body = '<section id="tradeoff"><h2>Accuracy against throughput</h2>'
    if fig.get("missing"):
        return body + _missing(fig["missing"], "eval/report.json") + "</section>"
    series = [Series(f"{fig.get('policy', 'policy')} thresholds", list(fig["curve"]), size=2.2)]
    if fig["kind"] == "pareto":
        series[0].name = "Pareto front (dse/)"
    marks = [
        ("single-exit baseline", "baseline", "square", "#444"),
        ("calibrated policy", "calibrated", "diamond", "#d62728"),
        ("oracle", "oracle", "star", "#2ca02c"),
        ("simulated hardware", "simulated", "square", "#9467bd"),
    ]
    for name, key, marker, color in marks:
        pt = fig.get(key)
        if pt and None not in pt:
            series.append(Series(name, [tuple(pt)], color, False, marker, 5.0))
    base = [(b[0], b[1]) for b in fig.get("baselines", [])]
    if base:
        fractions = [f"at {100 * b[2]:.1f} % of the board" for b in fig["baselines"]]
        series.append(
            Series("single-exit baselines", base, "#444", False, "square", 4.0, fractions)
        )
    svg = line_chart(series, fig["x"], "accuracy", "accuracy against throughput")
    legend = "".join(
        f"<li>{escape(s.name)}: {', '.join(f'({x:.3g}, {y:.4f})' for x, y in s.points[:1])}"
        f"{' ...' if len(s.points) > 1 else ''}</li>"
        for s in series
    )
    note = (
        "MAC-bound throughput of each threshold setting on the test set (1 / MAC fraction), the "
        "simulated hardware at its measured gain over the single-exit baseline."
        if fig["kind"] == "curve"
        else "The exploration's Pareto front (validation accuracy); the baselines are the "
        "single-exit network folded by the same search."
    )
    return body + svg + f'<p class="note">{note}</p><ul class="note">{legend}</ul>' + _iso(fig)


def _iso(fig: dict[str, Any]) -> str:
    """The DSE's iso-resource sweep: baseline and gated design at each board fraction."""
    rows = fig.get("iso_resource") or []
    if not rows:
        return "</section>"
    cells = "".join(
        f'<tr><td class="num">{100 * r.get("budget", 0):.0f} %</td>'
        f'<td class="num">{_num((r.get("baseline") or {}).get("fps"), ".0f")}</td>'
        f'<td class="num">{_num((r.get("gated") or {}).get("fps"), ".0f")}</td>'
        f'<td class="num">{_num(r.get("gain"), ".3f") if r.get("gain") else escape(str(r.get("refused", "n/a")))}</td>'
        f'<td class="num">{_num(r.get("fraction_of_bound"), ".3f")}</td></tr>'
        for r in rows
    )
    return (
        '<h3>Iso-resource sweep</h3><table id="iso"><tr><th class="num">board fraction</th>'
        '<th class="num">baseline fps</th><th class="num">gated fps</th><th class="num">gain</th>'
        f'<th class="num">fraction of bound</th></tr>{cells}</table></section>'
    )


def _exits(fig: dict[str, Any]) -> str:
    body = '<section id="exits"><h2>Exit histogram</h2>'
    if fig.get("missing"):
        return body + _missing(fig["missing"]) + "</section>"
    cats = [f"exit {e}" for e in range(fig["num_exits"])]
    groups = fig["groups"]
    rows = "".join(
        f"<tr><th>{escape(name)}</th>"
        + "".join(f'<td class="num">{100 * v:.2f} %</td>' for v in vals)
        + "</tr>"
        for name, vals in groups.items()
    )
    head = "".join(f'<th class="num">{c}</th>' for c in cats)
    svg = bar_groups(cats, groups, "frames leaving at the exit", "exit histogram")
    return body + svg + f"<table><tr><th></th>{head}</tr>{rows}</table></section>"


def _resources(fig: dict[str, Any]) -> str:
    body = '<section id="resources"><h2>Resources per partition against the board</h2>'
    if fig.get("missing"):
        return body + _missing(fig["missing"], "build/report.json") + "</section>"
    svg = stacked_bars(fig["per_part"], fig["budget"], "resources per partition")
    keys = list(fig["budget"])
    parts = list(dict.fromkeys(p for k in keys for p in fig["per_part"][k]))
    head = "".join(f'<th class="num">{k}</th>' for k in keys)
    rows = "".join(
        f"<tr><th>{escape(p)}</th>"
        + "".join(f'<td class="num">{fig["per_part"][k].get(p, 0):.0f}</td>' for k in keys)
        + "</tr>"
        for p in parts
    )
    total = "".join(
        f'<td class="num">{fig["used"][k]:.0f} ({100 * fig["fractions"][k]:.1f} %)</td>'
        for k in keys
    )
    base = "".join(f'<td class="num">{_num(fig["baseline_used"].get(k), ".0f")}</td>' for k in keys)
    board = "".join(f'<td class="num">{fig["budget"][k]:.0f}</td>' for k in keys)
    return (
        body + f"<p>Board <b>{escape(str(fig['board']))}</b> ({escape(str(fig['part']))}); counts: "
        f'<b id="resources-source">{escape(fig["source"])}</b> <span class="note">'
        f"({escape(fig['note'])})</span></p>{svg}"
        f"<table><tr><th>part</th>{head}</tr>{rows}<tr><th>gated design</th>{total}</tr>"
        f"<tr><th>single-exit baseline</th>{base}</tr><tr><th>board</th>{board}</tr></table>"
        "</section>"
    )


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="plot" alt="{escape(path.name)}" src="data:image/png;base64,{data}"/>'


def _in_flight(frames: Path, clock_mhz: float) -> str:
    """Frames inside the accelerator over time (from sim/frames.npz), as an SVG step line."""
    import numpy as np

    try:
        with np.load(frames) as f:
            start, finish = np.asarray(f["start"], np.int64), np.asarray(f["finish"], np.int64)
    except (OSError, KeyError, ValueError) as err:
        log.warning("report: cannot read %s: %s", frames, err)
        return ""
    if start.size == 0:
        return ""
    t = np.concatenate([start, finish])
    step = np.concatenate([np.ones_like(start), -np.ones_like(finish)])
    order = np.lexsort((step, t))  # a frame leaving at a cycle before one entering at it
    t, level = t[order], np.cumsum(step[order])
    keep = np.unique(np.linspace(0, t.size - 1, min(t.size, 400)).astype(np.int64))
    us = t[keep] / clock_mhz
    series = Series("frames in flight", list(zip(us.tolist(), level[keep].tolist())), size=0.8)
    return line_chart([series], "time (us)", "frames in flight", "frames in flight over time")


def _buffers(fig: dict[str, Any], lay: RunLayout, sim: dict[str, Any] | None) -> str:
    body = '<section id="buffers"><h2>Buffer occupancy over time</h2>'
    if fig.get("missing"):
        return body + _missing(fig["missing"], "sim/report.json") + "</section>"
    png = lay.sim_dir / "occupancy.png"
    body += _png(png) if png.is_file() else '<p class="missing">sim/occupancy.png is absent.</p>'
    if lay.sim_frames.is_file() and sim:
        body += _in_flight(lay.sim_frames, float(sim.get("clock_mhz") or 1.0))
    cases = [k for k in ("exit_sequence", "worst_case") if any(k in r for r in fig["rows"])]
    head = "".join(f'<th class="num">sized: {c.replace("_", " ")}</th>' for c in cases)
    rows = "".join(
        f"<tr><th>{escape(str(r['name']))}</th><td>{escape(str(r.get('unit')))}</td>"
        f'<td class="num">{_num(r.get("depth"))}</td>'
        f'<td class="num">{_num(r.get("max_occupancy"))}</td>'
        + "".join(f'<td class="num">{_num(r.get(c))}</td>' for c in cases)
        + "</tr>"
        for r in fig["rows"]
    )
    sizing = "" if cases else '<p class="note">Buffer sizing did not run (sim.size_buffers).</p>'
    return (
        body + f'<table><tr><th>buffer</th><th>unit</th><th class="num">depth</th>'
        f'<th class="num">max occupancy</th>{head}</tr>{rows}</table>{sizing}</section>'
    )


def _kv(title: str, ident: str, data: dict[str, Any], labels: dict[str, str]) -> str:
    rows = "".join(
        f'<tr data-key="{k}"><th>{escape(label)}</th><td class="num">{_num(data.get(k))}</td></tr>'
        for k, label in labels.items()
        if k in data
    )
    return f'<section id="{ident}"><h2>{escape(title)}</h2><table>{rows}</table>'


def _rtl(fig: dict[str, Any]) -> str:
    title = "RTL co-simulation against software and the simulator"
    if fig.get("missing"):
        return (
            f'<section id="rtl"><h2>{title}</h2>'
            + _missing(fig["missing"], "rtl/report.json")
            + "</section>"
        )
    if fig.get("skipped"):
        why = escape(str(fig.get("reason") or fig["skipped"]))
        fix = f'<p class="note">{escape(str(fig["fix"]))}</p>' if fig.get("fix") else ""
        return f'<section id="rtl"><h2>{title}</h2><p class="skipped">Skipped: {why}</p>{fix}</section>'

    labels = {
        "frames": "frames",
        "exit_mismatches": "exit mismatches vs quant/",
        "class_mismatches": "class mismatches vs quant/",
        "logit_mismatches": "logit mismatches vs quant/",
        "rtl_fps": "RTL throughput (frames/s)",
        "sim_fps": "simulator throughput (frames/s)",
        "fps_ratio": "RTL / simulator throughput",
        "order_equal": "results in the simulator's order",
    }
    scalars = {k: v for k, v in fig.items() if isinstance(v, (int, float, str, bool))}
    labels.update({k: k.replace("_", " ") for k in scalars if k not in labels})
    return _kv(title, "rtl", fig, labels) + "</section>"


def _adversarial(fig: dict[str, Any]) -> str:
    title = "Adversarial load"
    if fig.get("missing"):
        return (
            f'<section id="adversarial"><h2>{title}</h2>' + _missing(fig["missing"]) + "</section>"
        )
    labels = {
        "noexit_fps": "no-exit stream throughput (frames/s)",
        "finn_estimate_fps": "FINN's estimate for it (frames/s)",
        "noexit_over_finn_estimate": "simulated / FINN's estimate",
        "noexit_ok": "within tolerance of FINN's estimate",
        "latency_p50_us": "latency p50 (us)",
        "latency_p99_us": "latency p99 (us)",
        "latency_max_us": "latency max (us)",
        "arrival": "arrival of the measured run",
    }
    out = _kv(title, "adversarial", fig, labels)
    out += '<p class="note">Every frame forced to the last exit: the throughput early exit cannot improve on.</p>'
    streams = fig.get("streams") or {}
    if streams:
        rows = "".join(
            f'<tr data-stream="{k}"><th>{name}</th>'
            + "".join(
                f'<td class="num">{_num((streams.get(k) or {}).get(c))}</td>'
                for c in ("fps", "accuracy", "forced")
            )
            + "</tr>"
            for k, name in STREAMS.items()
        )
        burst = (streams.get("hard_bursts") or {}).get("burst_frames")
        out += (
            "<h3>Three streams of the test frames</h3><table><tr><th>stream</th>"
            "<th>frames/s</th><th>accuracy</th><th>forced out</th></tr>" + rows + "</table>"
            f'<p class="note">Same frames and arrival; load shedding '
            f"{'on' if streams.get('shedding') else 'off'}; hard bursts: runs of {_num(burst)} "
            "frames that go to the last exit.</p>"
        )
    return out + "</section>"


def _rungs(rungs: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr data-rung="{escape(r["rung"])}"><th>{escape(r["rung"])}</th>'
        f'<td class="{r["status"].replace(" ", "")}">{escape(r["status"])}</td>'
        f"<td>{escape(r['checks'])}</td><td>{escape(r['detail'])}</td></tr>"
        for r in rungs
    )
    return (
        '<section id="rungs"><h2>Verification ladder</h2><table><tr><th>rung</th><th>status</th>'
        f"<th>what it checks</th><th>result, or why not</th></tr>{rows}</table></section>"
    )


def render(index: dict[str, Any], run_dir: Path, sim: dict[str, Any] | None = None) -> str:
    """The whole page for the report step's `index` (sim: sim/report.json, for its clock)."""
    lay = RunLayout(Path(run_dir))
    figs = index.get("figures") or {}
    banners = "".join(
        f'<p class="warn">{escape(s.replace("**", ""))}</p>'
        for s in index.get("states", {}).values()
    )
    if index.get("short_run"):
        banners += (
            '<p class="warn">The simulation is too short for steady-state figures: '
            + escape("; ".join(index.get("short_run_reasons", [])))
            + "</p>"
        )
    links = "".join(
        f'<li><a href="{escape(rel)}">{escape(rel)}</a></li>' for rel in index.get("links", [])
    )
    sections = [
        _headline(index),
        '<div class="grid">' + _tradeoff(figs.get("tradeoff", {"missing": "evaluate"})),
        _exits(figs.get("exits", {"missing": "evaluate"})) + "</div>",
        _resources(figs.get("resources", {"missing": "build"})),
        _buffers(figs.get("buffers", {"missing": "simulate"}), lay, sim),
        '<div class="grid">' + _rtl(figs.get("rtl", {"missing": "cosim"})),
        _adversarial(figs.get("adversarial", {"missing": "simulate"})) + "</div>",
        _rungs(index.get("rungs", [])),
        f'<section id="files"><h2>Detailed reports</h2><ul>{links}</ul></section>' if links else "",
    ]
    name = escape(lay.run_dir.name)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>exitflow run {name}'
        f'</title><meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{CSS}</style></head><body><main><h1>exitflow run <code>{name}</code></h1>"
        f'<div class="sub">{escape(index.get("subtitle", ""))}</div>{banners}'
        + "".join(sections)
        + "</main></body></html>\n"
    )
