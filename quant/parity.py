"""Bit-exact check of the exported QONNX models against brevitas (export/reference.npz).

Each partition runs alone on the reference's own boundary tensors (stage k on stage k-1's integer
output, head e on its stage's), and full.onnx on the images, with
qonnx.core.onnx_exec.execute_onnx; every output must equal the brevitas integers exactly.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

from exitflow.core.errors import VerificationError

log = logging.getLogger(__name__)

CHUNK = 100


class ParityError(VerificationError):
    """An exported model computes different integers than brevitas."""


@dataclass
class ParityReport:
    """Samples checked and mismatching samples per checked model."""

    samples: int
    mismatches: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(self.mismatches.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "mismatches": self.mismatches,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
        }


def with_batch(model: ModelWrapper, batch: int) -> ModelWrapper:
    """A copy of `model` whose inputs and outputs have batch size `batch` (exported with 1), so
    many samples run in one execute_onnx call."""
    model = ModelWrapper(copy.deepcopy(model.model))
    graph = model.graph
    for vi in [*graph.input, *graph.output]:
        vi.type.tensor_type.shape.dim[0].dim_value = batch
    del graph.value_info[:]
    for node in model.get_nodes_by_op_type("Reshape"):
        shape = model.get_initializer(node.input[1])
        if shape is not None and shape[0] == 1:
            shape = shape.copy()
            shape[0] = batch
            model.set_initializer(node.input[1], shape)
    return model.transform(InferShapes())


def _run(model: ModelWrapper, x: np.ndarray) -> list[np.ndarray]:
    """execute_onnx on `x` in chunks of CHUNK samples; every graph output, concatenated."""
    names = [o.name for o in model.graph.output]
    results: list[list[np.ndarray]] = [[] for _ in names]
    batched: dict[int, ModelWrapper] = {}
    for start in range(0, len(x), CHUNK):
        part = x[start : start + CHUNK].astype(np.float32)
        if len(part) not in batched:
            batched[len(part)] = with_batch(model, len(part))
        out = execute_onnx(batched[len(part)], {model.graph.input[0].name: part})
        for i, name in enumerate(names):
            results[i].append(out[name])
    return [np.concatenate(r) for r in results]


def _mismatch(got: np.ndarray, want: np.ndarray, what: str) -> int:
    """Samples whose output differs from `want` (a non-integer output counts as different)."""
    got = got.reshape(want.shape)
    diff = (got != np.round(got)) | (np.round(got).astype(np.int64) != want.astype(np.int64))
    bad = int(diff.reshape(len(want), -1).any(1).sum())
    if bad:
        log.warning("%s: %d of %d samples differ from brevitas", what, bad, len(want))
    return bad


def _full_mismatches(
    export_dir: Path, manifest: dict, images: np.ndarray, logits: np.ndarray
) -> int:
    """Samples on which full.onnx's integer logits of any exit differ from `logits` [N, E, C]."""
    outs = _run(ModelWrapper(str(export_dir / manifest["full"]["file"])), images)
    bad = np.zeros(len(images), dtype=bool)
    for e, got in enumerate(outs):
        want = logits[:, e]
        bad |= (got.reshape(want.shape) != want).any(1)
    return int(bad.sum())


def check_qonnx_parity(run_dir: str | Path, n: int = 100, strict: bool = True) -> ParityReport:
    """Run the exported stages, heads and full.onnx on the first `n` reference samples and compare
    with the brevitas integers; ParityError on any mismatch when `strict`."""
    export_dir = Path(run_dir) / "export"
    manifest = json.loads((export_dir / "manifest.json").read_text())
    with np.load(export_dir / manifest["reference"]) as ref:
        n = min(n, len(ref["input"]))
        data = {
            k: ref[k][:n] for k in ref.files if k == "logits" or k == "input" or k.endswith("_out")
        }
    report = ParityReport(samples=n)
    start = time.monotonic()
    for part in manifest["partitions"]:
        model = ModelWrapper(str(export_dir / part["file"]))
        if part["kind"] == "stage":
            k = part["index"]
            x = data["input"] if k == 0 else data[f"stage{k - 1}_out"]
            want = data[f"stage{k}_out"]
        else:
            x = data[f"stage{manifest['exits'][part['index']]['after_stage']}_out"]
            want = data["logits"][:, part["index"]]
        report.mismatches[part["name"]] = _mismatch(_run(model, x)[0], want, part["name"])
    report.mismatches["full"] = _full_mismatches(
        export_dir, manifest, data["input"], data["logits"]
    )
    report.seconds = time.monotonic() - start
    log.info(
        "QONNX parity on %d samples: mismatches %s (%.1f s, %.1f samples/s)",
        n,
        report.mismatches,
        report.seconds,
        n / max(report.seconds, 1e-9),
    )
    if strict and not report.ok:
        raise ParityError(
            f"exported QONNX differs from brevitas on {report.mismatches} of {n} samples; "
            "the export is not bit-exact (see the log), do not build hardware from it"
        )
    return report


def check_full_model(run_dir: str | Path, images: np.ndarray, logits: np.ndarray) -> ParityReport:
    """Run export/full.onnx on `images` (all of a split, not just the reference's boundary
    samples) and count the samples whose integer logits of any exit differ from `logits`
    [N, E, C] (brevitas, eval/outputs_*.npz)."""
    export_dir = Path(run_dir) / "export"
    manifest = json.loads((export_dir / "manifest.json").read_text())
    if len(images) != len(logits):
        raise ValueError(f"{len(images)} images but {len(logits)} rows of logits")
    start = time.monotonic()
    bad = _full_mismatches(export_dir, manifest, images, logits)
    report = ParityReport(samples=len(images), mismatches={"full": bad})
    report.seconds = time.monotonic() - start
    log.info("full.onnx vs brevitas on %d images: %d mismatches", len(images), bad)
    return report
