"""Quantisation-aware training of all exits: seeded, resumable after every epoch, early stopping.

Batches come straight from the uint8 arrays of `quant.data` (no torchvision). Shuffling and
augmentation draw from a generator seeded by (seed, epoch), so an epoch is the same whether the
run was interrupted before it or not; together with the model, optimiser, scheduler and torch RNG
state in `last.pt` this makes a resumed run end with the same weights as an uninterrupted one.

`best.pt` keeps the epoch with the best validation accuracy of the FINAL exit: the final exit is
the accuracy reference every exit policy is calibrated against, so it is the figure to protect.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exitflow.core.files import write_json
from exitflow.core.progress import NullProgress, Progress
from exitflow.core.schema import to_dict
from exitflow.quant.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from exitflow.quant.config import Augment, LossKind, TrainConfig
from exitflow.quant.losses import compute_loss
from exitflow.quant.model import MultiExitNet

log = logging.getLogger(__name__)

EVAL_BATCH = 1000


@dataclass
class TrainResult:
    """Where the checkpoints are and what each epoch did."""

    best_path: Path
    last_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = 0.0
    train_seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (model initialisation depends on the torch seed)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is cuda but torch sees no CUDA GPU; use auto or cpu")
    return torch.device(name)


def augment_batch(
    images: np.ndarray, rng: np.random.Generator, kind: Augment = Augment.CROP_FLIP
) -> np.ndarray:
    """Augment a uint8 batch [N, C, H, W]: random crop after zero padding (H/8 pixels) and/or a
    horizontal mirror of half the images. Which one suits the data is the config's choice:
    mirroring changes digits' and letters' classes, while shifting hurts early exits whose heads
    classify by position (Fashion-MNIST)."""
    kind = Augment(kind)
    out = images
    if kind in (Augment.CROP, Augment.CROP_FLIP):
        n, _, h, w = images.shape
        pad = max(1, h // 8)
        padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        dy = rng.integers(0, 2 * pad + 1, n)
        dx = rng.integers(0, 2 * pad + 1, n)
        out = np.empty_like(images)
        for i in range(n):
            out[i] = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    if kind in (Augment.FLIP, Augment.CROP_FLIP):
        flip = rng.random(len(images)) < 0.5
        out = out.copy() if out is images else out
        out[flip] = out[flip, :, :, ::-1]
    return out


def iterate_batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    augment: Augment = Augment.NONE,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(float images 0..255, int64 labels) batches; shuffled and augmented when `rng` is given."""
    order = rng.permutation(len(labels)) if rng is not None else np.arange(len(labels))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = images[idx]
        if augment != Augment.NONE and rng is not None:
            batch = augment_batch(batch, rng, augment)
        yield torch.from_numpy(batch.astype(np.float32)), torch.from_numpy(labels[idx])


@torch.no_grad()
def exit_accuracies(model: MultiExitNet, images: np.ndarray, labels: np.ndarray) -> list[float]:
    """Top-1 accuracy of every exit (eval mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros(model.num_exits, dtype=torch.long)
    for x, y in iterate_batches(images, labels, EVAL_BATCH):
        pred = model(x.to(device)).argmax(2).cpu()
        correct += (pred == y[:, None]).sum(0)
    model.train(was_training)
    return (correct.double() / max(1, len(labels))).tolist()


def freeze_for_exits_only(model: MultiExitNet, pretrained: str | Path) -> None:
    """Load a trained network and freeze its backbone and final head (BN statistics included):
    exits_only training then fits the early heads alone, the final exit stays untouched."""
    state = load_checkpoint(pretrained)["model"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    backbone_missing = [k for k in missing if k.startswith("stages.")]
    if backbone_missing or unexpected:
        raise CheckpointError(
            f"train.pretrained {pretrained} does not fit this model's backbone "
            f"(missing {backbone_missing[:3]}, unexpected {unexpected[:3]}); train the same "
            "stages with loss joint first"
        )
    for module in (*model.stages, model.heads[-1]):
        module.requires_grad_(False)


def _set_train_mode(model: MultiExitNet, frozen: bool) -> None:
    model.train()
    if frozen:
        # Frozen parts stay in eval mode: their BN statistics and activation scales do not move.
        for module in (*model.stages, model.heads[-1]):
            module.eval()


def _is_stats_scaling(module: torch.nn.Module) -> bool:
    return all(hasattr(module, a) for a in ("counter", "collect_stats_steps", "buffer", "value"))


def stats_collection_state(model: MultiExitNet) -> dict[str, dict[str, Any]]:
    """The activation scales' statistics-collection progress, which brevitas leaves out of
    state_dict (loading one ends collection early): needed to resume bit-exactly."""
    return {
        name: {
            "counter": int(m.counter),
            "buffer": m.buffer.detach().cpu().clone(),
            "value": m.value.detach().cpu().clone(),
        }
        for name, m in model.named_modules()
        if _is_stats_scaling(m)
    }


@torch.no_grad()
def restore_stats_collection(model: MultiExitNet, state: dict[str, dict[str, Any]]) -> None:
    """Undo what load_state_dict did to scales still collecting statistics."""
    modules = dict(model.named_modules())
    for name, saved in state.items():
        m = modules[name]
        m.counter = saved["counter"]
        m.buffer.copy_(saved["buffer"])
        m.value.copy_(saved["value"])


def run_digest(model: MultiExitNet, cfg: TrainConfig, data_key: Any) -> str:
    """Identifies what a checkpoint was trained for: model, training config, data."""
    # Where training runs (threads, device) is not what it trains: a run may move between them.
    train = {k: v for k, v in to_dict(cfg).items() if k not in ("threads", "device")}
    text = json.dumps([model.describe(), train, data_key], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit(
    model: MultiExitNet,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    cfg: TrainConfig,
    out_dir: str | Path,
    progress: Progress | None = None,
    data_key: Any = None,
) -> TrainResult:
    """Train `model` (QAT, all exits) into out_dir/{last,best}.pt and history.json; resumes from
    out_dir/last.pt when it exists and belongs to the same model, config and data."""
    out_dir = Path(out_dir)
    progress = progress or NullProgress()
    device = pick_device(cfg.device)
    model.to(device)
    frozen = LossKind(cfg.loss) == LossKind.EXITS_ONLY
    if frozen:
        assert cfg.pretrained is not None  # TrainConfig refuses exits_only without it
        freeze_for_exits_only(model, cfg.pretrained)
    digest = run_digest(model, cfg, data_key)
    result = TrainResult(out_dir / "best.pt", out_dir / "last.pt")
    start_epoch, bad_epochs, done = 0, 0, False
    state = load_checkpoint(result.last_path) if result.last_path.exists() else None
    if state is not None:
        if state.get("digest") != digest:
            raise CheckpointError(
                f"{result.last_path} belongs to a different model, training config or dataset; "
                "rerun with --force to start training over"
            )
        model.load_state_dict(state["model"])
        restore_stats_collection(model, state["stats_collection"])
        # brevitas replaces a loaded activation scale's Parameter with the checkpoint's (CPU)
        # tensor: without this, resuming on a GPU mixes devices
        model.to(device)
    # The optimiser is made after loading: brevitas replaces an activation scale's Parameter
    # object when a state dict is loaded, and an optimiser made before would train a stale one.
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(train_labels) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        start_epoch, bad_epochs, done = state["epoch"], state["bad_epochs"], state["done"]
        result.history = state["history"]
        result.best_epoch, result.best_val_acc = state["best_epoch"], state["best_val_acc"]
        result.train_seconds = state["train_seconds"]
        log.info("resuming after epoch %d from %s", start_epoch, result.last_path)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        for epoch in range(start_epoch, cfg.epochs):
            if done:
                break
            t0 = time.monotonic()
            rng = np.random.default_rng([cfg.seed, epoch])
            _set_train_mode(model, frozen)
            total, count = 0.0, 0
            with progress.task(f"train epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch) as t:
                for x, y in iterate_batches(
                    train_images, train_labels, cfg.batch_size, rng, cfg.augment
                ):
                    x, y = x.to(device), y.to(device)
                    loss = compute_loss(model(x), y, cfg)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    total += loss.item() * len(y)
                    count += len(y)
                    t.advance()
            val_acc = exit_accuracies(model, val_images, val_labels)
            seconds = time.monotonic() - t0
            result.train_seconds += seconds
            row = {
                "epoch": epoch + 1,
                "loss": total / max(1, count),
                "lr": sched.get_last_lr()[0],
                "val_acc": val_acc,
                "seconds": round(seconds, 2),
            }
            result.history.append(row)
            log.info(
                "epoch %d/%d: loss %.4f, val acc per exit %s (%.0f s)",
                epoch + 1,
                cfg.epochs,
                row["loss"],
                " ".join(f"{a:.4f}" for a in val_acc),
                seconds,
            )
            if val_acc[-1] > result.best_val_acc or not result.best_path.exists():
                result.best_epoch, result.best_val_acc, bad_epochs = epoch + 1, val_acc[-1], 0
                save_checkpoint(result.best_path, _best_state(model, epoch + 1, val_acc))
            else:
                bad_epochs += 1
            done = epoch + 1 == cfg.epochs or bad_epochs >= cfg.early_stop_patience
            if done and epoch + 1 < cfg.epochs:
                log.info("early stop: no improvement for %d epochs", bad_epochs)
            save_checkpoint(
                result.last_path,
                {
                    **_best_state(model, epoch + 1, val_acc),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "stats_collection": stats_collection_state(model),
                    "torch_rng": torch.get_rng_state(),
                    "python_rng": random.getstate(),
                    "digest": digest,
                    "bad_epochs": bad_epochs,
                    "done": done,
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "best_val_acc": result.best_val_acc,
                    "train_seconds": result.train_seconds,
                },
            )
            write_json(out_dir / "history.json", _history_doc(result))
    finally:
        torch.use_deterministic_algorithms(deterministic)
    model.cpu().eval()
    return result


def _best_state(model: MultiExitNet, epoch: int, val_acc: list[float]) -> dict[str, Any]:
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "description": model.describe(),
        "epoch": epoch,
        "val_acc": val_acc,
    }


def _history_doc(result: TrainResult) -> dict[str, Any]:
    return {
        "epochs": result.history,
        "best_epoch": result.best_epoch,
        "best_val_acc_final_exit": result.best_val_acc,
        "train_seconds": round(result.train_seconds, 2),
    }
