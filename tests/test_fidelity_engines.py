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
def scheduled(draw, t: NodeTiming) -> NodeTiming:
    """A bursty measured-like schedule with t's beat counts: random gaps, a random pipeline."""
    rg = draw(st.lists(st.integers(1, 5), min_size=t.in_beats - 1, max_size=t.in_beats - 1))
    wg = draw(st.lists(st.integers(1, 5), min_size=t.out_beats - 1, max_size=t.out_beats - 1))
    ins = np.concatenate([[0], np.cumsum(rg)]).astype(np.int64) + draw(st.integers(0, 9))
    first = int(ins[0]) + draw(st.integers(1, 2 * int(ins[-1] - ins[0]) + 3))
    outs = first + np.concatenate([[0], np.cumsum(wg)]).astype(np.int64)
    outs += max(0, int(ins[-1]) + 1 - int(outs[-1]))  # the last write after the last read
    span = max(int(ins[-1] - ins[0]), int(outs[-1] - outs[0]))
    return NodeTiming.from_schedule(t.name, ins, outs, span + draw(st.integers(1, 6)))


@st.composite
def scheduled_model(draw) -> Model:
    m = draw(model())
    segs = []
    for s in m.segments:
        stage = tuple(draw(scheduled(n)) if draw(st.booleans()) else n for n in s.stage)
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
