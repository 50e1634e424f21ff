"""The cosim step's generated tops, one per settings key under build/rtl/top-<key>/.

`top_key` names a top by what it depends on, so a top generated with other settings never
overwrites one being built or simulated. Each key's directory holds a few hundred MB (the
stitched partitions and FINN's library), so `prune_stale_tops` removes the other keys' once a
top has been generated, only while this process holds the run's lock (exitflow.run.Run.locked:
the runner holds it for every step), so that no other flow command is using one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

from exitflow.core.errors import RunLockedError
from exitflow.run import Run

__all__ = ["TOP_DIR_PREFIX", "prune_stale_tops", "top_key"]

log = logging.getLogger(__name__)

TOP_DIR_PREFIX = "top-"
_KEY_DIGITS = 12
_TOP_DIR = re.compile(rf"{TOP_DIR_PREFIX}[0-9a-f]{{{_KEY_DIGITS}}}")
# a stale top is renamed to this prefix before it is deleted: a deletion cut short leaves no
# half-deleted top-<key> that a later run with that key would take for a generated one
_DOOMED_PREFIX = ".stale-top-"


def top_key(run_dir: str | Path, *, id_bits: int, sim_report: str | Path | None = None) -> str:
    """Digest of what the generated top depends on (hwdesc, the simulator's sizing, id width,
    the generator's Python source): `prepare` generates under build/rtl/top-<key>/, so a top
    regenerated with other settings (another frame count, depths) never overwrites the sources
    of one being built or simulated, and the same settings find their Verilator build again."""
    from exitflow.hw.top.generate import GENERATOR_SOURCES

    run = Path(run_dir).resolve()
    h = hashlib.sha256((run / "build" / "hwdesc.json").read_bytes())
    rep = Path(sim_report) if sim_report is not None else run / "sim" / "report.json"
    sizing = json.loads(rep.read_text()).get("sizing") if rep.is_file() else None
    h.update(json.dumps({"id_bits": id_bits, "sizing": sizing}, sort_keys=True).encode())
    for source in GENERATOR_SOURCES:  # every module that shapes the generated text
        h.update(source.read_bytes())
    return h.hexdigest()[:_KEY_DIGITS]


def prune_stale_tops(run: Run, current: Path) -> list[str]:
    """Delete the top-<key>/ directories beside `current` (a generated top) other than it.

    Only under the run's lock (taken here when the caller does not hold it yet); when another
    process holds it, nothing is deleted. Returns the names of the directories removed.
    """
    current = current.resolve()
    try:
        with run.locked():
            return _prune(current)
    except RunLockedError:
        log.info("cosim: %s is in use by another process: old tops kept", run.run_dir)
        return []


def _prune(current: Path) -> list[str]:
    removed = []
    for path in sorted(current.parent.iterdir()):
        if path == current or path.is_symlink() or not path.is_dir():
            continue
        if _TOP_DIR.fullmatch(path.name):
            doomed = path.with_name(f"{_DOOMED_PREFIX}{path.name}-{os.getpid()}")
            os.replace(path, doomed)  # atomic: the top is either whole or gone
            removed.append(path.name)
        elif not path.name.startswith(_DOOMED_PREFIX):
            continue  # verilator/, yosys/ and the like: not a generated top
        else:
            doomed = path  # left by a deletion cut short
        shutil.rmtree(doomed, ignore_errors=True)
    if removed:
        log.info("cosim: removed old generated tops %s", ", ".join(removed))
    return removed
