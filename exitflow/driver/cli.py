"""The driver's command line (the board's): run a package on images, show a package.

    python -m exitflow_driver run PACKAGE IMAGES [--threshold K=T ...] [--out results.csv]
    python -m exitflow_driver info PACKAGE

IMAGES: an .npz (input/images/x, optional labels/y), an image file or a folder of PNG/PGM.
Exit status: 0 done, 2 usage, 3 the driver refused or the device failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .accelerator import BACKENDS, ExitflowAccelerator
from .errors import DriverError
from .images import load_images
from .manifest import read_manifest

__all__ = ["main"]


def _threshold(text: str) -> tuple:
    try:
        k, v = text.split("=")
        return int(k), int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give EXIT=VALUE, e.g. 0=12") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="exitflow_driver", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="infer a batch of images, print the exit histogram and speed")
    r.add_argument("package", help="deploy package folder (manifest.json, .bit, .hwh)")
    r.add_argument("images", help=".npz, an image file or a folder of PNG/PGM images")
    r.add_argument("--backend", choices=BACKENDS, default="pynq")
    r.add_argument("--run-dir", help="the run, for the verilator and sim backends")
    r.add_argument("--threshold", action="append", type=_threshold, default=[],
                   metavar="EXIT=T", help="write a threshold register before the run")  # fmt: skip
    r.add_argument("--limit", type=int, help="at most this many images")
    r.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a record")
    r.add_argument("--out", help="write frame,name,exit,class[,label] rows to this CSV")
    r.add_argument("--json", help="write the summary as JSON to this file")
    i = sub.add_parser("info", help="print the package's manifest summary")
    i.add_argument("package")
    return p


def _run(args: argparse.Namespace) -> int:
    images, labels, names = load_images(args.images, args.limit)
    with ExitflowAccelerator(
        args.package, args.backend, run_dir=args.run_dir, timeout_s=args.timeout
    ) as acc:
        for k, v in args.threshold:
            acc.set_threshold(k, v)
        acc.clear_counters()
        res = acc.infer(images)
        summary = {"design": acc.manifest["design"], "backend": args.backend,
                   "thresholds": acc.thresholds, **res.summary(labels),
                   "counters": acc.counters()}  # fmt: skip
    fps = summary["throughput_fps"]
    print(f"{summary['frames']} frames on {args.backend}: exits {summary['exit_histogram']}"
          f" (counters {summary['counters']}), thresholds {summary['thresholds']}")  # fmt: skip
    print("steady-state throughput: " + (f"{fps:.1f} frames/s" if fps else "n/a (one transfer)"))
    if "accuracy" in summary:
        print(f"accuracy: {summary['accuracy']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            f.write("frame,name,exit,class" + (",label" if labels is not None else "") + "\n")
            for j in range(len(res.classes)):
                lab = f",{int(labels[j])}" if labels is not None else ""
                f.write(f"{j},{names[j]},{res.exits[j]},{res.classes[j]}{lab}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _info(args: argparse.Namespace) -> int:
    m = read_manifest(args.package)
    keys = ("design", "board", "clock_mhz", "num_exits", "num_classes", "policy", "input",
            "bitstream", "hashes", "performance", "resources")  # fmt: skip
    print(json.dumps({k: m.get(k) for k in keys}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args) if args.cmd == "run" else _info(args)
    except DriverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
