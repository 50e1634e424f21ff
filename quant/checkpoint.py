"""Checkpoints: atomic torch.save of plain state, and rebuilding a model from one."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from exitflow.core.errors import DataError
from exitflow.core.files import atomic_path
from exitflow.quant.model import MultiExitNet, model_from_description

log = logging.getLogger(__name__)


class CheckpointError(DataError):
    """A checkpoint file is missing or does not hold what exitflow wrote."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save `state` to `path` atomically (a crash never leaves a truncated checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: run `exitflow train` first")
    try:
        # weights_only: our checkpoints hold tensors, numbers, strings and lists only.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc}); retrain") from exc
    if not isinstance(state, dict) or "model" not in state or "description" not in state:
        raise CheckpointError(f"{path} is not an exitflow checkpoint (no model/description)")
    return state


def load_model(path: str | Path) -> MultiExitNet:
    """The model stored in a checkpoint, in eval mode on the CPU."""
    state = load_checkpoint(path)
    model = model_from_description(state["description"])
    model.load_state_dict(state["model"])
    return model.eval()
