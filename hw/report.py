"""build/report.json and build/report.md: per partition and in total, cycles per frame, LUT/BRAM/
DSP estimates, estimated fps and latency at the clock, for the gated design and the baseline;
step times, verification and parity results, what did not run and why."""

from __future__ import annotations

from pathlib import Path

from exitflow.core.files import write_json, write_text
from exitflow.hw.boards import BoardSpec, utilisation


def _row(p: dict, clock_mhz: float) -> dict:
    cyc = max(1, int(p["cycles_per_frame"]))
    return {
        "name": p["name"],
        "kind": p["kind"],
        "cycles_per_frame": cyc,
        "latency_cycles": int(p["latency_cycles"]),
        "fps": clock_mhz * 1e6 / cyc,
        "latency_us": p["latency_cycles"] / clock_mhz,
        "LUT": p["resources"].get("LUT", 0.0),
        "BRAM_18K": p["resources"].get("BRAM_18K", 0.0),
        "DSP": p["resources"].get("DSP", 0.0),
        "URAM": p["resources"].get("URAM", 0.0),
        "rate_fraction": p.get("rate_fraction", 1.0),
    }


def _sum(rows: list[dict], key: str) -> float:
    return float(sum(r[key] for r in rows))


def gated_latency(desc: dict) -> int:
    """Latency of a frame that takes the last exit: every stage plus the final head (cycles)."""
    parts = {p["name"]: p for p in desc["partitions"]}
    final = desc["exits"][-1]
    stages = [p for p in desc["partitions"] if p["kind"] == "stage"]
    last = int(final["after"].removeprefix("stage"))
    return (
        sum(p["latency_cycles"] for p in stages[: last + 1])
        + parts[final["head"]]["latency_cycles"]
    )


def build_report(
    desc: dict | None, flow_log: dict, extra: dict, board: BoardSpec, clock_mhz: float
) -> dict:
    """The report dict (also the source of report.md)."""
    report: dict = {"board": board.name, "part": board.part, "clock_mhz": clock_mhz, **extra}
    report["steps"] = {k: v["seconds"] for k, v in flow_log.get("steps", {}).items()}
    report["verification"] = flow_log.get("verification", {})
    if "baseline_folding" in flow_log:
        report["baseline_folding"] = flow_log["baseline_folding"]
    if desc is None:
        return report
    rows = [_row(p, clock_mhz) for p in desc["partitions"]]
    cb = [
        {
            "name": c["name"],
            "kind": "cond_buffer",
            **{k: c["resources"].get(k, 0.0) for k in ("LUT", "BRAM_18K", "DSP", "URAM")},
        }
        for c in desc["cond_buffers"]
    ]
    total = {k: _sum(rows, k) + _sum(cb, k) for k in ("LUT", "BRAM_18K", "DSP", "URAM")}
    backbone_lut = sum(r["LUT"] for r in rows if r["kind"] == "stage")
    decision_lut = sum(r["LUT"] for r in rows if r["kind"] == "decision")
    no_exit = desc["finn_estimate"]
    report["gated"] = {
        "partitions": rows,
        "cond_buffers": cb,
        "total": total,
        "utilisation": utilisation(total, board),
        "no_exit_fps": no_exit["fps"],
        "no_exit_cycles_per_frame": no_exit["cycles_per_frame"],
        "full_depth_latency_cycles": gated_latency(desc),
        "full_depth_latency_us": gated_latency(desc) / clock_mhz,
        "decision_lut": decision_lut,
        "backbone_lut": backbone_lut,
        "decision_lut_fraction": decision_lut / backbone_lut if backbone_lut else None,
    }
    if "baseline" in desc:
        b = desc["baseline"]
        brows = [_row(p, clock_mhz) for p in b["partitions"]]
        report["baseline"] = {
            "partitions": brows,
            "total": b["resources"],
            "utilisation": utilisation(b["resources"], board),
            "cycles_per_frame": b["cycles_per_frame"],
            "fps": clock_mhz * 1e6 / b["cycles_per_frame"],
            "latency_cycles": b["latency_cycles"],
            "latency_us": b["latency_cycles"] / clock_mhz,
            "target_cycles": b.get("target_cycles"),
        }
    return report


def _table(rows: list[dict]) -> list[str]:
    out = [
        "| partition | kind | rate | cycles/frame | est. fps | latency (us) | LUT | BRAM_18K | DSP |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {r['kind']} | {r['rate_fraction']:.3f} | {r['cycles_per_frame']} | "
            f"{r['fps']:.0f} | {r['latency_us']:.1f} | {r['LUT']:.0f} | {r['BRAM_18K']:.0f} | "
            f"{r['DSP']:.0f} |"
        )
    return out


def report_markdown(report: dict) -> str:
    """report.md text."""
    lines = [
        f"# Hardware build: {report.get('design', '')}",
        "",
        f"Board {report['board']} ({report['part']}), clock {report['clock_mhz']:g} MHz. "
        "FINN analytical estimates (no synthesis unless stated).",
        "",
    ]
    if report.get("stopped"):
        lines += [f"**Stopped early:** {report['stopped']}", ""]
    if report.get("over_budget"):
        lines += [
            f"**Over budget:** the gated design needs more than {report['board']} has "
            f"(utilisation {report['over_budget']}): lower hw.target_fps, change hw.mvau_style "
            "or hw.board (hw.allow_over_budget keeps it anyway).",
            "",
        ]
    g = report.get("gated")
    if g:
        t = g["total"]
        lines += ["## Gated design", "", *_table(g["partitions"]), ""]
        for c in g["cond_buffers"]:
            lines.append(f"- {c['name']}: LUT {c['LUT']:.0f}, BRAM_18K {c['BRAM_18K']:.0f}")
        lines += [
            "",
            f"Total: LUT {t['LUT']:.0f}, BRAM_18K {t['BRAM_18K']:.0f}, DSP {t['DSP']:.0f}, "
            f"URAM {t['URAM']:.0f}. No-exit throughput {g['no_exit_fps']:.0f} fps "
            f"({g['no_exit_cycles_per_frame']} cycles/frame); full-depth latency "
            f"{g['full_depth_latency_us']:.1f} us.",
        ]
        if g["decision_lut_fraction"] is not None:
            lines.append(
                f"Decision units: {g['decision_lut']:.0f} LUT = "
                f"{100 * g['decision_lut_fraction']:.2f}% of the backbone's {g['backbone_lut']:.0f}."
            )
        lines.append("")
    b = report.get("baseline")
    if b:
        lines += ["## Single-exit baseline", "", *_table(b["partitions"]), ""]
        t = b["total"]
        lines += [
            f"Total: LUT {t['LUT']:.0f}, BRAM_18K {t['BRAM_18K']:.0f}, DSP {t['DSP']:.0f}; "
            f"{b['fps']:.0f} fps ({b['cycles_per_frame']} cycles/frame), latency "
            f"{b['latency_us']:.1f} us; folded for {b['target_cycles']} cycles/frame.",
            "",
        ]
    par = report.get("parity")
    if par:
        lines += [
            "## Verification",
            "",
            f"Composed design vs quant/: {par['samples']} images, exit mismatches "
            f"{par['exit_mismatches']}, class mismatches {par['class_mismatches']}, logit "
            f"mismatches {par['logit_mismatches']}.",
            "",
        ]
    lines += ["## Step times (s)", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in report["steps"].items()]
    return "\n".join(lines) + "\n"


def write_report(report: dict, build_dir: Path) -> None:
    """Write report.json and report.md atomically."""
    write_json(build_dir / "report.json", report)
    write_text(build_dir / "report.md", report_markdown(report))
