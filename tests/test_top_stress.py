"""The whole generated top under random output back-pressure (issue #10).

No deadlock, no lost, duplicated or reordered frame: every frame's record (exit, class, all
logits) against quant/'s reference outputs (export/reference.npz, brevitas) and every frame id
seen exactly once (cosim raises otherwise), continuing frames leaving in frame order. Three
register schedules over AXI-Lite, on one Verilator build each (a register write changes the
behaviour without a rebuild): (a) exit 0 never fires, (b) exit 0 always fires, (c) the
calibrated threshold on images chosen from the reference so that continuing frames come in
bursts. Each runs on the session fixture's top (depths from the hwdesc) and (d) on a top with
every FIFO and buffer at the shallowest depth generate_top accepts (exitflow.hw.top.depths),
which also refuses anything shallower naming the key and the minimum.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("finn")

from test_top import top  # noqa: F401  (the session fixture: run, top, Verilator model)

from exitflow.core.errors import ConfigError
from exitflow.hw.ops import axilite
from exitflow.hw.top import check_against_reference, cosim, generate_top
from exitflow.hw.top.cosim import build_top_model
from exitflow.hw.top.depths import (
    MIN_CBUF_FRAMES,
    MIN_FIFO_WORDS,
    MIN_ID_FIFO,
    MIN_VERDICT,
    depth_keys,
)

FRAMES = 40
NEVER, ALWAYS = 1 << 20, (-(1 << 20)) & 0xFFFFFFFF  # beyond every margin, both ways
SCHEDULES = ["never", "always", "bursts"]


def _forced(ref: dict[str, np.ndarray], k: int) -> dict[str, np.ndarray]:
    """The reference with every frame leaving at exit k: class = argmax of exit k's logits."""
    out = dict(ref)
    out["exit_index"] = np.full(len(ref["exit_index"]), k)
    out["pred"] = np.argmax(ref["logits"][:, k], axis=1)
    return out


def _bursts(ref: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """n reference images reordered: 2 exiting at exit 0, then 8 continuing, repeated."""
    cont, ex = np.flatnonzero(ref["exit_index"] == 1), np.flatnonzero(ref["exit_index"] == 0)
    idx: list[int] = []
    while len(idx) < n:
        r = len(idx) // 10
        idx += [*ex[2 * r : 2 * r + 2], *cont[8 * r : 8 * r + 8]]
    sel = np.asarray(idx[:n])
    return {k: (v[sel] if v.ndim and len(v) == len(ref["exit_index"]) else v)
            for k, v in ref.items()}  # fmt: skip


def _case(name: str, ref: dict[str, np.ndarray]):
    if name == "never":
        return _forced(ref, 1), [(axilite.threshold_addr(0), NEVER)]
    if name == "always":
        return _forced(ref, 0), [(axilite.threshold_addr(0), ALWAYS)]
    return _bursts(ref, FRAMES), []


def stress(design, model, ref_path, name: str, backpressure: float, seed: int) -> None:
    ref = dict(np.load(ref_path))
    want, writes = _case(name, ref)
    res = cosim(design, want, frames=FRAMES, backpressure=backpressure, seed=seed,
                model=model, reg_writes=writes)  # fmt: skip
    summary = check_against_reference(design, res, want)  # exit, class, logits per frame
    hist = np.bincount(want["exit_index"][:FRAMES], minlength=2).tolist()
    assert summary["exit_histogram"] == hist == res.counters and res.frames_in == FRAMES
    exits = {r.frame: r.exit for r in res.records}
    cont = [f for f in res.output_order if exits[f] == 1]
    assert cont == sorted(cont), f"{name}: continuing frames reordered: {cont}"
    if name == "bursts":
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, want["exit_index"][:FRAMES], 0])))
        assert runs.max() >= 8, "the schedule must put continuing frames back to back"
    else:
        assert res.output_order == list(range(FRAMES))


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("backpressure,seed", [(0.5, 1), (0.9, 2)])
def test_top_under_backpressure(top, name, backpressure, seed) -> None:  # noqa: F811
    _, design, model, ref = top
    stress(design, model, ref, name, backpressure, seed)


@pytest.fixture(scope="module")
def shallow(top, tmp_path_factory):  # noqa: F811
    """The top with every FIFO and buffer at its minimum, and its Verilator model."""
    run_dir, design, _, ref = top
    keys = depth_keys(design.plan)
    least = {k: MIN_FIFO_WORDS for k in keys}
    for e in design.plan.exits:
        least[f"id{e.index}"] = MIN_ID_FIFO
        if e.cbuf:
            least[e.cbuf], least[f"{e.decision}->{e.cbuf}"] = MIN_CBUF_FRAMES, MIN_VERDICT
    n = len(design.plan.exits)
    d = generate_top(run_dir, depths=least, merge_depth=n,
                     out_dir=tmp_path_factory.mktemp("shallow_top"))  # fmt: skip
    assert depth_keys(d.plan) == least
    return d, build_top_model(d), ref, least


@pytest.mark.parametrize("name", SCHEDULES)
def test_top_at_minimum_depths(shallow, name) -> None:
    design, model, ref, _ = shallow
    stress(design, model, ref, name, backpressure=0.7, seed=4)


def test_shallower_than_the_minimum_is_refused(top, tmp_path) -> None:  # noqa: F811
    run_dir, design, _, _ = top
    e = design.plan.exits[0]
    cases = {"stage0->head0": MIN_FIFO_WORDS, "id1": MIN_ID_FIFO, e.cbuf: MIN_CBUF_FRAMES,
             f"{e.decision}->{e.cbuf}": MIN_VERDICT}  # fmt: skip
    for key, least in cases.items():
        with pytest.raises(ConfigError, match=rf"'{key}' has depth {least - 1}.* at least {least}"):
            generate_top(run_dir, depths={key: least - 1}, out_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"merge_depth 1: .* at least one slot per exit \(2\)"):
        generate_top(run_dir, merge_depth=1, out_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown keys \['stage9->head9'\]"):
        generate_top(run_dir, depths={"stage9->head9": 4}, out_dir=tmp_path)
