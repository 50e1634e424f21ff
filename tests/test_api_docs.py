"""docs/api.md runs: its python blocks, in order, as one session in an empty directory.

The blocks use the synthetic dataset and the tiny preset (the whole flow, FINN build included,
takes about half a minute on two cores). Besides the asserts the page makes itself, the tests
check the run directory it leaves against what the page says about it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)

pytestmark = pytest.mark.usefixtures("restore_logging")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of a markdown text."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_blocks_are_found_with_their_line_numbers() -> None:
    text = "intro\n```python\nx = 1\n```\ntext\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\nz = 3\n")]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Run every block of docs/api.md in one namespace, in a fresh directory."""
    pytest.importorskip("finn")
    import os

    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 10, "docs/api.md lost its examples"
    workdir = tmp_path_factory.mktemp("apidocs")
    namespace: dict[str, Any] = {"__name__": "api_docs"}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for line, code in blocks:
            try:
                exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
            except BaseException as exc:
                pytest.fail(f"the block at docs/api.md line {line} fails: {exc!r}")
    finally:
        os.chdir(old)
    return workdir, namespace


def test_every_block_runs(session) -> None:
    _, ns = session
    # names the page defines at its start, middle and end: all blocks ran
    assert {"flow", "rebuilt", "what_if", "gated", "main"} <= set(ns)


def test_the_whole_flow_left_a_record_per_step(session) -> None:
    workdir, _ = session
    records = workdir / "runs" / "api-demo" / ".steps"
    import exitflow

    for step in exitflow.FLOW:
        record = json.loads((records / f"{step}.json").read_text())
        assert record["status"] == "done", step
    assert json.loads((records / "accuracy_gate.json").read_text())["status"] == "done"


def test_the_rebuild_really_uses_the_new_policy(session) -> None:
    workdir, ns = session
    from exitflow import RunLayout
    from exitflow.sim.decisions import spec_from_hwdesc
    from exitflow.sim.hwdesc import load_hwdesc

    assert ns["run"].run_dir == Path("runs/api-demo")  # relative to the session's directory
    lay = RunLayout(workdir / "runs" / "api-demo")
    built = spec_from_hwdesc(load_hwdesc(lay.hwdesc))
    assert built is not None and built.kind == "max_logit"
    assert json.loads(lay.policy.read_text())["kind"] == "max_logit"


def test_the_what_if_simulation_wrote_outside_the_run(session) -> None:
    workdir, _ = session
    assert (workdir / "what-if" / "report.json").is_file()
    from exitflow import RunLayout

    sim = json.loads(RunLayout(workdir / "runs" / "api-demo").sim_report.read_text())
    what_if = json.loads((workdir / "what-if" / "report.json").read_text())
    assert sim["policy"] != what_if["policy"]  # a different policy, the run's report unchanged


def test_the_custom_topology_was_trained_as_given(session) -> None:
    workdir, _ = session
    from exitflow.quant.checkpoint import load_model

    model = load_model(workdir / "runs" / "custom" / "train" / "best.pt")
    assert model.num_exits == 2
    assert not (workdir / "runs" / "custom" / "export").exists()  # stop="evaluate"


def test_the_failed_prerequisite_left_nothing_behind(session) -> None:
    workdir, _ = session
    assert not (workdir / "runs" / "empty" / "calibrate").exists()
