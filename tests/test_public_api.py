"""Each package's public API: every name in __all__ resolves, and importing a package is light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["exitflow", "exitflow.quant", "exitflow.hw", "exitflow.sim", "exitflow.core"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    mod = importlib.import_module(package)

    def defined(name: str) -> bool:  # a name, or a submodule (`from exitflow.core import rules`)
        if hasattr(mod, name):
            return True
        try:
            importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError:
            return False
        return True

    missing = [n for n in mod.__all__ if not defined(n)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("package", ["exitflow", "exitflow.quant", "exitflow.hw", "exitflow.sim"])
def test_importing_a_package_loads_no_heavy_dependency(package: str) -> None:
    code = (
        f"import {package}, sys; "
        "heavy = [m for m in ('torch', 'brevitas', 'finn', 'qonnx', 'matplotlib') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    import exitflow.sim

    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        exitflow.sim.simulat  # noqa: B018
