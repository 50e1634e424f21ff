"""Training objectives of a multi-exit network (definitions and sources: docs/methods.md).

Every loss takes real-valued logits [N, E, C] (exit E-1 is the final classifier) and labels [N],
and returns a scalar. Exit weights default to w_i = i + 1 (1, 2, .., E: growing with depth).
`smoothing` is label smoothing (Szegedy et al. 2016) of every cross-entropy against the labels
(the distillation term keeps its unsmoothed teacher).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
import torch.nn.functional as F

from exitflow.quant.config import LossKind, TrainConfig


def _tensor_sum(terms: Iterable[torch.Tensor]) -> torch.Tensor:
    """Python's sum of loss terms, left to right (sum() starts at the int 0, which mypy sees)."""
    return cast(torch.Tensor, sum(terms))


def exit_weights(num_exits: int, weights: Sequence[float] | None = None) -> list[float]:
    """Per-exit loss weights: the given ones (one per exit), or 1, 2, .., E."""
    if not weights:
        return [float(i + 1) for i in range(num_exits)]
    if len(weights) != num_exits:
        raise ValueError(
            f"train.exit_weights has {len(weights)} entries but the model has {num_exits} exits; "
            "give one weight per exit or leave it empty for w_i = i"
        )
    return [float(w) for w in weights]


def joint_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: Sequence[float], smoothing: float = 0.0
) -> torch.Tensor:
    """sum_i w_i * CE(x_i, y) (Laskaridis et al. 2021, Eq. 1)."""
    return _tensor_sum(
        w * F.cross_entropy(logits[:, i], labels, label_smoothing=smoothing)
        for i, w in enumerate(weights)
    )


def exits_only_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: Sequence[float], smoothing: float = 0.0
) -> torch.Tensor:
    """sum over the early exits of w_i * CE(x_i, y); the final exit (frozen) is left out."""
    return _tensor_sum(
        w * F.cross_entropy(logits[:, i], labels, label_smoothing=smoothing)
        for i, w in enumerate(weights[:-1])
    )


def distill_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: Sequence[float],
    temperature: float,
    alpha: float,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """sum_i w_i * (CE(x_i, y) + alpha * T^2 * KL(softmax(x_E / T) || softmax(x_i / T))).

    The teacher is the final exit, detached so that distillation does not pull it towards the
    students; the final exit itself gets CE only. T^2 keeps the gradient scale independent of T
    (Hinton et al. 2015; Phuong & Lampert 2019).
    """
    num_exits = logits.shape[1]
    teacher = F.log_softmax(logits[:, -1].detach() / temperature, dim=1)
    total = weights[-1] * F.cross_entropy(logits[:, -1], labels, label_smoothing=smoothing)
    for i in range(num_exits - 1):
        student = F.log_softmax(logits[:, i] / temperature, dim=1)
        kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
        ce = F.cross_entropy(logits[:, i], labels, label_smoothing=smoothing)
        total = total + weights[i] * (ce + alpha * temperature**2 * kl)
    return total


def diversity_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: Sequence[float],
    lam: float,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """sum_i w_i CE(x_i, y) - lambda * sum_{i>=1} min_{j<i} CE(p_j, p_i) (Sun et al. 2021, Eq. 14).

    CE(p_j, p_i) = -sum_c p_j[c] log p_i[c], batch mean: exit i is pushed away from the nearest
    earlier exit j. The earlier exit's distribution is detached (a target), so diversity only
    moves the later exit and cannot undo the earlier exit's own CE training.
    """
    ce = joint_loss(logits, labels, weights, smoothing)
    log_p = F.log_softmax(logits, dim=2)
    div = logits.new_zeros(())
    for i in range(1, logits.shape[1]):
        pair = [-(log_p[:, j].detach().exp() * log_p[:, i]).sum(1).mean() for j in range(i)]
        div = div + torch.stack(pair).min()
    return ce - lam * div


def compute_loss(logits: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """The loss `cfg.loss` with the weights and parameters of `cfg`."""
    weights = exit_weights(logits.shape[1], cfg.exit_weights)
    kind, ls = LossKind(cfg.loss), cfg.label_smoothing
    if kind == LossKind.JOINT:
        return joint_loss(logits, labels, weights, ls)
    if kind == LossKind.EXITS_ONLY:
        return exits_only_loss(logits, labels, weights, ls)
    if kind == LossKind.DISTILL:
        return distill_loss(logits, labels, weights, cfg.distill_temperature, cfg.distill_alpha, ls)
    if kind == LossKind.DIVERSITY:
        return diversity_loss(logits, labels, weights, cfg.diversity_lambda, ls)
    raise ValueError(f"unknown loss {cfg.loss!r}")
