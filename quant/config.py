"""Config sections owned by the training side: dataset, model, training, exit policy."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exitflow.core.kinds import PolicyKind
from exitflow.core.schema import ExtFloat, check, opt


class DatasetName(StrEnum):
    """Datasets exitflow can load."""

    MNIST = "mnist"
    FASHION_MNIST = "fashion_mnist"
    CIFAR10 = "cifar10"
    IMAGE_FOLDER = "image_folder"
    SYNTHETIC = "synthetic"
    DIGITS = "digits"


@dataclass
class DatasetConfig:
    """Which data, where it lies, and how it is split."""

    name: DatasetName = opt(DatasetName.FASHION_MNIST, "dataset to load")
    path: str | None = opt(
        None, "directory holding the data; None: the project's .data/ or the system install"
    )
    image_size: int | None = opt(None, "resize/centre-crop to this side; None: native size")
    channels: int | None = opt(None, "1 (grayscale) or 3 (RGB); None: the dataset's own")
    val_fraction: float = opt(0.1, "fraction of training data held out for calibration")
    split_seed: int = opt(0, "seed of the deterministic train/validation split")
    limit_train: int | None = opt(None, "use at most this many training samples (quick runs)")
    limit_test: int | None = opt(None, "use at most this many test samples (quick runs)")
    synthetic_samples: int = opt(2000, "size of the synthetic dataset (train + test)")
    synthetic_classes: int = opt(4, "number of classes of the synthetic dataset")

    def __post_init__(self) -> None:
        check(
            0.0 < self.val_fraction < 1.0,
            f"val_fraction must be in (0, 1), got {self.val_fraction}",
        )
        check(self.image_size is None or self.image_size >= 4, "image_size must be >= 4")
        check(self.channels in (None, 1, 3), f"channels must be 1 or 3, got {self.channels}")
        for key in ("limit_train", "limit_test"):
            value = getattr(self, key)
            check(value is None or value > 0, f"{key} must be positive, got {value}")
        check(self.synthetic_samples >= 20, "synthetic_samples must be >= 20")
        check(self.synthetic_classes >= 2, "synthetic_classes must be >= 2")


def _check_bits(name: str, bits: int) -> None:
    check(1 <= bits <= 8, f"{name} must be between 1 and 8 bits, got {bits}")


@dataclass
class StageConfig:
    """One backbone stage: a run of conv blocks (conv, batch norm, quantised ReLU), optional pool."""

    channels: list[int] = opt([32], "output channels of each conv block in this stage")
    kernel: int = opt(3, "conv kernel size")
    padding: int = opt(1, "conv zero padding")
    pool: bool = opt(True, "2x2 max-pool at the end of the stage")
    weight_bits: int = opt(4, "weight bit width (1..8)")
    act_bits: int = opt(4, "activation bit width (1..8)")

    def __post_init__(self) -> None:
        check(len(self.channels) > 0, "a stage needs at least one conv block (channels: [..])")
        check(all(c > 0 for c in self.channels), f"channels must be positive, got {self.channels}")
        check(self.kernel >= 1, f"kernel must be >= 1, got {self.kernel}")
        check(self.padding >= 0, f"padding must be >= 0, got {self.padding}")
        _check_bits("weight_bits", self.weight_bits)
        _check_bits("act_bits", self.act_bits)


@dataclass
class ExitConfig:
    """An exit head after a backbone stage; the head after the last stage is the final classifier."""

    after_stage: int = opt(0, "index (0-based) of the stage this head reads")
    conv_channels: int = opt(0, "channels of an optional conv block in the head (0: none)")
    pool_to: int = opt(
        1, "max-pool the feature map down to pool_to x pool_to before the classifier"
    )
    weight_bits: int = opt(4, "weight bit width of the head (1..8)")
    act_bits: int = opt(4, "activation bit width of the head's conv block (1..8)")

    def __post_init__(self) -> None:
        check(self.after_stage >= 0, f"after_stage must be >= 0, got {self.after_stage}")
        check(self.conv_channels >= 0, "conv_channels must be >= 0")
        check(self.pool_to >= 1, f"pool_to must be >= 1, got {self.pool_to}")
        _check_bits("weight_bits", self.weight_bits)
        _check_bits("act_bits", self.act_bits)


@dataclass
class ModelConfig:
    """The multi-exit network: a named preset, or explicit stages and exits."""

    preset: str | None = opt(
        "fmnist3",
        "named preset: fmnist3, cnv_exits, tiny (quant/presets.py); None: explicit",
    )
    stages: list[StageConfig] = opt([], "backbone stages; empty: the preset's")
    exits: list[ExitConfig] = opt([], "exit heads in depth order, the last after the last stage")
    input_bits: int = opt(8, "bit width of the unsigned integer input pixels")

    def __post_init__(self) -> None:
        check(
            self.preset is not None or (bool(self.stages) and bool(self.exits)),
            "give either a preset or both stages and exits",
        )
        _check_bits("input_bits", self.input_bits)
        # At load, not at training: an unknown preset or an exit after a stage the preset lacks
        # must fail `exitflow config --check` and every command, before any data is read.
        # Imported here because quant.presets builds its table from this module's classes.
        from exitflow.quant.presets import resolve_topology

        resolve_topology(self)


class LossKind(StrEnum):
    """Training objective (definitions and sources: docs/methods.md)."""

    JOINT = "joint"
    EXITS_ONLY = "exits_only"
    DISTILL = "distill"
    DIVERSITY = "diversity"


class Augment(StrEnum):
    """Training-time image augmentation (label-preserving transforms only)."""

    NONE = "none"
    FLIP = "flip"  # horizontal mirror: garments, objects; never digits or letters
    CROP = "crop"  # random crop after zero padding of H/8 pixels (shifts by up to H/8)
    CROP_FLIP = "crop_flip"  # both (the CIFAR-10 recipe)


class Optimizer(StrEnum):
    """Optimiser used for training."""

    ADAM = "adam"
    SGD = "sgd"


@dataclass
class TrainConfig:
    """Quantisation-aware training of all exits."""

    epochs: int = opt(10, "maximum training epochs")
    batch_size: int = opt(128, "mini-batch size")
    lr: float = opt(2e-3, "peak learning rate (cosine schedule)")
    weight_decay: float = opt(0.0, "weight decay")
    optimizer: Optimizer = opt(Optimizer.ADAM, "optimiser")
    loss: LossKind = opt(LossKind.JOINT, "training objective")
    exit_weights: list[float] = opt([], "per-exit loss weights; empty: w_i = i (grows with depth)")
    distill_temperature: float = opt(3.0, "self-distillation temperature T")
    distill_alpha: float = opt(0.5, "self-distillation weight alpha")
    diversity_lambda: float = opt(0.2, "diversity loss weight lambda, in (0, 1)")
    pretrained: str | None = opt(
        None, "checkpoint whose backbone is frozen for exits_only training"
    )
    seed: int = opt(0, "seed for weights, shuffling and augmentation")
    early_stop_patience: int = opt(3, "stop after this many epochs without validation improvement")
    augment: Augment = opt(Augment.NONE, "image augmentation: none, flip, crop or crop_flip")
    label_smoothing: float = opt(0.0, "label smoothing of every exit's cross-entropy, in [0, 1)")
    device: str = opt("auto", "torch device: auto, cpu or cuda")
    threads: int | None = opt(None, "torch CPU threads; None: all cores")

    def __post_init__(self) -> None:
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        check(all(w >= 0 for w in self.exit_weights), "exit_weights must be >= 0")
        check(self.distill_temperature > 0, "distill_temperature must be > 0")
        check(0 < self.diversity_lambda < 1, "diversity_lambda must be in (0, 1)")
        check(
            0 <= self.label_smoothing < 1,
            f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        check(self.early_stop_patience >= 1, "early_stop_patience must be >= 1")
        check(
            self.device in ("auto", "cpu", "cuda"),
            f"device must be auto, cpu or cuda, got {self.device!r}",
        )
        check(
            self.loss != LossKind.EXITS_ONLY or self.pretrained is not None,
            "loss exits_only needs train.pretrained: a checkpoint with a trained backbone",
        )


class CalibrationTarget(StrEnum):
    """What threshold calibration optimises for."""

    ACCURACY_DROP = "accuracy_drop"
    MAC_BUDGET = "mac_budget"


@dataclass
class PolicyConfig:
    """The exit policy and how its thresholds are calibrated."""

    kind: PolicyKind = opt(PolicyKind.MARGIN, "exit decision rule")
    target: CalibrationTarget = opt(CalibrationTarget.ACCURACY_DROP, "calibration goal")
    max_accuracy_drop: float = opt(0.002, "allowed validation accuracy drop versus the final exit")
    mac_budget: float = opt(0.35, "allowed mean MACs as a fraction of the full network")
    thresholds: list[ExtFloat] | None = opt(
        None,
        "explicit thresholds, one per non-final exit: numbers, or inf / .inf (the exit never "
        "fires; entropy: -inf / -.inf), either spelling; None: calibrate",
    )
    patience: int = opt(2, "patience policy: exits the prediction must stay unchanged")
    voting_k: float = opt(0.5, "voting policy: exponent k in votes / l^k, in [0, 1)")

    def __post_init__(self) -> None:
        check(0 <= self.max_accuracy_drop < 1, "max_accuracy_drop must be in [0, 1)")
        check(0 < self.mac_budget <= 1, "mac_budget must be in (0, 1]")
        check(self.patience >= 1, "patience must be >= 1")
        check(0 <= self.voting_k < 1, "voting_k must be in [0, 1)")
