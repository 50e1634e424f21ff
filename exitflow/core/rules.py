"""One object per exit-policy kind: its integer statistic, threshold conversions, carried state,
class output and hardware support (numpy only). exitflow.core.policies documents the semantics
and dispatches to these; hw/ and quant/ ask a rule instead of comparing kind strings.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from exitflow.core import fixedpoint
from exitflow.core.kinds import DecisionImpl, PolicyKind

__all__ = ["RULES", "PolicyRule", "State", "predicted_class", "rule"]

State = dict[str, np.ndarray]
INT64_MIN = int(np.iinfo(np.int64).min)
INT64_MAX = int(np.iinfo(np.int64).max)


def predicted_class(logits_e: np.ndarray) -> np.ndarray:
    """Argmax over the last axis, lowest class index winning ties: int64 [N]."""
    x = np.asarray(logits_e)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"expected [N, C] with C >= 1, got shape {x.shape}")
    return np.argmax(x, axis=1).astype(np.int64)  # numpy returns the first maximum


def _frac(params: dict | None) -> int:
    return int((params or {}).get("frac_bits", fixedpoint.DEFAULT_FRAC_BITS))


class PolicyRule:
    """A policy kind's behaviour. Defaults: stateless, fires when S >= T, T = ceil(t)."""

    kind: ClassVar[PolicyKind]
    low_fires: ClassVar[bool] = False  # fires when S <= T (small sum / entropy = confident)
    uses_table: ClassVar[bool] = False  # needs per-exit lookup-table params (logit_scale, ...)
    hw_impls: ClassVar[frozenset[DecisionImpl]] = frozenset()  # decision units hw can build
    rtl_code: ClassVar[int | None] = None  # POLICY parameter of exit_decision.sv (hw/ops)

    def state_width(self, num_classes: int) -> int:
        """Integers a frame carries between decision units."""
        return 0

    def init_state(self, n: int, num_classes: int) -> State:
        """The state a frame enters exit 0 with."""
        return {}

    def statistic(self, x: np.ndarray, state: State, params: dict) -> tuple[np.ndarray, State]:
        """(S int64 [N], new state) of checked int64 logits x [N, C]."""
        raise NotImplementedError

    def integer_threshold(self, t: float, params: dict | None) -> int | None:
        """The constant T that S is compared with; None: never fires."""
        if t == math.inf:
            return None
        return INT64_MIN if t == -math.inf else math.ceil(t)

    def threshold_for(self, value: int, params: dict | None) -> float:
        """The threshold t whose integer constant is `value`."""
        return float(value)

    def never(self) -> float:
        """The threshold that disables an exit."""
        return math.inf

    def fires(self, stat: np.ndarray, t_int: int) -> np.ndarray:
        return stat <= t_int if self.low_fires else stat >= t_int

    def prediction(self, x: np.ndarray, new_state: State) -> np.ndarray:
        """Class output if the exit fires."""
        return predicted_class(x)

    def state_to_array(self, state: State) -> np.ndarray | None:
        """The state as the decision op's state port carries it: int64 [N, width]; None: none."""
        return None

    def state_from_array(self, arr: np.ndarray) -> State:
        """Inverse of state_to_array."""
        return {}

    def default_params(self, logit_scale: Any, patience: int, voting_k: float) -> dict:
        """The params calibration gives this kind (lookup tables, configured constants)."""
        return {}

    def cut_family(self, num_exits: int, params: dict) -> list[np.ndarray] | None:
        """Integer threshold vectors calibration tries, loosest first; None: per-exit quantiles."""
        return None


class MaxLogit(PolicyRule):
    kind = PolicyKind.MAX_LOGIT
    hw_impls = frozenset({DecisionImpl.RTL, DecisionImpl.FINN})
    rtl_code = 0

    def statistic(self, x, state, params):
        return (x.max(axis=1) if len(x) else np.zeros(0, np.int64)), state


class Margin(PolicyRule):
    kind = PolicyKind.MARGIN
    hw_impls = frozenset({DecisionImpl.RTL, DecisionImpl.FINN})
    rtl_code = 1

    def statistic(self, x, state, params):
        n, c = x.shape
        if c == 1 or n == 0:
            return np.zeros(n, np.int64), state
        top = np.partition(x, c - 2, axis=1)  # [:, c-2] is the 2nd largest value, [:, c-1] the max
        return top[:, c - 1] - top[:, c - 2], state


class _Table(PolicyRule):
    low_fires = True
    uses_table = True

    def statistic(self, x, state, params):
        if "logit_scale" not in params:
            raise ValueError(f"policy {self.kind} needs this exit's params: logit_scale, frac_bits")
        return self.table_statistic(
            x, float(params["logit_scale"]), _frac(params), int(params.get("lut_shift", 0)), params
        ), state

    def table_statistic(self, x, scale, frac, shift, params) -> np.ndarray:
        raise NotImplementedError

    def default_params(self, logit_scale, patience, voting_k):
        return fixedpoint.lut_params(logit_scale)


class MaxSoftmax(_Table):
    kind = PolicyKind.MAX_SOFTMAX

    def table_statistic(self, x, scale, frac, shift, params):
        return fixedpoint.softmax_sum(x, scale, frac, shift)

    def integer_threshold(self, t, params):
        if t == math.inf:
            return None
        if t <= 0:
            return INT64_MAX  # any probability is >= a non-positive t
        return math.floor(2.0 ** _frac(params) / t + 0.5)

    def threshold_for(self, value, params):
        return 2.0 ** _frac(params) / value  # floor(2^F / (2^F / v) + 1/2) == v


class Entropy(_Table):
    kind = PolicyKind.ENTROPY

    def table_statistic(self, x, scale, frac, shift, params):
        log_bits = int(params.get("log_bits", fixedpoint.DEFAULT_LOG_BITS))
        return fixedpoint.entropy_fixed(x, scale, frac, shift, log_bits)

    def integer_threshold(self, t, params):
        if t == -math.inf:
            return None
        if t == math.inf:
            return INT64_MAX
        return math.floor(t * 2.0 ** _frac(params) + 0.5)

    def threshold_for(self, value, params):
        return value / 2.0 ** _frac(params)  # exact: a power-of-two division

    def never(self):
        return -math.inf


class Patience(PolicyRule):
    kind = PolicyKind.PATIENCE
    hw_impls = frozenset({DecisionImpl.RTL})

    def state_width(self, num_classes):
        return 2

    def init_state(self, n, num_classes):
        return {"last": np.full(n, -1, np.int64), "run": np.zeros(n, np.int64)}

    def statistic(self, x, state, params):
        pred = predicted_class(x) if len(x) else np.zeros(0, np.int64)
        run = np.where(pred == state["last"], state["run"] + 1, 1).astype(np.int64)
        return run, {"last": pred, "run": run}

    def state_to_array(self, state):
        return np.stack([state["last"], state["run"]], axis=1)

    def state_from_array(self, arr):
        s = np.asarray(arr, dtype=np.int64).reshape(len(arr), 2)
        return {"last": s[:, 0], "run": s[:, 1]}

    def default_params(self, logit_scale, patience, voting_k):
        return {"patience": patience}

    def cut_family(self, num_exits, params):
        return [np.full(num_exits - 1, s, np.int64) for s in range(1, num_exits + 1)]


class Voting(PolicyRule):
    kind = PolicyKind.VOTING
    hw_impls = frozenset({DecisionImpl.RTL})

    def state_width(self, num_classes):
        return num_classes

    def init_state(self, n, num_classes):
        return {"votes": np.zeros((n, num_classes), np.int64)}

    def statistic(self, x, state, params):
        n, c = x.shape
        pred = predicted_class(x) if n else np.zeros(0, np.int64)
        votes = np.array(state["votes"], dtype=np.int64, copy=True)
        if votes.shape != (n, c):
            raise ValueError(f"voting state must be [N, C] = {(n, c)}, got {votes.shape}")
        votes[np.arange(n), pred] += 1
        return (votes.max(axis=1) if n else np.zeros(0, np.int64)), {"votes": votes}

    def prediction(self, x, new_state):
        return predicted_class(new_state["votes"])

    def state_to_array(self, state):
        return state["votes"]

    def state_from_array(self, arr):
        a = np.asarray(arr, dtype=np.int64)
        return {"votes": a.reshape(len(a), -1)}

    def default_params(self, logit_scale, patience, voting_k):
        return {"voting_k": voting_k}

    def cut_family(self, num_exits, params):
        k = float(params["voting_k"])
        deltas = np.linspace(0.0, (num_exits + 1) / num_exits**k, 400)
        return [np.array(voting_thresholds(d, k, num_exits), np.int64) for d in deltas]


def voting_thresholds(delta: float, k: float, num_exits: int) -> tuple[float, ...]:
    """Sun et al. Eq. 23 as integer vote counts: T_e = ceil(delta * (e+1)^k), non-final exits."""
    if not 0 <= k < 1:
        raise ValueError(f"voting_k must be in [0, 1), got {k}")
    # The 1e-9 keeps delta * l^k = 2.0000000001 (float noise) from demanding a third vote.
    return tuple(float(math.ceil(delta * (e + 1) ** k - 1e-9)) for e in range(num_exits - 1))


RULES: dict[PolicyKind, PolicyRule] = {
    r.kind: r for r in (MaxLogit(), Margin(), MaxSoftmax(), Entropy(), Patience(), Voting())
}
assert set(RULES) == set(PolicyKind), "every PolicyKind needs a rule"


def rule(kind: str | PolicyKind) -> PolicyRule:
    """The rule of `kind`; ValueError listing the kinds if there is none."""
    try:
        return RULES[PolicyKind(kind)]
    except ValueError:
        allowed = [k.value for k in PolicyKind]
        raise ValueError(f"unknown policy kind {kind!r}; use one of {allowed}") from None
