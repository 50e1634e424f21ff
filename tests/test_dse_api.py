"""exitflow.dse's public API resolves and importing it (or the project config, which holds its
section) loads neither FINN nor torch; the dse step is a CLI command outside `exitflow run`."""

from __future__ import annotations

import importlib
import subprocess
import sys


def test_every_public_name_resolves() -> None:
    mod = importlib.import_module("exitflow.dse")
    assert [n for n in mod.__all__ if not hasattr(mod, n)] == []


def test_importing_dse_and_the_config_is_light() -> None:
    code = (
        "import exitflow.dse, exitflow.config, exitflow.dse.config, sys; "
        "heavy = [m for m in ('torch', 'brevitas', 'finn', 'qonnx', 'matplotlib') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_dse_is_a_step_but_not_part_of_the_whole_flow() -> None:
    from exitflow.steps import FLOW, STEPS

    assert "dse" in STEPS and "dse" not in FLOW
    assert STEPS["dse"].writes == ("dse_dir",)
