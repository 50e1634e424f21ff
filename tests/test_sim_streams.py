"""The report's three streams (sim.streams): the test set, the no-exit stream and hard bursts,
each with throughput and accuracy, on a two-exit model whose stage 1 is the bottleneck."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_shedding_sim import _two_exit

from exitflow.core.outputs import Outputs
from exitflow.sim.analysis import throughput_fps
from exitflow.sim.run import simulate
from exitflow.sim.streams import hard_burst_order, stream_figures


@given(
    exits=st.lists(st.integers(0, 2), min_size=1, max_size=60),
    burst=st.integers(1, 9),
)
def test_hard_burst_order_is_a_permutation_with_runs_of_hard_frames(exits, burst):
    ex = np.asarray(exits, np.int64)
    order = hard_burst_order(ex, burst)
    assert sorted(order.tolist()) == list(range(len(ex)))
    last = ex.max()
    hard = order[ex[order] == last]
    easy = order[ex[order] != last]
    # each kind keeps its own order
    assert (np.diff(hard) > 0).all() and (np.diff(easy) > 0).all()
    if (ex == last).all() or (ex != last).all():
        return
    # hard frames come in runs of `burst`, or of several bursts where easy frames are too few
    # to separate them all (the last run may be shorter)
    runs, k = [], 0
    for f in order:
        if ex[f] == last:
            k += 1
        elif k:
            runs.append(k)
            k = 0
    runs += [k] if k else []
    assert all(r % burst == 0 for r in runs[:-1]) and runs[-1] > 0
    if (ex != last).sum() >= -(-(ex == last).sum() // burst):  # an easy frame per burst
        assert all(r == burst for r in runs[:-1]) and runs[-1] <= burst


def _outputs(n: int, rng: np.random.Generator) -> tuple[Outputs, np.ndarray, np.ndarray]:
    """Random logits; the policy sends every third frame to the last exit; labels so that the
    last exit is always right and exit 0 right on half of the frames."""
    logits = rng.integers(-50, 50, size=(n, 2, 4))
    labels = np.argmax(logits[:, 1], axis=1)
    logits[::2, 0] = logits[::2, 1]  # exit 0 right on even frames
    ex = np.where(np.arange(n) % 3 == 2, 1, 0).astype(np.int64)
    pred = np.argmax(logits[np.arange(n), ex], axis=1)
    out = Outputs(logits, labels, np.ones(2), np.array([10, 20]), 20, ex, pred)
    return out, ex, pred


def test_three_streams_without_shedding_keep_the_policy_accuracy():
    n = 240
    out, ex, pred = _outputs(n, np.random.default_rng(0))
    m = replace(_two_exit(4), shedding=False)
    arrival = np.zeros(n, np.int64)
    st_ = stream_figures(m, out, ex, pred, arrival)
    policy_acc = float(np.mean(pred == out.labels))
    assert st_["test"]["accuracy"] == st_["hard_bursts"]["accuracy"] == policy_acc
    assert st_["no_exit"]["accuracy"] == 1.0  # the last exit is always right here
    assert st_["test"]["forced"] == st_["no_exit"]["forced"] == st_["hard_bursts"]["forced"] == 0
    # a third of the frames reach stage 1 (40 cycles): ~120 cycles per 3 frames; no exit: 40 each
    assert st_["no_exit"]["fps"] < 0.5 * st_["test"]["fps"]
    assert st_["hard_bursts"]["burst_frames"] == 8
    # the same run as the pipeline's, when the caller passes it
    again = stream_figures(m, out, ex, pred, arrival, test=simulate(m, ex, arrival))
    assert again["test"] == st_["test"]


def test_three_streams_with_shedding_score_forced_frames_at_their_exit():
    n = 240
    out, ex, pred = _outputs(n, np.random.default_rng(1))
    m = _two_exit(4)
    # a frame every 14 cycles: stage 1 (40 cycles) keeps up with a third of them, not with
    # bursts of 8 (twice the buffer's 4 frames)
    arrival = np.arange(n, dtype=np.int64) * 14
    st_ = stream_figures(m, out, ex, pred, arrival)
    assert st_["shedding"] and st_["test"]["forced"] == 0
    worst, bursts = st_["no_exit"], st_["hard_bursts"]
    assert worst["forced"] > 0 and bursts["forced"] > 0
    r = simulate(m, np.ones(n, np.int64), arrival)
    top1 = np.argmax(out.logits[np.arange(n), r.exit_index], axis=1)
    assert worst["accuracy"] == float(np.mean(top1 == out.labels)) < 1.0
    plain = simulate(replace(m, shedding=False), np.ones(n, np.int64), arrival)
    assert worst["fps"] > 2 * throughput_fps(plain, m.clock_mhz)  # shedding keeps the pace
