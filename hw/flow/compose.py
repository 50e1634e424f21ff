"""The composed check: the built partitions chained as the hardware chains them must take the same
exit with the same class as quant/ (reference.npz), frame by frame.

Each stage runs on the previous stage's HW output (not the reference), every head on its stage's
HW output, every decision unit on its head's HW logits with the state of the previous unit. The
frame leaves at the first unit that fires (the final exit always fires); its class is the
decision unit's class output (rtl units) or the argmax of the head's logits (finn units, lowest
index wins a tie as in quant.policies).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from exitflow.core import policies
from exitflow.core.kinds import PartitionKind
from exitflow.hw.flow import verify
from exitflow.hw.flow.design import Design

log = logging.getLogger(__name__)


@dataclass
class ComposeResult:
    """Exit-index and class agreement with quant/ on the first `samples` reference images."""

    samples: int
    exit_mismatches: int
    class_mismatches: int
    logit_mismatches: int
    seconds: float
    hw_exit_counts: list[int]

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "exit_mismatches": self.exit_mismatches,
            "class_mismatches": self.class_mismatches,
            "logit_mismatches": self.logit_mismatches,
            "seconds": round(self.seconds, 2),
            "hw_exit_counts": self.hw_exit_counts,
        }

    @property
    def ok(self) -> bool:
        return self.exit_mismatches == self.class_mismatches == self.logit_mismatches == 0


def _as_ref_layout(model: ModelWrapper, out: np.ndarray, ref_shape: tuple[int, ...]) -> np.ndarray:
    """A partition's output brought back to quant/'s layout (NCHW)."""
    if len(ref_shape) == 4:
        n, c, h, w = ref_shape
        return out.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return out.reshape(ref_shape)


def compose(
    design: Design, models: dict[str, ModelWrapper], samples: int, workers: int = 1
) -> ComposeResult:
    """Chain the gated design's partition models on the reference images."""
    start = time.monotonic()
    n = min(samples, len(design.images))
    gated = design.gated()
    stage_out: dict[int, np.ndarray] = {}
    logits: dict[int, np.ndarray] = {}
    x = design.images[:n].astype(np.int64)
    for p in [p for p in gated if p.kind is PartitionKind.STAGE]:
        model = models[p.name]
        inp = verify.to_model_layout(model, model.graph.input[0].name, x)
        out = verify.run(model, [inp], workers)[0]
        x = np.rint(_as_ref_layout(model, out, p.data.outputs[0][:n].shape)).astype(np.int64)
        stage_out[p.index] = x
    for p in [p for p in gated if p.kind is PartitionKind.HEAD]:
        model = models[p.name]
        assert p.after_stage is not None  # every head partition reads a stage
        src = stage_out[p.after_stage]
        inp = verify.to_model_layout(model, model.graph.input[0].name, src)
        logits[p.index] = np.rint(verify.run(model, [inp], workers)[0].reshape(n, -1)).astype(
            np.int64
        )
    num_exits = len(design.exit_after)
    rule = design.policy.rule
    c = design.num_classes
    state = rule.init_state(n, c)
    hw_exit = np.full(n, num_exits - 1, dtype=np.int64)
    hw_pred = policies.predicted_class(logits[num_exits - 1])
    decided = np.zeros(n, dtype=bool)
    for e in range(num_exits - 1):
        model = models[f"decision{e}"]
        ins = [logits[e]]
        carried = rule.state_to_array(state)
        if carried is not None:
            ins.append(carried)
        outs = verify.run(model, ins, workers)
        fire = outs[0].reshape(n).astype(bool)
        if len(outs) > 1:
            cls = np.rint(outs[1].reshape(n)).astype(np.int64)
        else:
            cls = policies.predicted_class(logits[e])
        if carried is not None:
            state = rule.state_from_array(np.rint(outs[2]).astype(np.int64).reshape(n, -1))
        new = fire & ~decided
        hw_exit[new] = e
        hw_pred[new] = cls[new]
        decided |= fire
    # The final exit outputs the rule's class from the carried state too (voting: the voted class).
    last = ~decided
    final = num_exits - 1
    x_last = logits[final][last]
    carried_in = {k: v[last] for k, v in state.items()}
    _, state_last = policies.statistic(
        design.policy.kind, x_last, carried_in, design.policy.exit_params(final)
    )
    hw_pred[last] = rule.prediction(x_last, state_last)
    hw_logits = np.stack([logits[e] for e in range(num_exits)], axis=1)
    counts = np.bincount(hw_exit, minlength=num_exits).tolist()
    return ComposeResult(
        n,
        int(np.count_nonzero(hw_exit != design.ref_exit[:n])),
        int(np.count_nonzero(hw_pred != design.ref_pred[:n])),
        int(np.count_nonzero((hw_logits != design.ref_logits[:n]).any(axis=(1, 2)))),
        time.monotonic() - start,
        counts,
    )
