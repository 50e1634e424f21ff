"""Datasets as plain uint8 arrays: loading, the seeded train/validation split, resizing.

numpy, stdlib and (for image folders only) PIL: no torch, so the simulator side can read the same
data. Each dataset family has its own reader module (`quant.idx`, `quant.cifar`,
`quant.imagefolder`, `quant.smalldata`), imported only when that dataset is asked for.

Every split is `ArrayDataset(images uint8 [N, C, H, W], labels int64 [N], classes)`: the integer
pixels are the model's 8-bit unsigned input, so hardware and software see the same numbers.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exitflow.core.errors import DataError
from exitflow.quant.config import DatasetConfig, DatasetName

log = logging.getLogger(__name__)

# The system-wide install of Debian's dataset-* packages (a fallback when .data has no copy).
SYSTEM_DATASETS = Path("/usr/share/datasets")

# Keeps the float temporaries of a batched resize to a few hundred MB for 60k-image sets.
_RESIZE_CHUNK = 8192


class DatasetError(DataError):
    """A dataset is present but unusable: corrupt file, empty class folder, bad layout."""


class DatasetMissingError(DatasetError, FileNotFoundError):
    """A dataset's files are not where the config says; the message says how to install them."""


@dataclass
class ArrayDataset:
    """One split: integer pixels, labels and class names (label i is `classes[i]`)."""

    images: np.ndarray  # uint8 [N, C, H, W], 0..255
    labels: np.ndarray  # int64 [N]
    classes: list[str]

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 [N, C, H, W], got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must be [N] with N={len(self.images)}, got shape {self.labels.shape}"
            )
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels must lie in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of classes (also those without samples in this split)."""
        return len(self.classes)

    def subset(self, index: np.ndarray) -> ArrayDataset:
        """The samples at `index` (a copy), same classes."""
        return ArrayDataset(self.images[index], self.labels[index], list(self.classes))


@dataclass
class Splits:
    """Training data, the seeded validation hold-out from it, and the test set."""

    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset


# A reader module provides load(cfg, data_root) -> (train, test) and
# info(cfg, data_root) -> (channels, height, width, num_classes), both at the native format
# (image folders excepted: their images differ in size, so they decode straight to the target).
_READERS: dict[DatasetName, str] = {
    DatasetName.MNIST: "exitflow.quant.idx",
    DatasetName.FASHION_MNIST: "exitflow.quant.idx",
    DatasetName.CIFAR10: "exitflow.quant.cifar",
    DatasetName.IMAGE_FOLDER: "exitflow.quant.imagefolder",
    DatasetName.SYNTHETIC: "exitflow.quant.smalldata",
    DatasetName.DIGITS: "exitflow.quant.smalldata",
}


def _reader(cfg: DatasetConfig, what: str) -> Callable:
    module = importlib.import_module(_READERS[DatasetName(cfg.name)])
    return getattr(module, what)


def load_splits(cfg: DatasetConfig, data_root: Path) -> Splits:
    """Load `cfg.name` from `cfg.path` (or `data_root`), split, limit, resize and convert.

    The validation set is a seeded random `cfg.val_fraction` of the training data (the same cfg
    always gives the same split); `limit_train` then cuts what is left for training, and
    `limit_test` the test set (each a seeded random subset, kept in the source order).
    Raises DatasetMissingError (how to install) or DatasetError (what is wrong, which file).
    """
    train_full, test = _reader(cfg, "load")(cfg, Path(data_root))
    train, val = split_train_val(train_full, cfg.val_fraction, cfg.split_seed)
    train = limit(train, cfg.limit_train, cfg.split_seed)
    test = limit(test, cfg.limit_test, cfg.split_seed)
    splits = Splits(*(transform(ds, cfg.image_size, cfg.channels) for ds in (train, val, test)))
    log.info(
        "dataset %s: train %d, val %d, test %d images of %s, %d classes",
        cfg.name,
        len(splits.train),
        len(splits.val),
        len(splits.test),
        "x".join(map(str, splits.train.images.shape[1:])),
        splits.train.num_classes,
    )
    return splits


def dataset_info(cfg: DatasetConfig, data_root: Path) -> tuple[int, int, int, int]:
    """(channels, height, width, num_classes) after resizing/conversion, without decoding pixels
    where the format allows it (IDX and image-folder headers, CIFAR metadata)."""
    channels, height, width, num_classes = _reader(cfg, "info")(cfg, Path(data_root))
    if cfg.image_size is not None:
        height = width = cfg.image_size
    return cfg.channels or channels, height, width, num_classes


def split_train_val(
    data: ArrayDataset, val_fraction: float, seed: int
) -> tuple[ArrayDataset, ArrayDataset]:
    """Disjoint (train, val): a seeded permutation's first `val_fraction` is validation.

    Train keeps the permuted order's remainder so that `limit` draws from it at random; both
    index sets are sorted afterwards, so each split stays in the source order.
    """
    n = len(data)
    if n < 2:
        raise DatasetError(f"need at least 2 training images to hold out validation, got {n}")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    perm = np.random.default_rng([seed, 0]).permutation(n)
    return data.subset(np.sort(perm[n_val:])), data.subset(np.sort(perm[:n_val]))


def limit(data: ArrayDataset, count: int | None, seed: int) -> ArrayDataset:
    """At most `count` samples: a seeded random subset in source order (class-sorted sources such
    as image folders would otherwise lose whole classes to a plain cut)."""
    if count is None or count >= len(data):
        return data
    keep = np.random.default_rng([seed, 1]).choice(len(data), size=count, replace=False)
    return data.subset(np.sort(keep))


def transform(data: ArrayDataset, image_size: int | None, channels: int | None) -> ArrayDataset:
    """Convert to `channels` and resize (shorter side) + centre-crop to `image_size` squares."""
    images = data.images
    # Resize at the smaller channel count: grey is replicated after, RGB reduced before.
    if channels == 1:
        images = convert_channels(images, 1)
    if image_size is not None:
        images = resize_crop(images, image_size)
    if channels == 3:
        images = convert_channels(images, 3)
    if images is data.images:
        return data
    return ArrayDataset(images, data.labels, data.classes)


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 [N, C, H, W] to `channels` (1 or 3): grey is replicated, RGB becomes ITU-R 601 luma
    with PIL's integer rounding, so a folder of PNGs and the same pixels as arrays agree."""
    have = images.shape[1]
    if have == channels:
        return images
    if (have, channels) == (1, 3):
        return np.repeat(images, 3, axis=1)
    if (have, channels) == (3, 1):
        r, g, b = (images[:, i].astype(np.uint32) for i in range(3))
        return ((r * 299 + g * 587 + b * 114 + 500) // 1000).astype(np.uint8)[:, None]
    raise DatasetError(f"cannot convert {have}-channel images to {channels} channels")


@functools.lru_cache(maxsize=64)
def _axis_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] linear-interpolation weights; when shrinking, the triangle widens with the
    scale (as PIL's BILINEAR does) so that every input pixel contributes: no aliasing."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    dist = np.abs(np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / support
    weights = np.clip(1.0 - dist, 0.0, None)
    weights = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    weights.setflags(write=False)  # shared by the cache
    return weights


def crop_weights(height: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column weight matrices that resize the shorter side to `size` and keep the centre
    `size` x `size` square (resize-then-crop as one linear map per axis)."""
    scale = size / min(height, width)
    mats = []
    for n_in in (height, width):
        n_full = max(size, round(n_in * scale))
        offset = (n_full - size) // 2
        mats.append(_axis_weights(n_in, n_full)[offset : offset + size])
    return mats[0], mats[1]


def resize_crop(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size] (shorter side to `size`, centre crop)."""
    n, c, h, w = images.shape
    if h == w == size:
        return images
    rows, cols = crop_weights(h, w, size)
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for start in range(0, n, _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].astype(np.float32)
        res = rows @ (chunk @ cols.T)  # two batched matmuls: several times faster than einsum
        out[start : start + _RESIZE_CHUNK] = np.clip(np.rint(res), 0, 255)
    return out


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a seeded `fraction` of each class (for sources without a test split)."""
    rng = np.random.default_rng([seed, 2])
    mask = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        count = round(len(idx) * fraction) if len(idx) > 1 else 0
        mask[rng.choice(idx, size=count, replace=False)] = True
    return mask
