"""Losses (hand-worked values), training on synthetic data, resume equality, exits_only freezing."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from exitflow.quant.checkpoint import CheckpointError, load_checkpoint, load_model
from exitflow.quant.config import Augment, DatasetConfig, LossKind, ModelConfig, TrainConfig
from exitflow.quant.data import load_splits
from exitflow.quant.losses import (
    compute_loss,
    distill_loss,
    diversity_loss,
    exit_weights,
    exits_only_loss,
    joint_loss,
)
from exitflow.quant.model import build_model
from exitflow.quant.train import augment_batch, exit_accuracies, fit, seed_everything

LOSS_KINDS = [LossKind.JOINT, LossKind.DISTILL, LossKind.DIVERSITY, LossKind.EXITS_ONLY]


@pytest.fixture(scope="module")
def synthetic():
    """The synthetic 16x16 bar patterns (4 classes): a tiny CNN learns them in seconds."""
    return load_splits(DatasetConfig(name="synthetic", synthetic_samples=1200), Path("."))


def _fit(splits, out_dir: Path, progress=None, **train) -> torch.nn.Module:
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 64, "lr": 5e-3, "threads": 1, **train})
    seed_everything(cfg.seed)
    model = build_model(ModelConfig(preset="tiny"), (1, 16, 16), splits.train.num_classes)
    fit(
        model,
        splits.train.images,
        splits.train.labels,
        splits.val.images,
        splits.val.labels,
        cfg,
        out_dir,
        progress,
    )
    return model


def test_default_exit_weights_grow_with_depth() -> None:
    assert exit_weights(3) == [1.0, 2.0, 3.0]
    assert exit_weights(2, [0.5, 1]) == [0.5, 1.0]
    with pytest.raises(ValueError, match="3 entries but the model has 2 exits"):
        exit_weights(2, [1, 1, 1])


def test_joint_loss_by_hand() -> None:
    # Exit 0: logits (0, 0) -> CE = ln 2 for either label.
    # Exit 1: logits (ln 3, 0), label 0 -> p = 3/4, CE = ln(4/3).
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]])
    labels = torch.tensor([0])
    expected = 1 * math.log(2) + 2 * math.log(4 / 3)
    assert joint_loss(logits, labels, [1, 2]).item() == pytest.approx(expected, rel=1e-6)
    cfg = TrainConfig()
    assert compute_loss(logits, labels, cfg).item() == pytest.approx(expected, rel=1e-6)


def test_exits_only_ignores_the_final_exit() -> None:
    logits = torch.randn(4, 3, 5)
    labels = torch.tensor([0, 1, 2, 3])
    changed = logits.clone()
    changed[:, -1] += torch.randn(4, 5) * 10
    assert torch.equal(
        exits_only_loss(logits, labels, [1, 2, 3]), exits_only_loss(changed, labels, [1, 2, 3])
    )


def test_distill_reduces_to_ce_when_students_agree_with_the_teacher() -> None:
    row = torch.randn(4, 1, 5)
    logits = row.repeat(1, 3, 1)
    labels = torch.tensor([0, 1, 2, 3])
    got = distill_loss(logits, labels, [1, 2, 3], temperature=3.0, alpha=0.7)
    assert got.item() == pytest.approx(joint_loss(logits, labels, [1, 2, 3]).item(), rel=1e-5)
    # A student that disagrees pays the KL term, scaled by alpha * T^2.
    logits[:, 0] = -logits[:, 0]
    assert distill_loss(logits, labels, [1, 2, 3], 3.0, 0.7) > joint_loss(logits, labels, [1, 2, 3])


def test_diversity_subtracts_the_nearest_earlier_exits_cross_entropy() -> None:
    # Two identical exits: the diversity term is CE(p, p) = entropy of p.
    row = torch.tensor([[[2.0, 0.0, -1.0]]])
    logits = row.repeat(1, 2, 1)
    labels = torch.tensor([0])
    p = torch.softmax(row[0, 0], 0)
    entropy = -(p * p.log()).sum().item()
    ce = joint_loss(logits, labels, [1, 2]).item()
    got = diversity_loss(logits, labels, [1, 2], lam=0.25).item()
    assert got == pytest.approx(ce - 0.25 * entropy, rel=1e-6)


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_every_loss_backpropagates_into_the_model(kind: LossKind) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(preset="tiny"), (1, 16, 16), 4).train()
    logits = model(torch.randint(0, 256, (8, 1, 16, 16)).float())
    cfg = TrainConfig(loss=kind, pretrained="unused.pt" if kind == LossKind.EXITS_ONLY else None)
    loss = compute_loss(logits, torch.randint(0, 4, (8,)), cfg)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.heads[0].fc.weight.grad is not None
    assert model.heads[0].fc.weight.grad.abs().sum() > 0


def test_augmentation_keeps_shape_and_pixels() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (5, 3, 8, 8)).astype(np.uint8)
    out = augment_batch(images, rng, Augment.CROP_FLIP)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)


def test_flip_mirrors_whole_images_in_place() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (64, 1, 6, 6)).astype(np.uint8)
    before = images.copy()
    out = augment_batch(images, rng, Augment.FLIP)
    assert np.array_equal(images, before), "the caller's batch must not change"
    mirrored = np.array([np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, images)])
    unchanged = np.array([np.array_equal(o, i) for o, i in zip(out, images)])
    # each image is either itself or its mirror (no shift), and both happen
    assert np.all(mirrored | unchanged)
    assert mirrored.any() and unchanged.any()


def test_crop_shifts_without_mirroring() -> None:
    rng = np.random.default_rng(2)
    images = np.zeros((32, 1, 8, 8), np.uint8)
    images[:, 0, 3, 2] = 255  # one lit pixel, left of centre
    out = augment_batch(images, rng, Augment.CROP)
    ys, xs = np.nonzero(out[:, 0].max(0))
    # a pad of 8 // 8 = 1 pixel moves the dot by at most one pixel each way; a mirror would
    # put it at column 5
    assert set(xs) <= {1, 2, 3} and set(ys) <= {2, 3, 4}
    assert len(set(zip(ys, xs))) > 1


def test_label_smoothing_reaches_every_exit() -> None:
    labels = torch.randint(0, 5, (16,))
    # confident, mostly right logits: on random ones smoothing hardly changes the loss
    logits = torch.randn(16, 3, 5) + 4 * torch.nn.functional.one_hot(labels, 5)[:, None]
    plain = compute_loss(logits, labels, TrainConfig(exit_weights=[1, 1, 1]))
    smooth = compute_loss(logits, labels, TrainConfig(exit_weights=[1, 1, 1], label_smoothing=0.2))
    expected = sum(
        torch.nn.functional.cross_entropy(logits[:, i], labels, label_smoothing=0.2)
        for i in range(3)
    )
    assert torch.allclose(smooth, expected)
    assert not torch.allclose(plain, smooth)


def test_training_learns_synthetic_patterns(synthetic, tmp_path: Path) -> None:
    model = _fit(synthetic, tmp_path)
    acc = exit_accuracies(model, synthetic.test.images, synthetic.test.labels)
    assert acc[-1] >= 0.85, acc
    history = (tmp_path / "history.json").read_text()
    assert '"val_acc"' in history
    best = load_model(tmp_path / "best.pt")
    assert best.num_exits == 2


class _StopAtEpoch:
    """A progress hook that interrupts training when epoch `n` (1-based) starts."""

    def __init__(self, n: int) -> None:
        self.n = n

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator:
        if description.startswith(f"train epoch {self.n}/"):
            raise KeyboardInterrupt
        yield type("T", (), {"advance": lambda self, n=1: None})()


def test_resume_after_interruption_gives_the_same_weights(synthetic, tmp_path: Path) -> None:
    straight = _fit(synthetic, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        _fit(synthetic, tmp_path / "resumed", _StopAtEpoch(3))
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 2
    resumed = _fit(synthetic, tmp_path / "resumed")
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    history = load_checkpoint(tmp_path / "resumed" / "last.pt")["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]


@pytest.mark.gpu
def test_training_on_cuda_resumes_on_cpu(synthetic, tmp_path: Path) -> None:
    """A run may move between devices: interrupted on the GPU, finished on the CPU."""
    with pytest.raises(KeyboardInterrupt):
        _fit(synthetic, tmp_path, _StopAtEpoch(3), device="cuda")
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 2
    assert all(t.device.type == "cpu" for t in state["model"].values())
    model = _fit(synthetic, tmp_path, device="cpu")
    history = load_checkpoint(tmp_path / "last.pt")["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    acc = exit_accuracies(model, synthetic.test.images, synthetic.test.labels)
    assert acc[-1] >= 0.85, acc


def test_resuming_with_another_config_is_refused(synthetic, tmp_path: Path) -> None:
    _fit(synthetic, tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="different model, training config"):
        _fit(synthetic, tmp_path, epochs=1, lr=1e-3)


def test_exits_only_trains_heads_and_leaves_the_backbone(synthetic, tmp_path: Path) -> None:
    base = _fit(synthetic, tmp_path / "base", epochs=1)
    pretrained = tmp_path / "base" / "best.pt"
    frozen = {k: v.clone() for k, v in load_model(pretrained).state_dict().items()}
    tuned = _fit(
        synthetic, tmp_path / "heads", epochs=1, loss="exits_only", pretrained=str(pretrained)
    )
    after = tuned.state_dict()
    for key, value in frozen.items():
        if key.startswith(("stages.", "heads.1.")):
            assert torch.equal(after[key], value), key
    assert not torch.equal(after["heads.0.fc.weight"], frozen["heads.0.fc.weight"])
    assert base is not tuned
