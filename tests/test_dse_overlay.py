"""The DSE's chosen design as config (dse/overlay.yaml): its exits (hw.keep_exits) and its load
shedding (hw.load_shedding) are what the build makes; and `exitflow dse` does not re-search a
flow.dse run behind the explore step's back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rtl_config

from exitflow.config import ProjectConfig, config_from_dict
from exitflow.core.errors import ConfigError
from exitflow.dse.candidates import Candidate, partition_targets
from exitflow.dse.compose import Topology
from exitflow.dse.overlay import merge, overlay
from exitflow.dse.space import ThresholdPoint
from exitflow.run import Run
from exitflow.step_dse import check_not_explored, dse

TOPO = Topology(2, (0, 1), {"stage0": 100, "stage1": 200, "head0": 10, "head1": 20}, 10)


def _chosen(keep: tuple[int, ...], thresholds: tuple, shedding: bool) -> tuple[Candidate, dict]:
    point = ThresholdPoint(keep, thresholds, (math.inf,), 0.9, 0.8, np.zeros(4, np.int64))
    c = Candidate(point, (1000, 2000), 1.0, depth=8, shedding=shedding)
    folds = {pt: {"folding": {}} for pt in partition_targets(TOPO, keep, c.targets)}
    return c, folds


def test_a_design_without_exit_0_that_sheds_is_built_so() -> None:
    c, folds = _chosen((), ("inf",), shedding=True)
    over = overlay(c, TOPO, folds, 100.0)
    assert over["hw"]["keep_exits"] == [] and over["hw"]["load_shedding"] == "enabled"
    assert over["policy"]["thresholds"] == ["inf"]
    # the tiny design's config with the overlay is a valid build config of that design
    cfg = config_from_dict(merge(tiny_rtl_config(Path("/tmp/unused")), over))
    assert cfg.hw.keep_exits == [] and str(cfg.hw.load_shedding) == "enabled"
    assert cfg.hw.cond_buffer_frames == 8


def test_a_design_keeping_every_exit_without_shedding_says_so() -> None:
    c, folds = _chosen((0,), (350,), shedding=False)
    over = overlay(c, TOPO, folds, 100.0)
    assert over["hw"]["keep_exits"] is None and over["hw"]["load_shedding"] == "disabled"
    base = tiny_rtl_config(Path("/tmp/unused"))
    base["hw"].update(keep_exits=[], load_shedding="enabled")  # the configured design's
    cfg = config_from_dict(merge(base, over))
    assert cfg.hw.keep_exits is None and str(cfg.hw.load_shedding) == "disabled"


def test_exitflow_dse_on_a_flow_dse_run_is_refused_unless_forced(tmp_path: Path) -> None:
    cfg = ProjectConfig(name="explored")
    cfg.flow.dse = True
    run = Run(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match=r"exitflow explore.*--force"):
        dse(run)
    assert not run.layout.dse_dir.exists()  # nothing searched or written
    check_not_explored(Run(cfg, tmp_path / "run", force=True))
    cfg.flow.dse = False
    check_not_explored(Run(cfg, tmp_path / "run"))
