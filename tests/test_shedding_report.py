"""hw.load_shedding at `exitflow simulate` on the tiny design: resolve_shedding applied, and the
report's forced count, no-exit throughput with and without shedding against the baseline's,
and the accuracy kept (forced frames take their exit's own top-1 in export/reference.npz)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from exitflow.config import ProjectConfig
from exitflow.context import RunContext
from exitflow.hw.config import HwConfig
from exitflow.sim.config import SimConfig
from exitflow.step_sim import step_simulate


def _simulate(src: Path, dst: Path, setting: str) -> dict:
    for rel in ("build/hwdesc.json", "export/reference.npz", "calibrate/policy.json"):
        if (src / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / rel, dst / rel)
    cfg = ProjectConfig(
        name="t", sim=SimConfig(frames=300, size_buffers=False), hw=HwConfig(load_shedding=setting)
    )
    return json.loads(
        step_simulate(RunContext(cfg=cfg, run_dir=dst, data_root=dst)).path.read_text()
    )


@pytest.mark.parametrize("setting", ["auto", "enabled", "disabled"])
def test_simulate_reports_load_shedding(tiny_rtl_run, tmp_path, setting) -> None:
    rep = _simulate(tiny_rtl_run, tmp_path, setting)
    sh = rep["load_shedding"]
    assert sh["setting"] == setting
    # the tiny design's no-exit stream runs below the baseline and shedding raises it: auto is on
    assert sh["noexit_fps_without"] < sh["baseline_fps"] < sh["noexit_fps_with"]
    assert sh["enabled"] == (setting != "disabled")
    assert (sh["forced"] > 0) == sh["enabled"]
    # the no-exit figures recomputed from the reference: forced frames at exit 0 keep its top-1
    with np.load(tiny_rtl_run / "export" / "reference.npz") as f:
        logits, labels = f["logits"][:300], f["labels"][:300]
    final = np.mean(np.argmax(logits[:, -1], axis=1) == labels)
    assert sh["accuracy_final_exit"] == pytest.approx(final)
    assert sum(sh["noexit_forced_per_exit"]) == sh["noexit_forced"] > 0
    assert sh["accuracy_kept"] != sh["accuracy_final_exit"]
    # without shedding the no-exit check keeps describing the plain design
    assert rep["noexit_fps"] == pytest.approx(sh["noexit_fps_without"], rel=0.05)
    md = (tmp_path / "sim" / "report.md").read_text()
    assert f"load shedding ({setting})" in md and "accuracy kept" in md
