"""The project config: YAML round trips, strict keys and types, value checks, atomic saves."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exitflow.config import (
    ConfigError,
    ProjectConfig,
    config_from_dict,
    dump_config,
    load_config,
    save_config,
)
from exitflow.core.schema import describe
from exitflow.hw.config import Board
from exitflow.quant.config import (
    Augment,
    CalibrationTarget,
    DatasetName,
    LossKind,
    Optimizer,
    PolicyKind,
)
from exitflow.sim.config import Arrival

REPO = Path(__file__).resolve().parents[1]

EXPLICIT = {
    "name": "three_exits",
    "output_dir": "/tmp/somewhere",
    "dataset": {"name": "cifar10", "path": "~/data", "image_size": 32, "channels": 3},
    "model": {
        "preset": None,
        "stages": [{"channels": [16, 16]}, {"channels": [32], "weight_bits": 2}, {"pool": False}],
        "exits": [{"after_stage": 0, "conv_channels": 8}, {"after_stage": 1}, {"after_stage": 2}],
    },
    "train": {"loss": "distill", "exit_weights": [0.3, 0.3, 1.0], "threads": 2},
    "policy": {"kind": "patience", "thresholds": [3, 5.5]},
    "hw": {"board": "ZCU104", "stage_rate_fractions": [1.0, 0.5, 0.25]},
    "sim": {"arrival": "periodic", "fifo_depths": {"s0_to_h0": 64}, "trace_window": [0, 99]},
}


def with_value(dotted: str, value: object) -> dict:
    """EXPLICIT with one value set by its dotted key (list indices as [i])."""
    data = copy.deepcopy(EXPLICIT)
    *parents, leaf = dotted.replace("[", ".").replace("]", "").split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
    node[leaf] = value
    return data


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        config_from_dict(data)
    return str(exc.value)


def test_default_and_explicit_configs_round_trip_through_a_file(tmp_path: Path) -> None:
    for cfg in (ProjectConfig(), config_from_dict(EXPLICIT)):
        path = save_config(cfg, tmp_path / "c.yaml")
        loaded = load_config(path)
        assert loaded == cfg
        assert dump_config(loaded) == path.read_text()
    loaded = load_config(tmp_path / "c.yaml")
    assert loaded.dataset.name is DatasetName.CIFAR10 and loaded.hw.board is Board.ZCU104
    assert loaded.policy.thresholds == [3.0, 5.5] and loaded.model.stages[1].weight_bits == 2


@pytest.mark.parametrize("text", ["", "# nothing set\n", "\n\n"])
def test_empty_file_is_refused_naming_init(tmp_path: Path, text: str) -> None:
    (tmp_path / "empty.yaml").write_text(text)
    with pytest.raises(ConfigError, match="config --init") as exc:
        load_config(tmp_path / "empty.yaml")
    assert "empty" in str(exc.value) and str(tmp_path / "empty.yaml") in str(exc.value)


def test_explicit_empty_mapping_means_all_defaults(tmp_path: Path) -> None:
    (tmp_path / "defaults.yaml").write_text("{}  # every default, on purpose\n")
    assert load_config(tmp_path / "defaults.yaml") == ProjectConfig()


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("name: a\nname: b\n", "'name'", "lines 1 and 2"),
        ("train:\n  epochs: 3\n  lr: 0.1\n  epochs: 4\n", "'epochs'", "lines 2 and 4"),
        ("model:\n  stages:\n    - {pool: true, pool: false}\n", "'pool'", "lines 3 and 3"),
    ],
)
def test_duplicate_keys_are_refused(tmp_path: Path, text: str, key: str, lines: str) -> None:
    (tmp_path / "dup.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "dup.yaml")
    message = str(exc.value)
    assert key in message and lines in message and "keep one" in message
    assert yaml.safe_load(text)  # what the plain SafeLoader silently accepted


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"preset": "mnist3"}, ["model.preset", "'mnist3'", "cnv_exits, fmnist3, tiny"]),
        (
            {"preset": "tiny", "exits": [{"after_stage": 0}, {"after_stage": 4}]},
            ["model.exits[1].after_stage=4", "2 stages"],
        ),
        (
            {"preset": "fmnist3", "stages": [{"channels": [8]}]},
            ["model.exits[1].after_stage=1", "1 stages"],
        ),
    ],
)
def test_presets_and_exits_are_checked_at_load(tmp_path: Path, model: dict, expected: list) -> None:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"model": model}))
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.yaml")
    for part in expected:
        assert part in str(exc.value), (part, str(exc.value))


def test_folding_override_for_a_missing_partition_is_refused() -> None:
    ok = {"stage1": {"MVAU_0": {"PE": 2}}, "decision0": {}, "base_head2": {}}
    assert config_from_dict({"hw": {"folding_overrides": ok}}).hw.folding_overrides == ok
    message = error_of({"hw": {"folding_overrides": {"stage3": {"MVAU_0": {"PE": 2}}}}})
    assert "hw.folding_overrides" in message and "'stage3'" in message
    assert "stage0, stage1, stage2, head0, head1, head2, decision0, decision1" in message
    # without the baseline its partitions do not exist
    message = error_of({"hw": {"baseline": False, "folding_overrides": {"base_stage0": {}}}})
    assert "'base_stage0'" in message and "base_head" not in message.split("are ")[1]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("inf", math.inf),
        (".inf", math.inf),
        ("-inf", -math.inf),
        ("-.inf", -math.inf),
        ("+inf", math.inf),
        ("Inf", math.inf),
        ("3", 3.0),
        ("2.5", 2.5),
    ],
)
def test_thresholds_take_both_spellings_of_infinity(
    tmp_path: Path, written: str, value: float
) -> None:
    (tmp_path / "c.yaml").write_text(f"policy:\n  thresholds: [{written}, 1]\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.policy.thresholds == [value, 1.0]
    assert load_config(save_config(cfg, tmp_path / "again.yaml")) == cfg


@pytest.mark.parametrize("bad", ["infinity", "never", ".nan", "true"])
def test_thresholds_refuse_other_words(bad: str) -> None:
    with_bad = yaml.safe_load(f"policy:\n  thresholds: [{bad}]\n")
    message = error_of(with_bad)
    assert "policy.thresholds[0]" in message and "inf" in message


def test_examples_load() -> None:
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples, "no example configs found"
    for path in examples:
        assert isinstance(load_config(path), ProjectConfig), path


@pytest.mark.parametrize(
    "dotted",
    [
        "nmae",
        "dataset.nmae",
        "model.stages[1].chanels",
        "model.exits[0].after",
        "train.epoch",
        "policy.threshold",
        "hw.bord",
        "sim.fifo_depth",
    ],
)
def test_unknown_keys_are_rejected_with_their_dotted_path(dotted: str) -> None:
    message = error_of(with_value(dotted, 1))
    assert f"unknown key '{dotted}'" in message
    assert "did you mean" in message  # each is one typo away from a real key


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("model.stages[0].weight_bits", 0, ["model.stages[0]", "weight_bits", "got 0"]),
        ("model.exits[2].act_bits", 9, ["model.exits[2]", "act_bits", "got 9"]),
        ("model.exits[1].after_stage", 7, ["model", "exits[1].after_stage=7", "3 stages"]),
        ("train.epochs", -1, ["train", "epochs must be >= 1", "got -1"]),
        ("train.label_smoothing", 1.0, ["train", "label_smoothing must be in [0, 1)", "got 1.0"]),
        ("dataset.val_fraction", 1.5, ["dataset", "val_fraction", "1.5"]),
        ("dataset.channels", 2, ["dataset", "channels must be 1 or 3"]),
        ("sim.fifo_depths", {"x": 0}, ["sim", "fifo_depths"]),
        ("name", "a/b", ["name must be a plain word"]),
    ],
)
def test_bad_values_name_section_and_key(dotted: str, value: object, expected: list) -> None:
    message = error_of(with_value(dotted, value))
    for part in expected:
        assert part in message, (part, message)


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("train.epochs", "10", "train.epochs: expected an integer"),
        ("train.epochs", True, "train.epochs: expected an integer"),
        ("train.epochs", 3.0, "train.epochs: expected an integer"),
        ("train.augment", True, "train.augment"),
        ("train.augment", "sideways", "crop_flip"),
        ("train.lr", "fast", "train.lr: expected a number"),
        ("dataset", [1, 2], "dataset: expected a mapping, got list"),
        ("model.stages", {"channels": [8]}, "model.stages: expected a list"),
        ("model.stages[0].channels", [8, "x"], "model.stages[0].channels[1]"),
        ("dataset.image_size", "32", "dataset.image_size"),
        ("name", 5, "name: expected a string"),
        ("sim.trace_window", 5, "sim.trace_window"),
    ],
)
def test_wrong_types_are_rejected(dotted: str, value: object, expected: str) -> None:
    assert expected in error_of(with_value(dotted, value))


@pytest.mark.parametrize(
    ("dotted", "typo", "suggestion"),
    [
        ("dataset.name", "fashion_mnsit", "fashion_mnist"),
        ("policy.kind", "margn", "margin"),
        ("train.optimizer", "adma", "adam"),
        ("hw.board", "ZCU14", "ZCU104"),
        ("sim.arrival", "periodc", "periodic"),
    ],
)
def test_enum_typos_get_a_suggestion(dotted: str, typo: str, suggestion: str) -> None:
    message = error_of(with_value(dotted, typo))
    assert dotted in message and f"did you mean '{suggestion}'" in message


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config --init"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: 0\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "bad.yaml")
    assert str(tmp_path / "bad.yaml") in str(exc.value) and "epochs" in str(exc.value)


def test_save_config_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("name: previous\n")
    real_write = Path.write_bytes

    def half_then_fail(self: Path, data: bytes) -> int:
        real_write(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_config(config_from_dict(EXPLICIT), target)
    with pytest.raises(OSError, match="disk full"):
        save_config(ProjectConfig(), tmp_path / "new.yaml")
    monkeypatch.undo()
    assert target.read_text() == "name: previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]  # no temp files left


def test_every_key_is_documented() -> None:
    rows = describe(ProjectConfig)
    keys = [key for key, _, _ in rows]
    assert {"dataset.name", "model.input_bits", "hw.board", "sim.arrival", "name"} <= set(keys)
    assert len(keys) == len(set(keys))
    undocumented = [key for key, _, doc in rows if not doc.strip()]
    assert not undocumented


# --- property: any valid config survives YAML ------------------------------------------------

# Strings YAML would read as something else unless quoted.
TRICKY = st.sampled_from(["null", "yes", "on", "1e3", "~", "0x1F", "true", "12:30", "-", "é"])
WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12) | TRICKY
FLOAT = st.floats(allow_nan=False, allow_infinity=False, width=64)
UNIT = st.floats(0.001, 0.999)
SMALL = st.integers(1, 10**6)


@st.composite
def model_section(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 4))
    stages = [
        draw(
            st.fixed_dictionaries(
                {"channels": st.lists(st.integers(1, 512), min_size=1, max_size=3)},
                optional={
                    "kernel": st.integers(1, 7),
                    "padding": st.integers(0, 3),
                    "pool": st.booleans(),
                    "weight_bits": st.integers(1, 8),
                    "act_bits": st.integers(1, 8),
                },
            )
        )
        for _ in range(n)
    ]
    exit_at = sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=n))) | {n - 1})
    exits = [{"after_stage": k, "pool_to": draw(st.integers(1, 4))} for k in exit_at]
    return {"preset": None, "stages": stages, "exits": exits, "input_bits": draw(st.integers(1, 8))}


def opt_of(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "name": WORD.filter(lambda s: "/" not in s),
        "output_dir": opt_of(WORD),
        "dataset": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(list(DatasetName)).map(str),
                "path": opt_of(WORD),
                "image_size": opt_of(st.integers(4, 256)),
                "channels": st.sampled_from([None, 1, 3]),
                "val_fraction": UNIT,
                "split_seed": st.integers(0, 2**63 - 1),
                "limit_train": opt_of(SMALL),
                "synthetic_classes": st.integers(2, 12),
            },
        ),
        "model": model_section(),
        "train": st.fixed_dictionaries(
            {},
            optional={
                "epochs": SMALL,
                "lr": st.floats(1e-9, 10.0),
                "weight_decay": FLOAT,
                "optimizer": st.sampled_from([o.value for o in Optimizer]),
                "loss": st.sampled_from([v for v in LossKind if v != LossKind.EXITS_ONLY]),
                "exit_weights": st.lists(st.floats(0, 100), max_size=4),
                "augment": st.sampled_from([a.value for a in Augment]),
                "label_smoothing": st.floats(0, 0.99),
                "threads": opt_of(st.integers(1, 64)),
            },
        ),
        "policy": st.fixed_dictionaries(
            {},
            optional={
                "kind": st.sampled_from(list(PolicyKind)),
                "target": st.sampled_from(list(CalibrationTarget)),
                "thresholds": opt_of(st.lists(FLOAT, max_size=4)),
                "voting_k": st.floats(0, 0.999),
            },
        ),
        "hw": st.fixed_dictionaries(
            {},
            optional={
                "board": st.sampled_from([b.value for b in Board]),
                "clock_mhz": opt_of(st.floats(1, 1000)),
                "stage_rate_fractions": opt_of(st.lists(UNIT, max_size=4)),
                "start_step": opt_of(WORD),
            },
        ),
        "sim": st.fixed_dictionaries(
            {},
            optional={
                "arrival": st.sampled_from([Arrival.SATURATED.value, Arrival.PERIODIC.value]),
                "fifo_depths": st.dictionaries(WORD, st.integers(1, 4096), max_size=3),
                "trace_window": opt_of(st.lists(st.integers(0, 10**9), min_size=2, max_size=2)),
            },
        ),
    },
)


@settings(max_examples=80, deadline=None)
@given(CONFIGS)
def test_any_valid_config_round_trips_through_yaml(data: dict) -> None:
    cfg = config_from_dict(data)
    text = dump_config(cfg)
    again = config_from_dict(yaml.safe_load(text))
    assert again == cfg
    assert dump_config(again) == text
    for key, value in data.get("train", {}).items():
        got = getattr(again.train, key)
        assert got == value or (isinstance(value, float) and math.isclose(got, value))


def test_a_neutral_key_at_its_default_leaves_staleness_digests_as_before_it_existed() -> None:
    """A key added with opt(..., neutral=True) must not make existing runs stale at its
    default, but must once a user sets it; config files still carry it."""
    import dataclasses

    from exitflow.core.schema import opt, to_dict
    from exitflow.records import config_digest

    @dataclasses.dataclass
    class Before:
        depth: int = opt(32, "a key every run had")

    @dataclasses.dataclass
    class After:
        depth: int = opt(32, "a key every run had")
        added: str = opt("none", "a key added later", neutral=True)
        listed: list = opt([], "a later list key", neutral=True)

    old = config_digest(to_dict(Before(), digest=True))
    assert config_digest(to_dict(After(), digest=True)) == old
    assert config_digest(to_dict(After(added="sized"), digest=True)) != old
    assert config_digest(to_dict(After(listed=[1]), digest=True)) != old
    assert config_digest(to_dict(After(depth=64), digest=True)) != old
    assert to_dict(After()) == {"depth": 32, "added": "none", "listed": []}
