"""`exitflow simulate` on a run directory: artefacts, skip/force, and failing on mismatches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from exitflow.config import ProjectConfig
from exitflow.context import RunContext
from exitflow.core.outputs import save_outputs
from exitflow.core.policies import PolicySpec, save_policy
from exitflow.hw.config import LoadShedding
from exitflow.sim.config import SimConfig
from exitflow.sim.errors import ExitMismatchError
from exitflow.sim.hwdesc import HwDescError
from exitflow.sim.synthetic import synthetic_reference
from exitflow.step_sim import step_simulate

DATA = Path(__file__).parent / "data" / "fmnist3_hwdesc.json"
MACS = (226112, 3839104, 5645440)


@pytest.fixture
def run(tmp_path: Path) -> RunContext:
    (tmp_path / "build").mkdir()
    shutil.copy(DATA, tmp_path / "build" / "hwdesc.json")
    outputs, spec = synthetic_reference(400, (12, 9), (0.55, 0.2, 0.25), exit_macs=MACS, seed=7)
    save_outputs(outputs, tmp_path / "export" / "reference.npz")
    save_policy(spec, tmp_path / "calibrate" / "policy.json")
    sim = SimConfig(frames=300, size_frames=60, trace_window=[20_000, 20_500])
    return RunContext(cfg=ProjectConfig(name="t", sim=sim), run_dir=tmp_path, data_root=tmp_path)


def test_step_writes_every_artefact(run):
    path = step_simulate(run).path
    out = run.run_dir / "sim"
    rep = json.loads(path.read_text())
    assert rep["frames"] == 300 and rep["exit_mismatches"] == 0
    assert abs(rep["noexit_fps_over_finn_estimate"] - 1) < 0.05
    assert rep["headline"]["compute_shares_source"].startswith("macs of each segment")
    assert 0 < rep["fraction_of_bound"] <= 1.0
    assert {b["name"] for b in rep["buffers"]} >= {"cbuf0", "cbuf1", "stage0->head0"}
    assert all("exit_sequence" in b and "worst_case" in b for b in rep["buffers"])
    assert rep["stalls"]["stage0"].keys() == {"blocked", "full", "starved"}
    with np.load(out / "frames.npz") as f:
        assert f["frame"].tolist() == list(range(300))
        assert (f["finish"] > f["start"]).all() and set(f["exit_index"].tolist()) <= {0, 1, 2}
    md = (out / "report.md").read_text()
    assert "0 mismatches" in md and "fraction of the bound" in md
    assert (out / "occupancy.png").stat().st_size > 10_000
    rows = (out / "trace.tsv").read_text().splitlines()
    assert rows[0] == "cycle\tprocess\tevent\tframe\tbeat" and len(rows) > 5
    cycles = [int(r.split("\t")[0]) for r in rows[1:]]
    assert cycles == sorted(cycles) and cycles[0] >= 20_000 and cycles[-1] <= 20_500


def test_step_skips_when_done_unless_forced(run):
    path = step_simulate(run).path
    stamp = path.stat().st_mtime_ns
    step_simulate(run)
    assert path.stat().st_mtime_ns == stamp
    run.force = True
    step_simulate(run)
    assert path.stat().st_mtime_ns != stamp


def test_step_fails_on_a_mismatch_and_leaves_no_report(run):
    step_simulate(run)
    ref = np.load(run.run_dir / "export" / "reference.npz")
    data = {k: ref[k] for k in ref.files}
    data["pred"] = data["pred"].copy()
    data["pred"][5] = (data["pred"][5] + 1) % 10
    np.savez(run.run_dir / "export" / "reference.npz", **data)
    run.force = True
    with pytest.raises(ExitMismatchError, match="frame 5"):
        step_simulate(run)
    sim = run.run_dir / "sim"
    assert not (sim / "report.json").exists()
    assert json.loads((sim / "mismatches.json").read_text())["mismatches"][0]["frame"] == 5


def test_step_refuses_a_build_of_another_policy(run):
    save_policy(PolicySpec("margin", (20, 9)), run.run_dir / "calibrate" / "policy.json")
    with pytest.raises(HwDescError, match="rebuild"):
        step_simulate(run)


def test_step_names_missing_inputs(run):
    (run.run_dir / "build" / "hwdesc.json").unlink()
    with pytest.raises(FileNotFoundError, match="exitflow build"):
        step_simulate(run)


def test_step_names_a_too_small_buffer_and_the_node_it_blocks(run, caplog):
    run.cfg.sim.cond_buffer_frames = 1
    # a shedding buffer never blocks its stage (auto turns shedding on here): size it without
    run.cfg.hw.load_shedding = LoadShedding.DISABLED
    run.cfg.sim.size_frames = run.cfg.sim.frames  # sized on the frames it then runs
    rep = json.loads(step_simulate(run).path.read_text())
    small = {u["buffer"]: u for u in rep["undersized"]}
    assert small["cbuf0"]["depth"] == 1 and small["cbuf0"]["needed"] > 1
    assert small["cbuf0"]["blocked"]["stage0"] > 0
    assert "cbuf0: 1 frames deep" in caplog.text and "stage0 for" in caplog.text
    md = (run.run_dir / "sim" / "report.md").read_text()
    assert "**cbuf0 is too small**" in md
    needed = small["cbuf0"]["needed"]
    assert f"set hw.cond_buffer_frames: {needed} (or more)" in md
    # the fix it names works: that depth in simulation blocks stage0 no more on cbuf0
    run.cfg.sim.cond_buffer_frames = needed
    run.force = True
    rep = json.loads(step_simulate(run).path.read_text())
    assert "cbuf0" not in {u["buffer"] for u in rep["undersized"]}
