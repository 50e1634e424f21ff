"""build/rtl/top-<key>/: the cosim step removes earlier settings' generated tops once a new one is
generated, never the current one, never anything else under build/rtl/, and only under the run's
lock (another process holding it keeps every top)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exitflow.config import config_from_dict
from exitflow.rtl_top_dirs import prune_stale_tops
from exitflow.run import Run

CURRENT, STALE = "top-0123456789ab", "top-ba9876543210"


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """A run whose build/rtl/ holds the current top, a stale one and what is not a top."""
    run = Run(config_from_dict({"name": "prune"}), tmp_path / "run")
    rtl = run.layout.top_dir
    for name in (CURRENT, STALE, ".stale-top-fedcba987654-1", "verilator", "top-gated"):
        (rtl / name).mkdir(parents=True)
        (rtl / name / "a.sv").write_text("module a; endmodule\n")
    (rtl / "timing.json").write_text("{}")
    return run


def test_the_stale_top_is_removed_and_the_current_kept(run: Run) -> None:
    rtl = run.layout.top_dir
    assert prune_stale_tops(run, rtl / CURRENT) == [STALE]
    assert (rtl / CURRENT / "a.sv").is_file()
    left = {p.name for p in rtl.iterdir()}
    # a deletion cut short earlier (.stale-top-*) is finished too; the rest is not a top
    assert left == {CURRENT, "timing.json", "top-gated", "verilator"}


def test_under_the_runner_s_lock_the_stale_top_is_removed(run: Run) -> None:
    with run.locked():  # the runner holds it while a step runs: re-entrant
        assert prune_stale_tops(run, run.layout.top_dir / CURRENT) == [STALE]


def test_while_another_process_holds_the_run_every_top_is_kept(run: Run) -> None:
    other = Run(run.cfg, run.run_dir)  # its own lock file descriptor: another holder
    with other.locked():
        assert prune_stale_tops(run, run.layout.top_dir / CURRENT) == []
    assert (run.layout.top_dir / STALE / "a.sv").is_file()
