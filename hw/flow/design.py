"""The partitions of a gated early-exit design, read from quant/'s export (manifest + reference).

Each backbone stage and each exit head is its own partition (its exported QONNX file); each
non-final exit gets a decision partition, built from the calibrated policy once its head's output
type is known. The single-exit baseline reuses the stage files and the final head.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exitflow.core import policies
from exitflow.core.errors import ConfigError
from exitflow.core.kinds import DecisionImpl, PartitionKind
from exitflow.core.outputs import load_outputs
from exitflow.core.rules import RULES
from exitflow.hw.flow.verify import PartitionData
from exitflow.hw.ops.exit_decision import op as decision_op

log = logging.getLogger(__name__)

# Kinds some decision unit implements (exitflow.core.rules: each kind's hw_impls).
SUPPORTED_POLICIES = tuple(k.value for k, r in RULES.items() if r.hw_impls)


class DesignError(ConfigError):
    """The export or the policy cannot be built into hardware (the message says why and how)."""


@dataclass
class PartitionSpec:
    """One partition of the gated design or of the baseline."""

    name: str
    kind: PartitionKind
    index: int  # stage index, or exit index for heads and decisions
    source: Path | None  # exported QONNX; None: generated (decision)
    data: PartitionData
    reads: str | None = None
    exit: int | None = None
    after_stage: int | None = None
    rate_fraction: float = 1.0
    baseline: bool = False
    threshold: int | None = None  # decision: integer T (None: never fires)
    meta: dict = field(default_factory=dict)


@dataclass
class Design:
    """Everything the flow builds, plus the reference results it must reproduce."""

    name: str
    num_classes: int
    exit_after: list[int]
    num_stages: int
    policy: policies.PolicySpec
    thresholds: list[int | None]
    partitions: list[PartitionSpec]
    images: np.ndarray  # [N, C, H, W] uint8: the reference inputs
    ref_exit: np.ndarray  # [N] exit index under the policy
    ref_pred: np.ndarray  # [N] class
    ref_logits: np.ndarray  # [N, E, C]
    manifest: dict

    def gated(self) -> list[PartitionSpec]:
        return [p for p in self.partitions if not p.baseline]

    def baseline(self) -> list[PartitionSpec]:
        return [p for p in self.partitions if p.baseline]

    def by_name(self, name: str) -> PartitionSpec:
        return next(p for p in self.partitions if p.name == name)


def decision_refs(
    spec: policies.PolicySpec, logits: np.ndarray, impl: str | DecisionImpl
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """(inputs, outputs) of every non-final decision unit, from quant.policies, state included."""
    n, num_exits, c = logits.shape
    rule = spec.rule
    state = rule.init_state(n, c)
    refs = []
    for e in range(num_exits - 1):
        x = logits[:, e]
        fire, new = policies.decide(spec.kind, x, spec.thresholds[e], state, spec.exit_params(e))
        cls = policies.exit_prediction(spec.kind, x, new)
        inputs, outputs = [x], [fire.astype(np.int64)]
        if DecisionImpl(impl) is DecisionImpl.RTL:
            outputs.append(cls)
            before, after = rule.state_to_array(state), rule.state_to_array(new)
            if before is not None and after is not None:
                inputs.append(before)
                outputs.append(after)
        refs.append((inputs, outputs))
        state = new
    return refs


def load_design(
    export_dir: Path,
    policy: policies.PolicySpec,
    impl: str | DecisionImpl,
    fractions: list[float],
    with_baseline: bool = True,
) -> Design:
    """Partitions of the gated design (and the baseline) with their reference data."""
    manifest_path = export_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DesignError(f"{manifest_path} does not exist: run `exitflow export` first")
    manifest = json.loads(manifest_path.read_text())
    impl = DecisionImpl(impl)
    if not policy.rule.hw_impls:
        raise DesignError(
            f"policy.kind {policy.kind!r} has no exit-decision unit in hardware (it needs "
            f"exp/log tables); use one of {list(SUPPORTED_POLICIES)} and recalibrate"
        )
    if impl not in policy.rule.hw_impls:
        able = [k.value for k, r in RULES.items() if impl in r.hw_impls]
        raise DesignError(
            f"hw.decision_impl: {impl.value} builds {' and '.join(able)} units only, not "
            f"{policy.kind!r}; set hw.decision_impl: rtl"
        )
    ref_path = export_dir / manifest.get("reference", "reference.npz")
    ref = load_outputs(ref_path)
    with np.load(ref_path) as raw:
        if "input" not in raw.files:
            raise DesignError(f"{ref_path} has no 'input' images: re-run `exitflow export`")
        images = raw["input"]
        bounds = {k: raw[k] for k in raw.files if k.startswith("stage") and k.endswith("_out")}
    n = len(images)
    if ref.exit_index is None or ref.pred is None:
        raise DesignError(f"{ref_path} lacks exit_index/pred: re-run `exitflow export`")
    exits = manifest["exits"]
    exit_after = [int(x["after_stage"]) for x in exits]
    stages = [p for p in manifest["partitions"] if p["kind"] == PartitionKind.STAGE]
    heads = {p["index"]: p for p in manifest["partitions"] if p["kind"] == PartitionKind.HEAD}
    if len(policy.thresholds) != len(exits) - 1:
        raise DesignError(
            f"the policy has {len(policy.thresholds)} thresholds for {len(exits)} exits: "
            "re-run `exitflow calibrate` for this model"
        )
    logits = ref.logits[:n]
    thresholds = [
        policies.integer_threshold(policy.kind, t, policy.exit_params(e))
        for e, t in enumerate(policy.thresholds)
    ]

    def stage_io(k: int) -> PartitionData:
        x = images if k == 0 else bounds[f"stage{k - 1}_out"]
        return PartitionData([x.astype(np.int64)], [bounds[f"stage{k}_out"].astype(np.int64)])

    def head_io(e: int) -> PartitionData:
        x = bounds[f"stage{exit_after[e]}_out"].astype(np.int64)
        return PartitionData([x], [logits[:, e].astype(np.int64)])

    drefs = decision_refs(policy, logits, impl)
    parts: list[PartitionSpec] = []
    for st in stages:
        k = int(st["index"])
        parts.append(
            PartitionSpec(
                st["name"],
                PartitionKind.STAGE,
                k,
                export_dir / st["file"],
                stage_io(k),
                st.get("reads"),
                rate_fraction=fractions[k],
                meta=st,
            )
        )
        for e in [e for e, a in enumerate(exit_after) if a == k]:
            h = heads[e]
            parts.append(
                PartitionSpec(
                    h["name"],
                    PartitionKind.HEAD,
                    e,
                    export_dir / h["file"],
                    head_io(e),
                    h["reads"],
                    e,
                    k,
                    rate_fraction=fractions[k],
                    meta=h,
                )
            )
            if e < len(exits) - 1:
                ins, outs = drefs[e]
                parts.append(
                    PartitionSpec(
                        f"decision{e}",
                        PartitionKind.DECISION,
                        e,
                        None,
                        PartitionData(ins, outs),
                        h["name"],
                        e,
                        k,
                        rate_fraction=fractions[k],
                        threshold=thresholds[e],
                    )
                )
    if with_baseline:
        last = len(exits) - 1
        for p in [p for p in parts if p.kind is PartitionKind.STAGE] + [parts_head(parts, last)]:
            parts.append(
                PartitionSpec(
                    f"base_{p.name}",
                    p.kind,
                    p.index,
                    p.source,
                    p.data,
                    None if p.reads is None else f"base_{p.reads}",
                    p.exit,
                    p.after_stage,
                    baseline=True,
                    meta=p.meta,
                )
            )
    return Design(
        manifest.get("design") or export_dir.parent.name,
        int(manifest["num_classes"]),
        exit_after,
        len(stages),
        policy,
        thresholds,
        parts,
        images,
        ref.exit_index[:n],
        ref.pred[:n],
        logits,
        manifest,
    )


def parts_head(parts: list[PartitionSpec], e: int) -> PartitionSpec:
    """The head partition of exit e."""
    return next(p for p in parts if p.kind is PartitionKind.HEAD and p.index == e)


def num_state(kind: str, num_classes: int, num_exits: int) -> int:
    """Width (integers) of the state a frame carries between decision units."""
    return decision_op.state_width(kind, num_classes, num_exits)
