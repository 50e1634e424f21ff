"""The multi-exit model: presets, config errors, the integer-logit lattice, MAC accounting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from exitflow.config import config_from_dict
from exitflow.core.schema import ConfigError
from exitflow.quant.config import ExitConfig, ModelConfig, StageConfig
from exitflow.quant.infer import LatticeError, integer_logits, integer_stage_outputs
from exitflow.quant.layers import AffineBatchNorm2d
from exitflow.quant.macs import plan
from exitflow.quant.model import build_model, model_from_description
from exitflow.quant.presets import PRESETS, preset_names, resolve_topology

PRESET_SHAPES = {
    "fmnist3": (1, 28, 28),
    "cnv_exits": (3, 32, 32),
    "tiny": (1, 16, 16),
}


def _warmed(model: nn.Module, shape: tuple[int, ...], steps: int = 3, seed: int = 0) -> nn.Module:
    """A few training-mode passes so BN statistics and activation scales are not at their init."""
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randint(0, 256, (16, *shape), generator=gen).float())
    return model.eval()


def test_every_preset_has_a_shape_under_test() -> None:
    assert set(PRESET_SHAPES) == set(preset_names())


@pytest.mark.parametrize("name", sorted(PRESET_SHAPES))
def test_preset_builds_and_gives_one_logit_row_per_exit(name: str) -> None:
    shape = PRESET_SHAPES[name]
    model = build_model(ModelConfig(preset=name), shape, 10).eval()
    out = model(torch.zeros(2, *shape))
    assert out.shape == (2, len(PRESETS[name].exits), 10)
    assert model.plan.full_macs > 0


def test_tiny_preset_also_fits_digits_8x8() -> None:
    model = build_model(ModelConfig(preset="tiny"), (1, 8, 8), 10).eval()
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2, 10)


def test_explicit_config_overrides_the_preset() -> None:
    cfg = config_from_dict(
        {
            "model": {
                "preset": None,
                "stages": [{"channels": [4], "weight_bits": 2, "act_bits": 3}, {"channels": [6]}],
                "exits": [{"after_stage": 0, "pool_to": 2, "conv_channels": 5}, {"after_stage": 1}],
            }
        }
    ).model
    model = _warmed(build_model(cfg, (1, 8, 8), 3), (1, 8, 8))
    assert [len(s.blocks) for s in model.stages] == [1, 1]
    assert model.heads[0].block is not None and model.heads[0].fc.in_features == 5 * 2 * 2
    assert model.stage_cfgs[0].weight_bits == 2
    rebuilt = model_from_description(model.describe())
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randint(0, 256, (3, 1, 8, 8)).float()
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'.*fmnist3.*tiny"):
        build_model(ModelConfig(preset="nope"), (1, 28, 28), 10)


def test_preset_exits_after_a_missing_explicit_stage_is_an_error() -> None:
    # ModelConfig itself refuses it now (at config load), through resolve_topology
    with pytest.raises(ConfigError, match=r"after_stage=1 names a stage that does not exist"):
        resolve_topology(ModelConfig(preset="fmnist3", stages=[StageConfig(channels=[8])]))


def test_exit_order_and_final_exit_are_checked() -> None:
    stages = [StageConfig(channels=[4]) for _ in range(3)]
    with pytest.raises(ConfigError, match=r"last exit .* must follow the last stage 2"):
        resolve_topology(ModelConfig(preset="tiny", stages=stages))
    exits = [ExitConfig(1), ExitConfig(0), ExitConfig(2)]
    with pytest.raises(ConfigError, match=r"depth order.*\[1, 0, 2\]"):
        resolve_topology(ModelConfig(preset="fmnist3", exits=exits))


@pytest.mark.parametrize(
    ("section", "key"),
    [("stages", "weight_bits"), ("stages", "act_bits"), ("exits", "weight_bits")],
)
def test_bit_width_zero_is_a_config_error(section: str, key: str) -> None:
    model = {"preset": None, "stages": [{"channels": [4]}], "exits": [{"after_stage": 0}]}
    model[section][0][key] = 0
    with pytest.raises(ConfigError, match=rf"{key} must be between 1 and 8 bits, got 0"):
        config_from_dict({"model": model})


def test_pooling_below_one_pixel_is_a_config_error() -> None:
    stages = [StageConfig(channels=[4]) for _ in range(4)]
    exits = [ExitConfig(after_stage=3)]
    with pytest.raises(ConfigError, match=r"stages\[3\]: 2x2 max-pool of a 1x1 map"):
        plan(stages, exits, (1, 8, 8), 10)


def test_pool_to_must_divide_the_map_and_the_error_lists_choices() -> None:
    with pytest.raises(ConfigError, match=r"pool_to=3.*7x7.*\[1, 7\]"):
        plan([StageConfig(channels=[4])], [ExitConfig(0, pool_to=3)], (1, 14, 14), 10)


def test_only_8_bit_input_is_supported() -> None:
    with pytest.raises(ConfigError, match="input_bits=4"):
        build_model(ModelConfig(preset="tiny", input_bits=4), (1, 16, 16), 4)


def test_macs_by_hand_on_the_tiny_model() -> None:
    p = build_model(ModelConfig(preset="tiny"), (1, 16, 16), 4).plan
    # stage 0: 3x3 conv 1->8 on 16x16 (padding 1), pool -> 8x8x8
    # stage 1: 3x3 conv 8->16 on 8x8, pool -> 4x4x16
    assert p.stage_macs == (16 * 16 * 8 * 1 * 9, 8 * 8 * 16 * 8 * 9)
    # head 0: 8x8 max-pooled to 4x4, 8*4*4 features x 4 classes;
    # head 1: 4x4 max-pooled to 1x1, 16 features x 4 classes
    assert p.head_macs == (8 * 4 * 4 * 4, 16 * 4)
    assert p.exit_cost(1) == 18432 + 73728 + 64
    assert p.exit_macs == [18432 + 512, 18432 + 73728 + 512 + 64]
    assert p.full_macs == 18432 + 73728 + 64


def test_head_conv_block_macs() -> None:
    p = plan([StageConfig(channels=[4])], [ExitConfig(0, conv_channels=6, pool_to=1)], (1, 4, 4), 3)
    # stage: 4x4x4 from 1 channel, pool -> 2x2x4; head conv 4->6 at 2x2, 3x3: 2*2*6*4*9
    assert p.stage_macs == (4 * 4 * 4 * 9,)
    assert p.head_macs == (2 * 2 * 6 * 4 * 9 + 6 * 3,)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), low=st.integers(0, 255))
def test_logits_are_on_the_integer_lattice(seed: int, low: int) -> None:
    torch.manual_seed(seed)
    model = _warmed(build_model(ModelConfig(preset="tiny"), (1, 16, 16), 4), (1, 16, 16), seed=seed)
    images = np.random.default_rng(seed).integers(low, 256, (20, 1, 16, 16)).astype(np.uint8)
    ints = integer_logits(model, images)
    with torch.no_grad():
        real = model(torch.from_numpy(images.astype(np.float32))).double().numpy()
    scales = np.array(model.logit_scales())
    # The lattice is exact: integer * scale reproduces the float output bit for bit.
    assert np.array_equal(ints * scales[None, :, None], real)
    stage_ints = integer_stage_outputs(model, images)
    assert [s.shape[1:] for s in stage_ints] == [(8, 8, 8), (16, 4, 4)]
    assert all(s.min() >= 0 and s.max() <= 15 for s in stage_ints)


def test_every_scale_is_a_power_of_two() -> None:
    model = _warmed(build_model(ModelConfig(preset="fmnist3"), (1, 28, 28), 10), (1, 28, 28))
    scales = [model.stage_in_scale(k) for k in range(3)] + model.logit_scales()
    assert all(np.log2(s) == np.round(np.log2(s)) for s in scales)


class _HalfShift(nn.Module):
    """A float op that leaves the lattice (what an unquantised layer would do)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.37


def test_a_float_op_before_an_exit_is_caught() -> None:
    model = _warmed(build_model(ModelConfig(preset="tiny"), (1, 16, 16), 4), (1, 16, 16))
    model.heads[1].pool = nn.Sequential(model.heads[1].pool, _HalfShift())
    images = np.full((2, 1, 16, 16), 200, dtype=np.uint8)
    with pytest.raises(LatticeError, match="exit 1"):
        integer_logits(model, images)


def test_affine_batchnorm_matches_batchnorm_and_follows_loaded_stats() -> None:
    torch.manual_seed(0)
    ours, ref = AffineBatchNorm2d(3), nn.BatchNorm2d(3)
    x = torch.randn(8, 3, 4, 4) * 3 + 1
    ours.train()(x)
    ref.train()(x)
    assert torch.allclose(ours.eval()(x), ref.eval()(x), atol=1e-5)
    other = AffineBatchNorm2d(3)
    other.eval()
    other.load_state_dict(ours.state_dict())
    assert torch.equal(other(x), ours(x))
