"""dse/report.md: the chosen design, the Pareto front and the iso-resource comparison."""

from __future__ import annotations

from typing import Any

__all__ = ["report_markdown"]


def _f(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def _headline(h: dict[str, Any]) -> list[str]:
    lines = ["", "## Headline (test set)", ""]
    if "refused" in h:
        return [*lines, f"No comparison: {h['refused']}."]
    g, b, adv = h["gated"], h["baseline"], h["adversarial"]
    least = h.get("resource_fraction_at_equal_throughput") or {}
    return [
        *lines,
        f"- timing: {h['timing']}; {h['test_frames']} test frames",
        f"- gated: {g['fps']:.0f} frames/s at fraction {g['resource_fraction']:.3f} "
        f"({g['binding_resource']}), accuracy {g['accuracy']:.4f}, shedding "
        f"{g['load_shedding']} ({g['forced_frames']} forced)",
        f"- baseline (fastest within {h['budget']:.0%}): {b['fps']:.0f} frames/s at fraction "
        f"{b['resource_fraction']:.3f}, accuracy {b['accuracy']:.4f}",
        f"- throughput gain at equal resource fraction {h['throughput_gain']:.2f} (baseline "
        f"{h['baseline_at_equal_fraction']['fps']:.0f} frames/s there); over the fastest "
        f"baseline {h['gain_vs_best_baseline_in_budget']:.2f}",
        f"- accuracy drop {h['accuracy_drop_points']:.2f} points; bound {h['bound']:.2f}, "
        f"{h['fraction_of_bound']:.0%} of it",
        f"- baseline's throughput from {_f(least.get('ratio'), '.2f')} of its resource "
        f"fraction ({_f(least.get('resource_fraction'), '.3f')})",
        f"- adversarial (no frame exits): {adv['fps']:.0f} frames/s "
        f"({h['noexit_fps_over_baseline']:.2f} x the baseline), accuracy {adv['accuracy']:.4f}, "
        f"{adv['forced']} of {adv['frames']} forced",
    ]


def report_markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown."""
    st = rep["stats"]
    lines = [
        f"# Design-space exploration ({rep['board']}, {rep['clock_mhz']:g} MHz)",
        "",
        f"Objective: {rep['chosen_rule']}. Accuracy: validation drop <= "
        f"{rep['max_accuracy_drop']:g}. Resources: {rep['resources_from']}.",
        f"Resource fraction: {rep['fraction_rule']}.",
        f"Search: {st['candidates']} candidates, {st['simulated_designs']} simulated on "
        f"{st['sim_frames']} validation frames, {st['partition_foldings']} partition foldings "
        f"({st['cache_hits']} cache hits), {st['minutes']:.2f} min ({st['executor']}); "
        f"{st['foldings_with_mvau_wwidth_raised']} foldings needed FINN's mvau_wwidth_max "
        f"raised, {st['targets_not_reached']} candidates missed a target (not simulated).",
        "",
        "## Chosen design",
        "",
    ]
    c = rep.get("chosen")
    if c:
        lines += [
            f"- exits kept {c['keep']}, thresholds {c['thresholds']} (validation accuracy "
            f"{c['accuracy']:.4f}, MAC fraction {c['mac_fraction']:.3f})",
            f"- stage targets {c['stage_target_cycles']} cycles/frame, buffers "
            f"{c['cond_buffer_frames']} frames",
            f"- {_f(c.get('fps'), '.0f')} frames/s (validation, simulated), p99 latency "
            f"{_f(c.get('latency_p99_us'), '.0f')} us, no-exit {c['no_exit_fps']:.0f} frames/s",
            f"- resource fraction {c['resource_fraction']:.3f} ({c['binding_resource']})",
            f"- build it: `exitflow build -c {rep.get('design_yaml', 'dse/design.yaml')}`",
        ]
    else:
        lines.append("No design meets the constraints.")
    lines += _headline(rep.get("headline") or {})
    lines += ["", "## Iso-resource comparison with the single-exit baseline", "",
              "| budget | baseline fps (fraction) | gated fps (fraction) | gain at budget | gain at "
              "equal resources | bound | gain/bound | least fraction matching baseline |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rep["iso_resource"]:
        base, gated = r.get("baseline") or {}, r.get("gated") or {}
        gain = _f(r.get("gain"), ".2f") if r.get("gain") else r.get("refused", "-")
        lines.append(
            f"| {r['budget']:.0%} | {_f(base.get('fps'), '.0f')} "
            f"({_f(base.get('resource_fraction'), '.2f')}) | {_f(gated.get('fps'), '.0f')} "
            f"({_f(gated.get('resource_fraction'), '.2f')}) | {_f(r.get('gain_at_budget'), '.2f')}"
            f" | {gain} | {_f(r.get('bound'), '.2f')} | {_f(r.get('fraction_of_bound'), '.2f')}"
            f" | {_f(r.get('least_fraction_matching_baseline'), '.3f')} |"
        )
    lines += ["", "## Load shedding against the provisioned floor (best design per budget)", "",
              "| budget | without: fps, no-exit fps, accuracy | with: fps, no-exit fps, accuracy |",
              "|---|---|---|"]  # fmt: skip
    for r in rep["iso_resource"]:
        cells = []
        for k in ("without_shedding", "with_shedding"):
            d = r.get(k)
            cells.append("-" if not d else f"{d['fps']:.0f}, {d['no_exit_fps_worst']:.0f}, "
                         f"{d['accuracy']:.4f} ({d['resource_fraction']:.2f})")  # fmt: skip
        lines.append(f"| {r['budget']:.0%} | {cells[0]} | {cells[1]} |")
    lines += ["", "## Pareto front (accuracy, throughput, p99 latency, resources)", "",
              "| exits | thresholds | accuracy | fps | p99 us | fraction | buffers |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in rep["pareto_front"]:
        lines.append(
            f"| {p['keep']} | {p['thresholds']} | {p['accuracy']:.4f} | {_f(p.get('fps'), '.0f')}"
            f" | {_f(p.get('latency_p99_us'), '.0f')} | {p['resource_fraction']:.3f} | "
            f"{p['cond_buffer_frames']} |"
        )
    return "\n".join(lines) + "\n"
