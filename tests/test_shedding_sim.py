"""Load shedding in the cycle simulator: both engines shed the same frames on the same cycles.

A shedding conditional buffer stores a frame only if, at the start of the cycle the stage writes
the frame's first beat, it has room for the whole frame; otherwise the frame leaves at that exit
(forced when its policy would have continued) and its verdict goes to the merge alone. The fast
engine (max-plus rows, a look-back over stored frames) and the stepper (the buffer's contents
checked cycle by cycle) implement this independently; Hypothesis compares every cycle count.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from test_sim_engines import model, workload

from exitflow.sim.model import CondBuffer, Link, Model, NodeTiming, Segment
from exitflow.sim.run import simulate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.data())
def test_shedding_engines_equal(data):
    m = replace(data.draw(model()), shedding=True)
    ex, arrival = data.draw(workload(m, max_frames=16))
    fast = simulate(m, ex, arrival, engine="fast")
    ref = simulate(m, ex, arrival, engine="stepper")
    assert fast.timing_equal(ref) == []
    assert (ref.exit_index <= ex).all()
    assert not (ref.forced & (ref.exit_index == ex)).any()
    target(float(ref.forced.sum()))


@SETTINGS
@given(data=st.data())
def test_shedding_with_room_changes_nothing(data):
    """Buffers that always have room shed nothing: the run equals the non-shedding one."""
    m = data.draw(model())
    ex, arrival = data.draw(workload(m, max_frames=10))
    n = len(ex)
    segs = tuple(
        replace(s, cbuf=CondBuffer(s.cbuf.name, s.cbuf.frame_beats, n, n * s.cbuf.frame_beats))
        if s.cbuf is not None
        else s
        for s in m.segments
    )
    big = replace(m, segments=segs)
    plain = simulate(big, ex, arrival, engine="fast")
    shed = simulate(replace(big, shedding=True), ex, arrival, engine="fast")
    assert not shed.forced.any()
    plain.forced = shed.forced
    assert plain.timing_equal(shed) == []


def _two_exit(depth_frames: int) -> Model:
    """Stage 0 at 4 cycles/frame, stage 1 at 40: with no exit, stage 1 is the bottleneck."""
    s0 = NodeTiming.make("s0", 2, 2, 4, 4)
    h0 = NodeTiming.make("h0", 2, 1, 4, 4)
    d0 = NodeTiming.make("d0", 1, 1, 2, 1)
    s1 = NodeTiming.make("s1", 2, 2, 40, 40)
    h1 = NodeTiming.make("h1", 2, 1, 4, 4)
    seg0 = Segment(
        0,
        (s0,),
        (None,),
        (h0, d0),
        (Link("hl0", 2), Link("dl0", 2)),
        Link("v0", 4),
        CondBuffer("cb0", 2, depth_frames, 2 * depth_frames),
    )
    seg1 = Segment(1, (s1,), (Link("in1", 2),), (h1,), (Link("hl1", 2),), None, None)
    return Model((seg0, seg1), 100.0, shedding=True)


def test_adversarial_floor():
    """No frame exits by policy: without shedding the design runs at stage 1's 40 cycles per
    frame; with it, stage 0's pace is kept, frames that find the buffer full leave at exit 0
    forced, and the forced ones are exactly those the stepper sheds."""
    n = 200
    ex = np.ones(n, np.int64)
    m = _two_exit(2)
    shed = simulate(m, ex, engine="stepper")
    fast = simulate(m, ex, engine="fast")
    assert fast.timing_equal(shed) == []
    plain = simulate(replace(m, shedding=False), ex, engine="fast")
    assert plain.cycles > 40 * n
    assert shed.cycles < 10 * n
    kept = int((~shed.forced).sum())
    assert 0 < kept < n and (shed.exit_index[shed.forced] == 0).all()
    # stage 1 takes one frame per 40 cycles while frames come every 4: about a tenth continue
    assert abs(kept - n * 4 / 40) <= 4


def test_resolve_auto_enables_where_it_pays():
    from exitflow.hw.config import HwConfig, LoadShedding
    from exitflow.sim.shedding import resolve_shedding

    # off by default until the RTL top sheds as the simulator does (hw/config.py says why)
    assert HwConfig().load_shedding is LoadShedding.DISABLED
    m = replace(_two_exit(2), shedding=False)
    # baseline at 20 cycles/frame (5 M frames/s at 100 MHz): the no-exit stream runs at 40
    assert resolve_shedding("auto", m, 100e6 / 20, frames=60).shedding
    assert not resolve_shedding("auto", m, 100e6 / 80, frames=60).shedding
    assert resolve_shedding("enabled", m, 1.0).shedding
    assert not resolve_shedding("disabled", replace(m, shedding=True), 1e9).shedding
