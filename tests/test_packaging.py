"""The built wheel installs exitflow under one namespace: no top-level `quant`, `hw` or `sim`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# where the source tree maps into the installed package (pyproject's package-dir)
INSTALLED_AS = {
    "exitflow": "exitflow",
    "quant": "exitflow/quant",
    "hw": "exitflow/hw",
    "sim": "exitflow/sim",
}
SHIPPED = ("*.py", "*.sv", "*.v", "*.cpp")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # build from a copy of the tracked sources: setuptools writes build/ next to what it builds
    src = tmp_path_factory.mktemp("src")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell the sources from build outputs")
    for rel in listed.stdout.splitlines():
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, "-w", str(out), str(src)], check=True, capture_output=True)
    (found,) = out.glob("exitflow-*.whl")
    return found


def test_wheel_ships_every_source_file(wheel: Path) -> None:
    """Every module and RTL/harness file of the source tree is in the wheel (a package missing
    from pyproject's list would import in the editable checkout and fail once installed)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"{INSTALLED_AS[top]}/{path.relative_to(REPO / top).as_posix()}"
        for top in INSTALLED_AS
        for pattern in SHIPPED
        for path in (REPO / top).rglob(pattern)
        if "__pycache__" not in path.parts
    }
    assert expected - names == set()


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
