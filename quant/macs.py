"""Feature-map shapes and analytic multiply-accumulate counts of a multi-exit topology (stdlib only).

Cost conventions (also in docs/artefacts.md):
- `stage_macs[k]`, `head_macs[e]`: each partition's own MACs (convs and linears; pooling is free).
- `exit_cost(e)`: what reaching and evaluating exit e alone costs (stages 0..stage(e) + head e).
- `cumulative_cost(e)`: what a sample that exits at e has paid under a policy: stages
  0..stage(e) plus every head 0..e it passed (heads of earlier exits ran and said "continue").
  This is `Outputs.exit_macs`.
- `full_macs`: the single-exit network, the whole backbone plus the final head only.
"""

from __future__ import annotations

from dataclasses import dataclass

from exitflow.core.schema import ConfigError
from exitflow.quant.config import ExitConfig, StageConfig

# Kernel and padding of a head's optional conv block (keeps the map size).
HEAD_KERNEL = 3
HEAD_PADDING = 1


@dataclass(frozen=True)
class Plan:
    """Shapes (C, H, W) along the network and the MACs of every partition."""

    input_shape: tuple[int, int, int]
    num_classes: int
    stage_out: tuple[tuple[int, int, int], ...]  # after each stage (its pool included)
    head_features: tuple[tuple[int, int, int], ...]  # pooled map each classifier flattens
    stage_macs: tuple[int, ...]
    head_macs: tuple[int, ...]
    exit_stage: tuple[int, ...]  # after_stage of each exit

    @property
    def num_exits(self) -> int:
        return len(self.exit_stage)

    def exit_cost(self, e: int) -> int:
        """MACs to reach and evaluate exit e on its own: stages 0..stage(e) + head e."""
        return sum(self.stage_macs[: self.exit_stage[e] + 1]) + self.head_macs[e]

    def cumulative_cost(self, e: int) -> int:
        """MACs a sample exiting at e has spent: stages 0..stage(e) + heads 0..e."""
        return sum(self.stage_macs[: self.exit_stage[e] + 1]) + sum(self.head_macs[: e + 1])

    @property
    def exit_macs(self) -> list[int]:
        """cumulative_cost of every exit (what Outputs.exit_macs holds)."""
        return [self.cumulative_cost(e) for e in range(self.num_exits)]

    @property
    def full_macs(self) -> int:
        """The single-exit network: every stage and the final head."""
        return sum(self.stage_macs) + self.head_macs[-1]


def _conv(shape: tuple[int, int, int], c_out: int, kernel: int, padding: int, where: str):
    c, h, w = shape
    ho, wo = h + 2 * padding - kernel + 1, w + 2 * padding - kernel + 1
    if ho < 1 or wo < 1:
        raise ConfigError(
            f"{where}: a {kernel}x{kernel} conv with padding {padding} on a {h}x{w} map leaves "
            f"nothing; use a smaller kernel, more padding, or fewer pooling stages"
        )
    return (c_out, ho, wo), ho * wo * c_out * c * kernel * kernel


def plan(
    stages: list[StageConfig],
    exits: list[ExitConfig],
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> Plan:
    """Walk the topology on `input_shape` (C, H, W); ConfigError if a map would vanish or a head's
    pool_to does not divide its map."""
    c0, h0, w0 = input_shape  # also a list when read from a file
    shape: tuple[int, int, int] = (c0, h0, w0)
    stage_out: list[tuple[int, int, int]] = []
    stage_macs: list[int] = []
    for k, st in enumerate(stages):
        macs = 0
        for j, ch in enumerate(st.channels):
            shape, m = _conv(shape, ch, st.kernel, st.padding, f"model.stages[{k}] conv {j}")
            macs += m
        if st.pool:
            c, h, w = shape
            if h < 2 or w < 2:
                raise ConfigError(
                    f"model.stages[{k}]: 2x2 max-pool of a {h}x{w} map would leave less than 1x1; "
                    f"set pool: false for this stage or use a larger input"
                )
            shape = (c, h // 2, w // 2)
        stage_out.append(shape)
        stage_macs.append(macs)
    head_features, head_macs = [], []
    for e, ex in enumerate(exits):
        shape, macs = stage_out[ex.after_stage], 0
        if ex.conv_channels:
            shape, macs = _conv(shape, ex.conv_channels, HEAD_KERNEL, HEAD_PADDING, f"exit {e}")
        c, h, w = shape
        if ex.pool_to > min(h, w) or h % ex.pool_to or w % ex.pool_to:
            options = [p for p in range(1, min(h, w) + 1) if h % p == 0 and w % p == 0]
            raise ConfigError(
                f"model.exits[{e}].pool_to={ex.pool_to}: exit {e} reads a {h}x{w} map after stage "
                f"{ex.after_stage}, and pool_to must divide it (max-pool kernel = stride); "
                f"choose one of {options}"
            )
        features = (c, ex.pool_to, ex.pool_to)
        macs += c * ex.pool_to * ex.pool_to * num_classes
        head_features.append(features)
        head_macs.append(macs)
    return Plan(
        input_shape=(c0, h0, w0),
        num_classes=num_classes,
        stage_out=tuple(stage_out),
        head_features=tuple(head_features),
        stage_macs=tuple(stage_macs),
        head_macs=tuple(head_macs),
        exit_stage=tuple(ex.after_stage for ex in exits),
    )
