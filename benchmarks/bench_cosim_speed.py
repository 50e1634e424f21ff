"""Co-simulation speed of one generated top under different Verilator build settings.

Input: a run whose top the cosim step has generated (default runs/bench-fmnist3; pass a copy
with --run to keep that run untouched). Each variant builds the top's Verilator model into
--workdir (cached there by its settings), then simulates the same --frames real frames
(saturated input, no back-pressure) in --workers chunks at once, --repeat times. Reported per
variant: build seconds and build CPU seconds (0 when cached), simulated cycles and chunks, CPU
seconds of the simulation processes (getrusage of the children: far less load-dependent than
wall time), cycles per CPU second and per wall second, the load average beside them, and the
exit/class/logit mismatches against export/reference.npz. Every variant's records (exit,
class, logits, entry and result cycle of every frame, output order) and cycle count must equal
the first variant's: a setting that changes the model's behaviour fails the benchmark (exit 1).

Run: .venv/bin/python benchmarks/bench_cosim_speed.py --run /tmp/copy-of-bench-fmnist3
[--frames 40] [--workers 1] [--repeat 2] [--variant NAME ...] [--workdir DIR] [--jobs 2]
[--json PATH]   (e.g. --variant default --variant O2-noassert: today's default vs RUN_OPT
without assertions, docs/rtl.md "Co-simulation speed")
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.hw.tools.stream import BUILD_OPT, RUN_OPT, build_model

log = logging.getLogger("bench_cosim_speed")
REPO = Path(__file__).resolve().parents[1]

# name -> build_model keyword arguments (the first named variant is the reference)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "cxx-O1": {"opt": BUILD_OPT},
    "cxx-O2": {"opt": RUN_OPT},
    "cxx-O3": {"opt": "-O3"},
    "noassert": {"assertions": False},
    "vl-O3": {"extra_args": ["-O3"]},
    "O2-noassert": {"opt": RUN_OPT, "assertions": False},
    "Os-noassert": {"opt": "-Os", "assertions": False},
    "O3-noassert": {"opt": "-O3", "assertions": False},
    "O3-noassert-vlO3": {"opt": "-O3", "assertions": False, "extra_args": ["-O3"]},
    "threads2": {"opt": RUN_OPT, "assertions": False, "extra_args": ["--threads", "2"]},
}


def _records(res: Any) -> dict[str, np.ndarray]:
    recs = res.records
    out = {
        "exit": np.array([r.exit for r in recs]),
        "cls": np.array([r.cls for r in recs]),
        "entry": np.array([r.entry_cycle for r in recs]),
        "result": np.array([r.result_cycle for r in recs]),
        "order": np.array(res.output_order),
        "cycles": np.array([res.cycles]),
        "counters": np.array(res.counters),
    }
    if recs and recs[0].logits is not None:
        out["logits"] = np.stack([r.logits for r in recs])
    return out


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "bench-fmnist3")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/exitflow-cosim-speed"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="rtl.workers: chunks run at once")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    from common import DATA_ROOT, run_config

    from exitflow.run import Run

    # under the run's lock, as the flow's steps: the generated top in build/rtl/top-<key>/ is
    # what another process's cosim step would otherwise prune mid-run
    cfg = run_config(args.run, REPO / "configs" / "fmnist3.yaml")
    with Run(cfg, args.run, DATA_ROOT).locked():
        return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    from common import DATA_ROOT, run_config

    from exitflow.hw.top import cosim
    from exitflow.step_rtl import compare_reference, prepare

    design, _ = prepare(args.run, frames=args.frames, jobs=args.jobs)
    with np.load(args.run / "export" / "reference.npz") as data:
        ref = {k: data[k] for k in data.files}
    if args.frames > len(ref["input"]):  # reference.npz keeps 1,000 images: read the rest
        from exitflow.quant.data import load_splits

        cfg = run_config(args.run, REPO / "configs" / "fmnist3.yaml")
        images = load_splits(cfg.dataset, DATA_ROOT).test.images
        assert np.array_equal(images[: len(ref["input"])], ref["input"])
        ref["input"] = images
    names = args.variant or ["default"]
    rows, base = [], None
    for name in names:
        kw = dict(VARIANTS[name])
        t0, c0 = time.perf_counter(), _child_cpu()
        model = build_model(
            design.name, design.sources, inputs=[design.input], outputs=[design.output],
            axilite=design.axilite, workdir=args.workdir / name, jobs=args.jobs, **kw,
        )  # fmt: skip
        build_s = 0.0 if model.cached else time.perf_counter() - t0
        build_cpu = 0.0 if model.cached else _child_cpu() - c0
        for rep in range(args.repeat):
            cpu0, t1 = _child_cpu(), time.perf_counter()
            res = cosim(
                design, ref, frames=args.frames, backpressure=0.0, model=model,
                workers=args.workers,
            )  # fmt: skip
            wall, cpu = time.perf_counter() - t1, _child_cpu() - cpu0
            checks = compare_reference(res, ref)
            got = _records(res)
            if base is None:
                base = got
            same = base.keys() == got.keys() and all(np.array_equal(base[k], got[k]) for k in base)
            row = {
                "variant": name, "repeat": rep, "build_s": round(build_s, 1),
                "build_cpu_s": round(build_cpu, 1), "frames": args.frames,
                "workers": args.workers, "cycles": res.cycles,
                "chunks": res.extra.get("chunks"), "cpu_s": round(cpu, 3),
                "wall_s": round(wall, 3), "cycles_per_cpu_s": round(res.cycles / cpu),
                "cycles_per_wall_s": round(res.cycles / wall),
                "load": round(os.getloadavg()[0], 2),
                "mismatches": [checks[f"{k}_mismatches"] for k in ("exit", "class", "logit")],
                "identical": same, "key": model.meta["key"],
            }  # fmt: skip
            rows.append(row)
            log.info("%s", json.dumps(row))
            if not same:
                log.error("%s: records differ from %s", name, names[0])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["identical"] and not any(r["mismatches"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
