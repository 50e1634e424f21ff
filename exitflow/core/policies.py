"""Exit policies: the single reference of every exit decision's exact integer behaviour (numpy only).

A frame passes exits e = 0..E-1 in order. At each non-final exit a decision unit sees that exit's
integer logits x (int64 [C]) and a small integer state carried with the frame, computes an integer
statistic S and fires (the frame leaves with a class) when S compares with an integer constant T:

| kind        | S (integer)                                        | fires iff | T from threshold t     |
|-------------|----------------------------------------------------|-----------|------------------------|
| max_logit   | max_c x_c                                          | S >= T    | ceil(t)                |
| margin      | top-1 minus top-2 value (0 if C == 1 or tied)      | S >= T    | ceil(t)                |
| max_softmax | A = sum_j EXP[(max - x_j) >> r] (quant.fixedpoint) | S <= T    | floor(2^F / t + 1/2)   |
| entropy     | H_fx, fixed-point entropy (quant.fixedpoint)       | S <= T    | floor(t * 2^F + 1/2)   |
| patience    | run length of the current class (state)            | S >= T    | ceil(t)                |
| voting      | max_c votes_c over exits 0..e (state)              | S >= T    | ceil(t)                |

Thresholds t are in each policy's natural unit (integer logit, probability, nats, exits, votes);
`integer_threshold` gives T, the constant a hardware unit compares against. t = +inf (entropy:
-inf) means the exit never fires (T is None: tie the fire output low); stored as "inf"/"-inf"
in JSON. The final exit always fires. max_softmax fires iff 2^F / A >= t: the table-based,
divider-free form of "max softmax >= t", within (C/2 + 1) 2^-F of float softmax (fixedpoint).

State carried with the frame (initial values; int64, one row per frame):
- patience: last = -1 (class predicted at the previous exit), run = 0. At each exit with
  predicted class p: run = run + 1 if p == last else 1; last = p. S = run. PABEE's "patience t"
  (prediction unchanged t times) is T = t + 1 here; T = 1 at exit 0 fires always.
- voting: votes[C] = 0. At each exit votes[p] += 1, S = max votes. Sun et al.'s rule
  max votes / l^k >= delta at the l-th exit (l = e + 1) is T_e = ceil(delta * l^k)
  (`voting_thresholds`). The class output is the voted class, argmax(votes).
- all other kinds: no state.
The state evolves independently of whether exits fired, so S of every exit is a function of the
logits alone (`exit_statistics`), which calibration uses.

Tie rule everywhere (`predicted_class`): the lowest class index among the maxima wins. The class
output when exit e fires is predicted_class(x) at that exit (voting: predicted_class(votes)).
N = 0 gives empty results; C = 1 is allowed (margin 0, max softmax 1, entropy 0).
Logits must lie within +-2^61 so that differences cannot overflow int64.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.core import fixedpoint
from exitflow.core.files import write_json
from exitflow.core.kinds import PolicyKind
from exitflow.core.rules import (
    INT64_MAX,
    INT64_MIN,
    RULES,
    PolicyRule,
    State,
    predicted_class,
    rule,
    voting_thresholds,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "LOW_FIRES",
    "TABLE_KINDS",
    "PolicyRule",
    "PolicySpec",
    "State",
    "apply_policy",
    "decide",
    "exit_mask",
    "exit_prediction",
    "exit_statistics",
    "fires",
    "init_state",
    "integer_threshold",
    "load_policy",
    "never_threshold",
    "policy_dict",
    "predicted_class",
    "rule",
    "save_policy",
    "statistic",
    "threshold_for",
    "threshold_from_json",
    "threshold_to_json",
    "voting_thresholds",
]

# Kinds whose integer statistic fires when at most T (small sum = confident, low entropy).
LOW_FIRES = frozenset(k.value for k, r in RULES.items() if r.low_fires)
# Kinds whose statistic needs the per-exit lookup-table params (logit_scale, frac_bits, ...).
TABLE_KINDS = frozenset(k.value for k, r in RULES.items() if r.uses_table)


def _kind(kind: str | PolicyKind) -> str:
    return rule(kind).kind.value


@dataclass(frozen=True)
class PolicySpec:
    """A policy with its per-exit thresholds (one per non-final exit) and parameters."""

    kind: str
    thresholds: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.kind))
        values = tuple(float(t) for t in self.thresholds)
        if any(math.isnan(t) for t in values):
            raise ValueError(f"thresholds must not be NaN: {values}")
        object.__setattr__(self, "thresholds", values)
        if self.rule.uses_table and "logit_scale" not in self.params:
            raise ValueError(
                f"policy {self.kind} needs params['logit_scale'] (one per exit); build the "
                "params with quant.fixedpoint.lut_params(outputs.logit_scale)"
            )

    @property
    def rule(self) -> PolicyRule:
        """The kind's behaviour (exitflow.core.rules)."""
        return rule(self.kind)

    @property
    def num_exits(self) -> int:
        return len(self.thresholds) + 1

    def exit_params(self, e: int) -> dict[str, Any]:
        """Params of exit e alone (per-exit lists reduced to that exit's scalar)."""
        if not self.rule.uses_table:
            return dict(self.params)
        p = self.params
        scales = list(p["logit_scale"])
        shifts = list(p.get("lut_shift", [0] * len(scales)))
        return {
            "logit_scale": float(scales[e]),
            "frac_bits": int(p.get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS)),
            "log_bits": int(p.get("log_bits", fixedpoint.DEFAULT_LOG_BITS)),
            "lut_shift": int(shifts[e]),
        }


def never_threshold(kind: str | PolicyKind) -> float:
    """The threshold that disables an exit: +inf, or -inf for entropy."""
    return rule(kind).never()


def init_state(kind: str | PolicyKind, n: int, num_classes: int) -> State:
    """The state a frame enters exit 0 with."""
    return rule(kind).init_state(n, num_classes)


def integer_threshold(kind: str | PolicyKind, t: float, params: dict | None = None) -> int | None:
    """The integer constant T the statistic is compared with; None: the exit never fires."""
    r, t = rule(kind), float(t)
    if math.isnan(t):
        raise ValueError("a threshold must not be NaN")
    return r.integer_threshold(t, params)


def threshold_for(kind: str | PolicyKind, value: int, params: dict | None = None) -> float:
    """The threshold t whose integer constant is `value` (inverse of integer_threshold)."""
    return rule(kind).threshold_for(value, params)


def _check_logits_e(logits_e: np.ndarray) -> np.ndarray:
    x = np.asarray(logits_e)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"logits of one exit must be [N, C] with C >= 1, got shape {x.shape}")
    if x.size and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"logits must be integers (the accumulator lattice), got {x.dtype}")
    return x.astype(np.int64, copy=False)


def statistic(
    kind: str | PolicyKind, logits_e: np.ndarray, state: State | None, params: dict | None = None
) -> tuple[np.ndarray, State]:
    """(S int64 [N], new state) of one exit; params are that exit's (PolicySpec.exit_params)."""
    r, x = rule(kind), _check_logits_e(logits_e)
    state = r.init_state(*x.shape) if state is None else state
    return r.statistic(x, state, params or {})


def fires(kind: str | PolicyKind, stat: np.ndarray, t_int: int | None) -> np.ndarray:
    """Compare statistics with the integer constant (None: never fires)."""
    stat = np.asarray(stat, dtype=np.int64)
    if t_int is None:
        return np.zeros(stat.shape, dtype=bool)
    return rule(kind).fires(stat, t_int)


def decide(
    kind: str | PolicyKind,
    logits_e: np.ndarray,
    threshold: float,
    state: State | None = None,
    params: dict | None = None,
) -> tuple[np.ndarray, State]:
    """One exit step, what a hardware decision unit computes: (fire bool [N], new state)."""
    stat, new_state = statistic(kind, logits_e, state, params)
    return fires(kind, stat, integer_threshold(kind, threshold, params)), new_state


def exit_prediction(kind: str | PolicyKind, logits_e: np.ndarray, new_state: State) -> np.ndarray:
    """Class output if this exit fires: argmax of the logits (voting: of the votes so far)."""
    return rule(kind).prediction(logits_e, new_state)


def _check_logits(logits: np.ndarray, spec: PolicySpec) -> np.ndarray:
    x = np.asarray(logits)
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"logits must be [N, E, C] with E, C >= 1, got shape {x.shape}")
    if x.shape[1] != spec.num_exits:
        raise ValueError(
            f"the policy has {len(spec.thresholds)} thresholds, so it needs {spec.num_exits} "
            f"exits, but the logits have {x.shape[1]}: give one threshold per non-final exit"
        )
    if spec.rule.uses_table and len(spec.params["logit_scale"]) != x.shape[1]:
        raise ValueError(
            f"params['logit_scale'] has {len(spec.params['logit_scale'])} entries, "
            f"the logits {x.shape[1]} exits"
        )
    return x


def exit_statistics(
    logits: np.ndarray, kind: str | PolicyKind, params: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(S int64 [N, E], class output int64 [N, E]) of every exit, whatever fired before."""
    x = np.asarray(logits)
    if x.ndim != 3:
        raise ValueError(f"logits must be [N, E, C], got shape {x.shape}")
    n, num_exits, c = x.shape
    probe = PolicySpec(kind, (0.0,) * (num_exits - 1), dict(params or {}))
    _check_logits(x, probe)
    stats = np.zeros((n, num_exits), np.int64)
    preds = np.zeros((n, num_exits), np.int64)
    state = init_state(probe.kind, n, c)
    for e in range(num_exits):
        stats[:, e], state = statistic(probe.kind, x[:, e], state, probe.exit_params(e))
        preds[:, e] = exit_prediction(probe.kind, x[:, e], state)
    return stats, preds


def exit_mask(logits: np.ndarray, spec: PolicySpec) -> np.ndarray:
    """bool [N, E]: True where exit e fires (decided from exits 0..e); the last always fires."""
    x = _check_logits(logits, spec)
    n, num_exits, c = x.shape
    mask = np.ones((n, num_exits), dtype=bool)
    state = init_state(spec.kind, n, c)
    for e in range(num_exits - 1):
        mask[:, e], state = decide(
            spec.kind, x[:, e], spec.thresholds[e], state, spec.exit_params(e)
        )
    return mask


def apply_policy(logits: np.ndarray, spec: PolicySpec) -> tuple[np.ndarray, np.ndarray]:
    """(exit index int64 [N], class int64 [N]): the first exit that fires and its class output."""
    x = _check_logits(logits, spec)
    mask = exit_mask(x, spec)
    exit_index = np.argmax(mask, axis=1).astype(np.int64)  # first True; the last is always True
    _, preds = exit_statistics(x, spec.kind, spec.params)
    return exit_index, preds[np.arange(x.shape[0]), exit_index]


def threshold_to_json(t: float) -> float | str:
    """A threshold as strict JSON: infinities become the strings "inf" / "-inf"."""
    return t if math.isfinite(t) else ("inf" if t > 0 else "-inf")


def threshold_from_json(value: Any, where: str = "policy") -> float:
    """Inverse of threshold_to_json, naming `where` in the error."""
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: thresholds must be numbers or 'inf'/'-inf', got {value!r}")
    return float(value)


def policy_dict(spec: PolicySpec) -> dict[str, Any]:
    """JSON-ready description, with the integer constants hardware compares against."""
    ints = [
        integer_threshold(spec.kind, t, spec.exit_params(e)) for e, t in enumerate(spec.thresholds)
    ]
    return {
        "kind": spec.kind,
        "thresholds": [threshold_to_json(t) for t in spec.thresholds],
        "params": spec.params,
        "integer_thresholds": ints,  # null: this exit never fires
        "fires_when": "S <= T" if spec.rule.low_fires else "S >= T",
    }


def save_policy(spec: PolicySpec, path: str | Path, extra: dict | None = None) -> Path:
    """Write the policy (plus optional extra keys, e.g. calibration figures) as JSON, atomically."""
    data = policy_dict(spec)
    clash = set(extra or {}) & set(data)
    if clash:
        raise ValueError(f"extra keys {sorted(clash)} would overwrite the policy itself")
    return write_json(path, {**data, **(extra or {})})


def load_policy(path: str | Path) -> PolicySpec:
    """Read a policy written by save_policy (integer_thresholds are recomputed, not trusted)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `exitflow calibrate` first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "kind" not in data or "thresholds" not in data:
        raise ValueError(f"{path} is not a policy file: it needs 'kind' and 'thresholds'")
    thresholds = tuple(threshold_from_json(v, str(path)) for v in data["thresholds"])
    try:
        return PolicySpec(data["kind"], thresholds, dict(data.get("params") or {}))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
