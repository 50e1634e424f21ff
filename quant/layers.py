"""Building blocks of the multi-exit network, chosen so that every rung computes the same integers.

Every weight and activation scale is a per-tensor power of two, and the input pixels are scaled by
2^-8. With power-of-two scales every conv/linear product and partial sum is an exactly
representable float32 number (as long as an accumulator stays below 2^24 units), so PyTorch,
QONNX (onnxruntime) and FINN agree bit for bit whatever order they sum in. The one float step is
batch norm; in eval mode it is an explicit `x * a + b` with precomputed constants, exported as a Mul
and an Add, which every runtime evaluates identically (IEEE single precision, no fused ops).
"""

from __future__ import annotations

import logging

import brevitas.nn as qnn
import torch
from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from torch import nn

log = logging.getLogger(__name__)

# Input pixels are uint8 (0..255); 2^-8 keeps the scaled input exact in float32 (1/255 would not).
INPUT_SCALE = 2.0**-8

# Training steps over which an activation scale is initialised from a percentile of the data
# (brevitas default 300: each step sorts the whole activation tensor, which cost minutes of CPU).
ACT_STATS_STEPS = 30


class WeightQuant(Int8WeightPerTensorFixedPoint):
    """Signed, narrow-range, per-tensor power-of-two weight scale (bit width set per layer)."""


class ActQuant(Uint8ActPerTensorFixedPoint):
    """Unsigned, per-tensor learned power-of-two activation scale (bit width set per layer)."""


class AffineBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that, in eval mode, computes `x * a + b` from constants fixed at `eval()`.

    Why: exported BatchNormalization nodes are evaluated by each runtime with its own formula
    (division versus reciprocal, fused multiply-add), which moves values by one ulp and can flip a
    following quantiser's rounding. Precomputed a, b export as plain Mul/Add initialisers.
    """

    eval_scale: torch.Tensor
    eval_shift: torch.Tensor
    running_mean: torch.Tensor  # always tracked here (BatchNorm2d's default)
    running_var: torch.Tensor

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.register_buffer("eval_scale", torch.ones(num_features), persistent=False)
        self.register_buffer("eval_shift", torch.zeros(num_features), persistent=False)
        self._fresh = False
        self.register_load_state_dict_post_hook(lambda module, keys: module._invalidate())

    def _invalidate(self) -> None:
        self._fresh = False

    @torch.no_grad()
    def refresh(self) -> None:
        """Recompute the eval-mode constants from the running statistics."""
        scale = self.weight / torch.sqrt(self.running_var + self.eps)
        self.eval_scale.copy_(scale)
        self.eval_shift.copy_(self.bias - self.running_mean * scale)
        self._fresh = True

    def train(self, mode: bool = True) -> AffineBatchNorm2d:
        super().train(mode)
        self._fresh = False
        if not mode:
            self.refresh()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        if not self._fresh:
            self.refresh()
        return x * self.eval_scale.view(1, -1, 1, 1) + self.eval_shift.view(1, -1, 1, 1)


def quant_relu(act_bits: int) -> qnn.QuantReLU:
    """A ReLU quantised to `act_bits` unsigned bits with a learned power-of-two scale."""
    return qnn.QuantReLU(
        act_quant=ActQuant,
        bit_width=act_bits,
        collect_stats_steps=ACT_STATS_STEPS,
        return_quant_tensor=False,
    )


def act_scale(relu: qnn.QuantReLU) -> float:
    """The (power-of-two) scale of a QuantReLU's output: real value = integer * scale."""
    scale = relu.act_quant.scale()
    return float(scale.detach().reshape(-1)[0])


def weight_scale(layer: qnn.QuantConv2d | qnn.QuantLinear) -> float:
    """The per-tensor (power-of-two) scale of a quantised layer's weights."""
    scale = layer.quant_weight().scale
    if scale.numel() != 1:
        raise ValueError(f"{type(layer).__name__} has a per-channel weight scale; expected one")
    return float(scale.detach().reshape(-1)[0])


class ConvBlock(nn.Module):
    """Quantised conv (no bias) -> batch norm -> quantised ReLU."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, padding: int, weight_bits: int, act_bits: int
    ) -> None:
        super().__init__()
        self.conv = qnn.QuantConv2d(
            c_in,
            c_out,
            kernel,
            padding=padding,
            bias=False,
            weight_quant=WeightQuant,
            weight_bit_width=weight_bits,
        )
        self.bn = AffineBatchNorm2d(c_out)
        self.act = quant_relu(act_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def classifier(in_features: int, num_classes: int, weight_bits: int) -> qnn.QuantLinear:
    """Bias-free linear classifier with one weight scale: its output is an exact integer lattice."""
    return qnn.QuantLinear(
        in_features,
        num_classes,
        bias=False,
        weight_quant=WeightQuant,
        weight_bit_width=weight_bits,
    )
