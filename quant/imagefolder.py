"""Image folders: the user's own PNG/JPEG images, one sub-folder per class.

Layouts (dataset.path):
  <path>/train/<class>/*.png  and  <path>/test/<class>/*.png   the given split;
  <path>/<class>/*.png  (or only <path>/train/<class>/...)     a seeded, per-class 20 % is the test set.
Classes are the folder names, sorted. Images may differ in size and colour: each is converted to
the target channels (default 1 if every image is greyscale, else 3) and resized (shorter side) +
centre-cropped to the target side (default the most common image's shorter side; 32 on a tie).
Files that are not images (by suffix) and hidden files are ignored.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from exitflow.quant.config import DatasetConfig
from exitflow.quant.data import (
    ArrayDataset,
    DatasetError,
    DatasetMissingError,
    crop_weights,
    stratified_holdout,
)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
TEST_FRACTION = 0.2
DEFAULT_SIZE = 32
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"})
_LAYOUT = "expected <path>/train/<class>/*.png + <path>/test/<class>/*.png, or <path>/<class>/*.png"
# Pillow's errors for unreadable files: OSError (also UnidentifiedImageError, truncated data),
# SyntaxError and ValueError from some decoders, DecompressionBombError for absurd sizes.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass
class _Header:
    path: Path
    label: int
    size: tuple[int, int]  # (width, height)
    mode: str


def _subdirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(class_dir: Path) -> list[Path]:
    files = sorted(
        p
        for p in class_dir.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise DatasetError(
            f"class folder {class_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
            "add images to it or remove it"
        )
    return files


def _header(path: Path, label: int) -> _Header:
    try:
        with Image.open(path) as im:
            return _Header(path, label, im.size, im.mode)
    except _DECODE_ERRORS as exc:
        raise DatasetError(f"cannot read image {path}: {exc}; fix or delete the file") from None


def _scan_classes(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[_Header]]:
    dirs = _subdirs(root)
    names = [d.name for d in dirs]
    if classes is None:
        classes = names
        if len(classes) < 2:
            raise DatasetError(
                f"{root} has {len(classes)} class folder(s) ({', '.join(names) or 'none'}); "
                f"a classifier needs at least 2; {_LAYOUT}"
            )
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DatasetError(
            f"{root} has class folder(s) {', '.join(unknown)} that the training folder lacks; "
            "test classes must be training classes"
        )
    headers = [
        _header(path, classes.index(d.name)) for d in dirs for path in _images_in(root / d.name)
    ]
    return classes, headers


def _root(cfg: DatasetConfig) -> Path:
    if not cfg.path:
        raise DatasetMissingError(f"image_folder needs dataset.path: a directory; {_LAYOUT}")
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise DatasetMissingError(f"dataset.path {root} is not a directory; {_LAYOUT}")
    return root


def _scan(cfg: DatasetConfig) -> tuple[list[str], list[_Header], list[_Header]]:
    """(classes, train headers, test headers) for either layout."""
    root = _root(cfg)
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        classes, train = _scan_classes(train_dir)
        return classes, train, _scan_classes(test_dir, classes)[1]
    if test_dir.is_dir():
        raise DatasetError(f"{root} has test/ but no train/; {_LAYOUT}")
    classes, headers = _scan_classes(train_dir if train_dir.is_dir() else root)
    held = stratified_holdout(np.array([h.label for h in headers]), TEST_FRACTION, cfg.split_seed)
    log.info("%s has no test/ folder: %d images held out as the test set", root, held.sum())
    train = [h for h, t in zip(headers, held) if not t]
    return classes, train, [h for h, t in zip(headers, held) if t]


def _target(cfg: DatasetConfig, headers: list[_Header]) -> tuple[int, int]:
    """(channels, side): the config's, else derived from the images."""
    channels = cfg.channels or (1 if all(_is_grey(h.mode) for h in headers) else 3)
    if cfg.image_size is not None:
        return channels, cfg.image_size
    counts = collections.Counter(h.size for h in headers).most_common(2)
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return channels, DEFAULT_SIZE  # no size dominates
    return channels, min(counts[0][0])


def _is_grey(mode: str) -> bool:
    return mode in _GREY_MODES or mode.startswith("I;16")


def _pixels(im: Image.Image, channels: int) -> np.ndarray:
    """uint8 [C, H, W] in `channels`; 16-bit greyscale is scaled, not clipped."""
    if im.mode.startswith("I;16") or im.mode == "I":
        grey = np.rint(np.asarray(im, dtype=np.float64) / 257.0)
        arr = np.clip(grey, 0, 255).astype(np.uint8)[None]
        return np.repeat(arr, 3, axis=0) if channels == 3 else arr
    arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _decode(headers: list[_Header], channels: int, side: int, classes: list[str]) -> ArrayDataset:
    images = np.empty((len(headers), channels, side, side), dtype=np.uint8)
    for i, head in enumerate(headers):
        try:
            with Image.open(head.path) as im:
                # JPEG decodes at a reduced scale when far larger than needed (no effect on others).
                im.draft(None, (side, side))
                arr = _pixels(im, channels)
        except _DECODE_ERRORS as exc:
            raise DatasetError(
                f"cannot read image {head.path}: {exc}; fix or delete the file"
            ) from None
        rows, cols = crop_weights(arr.shape[1], arr.shape[2], side)
        images[i] = np.clip(np.rint(rows @ arr.astype(np.float32) @ cols.T), 0, 255)
    labels = np.array([h.label for h in headers], dtype=np.int64)
    return ArrayDataset(images, labels, list(classes))


def load(cfg: DatasetConfig, data_root: Path) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test) already at the target channels and size (`data_root` is unused)."""
    classes, train, test = _scan(cfg)
    channels, side = _target(cfg, train + test)
    log.info(
        "decoding %d images of %d classes from %s to %dx%dx%d",
        len(train) + len(test),
        len(classes),
        cfg.path,
        channels,
        side,
        side,
    )
    return _decode(train, channels, side, classes), _decode(test, channels, side, classes)


def info(cfg: DatasetConfig, data_root: Path) -> tuple[int, int, int, int]:
    """(channels, side, side, classes) from the image headers alone."""
    classes, train, test = _scan(cfg)
    channels, side = _target(cfg, train + test)
    return channels, side, side, len(classes)
