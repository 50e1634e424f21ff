"""Verification by execution: run a partition model in FINN's python mode on real inputs and
compare with the reference integers from quant/ (reference.npz), sample by sample.

Specialised graphs are executed through `finn_compat.despecialized` (python mode does not run
HLS/RTL variants). Graph outputs before streamlining are real values (integer x scale); they are
compared after dividing by the scale still in the graph, within 1e-3 of an integer step.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import time
from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from exitflow.hw.flow import finn_compat
from exitflow.hw.flow.transforms import LAYOUT_KEY, SCALE_KEY

log = logging.getLogger(__name__)


@dataclass
class PartitionData:
    """Reference inputs and outputs of one partition, in quant/'s layout (NCHW, [N, ...])."""

    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    out_scale: float = 1.0  # the exported graph's first output = reference * out_scale

    @property
    def num_samples(self) -> int:
        return int(self.inputs[0].shape[0])


@dataclass
class CheckResult:
    """Outcome of one verification run."""

    samples: int
    mismatches: int  # samples whose outputs differ anywhere
    max_abs_diff: float
    seconds: float
    exact: bool  # compared as integers (False: a real-valued graph output, scaled first)

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "mismatches": self.mismatches,
            "max_abs_diff": self.max_abs_diff,
            "seconds": round(self.seconds, 3),
            "exact": self.exact,
        }


def to_model_layout(model: ModelWrapper, tensor: str, arr: np.ndarray) -> np.ndarray:
    """[N, ...] reference array (NCHW) reshaped/transposed to `tensor`'s layout, batch N."""
    shape = model.get_tensor_shape(tensor)
    if arr.ndim == 4 and (len(shape) == 2 or model.get_metadata_prop(LAYOUT_KEY) == "NHWC"):
        arr = arr.transpose(0, 2, 3, 1)
    return arr.reshape((arr.shape[0], *shape[1:]))


def executable(model: ModelWrapper) -> ModelWrapper:
    """The model in a form python mode executes."""
    return finn_compat.despecialized(model) if finn_compat.is_specialised(model) else model


def _run_slice(args: tuple[bytes, list[np.ndarray]]) -> list[np.ndarray]:
    from finn.core.onnx_exec import execute_onnx

    model = ModelWrapper(args[0])
    names_in = [i.name for i in model.graph.input]
    names_out = [o.name for o in model.graph.output]
    outs: list[list[np.ndarray]] = [[] for _ in names_out]
    for i in range(args[1][0].shape[0]):
        ctx = {n: a[i : i + 1].astype(np.float32) for n, a in zip(names_in, args[1])}
        res = execute_onnx(model, ctx)
        for k, n in enumerate(names_out):
            outs[k].append(np.asarray(res[n]))
    return [np.concatenate(o) for o in outs]


def run(model: ModelWrapper, inputs: list[np.ndarray], workers: int = 1) -> list[np.ndarray]:
    """Execute `model` (python mode) on each sample of `inputs` (already in model layout)."""
    model = executable(model)
    blob = model.model.SerializeToString()
    n = inputs[0].shape[0]
    if workers <= 1 or n < 2 * workers:
        return _run_slice((blob, inputs))
    bounds = np.linspace(0, n, workers + 1).astype(int)
    jobs = [(blob, [a[lo:hi] for a in inputs]) for lo, hi in itertools.pairwise(bounds)]
    # spawn: FINN's settings are rebuilt in the child from FINN_BUILD_DIR (hw.finn_compat)
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_run_slice, jobs)
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def check(
    model: ModelWrapper, data: PartitionData, samples: int, workers: int = 1
) -> tuple[CheckResult, list[np.ndarray]]:
    """Run the first `samples` reference inputs and compare every output; also returns them."""
    start = time.monotonic()
    n = min(samples, data.num_samples)
    names_in = [i.name for i in model.graph.input]
    names_out = [o.name for o in model.graph.output]
    if len(names_in) != len(data.inputs) or len(names_out) != len(data.outputs):
        raise ValueError(
            f"model has {len(names_in)} inputs/{len(names_out)} outputs, the reference "
            f"{len(data.inputs)}/{len(data.outputs)}"
        )
    inputs = [to_model_layout(model, nm, a[:n]) for nm, a in zip(names_in, data.inputs)]
    got = run(model, inputs, workers)
    stripped = float(model.get_metadata_prop(SCALE_KEY) or 1.0)
    scale = data.out_scale / stripped
    exact = abs(scale - 1.0) < 1e-9
    bad = np.zeros(n, dtype=bool)
    worst = 0.0
    for k, (nm, ref) in enumerate(zip(names_out, data.outputs)):
        want = to_model_layout(model, nm, ref[:n]).astype(np.float64)
        out = got[k].reshape(want.shape).astype(np.float64)
        if k == 0 and not exact:
            out = out / scale
            diff = np.abs(out - want)
            wrong = diff > 1e-3
        else:
            diff = np.abs(out - want)
            wrong = diff != 0
        bad |= wrong.reshape(n, -1).any(axis=1)
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
    result = CheckResult(n, int(bad.sum()), worst, time.monotonic() - start, exact)
    return result, got


def fit_scale(out: np.ndarray, ref: np.ndarray) -> float:
    """Least-squares factor between a real-valued graph output and its integer reference."""
    o, r = out.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    denom = float(r @ r)
    return 1.0 if denom == 0 else float(o @ r) / denom
