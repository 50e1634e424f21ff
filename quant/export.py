"""QONNX export: one model per backbone stage and per exit head, the whole network, a manifest.

Every partition takes INTEGERS and gives integers: its first op multiplies the integer input by
the input scale (2^-8 for the image, the previous stage's activation scale otherwise), and its last
op divides by the output scale (the stage's activation scale, or the head's logit scale), so the
graph output is the integer activation or the integer logits. The scales are powers of two, so
this final multiply is exact and FINN's streamlining cancels it against the quantiser's own scale
instead of leaving a float multiply in hardware (docs/toolchain.md). Format: docs/artefacts.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from brevitas.export import export_qonnx
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.cleanup import cleanup_model
from torch import nn

from exitflow.core.files import atomic_path, write_json
from exitflow.core.outputs import Outputs, save_outputs
from exitflow.quant.infer import integer_stage_outputs
from exitflow.quant.layers import INPUT_SCALE, weight_scale
from exitflow.quant.model import MultiExitNet

log = logging.getLogger(__name__)

SCHEMA = "exitflow.export/1"
BOUNDARY_SAMPLES = 1000
INPUT_NAME = "inp"


class _Scaled(nn.Module):
    """integer input -> x * in_scale -> body -> * (1 / out_scale) -> integer output."""

    def __init__(self, body: nn.Module, in_scale: float, out_scale: float) -> None:
        super().__init__()
        self.body = body
        self.in_scale = in_scale
        self.inv_out = 1.0 / out_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * self.in_scale) * self.inv_out


class _Full(nn.Module):
    """The whole network: uint8 image in, every exit's integer logits out (one output per exit)."""

    def __init__(self, model: MultiExitNet) -> None:
        super().__init__()
        self.model = model
        self.inv = [1.0 / s for s in model.logit_scales()]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x * INPUT_SCALE
        outs = []
        for k, stage in enumerate(self.model.stages):
            x = stage(x)
            for e, after in enumerate(self.model.exit_after):
                if after == k:
                    outs.append(self.model.heads[e](x) * self.inv[e])
        return tuple(outs)


def _export(module: nn.Module, in_shape: tuple[int, ...], path: Path, outputs: list[str], dtype):
    """brevitas export_qonnx -> qonnx cleanup -> stable tensor names, input datatype annotated."""
    with atomic_path(path) as tmp:
        # The TorchScript exporter (dynamo=False) gives the classic graph FINN is tested on.
        export_qonnx(
            module,
            input_t=torch.zeros((1, *in_shape)),
            export_path=str(tmp),
            dynamo=False,
        )
        model = cleanup_model(ModelWrapper(str(tmp)))
        model.rename_tensor(model.graph.input[0].name, INPUT_NAME)
        for out, name in zip(list(model.graph.output), outputs):
            model.rename_tensor(out.name, name)
        model.set_tensor_datatype(INPUT_NAME, DataType[dtype])
        model.save(str(tmp))
    return path


def _uint(bits: int) -> str:
    return f"UINT{bits}"


def _logit_datatype(model: MultiExitNet, e: int) -> str:
    """Smallest signed integer type that holds exit e's accumulator for any input (from the
    actual weights: max over classes of sum |w_int| times the largest input integer)."""
    head = model.head(e)
    w_int = (head.fc.quant_weight().value / weight_scale(head.fc)).round().abs()
    if head.block is not None:
        bits = model.exit_cfgs[e].act_bits
    else:
        bits = model.stage_cfgs[model.exit_after[e]].act_bits
    bound = float(w_int.sum(1).max()) * (2**bits - 1)
    return f"INT{max(2, math.ceil(math.log2(bound + 1)) + 1)}"


def model_digest(model: MultiExitNet) -> str:
    """Short hash of the topology and weights: ties artefacts to one trained model."""
    h = hashlib.sha256(json.dumps(model.describe(), sort_keys=True).encode())
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def _port(name: str, shape, dtype: str, scale: float) -> dict[str, Any]:
    return {"name": name, "shape": [1, *shape], "datatype": dtype, "scale": scale}


@torch.no_grad()
def export_model(model: MultiExitNet, out_dir: str | Path, design: str = "") -> dict[str, Any]:
    """Write stage<k>.onnx, head<e>.onnx, full.onnx and manifest.json into `out_dir`; returns the
    manifest."""
    out_dir = Path(out_dir)
    model.eval()
    p = model.plan
    partitions = []
    for k in range(len(model.stages)):
        stage = model.stage(k)
        in_shape = p.input_shape if k == 0 else p.stage_out[k - 1]
        in_dtype = _uint(model.stage_in_bits(k))
        out_dtype = _uint(model.stage_cfgs[k].act_bits)
        in_scale, out_scale = model.stage_in_scale(k), stage.out_scale()
        path = _export(_Scaled(stage, in_scale, out_scale), in_shape, out_dir / f"stage{k}.onnx",
                       ["out"], in_dtype)  # fmt: skip
        exits_here = [e for e, a in enumerate(model.exit_after) if a == k]
        partitions.append(
            {
                "name": f"stage{k}",
                "kind": "stage",
                "index": k,
                "file": path.name,
                "reads": None if k == 0 else f"stage{k - 1}",
                "exit": exits_here[0] if exits_here else None,
                "input": _port(INPUT_NAME, in_shape, in_dtype, in_scale),
                "output": _port("out", p.stage_out[k], out_dtype, out_scale),
                "macs": p.stage_macs[k],
                "weight_bits": model.stage_cfgs[k].weight_bits,
                "act_bits": model.stage_cfgs[k].act_bits,
            }
        )
    exits: list[dict[str, Any]] = []
    for e in range(model.num_exits):
        head = model.head(e)
        after = model.exit_after[e]
        in_dtype = _uint(model.stage_cfgs[after].act_bits)
        in_scale, scale = model.stage(after).out_scale(), model.logit_scale(e)
        out_dtype = _logit_datatype(model, e)
        path = _export(_Scaled(head, in_scale, scale), p.stage_out[after], out_dir / f"head{e}.onnx",
                       ["logits"], in_dtype)  # fmt: skip
        partitions.append(
            {
                "name": f"head{e}",
                "kind": "head",
                "index": e,
                "file": path.name,
                "reads": f"stage{after}",
                "exit": e,
                "input": _port(INPUT_NAME, p.stage_out[after], in_dtype, in_scale),
                "output": _port("logits", (p.num_classes,), out_dtype, scale),
                "macs": p.head_macs[e],
                "weight_bits": model.exit_cfgs[e].weight_bits,
                "act_bits": model.exit_cfgs[e].act_bits,
                "conv_channels": model.exit_cfgs[e].conv_channels,
                "pool_to": model.exit_cfgs[e].pool_to,
            }
        )
        exits.append(
            {
                "index": e,
                "after_stage": after,
                "head": f"head{e}",
                "logit_scale": scale,
                "logit_datatype": out_dtype,
                "exit_macs": p.cumulative_cost(e),
                "own_macs": p.exit_cost(e),
            }
        )
    names = [f"logits{e}" for e in range(model.num_exits)]
    _export(_Full(model), p.input_shape, out_dir / "full.onnx", names, _uint(model.input_bits))
    manifest = {
        "schema": SCHEMA,
        "design": design,
        "model_digest": model_digest(model),
        "model": model.describe(),
        "num_classes": p.num_classes,
        "input": _port(INPUT_NAME, p.input_shape, _uint(model.input_bits), INPUT_SCALE),
        "layout": "NCHW",
        "exits": exits,
        "partitions": partitions,
        "full": {
            "file": "full.onnx",
            "input": _port(INPUT_NAME, p.input_shape, _uint(model.input_bits), INPUT_SCALE),
            "outputs": [
                _port(n, (p.num_classes,), x["logit_datatype"], x["logit_scale"])
                for n, x in zip(names, exits)
            ],
        },
        "exit_macs": p.exit_macs,
        "full_macs": p.full_macs,
        "reference": "reference.npz",
    }
    write_json(out_dir / "manifest.json", manifest)
    log.info("exported %d partitions and full.onnx to %s", len(partitions), out_dir)
    return manifest


def save_reference(
    path: str | Path,
    outputs: Outputs,
    model: MultiExitNet,
    images: np.ndarray,
    n_boundary: int = BOUNDARY_SAMPLES,
) -> Path:
    """reference.npz: the test Outputs (with the policy's exit_index/pred) plus, for the first
    min(n_boundary, N) test images, the images and every stage's integer output."""
    if outputs.exit_index is None or outputs.pred is None:
        raise ValueError("reference outputs need exit_index and pred from the calibrated policy")
    n = min(n_boundary, len(images))
    arrays = {"input": images[:n]}
    for k, ints in enumerate(integer_stage_outputs(model, images[:n])):
        # act_bits <= 8, so every stage output fits uint8.
        arrays[f"stage{k}_out"] = ints.astype(np.uint8)
    return save_outputs(outputs, path, extra=arrays)
