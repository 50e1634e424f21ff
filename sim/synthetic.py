"""Reference outputs with chosen exit rates, to drive the simulator without a trained model.

For tests and the benchmark's fallback: integer logits whose top-1 minus top-2 margin at each
exit is below or above that exit's threshold, so a margin policy exits where intended; the
reference exit and class then come from quant.policies, as `exitflow export` computes them.
"""

from __future__ import annotations

import numpy as np

from exitflow.core.outputs import Outputs
from exitflow.core.policies import PolicySpec, apply_policy


def synthetic_reference(
    n: int,
    thresholds: tuple[int, ...],
    exit_rates: tuple[float, ...],
    num_classes: int = 10,
    exit_macs: tuple[int, ...] | None = None,
    burst: float = 0.0,
    seed: int = 0,
) -> tuple[Outputs, PolicySpec]:
    """(reference Outputs, margin PolicySpec); exit_rates: P(exit e) for every exit, sums to 1.

    burst in [0, 1): probability that a frame repeats the previous frame's exit (runs of hard
    frames stress the conditional buffers more than independent draws).
    """
    num_exits = len(thresholds) + 1
    rates = np.asarray(exit_rates, np.float64)
    if rates.shape != (num_exits,) or not np.isclose(rates.sum(), 1.0):
        raise ValueError(f"exit_rates must give {num_exits} probabilities summing to 1")
    rng = np.random.default_rng(seed)
    target = rng.choice(num_exits, size=n, p=rates)
    if burst > 0:
        repeat = rng.random(n) < burst
        for f in range(1, n):
            if repeat[f]:
                target[f] = target[f - 1]
    labels = rng.integers(0, num_classes, n)
    logits = rng.integers(-40, 1, size=(n, num_exits, num_classes)).astype(np.int64)
    for e in range(num_exits):
        t = thresholds[e] if e < num_exits - 1 else 1
        fire = target == e
        quiet = target > e
        margin = np.where(fire, rng.integers(t, t + 25, n), rng.integers(0, max(t, 1), n))
        margin = np.where(quiet | fire, margin, rng.integers(0, 30, n))
        top = np.where(rng.random(n) < 0.85, labels, rng.integers(0, num_classes, n))
        second = (top + 1 + rng.integers(0, num_classes - 1, n)) % num_classes
        rows = np.arange(n)
        logits[rows, e, second] = 10
        logits[rows, e, top] = 10 + margin
        if num_classes > 2:  # keep the others strictly below the runner-up
            others = np.ones((n, num_classes), bool)
            others[rows, top] = others[rows, second] = False
            logits[:, e][others] = np.minimum(logits[:, e][others], 9)
    spec = PolicySpec("margin", tuple(float(t) for t in thresholds))
    exit_index, pred = apply_policy(logits, spec)
    macs = np.asarray(exit_macs or [1000 * (e + 1) for e in range(num_exits)], np.int64)
    outputs = Outputs(
        logits=logits,
        labels=labels,
        logit_scale=np.full(num_exits, 0.05),
        exit_macs=macs,
        full_macs=int(macs[-1]),
        exit_index=exit_index,
        pred=pred,
    )
    return outputs, spec
