"""Integer inference: every exit's logits (and every stage's output) as exact integers.

Dividing a quantised tensor by its scale must give integers; a value off the lattice by more than
1e-3 means some float operation slipped between the integer input and an exit (a layer that is not
quantised), which hardware could not reproduce: that raises `LatticeError` instead of rounding
the problem away.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from exitflow.core.outputs import Outputs
from exitflow.core.progress import NullProgress, Progress
from exitflow.quant.layers import INPUT_SCALE
from exitflow.quant.model import MultiExitNet

log = logging.getLogger(__name__)

LATTICE_TOLERANCE = 1e-3
BATCH = 500


class LatticeError(RuntimeError):
    """A tensor that should hold integers (times its scale) does not: the model is not fully
    quantised, so hardware would not compute the same values."""


def to_integers(values: torch.Tensor, scale: float, what: str) -> np.ndarray:
    """values / scale as int64, raising LatticeError if any is off the integer lattice."""
    q = values.double() / scale
    err = float((q - q.round()).abs().max()) if q.numel() else 0.0
    if err > LATTICE_TOLERANCE:
        raise LatticeError(
            f"{what}: values / scale ({scale:g}) are up to {err:.3g} away from integers; a float "
            "operation sits between the integer input and this tensor (an unquantised layer?)"
        )
    return q.round().to(torch.int64).numpy()


@torch.no_grad()
def integer_logits(
    model: MultiExitNet, images: np.ndarray, progress: Progress | None = None
) -> np.ndarray:
    """int64 [N, E, C]: the exact classifier accumulators of every exit for uint8 `images`."""
    model.eval()
    scales = model.logit_scales()
    out = np.empty((len(images), model.num_exits, model.num_classes), dtype=np.int64)
    progress = progress or NullProgress()
    n_batches = -(-len(images) // BATCH)
    with progress.task(f"integer logits of {len(images)} images", total=n_batches) as task:
        for start in range(0, len(images), BATCH):
            x = torch.from_numpy(images[start : start + BATCH].astype(np.float32))
            logits = model(x)
            for e, scale in enumerate(scales):
                out[start : start + len(x), e] = to_integers(logits[:, e], scale, f"exit {e}")
            task.advance()
    return out


@torch.no_grad()
def integer_stage_outputs(model: MultiExitNet, images: np.ndarray) -> list[np.ndarray]:
    """Every backbone stage's output as integers (stage k: int64 [N, C_k, H_k, W_k]): the tensors
    crossing partition boundaries, which hardware checks each partition against."""
    model.eval()
    outs: list[list[np.ndarray]] = [[] for _ in model.stages]
    for start in range(0, len(images), BATCH):
        x = torch.from_numpy(images[start : start + BATCH].astype(np.float32)) * INPUT_SCALE
        for k in range(len(model.stages)):
            stage = model.stage(k)
            x = stage(x)
            outs[k].append(to_integers(x, stage.out_scale(), f"stage {k} output"))
    return [np.concatenate(o) for o in outs]


def compute_outputs(
    model: MultiExitNet,
    images: np.ndarray,
    labels: np.ndarray,
    progress: Progress | None = None,
) -> Outputs:
    """Outputs (docs/artefacts.md "outputs npz") of `model` on one dataset split."""
    logits = integer_logits(model, images, progress)
    outputs = Outputs(
        logits=logits,
        labels=labels,
        logit_scale=np.array(model.logit_scales(), dtype=np.float64),
        exit_macs=np.array(model.plan.exit_macs, dtype=np.int64),
        full_macs=model.plan.full_macs,
    )
    acc = (logits.argmax(2) == np.asarray(labels)[:, None]).mean(0)
    log.info(
        "integer logits of %d images; accuracy per exit %s",
        len(labels),
        " ".join(f"{a:.4f}" for a in acc),
    )
    return outputs
