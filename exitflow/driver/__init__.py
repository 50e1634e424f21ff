"""exitflow's accelerator driver: one API over a board (pynq), the RTL (verilator) and the
cycle simulator (sim). docs/driver.md.

Self-contained for the board: a deploy package copies this folder as `exitflow_driver`, and its
pynq path imports nothing from exitflow (Python 3.10, numpy 1.x, pynq). The verilator and sim
backends import exitflow lazily, in the development environment.

    from exitflow_driver import ExitflowAccelerator      # on the board
    from exitflow.driver import ExitflowAccelerator      # in the repository
"""

from __future__ import annotations

from .accelerator import BACKENDS, ExitflowAccelerator, InferenceResult, steady_state_fps
from .errors import DeviceError, DriverError, ManifestError, MissingFramesError
from .images import load_images
from .manifest import SCHEMA, manifest_from_run, read_manifest, write_manifest

__all__ = [
    "BACKENDS",
    "SCHEMA",
    "DeviceError",
    "DriverError",
    "ExitflowAccelerator",
    "InferenceResult",
    "ManifestError",
    "MissingFramesError",
    "load_images",
    "manifest_from_run",
    "read_manifest",
    "steady_state_fps",
    "write_manifest",
]
