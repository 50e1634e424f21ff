"""Throughput and accuracy of a design on three streams of the test frames (issue: a floor that
holds under adversarial load): the test set as it comes, the **no-exit** stream (the same
frames, every one continuing by policy: an input crafted so that nothing exits, DeepSloth's
case) and **hard bursts** (the same frames reordered so that the ones the policy sends to the
last exit arrive in runs, longer than the deepest conditional buffer holds).

Each stream runs with the run's arrival process and the design as built (load shedding where it
sheds). Accuracy: a frame takes its exit's class as the decision units give it (the reference's
`pred`), a frame forced out by load shedding the top-1 of the exit it left at, and the no-exit
stream's frames (which reach the last exit by construction) the final exit's top-1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from exitflow.core.outputs import Outputs
from exitflow.sim.analysis import throughput_fps
from exitflow.sim.decisions import never_exit
from exitflow.sim.model import Model
from exitflow.sim.run import simulate

__all__ = ["BURST_OVER_BUFFER", "STREAMS", "hard_burst_order", "stream_figures"]

BURST_OVER_BUFFER = 2  # a burst of hard frames is this many times the deepest buffer's frames
# the streams by their key in the figures, with the name a report gives them
STREAMS = {"test": "test set", "no_exit": "no exit by policy", "hard_bursts": "hard bursts"}


def hard_burst_order(exit_index: np.ndarray, burst: int) -> np.ndarray:
    """A permutation of the frames: runs of `burst` frames that leave at the last exit, each
    followed by the other frames in the proportion the stream has them (both in their order)."""
    last = int(exit_index.max()) if len(exit_index) else 0
    hard = np.flatnonzero(exit_index == last)
    easy = np.flatnonzero(exit_index != last)
    if not len(hard) or not len(easy):
        return np.arange(len(exit_index))
    per_burst = burst * len(easy) / len(hard)
    order, e = [], 0
    for k, start in enumerate(range(0, len(hard), burst)):
        order.append(hard[start : start + burst])
        upto = min(len(easy), math.ceil((k + 1) * per_burst))
        order.append(easy[e:upto])
        e = upto
    order.append(easy[e:])
    return np.concatenate(order)


def _figures(model: Model, r: Any, classes: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    n = len(labels)
    forced = np.asarray(r.forced, dtype=bool)
    forced = forced if forced.shape == (n,) else np.zeros(n, bool)
    counts = np.bincount(np.asarray(r.exit_index), minlength=model.num_exits).astype(float)
    return {
        "frames": n,
        "fps": throughput_fps(r, model.clock_mhz),
        "accuracy": float(np.mean(classes == labels)),
        "forced": int(forced.sum()),
        "exit_fractions": (counts / max(n, 1)).tolist(),
    }


def _classes(r: Any, logits: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Each frame's class: the reference's, or the top-1 where load shedding forced it out."""
    n = len(pred)
    forced = np.asarray(r.forced, dtype=bool)
    if forced.shape != (n,):
        return pred
    top1 = np.argmax(logits[np.arange(n), np.asarray(r.exit_index)], axis=1)
    return np.where(forced, top1, pred)


def stream_figures(
    model: Model,
    outputs: Outputs,
    exit_index: np.ndarray,
    pred: np.ndarray,
    arrival: np.ndarray,
    test: Any = None,
) -> dict[str, Any]:
    """fps, accuracy, forced frames and exit fractions of the model on the three streams of
    the first len(exit_index) frames of `outputs` (module docstring); `test`: the test
    stream's run when the caller has it."""
    n = len(exit_index)
    logits, labels = outputs.logits[:n], outputs.labels[:n]
    out: dict[str, Any] = {"arrival_cycles_first_last": [int(arrival[0]), int(arrival[-1])]}
    test = test if test is not None else simulate(model, exit_index, arrival)
    out["test"] = _figures(model, test, _classes(test, logits, pred), labels)
    worst = simulate(model, never_exit(n, model.num_exits), arrival)
    final = np.argmax(logits[:, -1], axis=1)
    out["no_exit"] = _figures(model, worst, _classes(worst, logits, final), labels)
    depth = max((s.cbuf.depth_frames for s in model.segments if s.cbuf), default=1)
    burst = BURST_OVER_BUFFER * depth
    order = hard_burst_order(exit_index, burst)
    r = simulate(model, exit_index[order], arrival)
    out["hard_bursts"] = {
        **_figures(model, r, _classes(r, logits[order], pred[order]), labels[order]),
        "burst_frames": burst,
    }
    out["shedding"] = bool(model.shedding)
    return out
