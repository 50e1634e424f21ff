"""MultiExitNet: a brevitas backbone of quantised conv stages with exit heads after chosen stages.

Input: the 8-bit unsigned image as float 0..255, scaled by the constant 2^-8 (quant.layers explains
why not 1/255, and why not a learned input quantiser). Every exit ends in a bias-free QuantLinear
with one power-of-two weight scale, so `logits / logit_scale(e)` is the exact integer accumulator
("integer logits", the lattice the exit policies decide on). No float operation other than the
eval-mode batch-norm affine (absorbed by FINN into thresholds) lies between input and logits.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

import torch
from torch import nn

from exitflow.core.schema import ConfigError
from exitflow.quant.config import ExitConfig, ModelConfig, StageConfig
from exitflow.quant.layers import INPUT_SCALE, ConvBlock, act_scale, classifier, weight_scale
from exitflow.quant.macs import HEAD_KERNEL, HEAD_PADDING, Plan, plan
from exitflow.quant.presets import resolve_topology

log = logging.getLogger(__name__)


class Stage(nn.Module):
    """One backbone stage: conv blocks, then an optional 2x2 max-pool."""

    def __init__(self, cfg: StageConfig, c_in: int) -> None:
        super().__init__()
        blocks = []
        for ch in cfg.channels:
            blocks.append(
                ConvBlock(c_in, ch, cfg.kernel, cfg.padding, cfg.weight_bits, cfg.act_bits)
            )
            c_in = ch
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.MaxPool2d(2) if cfg.pool else nn.Identity()
        self.act_bits = cfg.act_bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pool after the quantised ReLU: max-pool of integers stays on the same lattice.
        return self.pool(self.blocks(x))

    def out_scale(self) -> float:
        """Scale of this stage's (integer) output."""
        return act_scale(self.blocks[-1].act)


class ExitHead(nn.Module):
    """Exit head: optional conv block, max-pool to pool_to x pool_to, flatten, linear classifier."""

    def __init__(self, cfg: ExitConfig, in_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        c, h, _ = in_shape
        self.block = None
        if cfg.conv_channels:
            self.block = ConvBlock(
                c, cfg.conv_channels, HEAD_KERNEL, HEAD_PADDING, cfg.weight_bits, cfg.act_bits
            )
            c = cfg.conv_channels
        kernel = h // cfg.pool_to
        # Kernel = stride = map / pool_to (plan() checked it divides): no global average pooling,
        # whose division by H*W would leave the integer lattice.
        self.pool = nn.MaxPool2d(kernel) if kernel > 1 else nn.Identity()
        self.fc = classifier(c * cfg.pool_to * cfg.pool_to, num_classes, cfg.weight_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.block is not None:
            x = self.block(x)
        return self.fc(torch.flatten(self.pool(x), 1))


class MultiExitNet(nn.Module):
    """Backbone stages with exit heads; `forward` returns real-valued logits [N, E, C]."""

    def __init__(
        self,
        stages: list[StageConfig],
        exits: list[ExitConfig],
        input_shape: tuple[int, int, int],
        num_classes: int,
        input_bits: int = 8,
    ) -> None:
        super().__init__()
        self.plan: Plan = plan(stages, exits, input_shape, num_classes)
        self.stage_cfgs = stages
        self.exit_cfgs = exits
        self.input_bits = input_bits
        c_in = input_shape[0]
        self.stages = nn.ModuleList()
        for k, st in enumerate(stages):
            self.stages.append(Stage(st, c_in))
            c_in = self.plan.stage_out[k][0]
        self.heads = nn.ModuleList(
            ExitHead(ex, self.plan.stage_out[ex.after_stage], num_classes) for ex in exits
        )
        self.exit_after = [ex.after_stage for ex in exits]

    @property
    def num_exits(self) -> int:
        return len(self.heads)

    @property
    def num_classes(self) -> int:
        return self.plan.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: images as float 0..255 [N, C, H, W] -> logits [N, E, C] (real, not integer)."""
        x = x * INPUT_SCALE
        outs = []
        e = 0
        for k, stage in enumerate(self.stages):
            x = stage(x)
            while e < len(self.heads) and self.exit_after[e] == k:
                outs.append(self.heads[e](x))
                e += 1
        return torch.stack(outs, dim=1)

    def stage(self, k: int) -> Stage:
        """Backbone stage k (typed: a ModuleList item is only an nn.Module to a type checker)."""
        return cast(Stage, self.stages[k])

    def head(self, e: int) -> ExitHead:
        """Exit head e (typed, as stage())."""
        return cast(ExitHead, self.heads[e])

    def stage_in_scale(self, k: int) -> float:
        """Scale of stage k's integer input (2^-8 for the image)."""
        return INPUT_SCALE if k == 0 else self.stage(k - 1).out_scale()

    def stage_in_bits(self, k: int) -> int:
        """Bit width of stage k's unsigned integer input."""
        return self.input_bits if k == 0 else self.stage_cfgs[k - 1].act_bits

    def head_in_scale(self, e: int) -> float:
        """Scale of the integer features head e's classifier multiplies."""
        head = self.head(e)
        if head.block is not None:
            return act_scale(head.block.act)
        return self.stage(self.exit_after[e]).out_scale()

    def logit_scale(self, e: int) -> float:
        """Real logit of exit e = integer logit * logit_scale(e) (weight scale x input scale)."""
        return weight_scale(self.head(e).fc) * self.head_in_scale(e)

    def logit_scales(self) -> list[float]:
        """logit_scale of every exit."""
        return [self.logit_scale(e) for e in range(self.num_exits)]

    def describe(self) -> dict[str, Any]:
        """Plain data that rebuilds this model (stored in checkpoints)."""
        return {
            "stages": [dataclasses.asdict(s) for s in self.stage_cfgs],
            "exits": [dataclasses.asdict(e) for e in self.exit_cfgs],
            "input_shape": list(self.plan.input_shape),
            "num_classes": self.plan.num_classes,
            "input_bits": self.input_bits,
        }


def build_model(
    cfg: ModelConfig, input_shape: tuple[int, int, int], num_classes: int
) -> MultiExitNet:
    """The network of `cfg` (preset or explicit) for images of `input_shape` (C, H, W)."""
    stages, exits = resolve_topology(cfg)
    if cfg.input_bits != 8:
        # Datasets deliver uint8 pixels; a narrower input would need a requantising step that
        # the hardware would have to implement too.
        raise ConfigError(
            f"model.input_bits={cfg.input_bits}: only 8-bit (uint8 pixel) input is supported"
        )
    shape = cast(tuple[int, int, int], tuple(input_shape))  # a list when read from a file
    model = MultiExitNet(stages, exits, shape, num_classes, cfg.input_bits)
    p = model.plan
    log.info(
        "model: %d stages, %d exits after stages %s; MACs per stage %s, per head %s, full %d",
        len(stages),
        len(exits),
        model.exit_after,
        list(p.stage_macs),
        list(p.head_macs),
        p.full_macs,
    )
    return model


def model_from_description(desc: dict[str, Any]) -> MultiExitNet:
    """Rebuild a model from `MultiExitNet.describe()` output (weights not included)."""
    return MultiExitNet(
        [StageConfig(**s) for s in desc["stages"]],
        [ExitConfig(**e) for e in desc["exits"]],
        tuple(desc["input_shape"]),
        int(desc["num_classes"]),
        int(desc.get("input_bits", 8)),
    )
