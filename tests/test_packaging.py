"""The built wheel installs exitflow under one namespace: no top-level `quant`, `hw` or `sim`."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-w", str(out), str(REPO)], check=True, capture_output=True)
    (found,) = out.glob("exitflow-*.whl")
    return found


def test_wheel_holds_only_the_exitflow_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"exitflow", *(t for t in tops if t.endswith(".dist-info"))}, tops
    for pkg in ("core", "quant", "hw", "sim"):
        assert f"exitflow/{pkg}/__init__.py" in names
    assert "exitflow/hw/ops/exit_decision/exit_decision.sv" in names  # package data travels too


def test_wheel_installs_and_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    # this environment's pip installs into the fresh one (its numpy/pyyaml come from the cache)
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, text=True)
    code = (
        "import importlib.util as u, exitflow.sim, exitflow.core.policies, sys; "
        "assert exitflow.sim.__file__.startswith(sys.prefix), exitflow.sim.__file__; "
        "clash = [m for m in ('quant', 'hw', 'sim') if u.find_spec(m)]; "
        "assert not clash, clash; "
        "assert 'torch' not in sys.modules"
    )
    out = subprocess.run([str(py), "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    site = next((env_dir / "lib").glob("python*/site-packages"))
    ours = {
        p.name
        for p in site.iterdir()
        if p.name.lower().startswith(("exitflow", "quant", "hw", "sim"))
    }
    assert ours == {"exitflow", "exitflow-0.1.0.dist-info"}, ours
