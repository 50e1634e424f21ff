"""The partitions of a gated early-exit design, read from quant/'s export (manifest + reference).

Each backbone stage and each exit head is its own partition (its exported QONNX file); each
non-final exit gets a decision partition, built from the calibrated policy once its head's output
type is known. The single-exit baseline reuses the stage files and the final head.
"""

from __future__ import annotations

import json
import logging
import math
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
    keep: list[int] | None = None,
) -> Design:
    """Partitions of the gated design (and the baseline) with their reference data.

    `keep` (hw.keep_exits): the non-final exits the hardware has. The design is then the
    model's view with only those exits and the final one, numbered 0..K-1 in order (head<i>,
    decision<i>: the names hwdesc.json, the top and the simulator use); a left-out exit must
    never fire under the policy (threshold inf), so quant's reference holds for the view."""
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
    stages = [p for p in manifest["partitions"] if p["kind"] == PartitionKind.STAGE]
    heads = {p["index"]: p for p in manifest["partitions"] if p["kind"] == PartitionKind.HEAD}
    if len(policy.thresholds) != len(exits) - 1:
        raise DesignError(
            f"the policy has {len(policy.thresholds)} thresholds for {len(exits)} exits: "
            "re-run `exitflow calibrate` for this model"
        )
    ref_exit, ref_pred, logits = ref.exit_index[:n], ref.pred[:n], ref.logits[:n]
    if keep is not None:
        hw_exits = kept_exits(keep, len(exits), policy)
        pos = np.full(len(exits), -1, np.int64)
        pos[hw_exits] = np.arange(len(hw_exits))
        ref_exit, logits = pos[ref_exit], logits[:, hw_exits]
        exits = [dict(exits[e], index=i) for i, e in enumerate(hw_exits)]
        heads = {i: _renamed(heads[e], i) for i, e in enumerate(hw_exits)}
        policy = policy_view(policy, hw_exits)
        manifest = dict(manifest, exits=exits, kept_exits=hw_exits)
    exit_after = [int(x["after_stage"]) for x in exits]
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
        ref_exit,
        ref_pred,
        logits,
        manifest,
    )


def kept_exits(keep: list[int], num_exits: int, policy: policies.PolicySpec) -> list[int]:
    """Trained exit indices the hardware has: `keep` and the final exit. DesignError if `keep`
    names no non-final exit, the policy carries state between exits (leaving one out changes
    what the others decide), or a left-out exit could fire (its threshold is not inf)."""
    last = num_exits - 1
    bad = [e for e in keep if not 0 <= e < last]
    if bad:
        raise DesignError(
            f"hw.keep_exits: {bad} are not non-final exits of this model (0..{last - 1}): fix "
            "hw.keep_exits, or set it to null to build every exit"
        )
    dropped = [e for e in range(last) if e not in keep]
    if dropped and policy.rule.state_width(2) > 0:
        raise DesignError(
            f"hw.keep_exits leaves out exits {dropped}, but policy {policy.kind} carries state "
            "from exit to exit, so the kept exits would decide differently: keep every exit "
            "(hw.keep_exits: null) or use a policy without state (margin, max_logit, ...)"
        )
    fires = [e for e in dropped if policy.thresholds[e] != math.inf]
    if fires:
        raise DesignError(
            f"hw.keep_exits leaves out exits {fires}, but the policy can take them (thresholds "
            f"{[policy.thresholds[e] for e in fires]}): set their policy.thresholds to inf "
            "(as dse/overlay.yaml does) and rerun calibrate and export, so quant's reference "
            "never takes an exit the hardware lacks"
        )
    return [*sorted(keep), last]


def policy_view(spec: policies.PolicySpec, hw_exits: list[int]) -> policies.PolicySpec:
    """The policy of the kept exits alone: their thresholds, per-exit params reindexed."""
    params = {
        k: [v[e] for e in hw_exits] if isinstance(v, list) and len(v) == spec.num_exits else v
        for k, v in spec.params.items()
    }
    return policies.PolicySpec(spec.kind, tuple(spec.thresholds[e] for e in hw_exits[:-1]), params)


def view_overrides(overrides: dict, hw_exits: list[int]) -> dict:
    """hw.folding_overrides keyed by trained exit (head<e>, decision<e>, base_head<e>, as the
    config and dse/overlay.yaml name them) renamed to the kept-exit view's partitions."""
    pos = {e: i for i, e in enumerate(hw_exits)}
    out = {}
    for name, v in overrides.items():
        prefix = next((p for p in ("base_head", "head", "decision") if name.startswith(p)), None)
        tail = name[len(prefix) :] if prefix else ""
        if prefix and tail.isdigit() and int(tail) in pos:
            name = f"{prefix}{pos[int(tail)]}"
        out[name] = v
    return out


def _renamed(head: dict, i: int) -> dict:
    return dict(
        head, name=f"head{i}", index=i, trained_exit=head["index"], trained_name=head["name"]
    )


def parts_head(parts: list[PartitionSpec], e: int) -> PartitionSpec:
    """The head partition of exit e."""
    return next(p for p in parts if p.kind is PartitionKind.HEAD and p.index == e)


def num_state(kind: str, num_classes: int, num_exits: int) -> int:
    """Width (integers) of the state a frame carries between decision units."""
    return decision_op.state_width(kind, num_classes, num_exits)
