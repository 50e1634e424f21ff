"""Measured beat schedules (NodeTiming.from_schedule, what sim/ learns from the RTL) keep the two
engines equal, and the schedule's derived constants are the ones docs/simulator.md defines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sim_engines import model, workload

from exitflow.sim.model import Model, ModelError, NodeTiming
from exitflow.sim.run import simulate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scheduled(draw, t: NodeTiming, freeze: bool = False) -> NodeTiming:
    """A bursty measured-like schedule with t's beat counts: random gaps, a random pipeline."""
    rg = draw(st.lists(st.integers(1, 5), min_size=t.in_beats - 1, max_size=t.in_beats - 1))
    wg = draw(st.lists(st.integers(1, 5), min_size=t.out_beats - 1, max_size=t.out_beats - 1))
    ins = np.concatenate([[0], np.cumsum(rg)]).astype(np.int64) + draw(st.integers(0, 9))
    first = int(ins[0]) + draw(st.integers(1, 2 * int(ins[-1] - ins[0]) + 3))
    outs = first + np.concatenate([[0], np.cumsum(wg)]).astype(np.int64)
    outs += max(0, int(ins[-1]) + 1 - int(outs[-1]))  # the last write after the last read
    span = max(int(ins[-1] - ins[0]), int(outs[-1] - outs[0]))
    starved = None
    if draw(st.booleans()):  # a starved frame too: anchors, catch-up reads, its latencies
        sg = draw(st.lists(st.integers(1, 9), min_size=t.in_beats - 1, max_size=t.in_beats - 1))
        s_ins = np.concatenate([[0], np.cumsum(sg)]).astype(np.int64)
        s_first = draw(st.integers(1, 2 * int(s_ins[-1]) + 3))
        s_outs = s_first + np.concatenate([[0], np.cumsum(wg)]).astype(np.int64)
        starved = (s_ins, s_outs)
    ii = span + draw(st.integers(1, 6))
    steady = paired = None
    if draw(st.booleans()):  # steady reads: some at once, then held (after the last frame's)
        hg = draw(st.lists(st.integers(1, 12), min_size=t.in_beats - 1, max_size=t.in_beats - 1))
        steady = draw(st.integers(1, 9)) + np.concatenate([[0], np.cumsum(hg)])
        if draw(st.booleans()):  # and fed by its writer: some held less
            sh = st.integers(-9, 3)
            paired = steady + draw(st.lists(sh, min_size=t.in_beats, max_size=t.in_beats))
    # writes catching up after a hold, by up to `slack` cycles
    slack = draw(st.integers(1, 9)) if draw(st.booleans()) else 0
    # reads stopping behind its held writes (a one-node stage's only), s cycles in
    s = draw(st.integers(0, 12)) if freeze and draw(st.booleans()) else None
    # reads that never catch up on their saturated gaps after a hold (measured read slack 0)
    rs = 0 if draw(st.booleans()) else None
    # reads held behind a given write of their frame (measured held_reads), with or without s
    held = None
    if freeze and t.in_beats > 1 and draw(st.booleans()):
        one = st.tuples(
            st.integers(1, t.in_beats - 1), st.integers(0, t.out_beats - 1), st.integers(1, 12)
        )
        held = draw(st.lists(one, min_size=1, max_size=3))
    return NodeTiming.from_schedule(
        t.name, ins, outs, ii, starved=starved, steady=steady, paired=paired, slack=slack,
        freeze=s, read_slack=rs, held=held,
    )  # fmt: skip


@st.composite
def scheduled_model(draw) -> Model:
    m = draw(model())
    segs = []
    for s in m.segments:
        one = len(s.stage) == 1
        stage = tuple(draw(scheduled(n, one)) if draw(st.booleans()) else n for n in s.stage)
        branch = tuple(draw(scheduled(n)) if draw(st.booleans()) else n for n in s.branch)
        segs.append(replace(s, stage=stage, branch=branch))
    return replace(m, segments=tuple(segs))


@SETTINGS
@given(data=st.data())
def test_engines_equal_with_measured_schedules(data):
    m = data.draw(scheduled_model())
    ex, arrival = data.draw(workload(m))
    fast = simulate(m, ex, arrival, engine="fast")
    assert fast.timing_equal(simulate(m, ex, arrival, engine="stepper")) == []


def test_schedule_constants_and_an_unstalled_run():
    # reads at 0, 1, 5 (a burst, then a gap); writes at 3 and 9; one frame per 12 cycles
    t = NodeTiming.from_schedule("n", [10, 11, 15], [13, 19], 12)
    assert t.in_off.tolist() == [0, 1, 5] and t.out_off.tolist() == [3, 9]
    assert (t.rgap0, t.wgap0, t.latency, t.inflight) == (7, 6, 9, 1)
    assert t.dep.tolist() == [1, 2] and t.dlat.tolist() == [2, 4]
    even = NodeTiming.make("n", 3, 2, 12, 9)
    assert even.in_off.tolist() == [0, 4, 8]  # even pacing reads the same beats otherwise


@pytest.mark.parametrize(
    ("ins", "outs", "ii", "what"),
    [
        ([0, 0, 1], [2], 5, "strictly increasing"),
        ([0, 1], [0, 3], 5, "first write"),
        ([0, 3], [1, 2], 5, "last write"),
        ([0, 6], [7], 5, "must exceed"),
    ],
)
def test_impossible_schedules_are_refused(ins, outs, ii, what):
    with pytest.raises(ModelError, match=what):
        NodeTiming.from_schedule("n", ins, outs, ii)


def test_starved_schedule_constants():
    # saturated: reads 0..3 back to back, writes at 6 and 7, a frame per 10 cycles; starved
    # (one read every 3 cycles): the first write 2 cycles after the last read, not 3
    t = NodeTiming.from_schedule("n", [0, 1, 2, 3], [6, 7], 10, starved=([0, 3, 6, 9], [11, 12]))
    assert t.dep.tolist() == [3, 3] and t.dlat.tolist() == [2, 3]
    assert t.anchor.tolist() == [6, 7] and t.read_anchor.tolist() == [0, 1, 2, 3]
    assert (t.rgap0, t.ranchor, t.in_off.tolist()) == (6, 10, [0, 1, 2, 3])
    # worked by hand, two frames back to back: reads 1-4, writes max(4 + 2, 1 + 6) = 7, 8;
    # frame 1 reads from max(4 + rgap0, 1 + ranchor) = 11, writes max(14 + 2, 11 + 6) = 17;
    # the head reads 8, 9 | 18, 19 and writes 10 | 20; the merge emits 11 | 21
    m = _one_node(t)
    for engine in ("fast", "stepper"):
        r = simulate(m, np.zeros(2, np.int64), engine=engine)
        assert (r.start.tolist(), r.finish.tolist()) == ([1, 11], [11, 21]), engine


def test_reads_keep_their_saturated_gaps_with_read_slack_0():
    # saturated reads 0, 1, 5, 6 (a gap of 4 before read 2), starved one every 3 cycles; the
    # node's input FIFO is fed by a DMA (1 word / cycle). Without a measured read slack the
    # reads are paced at the fastest gap (1) and anchored to the frame's first read; with
    # read slack 0 they keep the saturated gaps after any read, as the RTL pairs do
    sat, starved = [0, 1, 5, 6], ([0, 3, 6, 9], [11, 12])
    fastest = NodeTiming.from_schedule("n", sat, [8, 9], 12, starved=starved)
    kept = NodeTiming.from_schedule("n", sat, [8, 9], 12, starved=starved, read_slack=0)
    assert fastest.in_off.tolist() == [0, 1, 2, 3] and kept.in_off.tolist() == sat
    assert kept.read_anchor.tolist() == sat  # the anchor stays as it was


def test_steady_reads_hold_the_next_frame():
    # steady: the next frame's reads 1, 2, 8, 9 cycles after the last frame's last read,
    # sooner (5, 6, 7, 7) fed as in the top: read j waits until the smaller after it
    t = NodeTiming.from_schedule("n", [0, 1, 2, 3], [6, 12], 10, steady=[1, 2, 8, 9],
                                 paired=[5, 6, 7, 7])  # fmt: skip
    assert t.rback.tolist() == [1, 2, 7, 7] and t.rgap0 == 1 and t.inflight == 2
    # worked by hand: frame 0 reads 1-4, writes 7, 13; frame 1 reads 5, 6, then held until
    # 4 + 7 = 11 (4 cycles counted as full), 12; writes max(12 + 3, 13 + 4) = 17, 23; the
    # head reads 8, 14 | 18, 24, writes 15 | 25; the merge emits 16 | 26
    m = _one_node(t)
    for engine in ("fast", "stepper"):
        r = simulate(m, np.zeros(2, np.int64), engine=engine)
        assert (r.start.tolist(), r.finish.tolist()) == ([1, 5], [16, 26]), engine
        assert r.stalls["n"]["full"] == 4, engine


def test_writes_catch_up_by_their_slack():
    # write 2 held until 10 (2 late on its pattern 0, 4, 8, 20, 24); with slack 5 and gap 1 the
    # next writes may run 5 ahead of the latest pattern seen: 2 + 20 - 5 = 17, 2 + 24 - 5 = 21
    from exitflow.sim.fast_rows import _cumsolve_slack, _sequential

    c, off = np.array([0, 0, 10, 0, 0]), np.array([0, 4, 8, 20, 24])
    assert _cumsolve_slack(c, off, np.empty(5, np.int64), 5, 1).tolist() == [0, 1, 10, 17, 21]
    assert _sequential(c, off, [], 0, (5, 1)).tolist() == [0, 1, 10, 17, 21]
    assert _cumsolve_slack(c, off, np.empty(5, np.int64), 0, 1).tolist() == [0, 4, 10, 22, 26]


def test_freeze_constants():
    # writes 2, 3, 5, 6 (the previous frame's at -6, -5, -3, -2), s = 1: reads 0 and 1, whose
    # last write before them is the previous frame's 3, wait for it by their distance (2, 3:
    # s counts only behind this frame's writes); read 2 (this frame's write 0 at 2 before it)
    # for the last write 1 cycle before it, the previous frame's 3, by 3 (4 - 1), read 3 for
    # this frame's write 0 by 1 (its distance 1 less s, at least 1)
    t = NodeTiming.from_schedule("n", [0, 1, 2, 3], [2, 3, 5, 6], 8, freeze=1)
    assert t.fzk.tolist() == [3, 3, 3, 4] and t.fzd.tolist() == [2, 3, 3, 1]
    m = _one_node(t)
    r = [simulate(m, np.zeros(3, np.int64), engine=e) for e in ("fast", "stepper")]
    assert r[0].timing_equal(r[1]) == []


def _one_node(t: NodeTiming) -> Model:
    """A one-exit design: t as the stage, a one-beat-per-cycle head."""
    from exitflow.sim.model import Link, Segment

    head = NodeTiming.make("head", t.out_beats, 1, t.out_beats, t.out_beats)
    seg = Segment(0, (t,), (None,), (head,), (Link("t->head", 2),), None, None)
    return Model((seg,), 100.0)
