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

State = dict[str, np.ndarray]

# Kinds whose integer statistic fires when at most T (small sum = confident, low entropy).
LOW_FIRES = frozenset({PolicyKind.MAX_SOFTMAX.value, PolicyKind.ENTROPY.value})
# Kinds whose statistic needs the per-exit lookup-table params (logit_scale, frac_bits, ...).
TABLE_KINDS = LOW_FIRES
INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)


def _kind(kind: str | PolicyKind) -> str:
    try:
        return PolicyKind(kind).value
    except ValueError:
        allowed = [k.value for k in PolicyKind]
        raise ValueError(f"unknown policy kind {kind!r}; use one of {allowed}") from None


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
        if self.kind in TABLE_KINDS and "logit_scale" not in self.params:
            raise ValueError(
                f"policy {self.kind} needs params['logit_scale'] (one per exit); build the "
                "params with quant.fixedpoint.lut_params(outputs.logit_scale)"
            )

    @property
    def num_exits(self) -> int:
        return len(self.thresholds) + 1

    def exit_params(self, e: int) -> dict[str, Any]:
        """Params of exit e alone (per-exit lists reduced to that exit's scalar)."""
        if self.kind not in TABLE_KINDS:
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
    return -math.inf if _kind(kind) == PolicyKind.ENTROPY.value else math.inf


def predicted_class(logits_e: np.ndarray) -> np.ndarray:
    """Argmax over the last axis, lowest class index winning ties: int64 [N]."""
    x = np.asarray(logits_e)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"expected [N, C] with C >= 1, got shape {x.shape}")
    return np.argmax(x, axis=1).astype(np.int64)  # numpy returns the first maximum


def init_state(kind: str | PolicyKind, n: int, num_classes: int) -> State:
    """The state a frame enters exit 0 with."""
    kind = _kind(kind)
    if kind == PolicyKind.PATIENCE.value:
        return {"last": np.full(n, -1, np.int64), "run": np.zeros(n, np.int64)}
    if kind == PolicyKind.VOTING.value:
        return {"votes": np.zeros((n, num_classes), np.int64)}
    return {}


def integer_threshold(kind: str | PolicyKind, t: float, params: dict | None = None) -> int | None:
    """The integer constant T the statistic is compared with; None: the exit never fires."""
    kind, t = _kind(kind), float(t)
    if math.isnan(t):
        raise ValueError("a threshold must not be NaN")
    if kind == PolicyKind.MAX_SOFTMAX.value:
        if t == math.inf:
            return None
        if t <= 0:
            return INT64_MAX  # any probability is >= a non-positive t
        frac = int((params or {}).get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS))
        return math.floor(2.0**frac / t + 0.5)
    if kind == PolicyKind.ENTROPY.value:
        if t == -math.inf:
            return None
        if t == math.inf:
            return INT64_MAX
        frac = int((params or {}).get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS))
        return math.floor(t * 2.0**frac + 0.5)
    if t == math.inf:
        return None
    return INT64_MIN if t == -math.inf else math.ceil(t)


def threshold_for(kind: str | PolicyKind, value: int, params: dict | None = None) -> float:
    """The threshold t whose integer constant is `value` (inverse of integer_threshold)."""
    kind = _kind(kind)
    frac = int((params or {}).get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS))
    if kind == PolicyKind.MAX_SOFTMAX.value:
        return 2.0**frac / value  # floor(2^F / (2^F / v) + 1/2) == v: rounding error << 1/2
    if kind == PolicyKind.ENTROPY.value:
        return value / 2.0**frac  # exact: a power-of-two division
    return float(value)


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
    kind, x = _kind(kind), _check_logits_e(logits_e)
    n, c = x.shape
    params = params or {}
    state = init_state(kind, n, c) if state is None else state
    if kind == PolicyKind.MAX_LOGIT.value:
        return (x.max(axis=1) if n else np.zeros(0, np.int64)), state
    if kind == PolicyKind.MARGIN.value:
        if c == 1 or n == 0:
            return np.zeros(n, np.int64), state
        top = np.partition(x, c - 2, axis=1)  # [:, c-2] is the 2nd largest value, [:, c-1] the max
        return top[:, c - 1] - top[:, c - 2], state
    if kind in TABLE_KINDS:
        if "logit_scale" not in params:
            raise ValueError(f"policy {kind} needs this exit's params: logit_scale, frac_bits")
        frac = int(params.get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS))
        shift = int(params.get("lut_shift", 0))
        scale = float(params["logit_scale"])
        if kind == PolicyKind.MAX_SOFTMAX.value:
            return fixedpoint.softmax_sum(x, scale, frac, shift), state
        log_bits = int(params.get("log_bits", fixedpoint.DEFAULT_LOG_BITS))
        return fixedpoint.entropy_fixed(x, scale, frac, shift, log_bits), state
    pred = predicted_class(x) if n else np.zeros(0, np.int64)
    if kind == PolicyKind.PATIENCE.value:
        run = np.where(pred == state["last"], state["run"] + 1, 1).astype(np.int64)
        return run, {"last": pred, "run": run}
    votes = np.array(state["votes"], dtype=np.int64, copy=True)
    if votes.shape != (n, c):
        raise ValueError(f"voting state must be [N, C] = {(n, c)}, got {votes.shape}")
    votes[np.arange(n), pred] += 1
    return (votes.max(axis=1) if n else np.zeros(0, np.int64)), {"votes": votes}


def fires(kind: str | PolicyKind, stat: np.ndarray, t_int: int | None) -> np.ndarray:
    """Compare statistics with the integer constant (None: never fires)."""
    stat = np.asarray(stat, dtype=np.int64)
    if t_int is None:
        return np.zeros(stat.shape, dtype=bool)
    return stat <= t_int if _kind(kind) in LOW_FIRES else stat >= t_int


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
    if _kind(kind) == PolicyKind.VOTING.value:
        return predicted_class(new_state["votes"])
    return predicted_class(logits_e)


def _check_logits(logits: np.ndarray, spec: PolicySpec) -> np.ndarray:
    x = np.asarray(logits)
    if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"logits must be [N, E, C] with E, C >= 1, got shape {x.shape}")
    if x.shape[1] != spec.num_exits:
        raise ValueError(
            f"the policy has {len(spec.thresholds)} thresholds, so it needs {spec.num_exits} "
            f"exits, but the logits have {x.shape[1]}: give one threshold per non-final exit"
        )
    if spec.kind in TABLE_KINDS and len(spec.params["logit_scale"]) != x.shape[1]:
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


def voting_thresholds(delta: float, k: float, num_exits: int) -> tuple[float, ...]:
    """Sun et al. Eq. 23 as integer vote counts: T_e = ceil(delta * (e+1)^k), non-final exits."""
    if not 0 <= k < 1:
        raise ValueError(f"voting_k must be in [0, 1), got {k}")
    # The 1e-9 keeps delta * l^k = 2.0000000001 (float noise) from demanding a third vote.
    return tuple(float(math.ceil(delta * (e + 1) ** k - 1e-9)) for e in range(num_exits - 1))


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
        "fires_when": "S <= T" if spec.kind in LOW_FIRES else "S >= T",
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
