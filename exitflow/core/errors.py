"""exitflow's one error contract: every failure a user can act on is an ExitflowError.

Each subclass has a documented exit code (docs/errors.md) that the CLI returns, and each message
names the problem and the fix. Subclasses also keep the builtin base that older code caught
(ValueError, RuntimeError, ...), so callers that catch those still work.

A bug in exitflow itself is anything else: the CLI shows it with its traceback (exit 1).
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES",
    "BudgetError",
    "ConfigError",
    "DataError",
    "ExitflowError",
    "PrerequisiteError",
    "RunLockedError",
    "SimulationError",
    "StaleError",
    "ToolMissingError",
    "VerificationError",
]


class ExitflowError(Exception):
    """Base of every user-actionable exitflow error; `exit_code` is what the CLI returns."""

    exit_code: int = 1


class ConfigError(ExitflowError, ValueError):
    """A config file, option or hand-written description does not describe a valid design."""

    exit_code = 2


class PrerequisiteError(ExitflowError, RuntimeError):
    """A step's input is missing: the message names the step to run first."""

    exit_code = 3


class StaleError(PrerequisiteError):
    """A step's inputs changed since it ran: the message names what to rerun."""


class ToolMissingError(ExitflowError, RuntimeError):
    """An external tool (Vivado, Vitis HLS, Verilator, yosys) is not installed or not found."""

    exit_code = 4


class DataError(ExitflowError, ValueError):
    """A dataset, checkpoint or artefact file is missing, corrupt or inconsistent."""

    exit_code = 5


class VerificationError(ExitflowError, AssertionError):
    """Two rungs of the verification ladder disagree (exits, classes or logits)."""

    exit_code = 6


class SimulationError(ExitflowError, RuntimeError):
    """The simulated design misbehaves: deadlock, buffer overflow."""

    exit_code = 7


class BudgetError(ExitflowError, RuntimeError):
    """A design needs more resources than the board has."""

    exit_code = 8


class RunLockedError(ExitflowError, RuntimeError):
    """Another exitflow command holds the run directory."""

    exit_code = 9


# exit code -> (error class, what it means); 0 is success, 1 an exitflow bug, 130 interrupted
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (a bug in exitflow: please report it with the run's log file)",
    2: "config error or bad command-line usage",
    3: "a prerequisite step has not run, or its outputs are stale",
    4: "an external tool is missing",
    5: "bad or inconsistent data, checkpoint or artefact",
    6: "verification mismatch between two rungs of the ladder",
    7: "simulation deadlock or overflow",
    8: "the design does not fit the board's budget",
    9: "the run directory is locked by another exitflow command",
    130: "interrupted (finished artefacts are kept; rerun to resume)",
}
