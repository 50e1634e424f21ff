"""The deploy manifest (manifest.json): what a bitstream is, and how to talk to it (stdlib only).

A deploy package is a folder holding the bitstream (.bit), its hardware handoff (.hwh), this
driver and manifest.json. The manifest is the driver's only source of truth about the design:
input packing, record format, register map, policy, clock, figures and hashes. It is written in
the development environment (`manifest_from_run` + `write_manifest`, called by
exitflow.deploy) and read on the board (`read_manifest`), whose Python has no exitflow, numpy 1.x
and Python 3.10: this module uses the standard library only. Schema: docs/driver.md.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Union

from .errors import ManifestError

__all__ = [
    "SCHEMA",
    "file_sha256",
    "files_sha256",
    "manifest_from_run",
    "read_manifest",
    "record_fields",
    "validate_manifest",
    "write_manifest",
]

SCHEMA = "exitflow.deploy-manifest/1"
PathLike = Union[str, "os.PathLike[str]"]

# register map of hw/ops/axilite/axilite_regs.sv (byte addresses, 32-bit registers)
_REGS = {"magic": 0x000, "exits": 0x004, "control": 0x008, "frames_in": 0x00C}
_MAGIC_VALUE = 0x45584631  # "EXF1"
_THRESHOLD_BASE, _COUNTER_BASE = 0x100, 0x200
_REQUIRED = ("schema", "design", "clock_mhz", "policy", "input", "record", "registers", "hashes")


def file_sha256(path: PathLike) -> str:
    """sha256 of one file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_sha256(paths: list[Path], root: Path | None = None) -> str:
    """One sha256 over several files: each file's name (relative to `root`, else its name) and
    bytes, in the order given."""
    h = hashlib.sha256()
    for p in paths:
        name = str(p.relative_to(root)) if root is not None and root in p.parents else p.name
        h.update(name.encode() + b"\0")
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def _clog2(n: int) -> int:
    return max(1, (max(n, 1) - 1).bit_length())


def _stream_bytes(bits: int) -> int:
    """Bytes of a DMA stream word: a power of two >= 1 byte (AXI DMA's stream widths)."""
    b = max(1, math.ceil(bits / 8))
    return 1 << (b - 1).bit_length()


def record_fields(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields of an output record, least significant first (as hw/ops/merge packs them):
    frame_id, exit, forced, class, then one signed logit per class when the record has logits."""
    out = [
        {"name": "frame_id", "bits": int(record["id_bits"])},
        {"name": "exit", "bits": int(record["exit_bits"])},
        {"name": "forced", "bits": 1},
        {"name": "class", "bits": int(record["class_bits"])},
    ]
    if record.get("logits"):
        for c in range(int(record["num_classes"])):
            out.append({"name": f"logit{c}", "bits": int(record["logit_bits"]), "signed": True})
    return out


def validate_manifest(m: dict[str, Any], where: str = "manifest") -> dict[str, Any]:
    """Check the fields the driver relies on; raise ManifestError naming the first bad one."""
    if not isinstance(m, dict):
        raise ManifestError(f"{where}: not a JSON object")
    if m.get("schema") != SCHEMA:
        raise ManifestError(
            f"{where}: schema {m.get('schema')!r}, this driver reads {SCHEMA!r}. Fix: rebuild "
            "the deploy package with the exitflow that made this driver."
        )
    missing = [k for k in _REQUIRED if k not in m]
    if missing:
        raise ManifestError(f"{where}: missing {missing}")
    rec, inp, regs = m["record"], m["input"], m["registers"]
    total = sum(f["bits"] for f in rec.get("fields", []))
    if total != rec.get("width_bits") or rec.get("word_bytes", 0) * 8 < total:
        raise ManifestError(
            f"{where}: record fields sum to {total} bits, width_bits says "
            f"{rec.get('width_bits')}, word_bytes {rec.get('word_bytes')}"
        )
    if [f["name"] for f in rec["fields"][:4]] != ["frame_id", "exit", "forced", "class"]:
        raise ManifestError(f"{where}: record fields must start frame_id, exit, forced, class")
    per_frame = 1
    for d in inp.get("shape", []):
        per_frame *= int(d)
    if per_frame != inp.get("words_per_frame", 0) * inp.get("elements_per_word", 0):
        raise ManifestError(
            f"{where}: input shape {inp.get('shape')} has {per_frame} elements, but "
            f"{inp.get('words_per_frame')} words of {inp.get('elements_per_word')} are streamed"
        )
    n = int(m["num_exits"]) if "num_exits" in m else len(regs.get("counters", []))
    if len(regs.get("counters", [])) != n or len(regs.get("thresholds", [])) != max(n - 1, 0):
        raise ManifestError(f"{where}: the register map needs {n} counters, {n - 1} thresholds")
    return m


def read_manifest(path: PathLike) -> dict[str, Any]:
    """Read and check manifest.json (a file, or a package folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.json"
    if not p.is_file():
        raise ManifestError(
            f"{p} does not exist: a deploy package holds manifest.json beside the .bit and .hwh"
        )
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise ManifestError(f"{p} is not valid JSON: {exc}") from None
    return validate_manifest(data, str(p))


def write_manifest(path: PathLike, manifest: dict[str, Any]) -> Path:
    """Check and write manifest.json atomically (a folder gets manifest.json inside)."""
    p = Path(path)
    if p.is_dir():
        p = p / "manifest.json"
    validate_manifest(manifest, str(p))
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=str(p.parent))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, p)
    return p


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _pick(d: dict[str, Any] | None, keys: list[str]) -> dict[str, Any]:
    return {k: d[k] for k in keys if d and k in d}


def manifest_from_run(
    run_dir: PathLike,
    *,
    board: str | None = None,
    bitstream: PathLike | None = None,
    hwh: PathLike | None = None,
    synthesis: dict[str, Any] | None = None,
    ip_names: dict[str, str] | None = None,
    rtl_dir: PathLike | None = None,
) -> dict[str, Any]:
    """The manifest of a run's design (reads JSON files only: build/hwdesc.json, build/rtl/
    design.json from `exitflow.hw.top.generate_top`, build/report.json, sim/report.json,
    build/synth.json, calibrate/policy.json).

    bitstream/hwh: the built files (their names are stored; the .bit's sha256 is what the
    driver checks); synthesis: Vivado's figures (resources, timing) to store as synthesised,
    else yosys's build/synth.json totals when present. ip_names: block-design names of the DMA
    and the register block (defaults "axi_dma_0", "exitflow_regs").
    """
    run = Path(run_dir).resolve()
    build = run / "build"
    rtl = Path(rtl_dir) if rtl_dir is not None else build / "rtl"
    hwdesc, design = _load(build / "hwdesc.json"), _load(rtl / "design.json")
    if hwdesc is None or design is None:
        raise ManifestError(
            f"{run}: needs build/hwdesc.json and {rtl / 'design.json'}. Fix: run `exitflow "
            "build`, then exitflow.hw.top.generate_top(run_dir)."
        )
    rec = design["record"]
    fmt = design["input"]["format"]
    n_exit = len(design["exits"])
    ref_shape = _input_shape(run, fmt)
    fields = record_fields(rec)
    width = sum(f["bits"] for f in fields)
    pol = _load(run / "calibrate" / "policy.json") or {}
    policy = dict(hwdesc.get("policy") or {})
    policy["integer_thresholds"] = [int(t) for t in design["thresholds"]]
    policy["fires_when"] = pol.get("fires_when", "S >= T")
    sim = _load(run / "sim" / "report.json")
    synth = _load(build / "synth.json")
    report = _load(build / "report.json")
    gated = (report or {}).get("gated") or {}
    srcs = [Path(s) for s in design["sources"]]
    onnx = sorted((run / "export").glob("*.onnx"))
    bit = Path(bitstream) if bitstream is not None else None
    names = {"dma": "axi_dma_0", "registers": "exitflow_regs", **(ip_names or {})}
    return {
        "schema": SCHEMA,
        "design": hwdesc.get("design", design["top"]),
        "top": design["top"],
        "board": board or hwdesc.get("board"),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "source": {"run_dir": str(run)},
        "hashes": {
            "model": files_sha256(onnx) if onnx else None,
            "config": file_sha256(run / "config.yaml") if (run / "config.yaml").is_file() else None,
            "rtl": files_sha256([s for s in srcs if s.is_file()]),
            "hwdesc": file_sha256(build / "hwdesc.json"),
        },
        "bitstream": {
            "file": bit.name if bit else None,
            "hwh": Path(hwh).name if hwh is not None else None,
            "sha256": file_sha256(bit) if bit is not None and bit.is_file() else None,
        },
        "ip": names,
        "clock_mhz": float(hwdesc["clock_mhz"]),
        "num_exits": n_exit,
        "num_classes": int(rec["num_classes"]),
        "policy": policy,
        "input": {
            "shape": ref_shape,  # one image as the driver takes it (C, H, W)
            "dtype": "uint8",
            "stream_layout": "NHWC" if len(ref_shape) == 3 else "flat",
            "element_bits": int(fmt["bits"]),
            "signed": bool(fmt["signed"]),
            "elements_per_word": int(fmt["per_word"]),
            "word_bits": int(fmt["width"]),
            "word_bytes": _stream_bytes(int(fmt["width"])),
            "words_per_frame": int(fmt["beats"]),
        },
        "record": {
            **{k: rec[k] for k in ("id_bits", "exit_bits", "class_bits", "num_classes")},
            "logit_bits": int(rec["logit_bits"]),
            "logits": bool(rec["logits"]),
            "fields": fields,
            "width_bits": width,
            "word_bytes": _stream_bytes(width),
        },
        "registers": {
            **_REGS,
            "magic_value": _MAGIC_VALUE,
            "thresholds": [_THRESHOLD_BASE + 4 * k for k in range(n_exit - 1)],
            "counters": [_COUNTER_BASE + 4 * k for k in range(n_exit)],
            "reset_thresholds": [int(t) for t in design["thresholds"]],
            "control_clear_counters": 1,
        },
        "performance": {
            "estimated": {
                "finn_fps": (hwdesc.get("finn_estimate") or {}).get("fps"),
                **_pick(gated, ["no_exit_fps", "full_depth_latency_us"]),
            },
            "simulated": _pick(
                sim,
                [
                    "frames",
                    "throughput_fps",
                    "latency_p50_us",
                    "latency_p99_us",
                    "exit_fractions",
                    "noexit_fps",
                ],
            ),
            "synthesised": _pick(synthesis, ["fmax_mhz", "wns_ns", "fps"]),
        },
        "resources": {
            "estimated": dict(gated.get("total") or {}),
            "synthesised": (synthesis or {}).get("resources")
            or ((synth or {}).get("totals", {}).get("gated", {}).get("yosys") or {}),
            "synthesised_by": "vivado" if synthesis else ("yosys" if synth else None),
        },
    }


def _input_shape(run: Path, fmt: dict[str, Any]) -> list[int]:
    """One image's shape (C, H, W) from export/manifest.json, else a flat vector."""
    exp = _load(run / "export" / "manifest.json") or {}
    for key in ("input_shape", "input"):
        v = exp.get(key)
        if isinstance(v, dict):
            v = v.get("shape")
        if isinstance(v, list) and v and all(isinstance(d, int) for d in v):
            return [int(d) for d in (v[1:] if len(v) == 4 else v)]
    return [int(fmt["beats"]) * int(fmt["per_word"])]
