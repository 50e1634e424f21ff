"""The driver's errors (standalone: the board's Python has no exitflow to import them from)."""

from __future__ import annotations

__all__ = ["DeviceError", "DriverError", "ManifestError", "MissingFramesError"]


class DriverError(RuntimeError):
    """Anything the driver refuses or cannot do; the message says what to fix."""


class ManifestError(DriverError):
    """manifest.json is missing, malformed, or does not belong to the bitstream or run."""


class DeviceError(DriverError):
    """The backend cannot reach its device (no board, no pynq, no Verilator, no run)."""


class MissingFramesError(DriverError):
    """The device returned fewer records than frames sent before the timeout."""

    def __init__(self, message: str, missing: list) -> None:
        super().__init__(message)
        self.missing = missing
