"""Datasets that need no install: generated bar patterns (`synthetic`) and sklearn's 8x8 `digits`.

Both exist for quick tests: `synthetic` is learnable to > 90 % by a tiny CNN in seconds, so a
training test that fails means something; `digits` is real handwriting at 8x8 for smoke tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from exitflow.quant.config import DatasetConfig
from exitflow.quant.data import ArrayDataset, DatasetError, DatasetMissingError, stratified_holdout

SYNTHETIC_SIDE = 16
TEST_FRACTION = 0.2
# (kind, angle in degrees) of each synthetic class, in label order. Classes differ in local
# shape, not position, so heads that max-pool the feature map to 1x1 can still tell them apart.
PATTERNS = [(kind, angle) for kind in ("bar", "double", "dashed") for angle in (0, 90, 45, 135)]


def _pattern_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 [N, 1, 16, 16]: an oriented stroke of the class's kind at a random place, length,
    angle jitter and contrast on a noisy background; faint strokes make some samples hard, so
    early exits have something to be unsure about."""
    n = len(labels)
    kinds = np.array([PATTERNS[k][0] for k in labels])
    angle = np.deg2rad(np.array([PATTERNS[k][1] for k in labels]) + rng.uniform(-8, 8, n))
    centre = rng.uniform(5.5, SYNTHETIC_SIDE - 5.5, (n, 2))
    half_len = rng.uniform(4.0, 6.0, n)[:, None, None]
    bright = rng.uniform(35, 230, n)[:, None, None]
    background = rng.uniform(0, 40, n)[:, None, None]
    yy, xx = np.mgrid[0:SYNTHETIC_SIDE, 0:SYNTHETIC_SIDE].astype(np.float64)
    dx = xx[None] - centre[:, 1, None, None]
    dy = yy[None] - centre[:, 0, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    along = dx * cos + dy * sin
    across = np.abs(-dx * sin + dy * cos)
    stroke = np.clip(1.5 - across, 0, 1)  # about 2 px wide, anti-aliased
    double = np.clip(1.0 - np.abs(across - 2.0), 0, 1)  # two thin lines 4 px apart
    dashes = stroke * (np.cos(along * np.pi / 2) > 0)  # 2 px on, 2 px off
    shape = np.where(
        (kinds == "bar")[:, None, None],
        stroke,
        np.where((kinds == "double")[:, None, None], double, dashes),
    )
    shape *= np.clip(half_len + 0.5 - np.abs(along), 0, 1)
    noise = rng.normal(0, 24, shape.shape)
    pixels = background + bright * shape + noise
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)[:, None]


def load_synthetic(cfg: DatasetConfig) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test), the last 20 % of `synthetic_samples` being the test set; a function of
    (split_seed, synthetic_samples, synthetic_classes) alone."""
    k, n = cfg.synthetic_classes, cfg.synthetic_samples
    if k > len(PATTERNS):
        raise DatasetError(
            f"dataset.synthetic_classes={k}: the synthetic dataset has {len(PATTERNS)} patterns; "
            f"use at most {len(PATTERNS)}"
        )
    rng = np.random.default_rng([cfg.split_seed, 3])
    labels = rng.permutation(np.arange(n) % k)  # balanced classes
    images = _pattern_images(labels, rng)
    classes = [f"{kind}_{angle}deg" for kind, angle in PATTERNS[:k]]
    n_test = max(1, round(n * TEST_FRACTION))
    return (
        ArrayDataset(images[:-n_test], labels[:-n_test], classes),
        ArrayDataset(images[-n_test:], labels[-n_test:], list(classes)),
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(pixels 0..16 [N, 64], labels [N]): sklearn's bundled CSV read directly, since importing
    sklearn takes over a second; load_digits() where the file is not where it used to be."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissingError(
            "the digits dataset comes with scikit-learn, which is not installed: "
            "`pip install scikit-learn` (make venv installs it)"
        )
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
        return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target.astype(np.int64)


def load_digits_splits(cfg: DatasetConfig) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test) of 1x8x8 images rescaled 0..16 -> 0..255; a seeded per-class 20 % is test."""
    pixels, labels = _digits_arrays()
    images = np.rint(pixels * (255 / 16)).astype(np.uint8).reshape(-1, 1, 8, 8)
    classes = [str(d) for d in range(10)]
    test = stratified_holdout(labels, TEST_FRACTION, cfg.split_seed)
    return (
        ArrayDataset(images[~test], labels[~test], classes),
        ArrayDataset(images[test], labels[test], list(classes)),
    )


def load(cfg: DatasetConfig, data_root: Path) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test) of `synthetic` or `digits` (`data_root` is unused)."""
    return load_synthetic(cfg) if cfg.name == "synthetic" else load_digits_splits(cfg)


def info(cfg: DatasetConfig, data_root: Path) -> tuple[int, int, int, int]:
    """Native (channels, height, width, classes), without generating anything."""
    if cfg.name == "synthetic":
        return 1, SYNTHETIC_SIDE, SYNTHETIC_SIDE, cfg.synthetic_classes
    return 1, 8, 8, 10
