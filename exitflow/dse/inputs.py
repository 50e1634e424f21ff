"""What a search reads from a run, and the per-partition folding it caches.

Inputs: export/manifest.json (stages, exits, MACs), calibrate/policy.json (kind, params, the
calibrated thresholds), eval/outputs_val.npz (the validation exits; the test set is kept for the
final figures), the build's checkpoints after step_specialize_layers (FINN's folding and
estimates run from there), build/report.json (part, clock, MVAU style) and build/synth.json
(yosys counts) where it exists.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from exitflow.core.errors import PrerequisiteError
from exitflow.core.outputs import Outputs, load_outputs
from exitflow.core.policies import load_policy, policy_dict
from exitflow.dse.cache import DiskCache, digest, file_digest
from exitflow.dse.compose import FRACTION_KEYS, Topology
from exitflow.dse.correction import correct
from exitflow.dse.executor import Executor
from exitflow.dse.partfold import fold_partition
from exitflow.layout import RunLayout

__all__ = ["FOLD_VERSION", "Inputs", "PartitionFolder", "board_costs", "load_inputs"]

log = logging.getLogger(__name__)

FOLD_STEP = "step_specialize_layers"  # checkpoints the candidate folding starts from
# bump when fold_partition's result changes meaning (invalidates the cache); 3: parallel_window
FOLD_VERSION = 3


@dataclass
class Inputs:
    """Everything the search needs, read once."""

    topo: Topology
    kind: str
    params: dict[str, Any]
    calibrated: list[Any]  # JSON thresholds of calibrate/policy.json
    outputs: Outputs  # validation
    checkpoints: dict[str, Path]
    board: str
    board_resources: dict[str, int]
    part: str
    clock_mhz: float
    mvau_style: str
    fifo_depth: int
    synth: dict[str, Any] | None
    finn_dir: Path


def load_inputs(run_dir: Path, hw: Any) -> Inputs:
    """Read a run's artefacts for the search (PrerequisiteError naming the missing step)."""
    from exitflow.hw.boards import board_spec

    lay = RunLayout(Path(run_dir))
    need = [(lay.manifest, "export"), (lay.policy, "calibrate"), (lay.outputs_val, "train"),
            (lay.build_report, "build")]  # fmt: skip
    for path, step in need:
        if not path.is_file():
            raise PrerequisiteError(f"{path} does not exist: run `exitflow {step}` first")
    manifest = json.loads(lay.manifest.read_text())
    report = json.loads(lay.build_report.read_text())
    policy = load_policy(lay.policy)
    pol = policy_dict(policy)
    exits = manifest["exits"]
    stages = [p for p in manifest["partitions"] if p["kind"] == "stage"]
    macs = {p["name"]: int(p["macs"]) for p in manifest["partitions"]}
    topo = Topology(len(stages), tuple(int(e["after_stage"]) for e in exits), macs,
                    int(manifest["num_classes"]), str(manifest.get("design", "design")))  # fmt: skip
    names = [f"stage{k}" for k in range(len(stages))] + [f"head{e}" for e in range(len(exits))]
    names += [f"decision{e}" for e in range(len(exits) - 1)]
    ckpts = {}
    for name in names:
        found = sorted((lay.build_dir / "checkpoints" / name).glob(f"*_{FOLD_STEP}.onnx"))
        if not found:
            raise PrerequisiteError(
                f"no {FOLD_STEP} checkpoint of {name} under {lay.build_dir / 'checkpoints'}: "
                "run `exitflow build` (at least up to step_specialize_layers) first"
            )
        ckpts[name] = found[-1]
    spec = board_spec(hw.board)
    synth_path = lay.build_dir / "synth.json"
    synth = json.loads(synth_path.read_text()) if synth_path.is_file() else None
    return Inputs(
        topo=topo,
        kind=str(pol["kind"]),
        params=dict(pol.get("params") or {}),
        calibrated=list(pol["thresholds"]),
        outputs=load_outputs(lay.outputs_val),
        checkpoints=ckpts,
        board=spec.name,
        board_resources=dict(spec.resources),
        part=str(report.get("part") or spec.part),
        clock_mhz=float(report.get("clock_mhz") or hw.clock_mhz or spec.clock_mhz),
        mvau_style=str(report.get("mvau_style") or hw.mvau_style.resolve(spec.mvau_style).value),
        fifo_depth=int(hw.fifo_depth),
        synth=synth,
        finn_dir=lay.build_dir / "finn",
    )


def board_costs(board: dict[str, int]) -> dict[str, float]:
    """Weights of FINN's resource estimates when refining a folding: 1 / the board's count of
    each resource of the fraction (a DSP of a 220-DSP board weighs as 242 of its LUTs)."""
    return {k: 1.0 / float(v) for k, v in sorted(board.items()) if k in FRACTION_KEYS and v}


def _finn_version() -> str:
    try:
        return metadata.version("finn-plus")
    except metadata.PackageNotFoundError:
        return "unknown"


class PartitionFolder:
    """Folded estimates per (partition, target cycles), from the disk cache or the executor."""

    def __init__(self, inp: Inputs, cache: DiskCache, executor: Executor, cfg: Any) -> None:
        self.inp, self.cache, self.executor, self.cfg = inp, cache, executor, cfg
        self.memo: dict[tuple[str, int], dict] = {}
        self.evaluated = 0
        ver = _finn_version()
        self.costs = board_costs(inp.board_resources)
        self._base = {n: (file_digest(p), inp.part, inp.clock_mhz, inp.mvau_style, ver,
                          cfg.mvau_wwidth_max, cfg.wwidth_limit, self.costs, FOLD_VERSION)
                      for n, p in inp.checkpoints.items()}  # fmt: skip

    def _kind(self, name: str) -> str:
        return name.rstrip("0123456789")

    def get(self, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        """Estimates for every (partition, target); folds what neither memory nor disk has."""
        todo = []
        for name, target in sorted(pairs - set(self.memo)):
            key = digest(self._base[name], target)
            hit = self.cache.get("fold", key)
            if hit is not None:
                self.memo[(name, target)] = hit
            else:
                todo.append((name, target, key))
        jobs = [
            dict(checkpoint=str(self.inp.checkpoints[n]), name=n, kind=self._kind(n), target=t,
                 fpgapart=self.inp.part, clock_mhz=self.inp.clock_mhz,
                 mvau_style=self.inp.mvau_style, wwidth_start=self.cfg.mvau_wwidth_max,
                 wwidth_limit=self.cfg.wwidth_limit, finn_dir=str(self.inp.finn_dir),
                 costs=self.costs)
            for n, t, _ in todo
        ]  # fmt: skip
        if jobs:
            log.info("folding %d partition targets (%s)", len(jobs), self.executor.name)
        for (name, target, key), res in zip(todo, self.executor.map(fold_partition, jobs)):
            self.cache.put("fold", key, res)
            self.memo[(name, target)] = res
            self.evaluated += 1
        return {pt: self.memo[pt] for pt in pairs}

    def estimate(self, name: str, target: int) -> dict:
        """One estimate (already fetched by `get`), resources corrected where yosys has counts."""
        est = dict(self.memo[(name, target)])
        synth = self.inp.synth if str(self.cfg.resources) == "auto" else None
        est["resources"], est["resource_source"] = correct(name, est["resources"], synth)
        return est
