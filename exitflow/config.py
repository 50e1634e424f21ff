"""The project config: one typed file that describes a whole design, composed of each package's section."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exitflow.core.files import write_text
from exitflow.core.schema import ConfigError, check, from_dict, opt, to_dict
from exitflow.dse.config import DseConfig
from exitflow.hw.config import (
    HwConfig,
    check_keep_exits,
    check_override_partitions,
    partition_names,
)
from exitflow.hw.rtl_config import RtlConfig
from exitflow.quant.config import DatasetConfig, ModelConfig, PolicyConfig, TrainConfig
from exitflow.quant.presets import resolve_topology
from exitflow.sim.config import SimConfig

__all__ = [
    "ConfigError",
    "FlowConfig",
    "ProjectConfig",
    "config_from_dict",
    "dump_config",
    "load_config",
    "save_config",
]


@dataclass
class FlowConfig:
    """What `exitflow run` runs beyond the configured design's steps."""

    dse: bool = opt(
        False,
        "explore the design space first (the dse section, on the configured design built up to "
        "specialisation in cache/explore/) and build, simulate and co-simulate the design it "
        "chooses (dse/overlay.yaml applied); false: build the design as configured",
    )


@dataclass
class ProjectConfig:
    """A whole early-exit design: data, network, training, exit policy, hardware, simulation,
    RTL co-simulation."""

    name: str = opt("design", "design name; names the run directory")
    output_dir: str | None = opt(None, "where artefacts go; None: runs/<name>")
    dataset: DatasetConfig = opt(DatasetConfig(), "dataset section")
    model: ModelConfig = opt(ModelConfig(), "model section")
    train: TrainConfig = opt(TrainConfig(), "training section")
    policy: PolicyConfig = opt(PolicyConfig(), "exit policy section")
    hw: HwConfig = opt(HwConfig(), "hardware build section")
    sim: SimConfig = opt(SimConfig(), "simulation section")
    dse: DseConfig = opt(DseConfig(), "design-space exploration section")
    rtl: RtlConfig = opt(RtlConfig(), "RTL co-simulation section (the cosim step)")
    flow: FlowConfig = opt(FlowConfig(), "what `exitflow run` runs (flow.dse: explore first)")

    def __post_init__(self) -> None:
        check(
            bool(self.name) and "/" not in self.name,
            f"name must be a plain word, got {self.name!r}",
        )
        self.validate()

    def validate(self) -> None:
        """Checks across sections (each section checks itself): raises ConfigError."""
        stages, exits = resolve_topology(self.model)
        check_keep_exits(self.hw.keep_exits, len(exits))
        if self.hw.folding_overrides:
            after = [e.after_stage for e in exits]
            names = partition_names(after, len(stages), self.hw.baseline, self.hw.keep_exits)
            check_override_partitions(self.hw.folding_overrides, names)

    def run_dir(self, base: Path | None = None) -> Path:
        """Directory of this design's artefacts (relative paths resolve against `base`)."""
        path = Path(self.output_dir) if self.output_dir else Path("runs") / self.name
        return path if path.is_absolute() or base is None else base / path


def config_from_dict(data: Any) -> ProjectConfig:
    """Validate a plain mapping into a ProjectConfig (raises ConfigError naming the bad key)."""
    return from_dict(ProjectConfig, data)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKeyError(
                    f"key {key!r} is given twice in one section (lines {seen[key]} and "
                    f"{line}); keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKeyError(yaml.YAMLError):
    pass


def load_config(path: str | Path) -> ProjectConfig:
    """Read a YAML config file; unknown keys, bad values, duplicate keys and an empty file
    raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; `exitflow config --init {path}` writes one"
        )
    try:
        data = yaml.load(path.read_text(), Loader=_StrictLoader)
    except _DuplicateKeyError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        raise ConfigError(
            f"{path} is empty (or only comments), which is more likely a truncated file than a "
            "wish for every default: `exitflow config --init NEW.yaml` writes a complete "
            "config; write `{}` to take every default on purpose"
        )
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def dump_config(cfg: ProjectConfig) -> str:
    """The config as YAML text (round-trips through load_config)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save_config(cfg: ProjectConfig, path: str | Path) -> Path:
    """Write the config as YAML, atomically."""
    return write_text(path, dump_config(cfg))
