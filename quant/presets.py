"""Named multi-exit topologies (`model.preset`), and resolving a ModelConfig into stages and exits.

Where MACs go decides what early exits can save: each preset keeps stage 0 small (a few per cent
of the network) with a cheap linear head on a small pooled map, so that the easy samples leave
for almost nothing, and puts most compute in the later stages that only the hard samples reach.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from exitflow.core.schema import ConfigError
from exitflow.quant.config import ExitConfig, ModelConfig, StageConfig


@dataclass(frozen=True)
class Preset:
    """A topology: stages and exit heads, plus the input shape it was designed for."""

    doc: str
    stages: tuple[StageConfig, ...]
    exits: tuple[ExitConfig, ...]


def _s(channels: list[int], pool: bool = True, w: int = 4, a: int = 4) -> StageConfig:
    return StageConfig(channels=channels, pool=pool, weight_bits=w, act_bits=a)


def _e(after: int, pool_to: int, conv: int = 0, w: int = 4, a: int = 4) -> ExitConfig:
    return ExitConfig(
        after_stage=after, pool_to=pool_to, conv_channels=conv, weight_bits=w, act_bits=a
    )


PRESETS: dict[str, Preset] = {
    # Stage 0 (one 16-channel conv at 28x28) is 1 % of the MACs and stages 0-1 about 14 %; the
    # 7x7 stage 2 holds the rest, so a sample leaving at exit 0 or 1 skips most of the work. The
    # early heads keep a 7x7 map (784 and 3136 features) for spatial detail at 0.1-0.2 % of the
    # network each; the final head keeps it too (no global max-pool): garments of the confusable
    # classes (shirt, T-shirt, pullover, coat) differ in where their parts are, not whether.
    "fmnist3": Preset(
        "28x28x1 (Fashion-MNIST), 3 stages, 3 exits, W4A4, 8-bit input",
        (_s([16]), _s([64]), _s([64, 128, 128], pool=False)),
        (_e(0, 7), _e(1, 7), _e(2, 7)),
    ),
    "cnv_exits": Preset(
        "32x32x3 (CIFAR-10), FINN CNV-like backbone 64,64 | 128,128 | 256,256, exits after "
        "stages 0 and 1 and the final head, W4A4",
        (_s([64, 64]), _s([128, 128]), _s([256, 256], pool=False)),
        (_e(0, 2), _e(1, 2), _e(2, 1)),
    ),
    "tiny": Preset(
        "tests: 2 small stages, 2 exits; fits 8x8 (digits) and 16x16 (synthetic) inputs",
        (_s([8]), _s([16])),
        (_e(0, 4), _e(1, 1)),
    ),
}


def preset_names() -> list[str]:
    """Names accepted by `model.preset`."""
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called `name`; ConfigError listing the presets if there is none."""
    if name not in PRESETS:
        raise ConfigError(
            f"model.preset: unknown preset {name!r}; choose one of {', '.join(preset_names())} "
            "or give model.stages and model.exits explicitly (with preset: null)"
        )
    return PRESETS[name]


def resolve_topology(cfg: ModelConfig) -> tuple[list[StageConfig], list[ExitConfig]]:
    """Stages and exits of `cfg`: explicit lists win, the preset fills the empty ones.

    Checks the combination (explicit stages with preset exits can disagree): each exit follows an
    existing stage, exits are in depth order with one per stage at most, the last follows the last
    stage. Shape checks that need the input size live in `quant.model.check_shapes`.
    """
    preset = get_preset(cfg.preset) if cfg.preset is not None else None
    stages = list(cfg.stages) or (list(preset.stages) if preset else [])
    exits = list(cfg.exits) or (list(preset.exits) if preset else [])
    if not stages or not exits:
        raise ConfigError("model: give a preset or both model.stages and model.exits")
    n = len(stages)
    order = [ex.after_stage for ex in exits]
    for i, after in enumerate(order):
        if after >= n:
            raise ConfigError(
                f"model.exits[{i}].after_stage={after} names a stage that does not exist "
                f"(the model has {n} stages, 0..{n - 1})"
            )
    if order != sorted(set(order)):
        raise ConfigError(f"model.exits must be in depth order, at most one per stage: {order}")
    if order[-1] != n - 1:
        raise ConfigError(
            f"model.exits: the last exit (the final classifier) must follow the last stage "
            f"{n - 1}, got after_stage={order[-1]}"
        )
    # Copies: the model must never alias (and mutate) the preset table.
    return copy.deepcopy(stages), copy.deepcopy(exits)
