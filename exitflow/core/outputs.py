"""Per-sample integer outputs of every exit: the npz that calibration, evaluation, hw and sim share.

numpy only. Format documented in docs/artefacts.md ("outputs npz").
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core.files import write_bytes


@dataclass
class Outputs:
    """Integer logits of every exit for N samples, with labels and the cost of reaching each exit."""

    logits: np.ndarray  # int64 [N, E, C]: exact integer accumulators of each exit's classifier
    labels: np.ndarray  # int64 [N]
    logit_scale: np.ndarray  # float64 [E]: real logit = integer logit * scale
    exit_macs: np.ndarray  # int64 [E]: cumulative MACs to reach and evaluate exit e
    full_macs: int  # MACs of the full network (backbone + final head only)
    exit_index: np.ndarray | None = None  # int64 [N], reference only: exit taken by the policy
    pred: np.ndarray | None = None  # int64 [N], reference only: class output at that exit

    def __post_init__(self) -> None:
        self.logits = np.asarray(self.logits, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.logit_scale = np.asarray(self.logit_scale, dtype=np.float64)
        self.exit_macs = np.asarray(self.exit_macs, dtype=np.int64)
        self.full_macs = int(self.full_macs)
        if self.logits.ndim != 3:
            raise ValueError(f"logits must be [N, E, C], got shape {self.logits.shape}")
        n, e, _ = self.logits.shape
        if self.labels.shape != (n,):
            raise ValueError(f"labels must be [{n}], got {self.labels.shape}")
        if self.logit_scale.shape != (e,) or self.exit_macs.shape != (e,):
            raise ValueError(f"logit_scale and exit_macs must have one entry per exit ({e})")
        for name in ("exit_index", "pred"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.int64))

    @property
    def num_samples(self) -> int:
        return int(self.logits.shape[0])

    @property
    def num_exits(self) -> int:
        return int(self.logits.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[2])

    def subset(self, index: np.ndarray | slice) -> Outputs:
        """The same outputs for a subset of samples."""
        return Outputs(
            logits=self.logits[index],
            labels=self.labels[index],
            logit_scale=self.logit_scale,
            exit_macs=self.exit_macs,
            full_macs=self.full_macs,
            exit_index=None if self.exit_index is None else self.exit_index[index],
            pred=None if self.pred is None else self.pred[index],
        )


def save_outputs(
    outputs: Outputs, path: str | Path, extra: dict[str, np.ndarray] | None = None
) -> Path:
    """Write outputs as npz, atomically; `extra` arrays (e.g. boundary tensors) go beside them."""
    arrays: dict[str, Any] = {
        "logits": outputs.logits,
        "labels": outputs.labels,
        "logit_scale": outputs.logit_scale,
        "exit_macs": outputs.exit_macs,
        "full_macs": np.int64(outputs.full_macs),
    }
    if outputs.exit_index is not None:
        arrays["exit_index"] = outputs.exit_index
    if outputs.pred is not None:
        arrays["pred"] = outputs.pred
    clash = set(arrays) & set(extra or {})
    if clash:
        raise ValueError(f"extra arrays would overwrite outputs fields: {sorted(clash)}")
    arrays.update(extra or {})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def load_outputs(path: str | Path) -> Outputs:
    """Read an outputs npz written by save_outputs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `exitflow train` (or export) first")
    with np.load(path) as data:
        missing = {"logits", "labels", "logit_scale", "exit_macs", "full_macs"} - set(data.files)
        if missing:
            raise ValueError(f"{path} is not an exitflow outputs file: missing {sorted(missing)}")
        return Outputs(
            logits=data["logits"],
            labels=data["labels"],
            logit_scale=data["logit_scale"],
            exit_macs=data["exit_macs"],
            full_macs=int(data["full_macs"]),
            exit_index=data["exit_index"] if "exit_index" in data.files else None,
            pred=data["pred"] if "pred" in data.files else None,
        )
