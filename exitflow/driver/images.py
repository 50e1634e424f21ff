"""Images for the driver: uint8 arrays, an .npz, or image files (PNG/PGM via Pillow)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DriverError

__all__ = ["IMAGE_SUFFIXES", "load_images"]

IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".bmp", ".jpg", ".jpeg")
NPZ_KEYS = ("input", "images", "x")


def _read_pgm(path: Path) -> np.ndarray | None:
    """A binary 8-bit PGM (P5) without Pillow; None for anything else."""
    data = path.read_bytes()
    if not data.startswith(b"P5"):
        return None
    tokens: list[bytes] = []
    pos = 2
    while len(tokens) < 3:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        tokens.append(data[pos:end])
        pos = end
    w, h, maxval = (int(t) for t in tokens)
    if maxval > 255:
        return None
    return np.frombuffer(data[pos + 1 : pos + 1 + w * h], np.uint8).reshape(h, w)


def _read_image(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        img = _read_pgm(path) if path.suffix.lower() == ".pgm" else None
        if img is None:
            raise DriverError(
                f"{path}: reading {path.suffix} images needs Pillow (`pip install pillow`); "
                "without it the driver reads 8-bit binary PGM files, .npz and arrays"
            ) from None
        return img
    with Image.open(path) as f:
        im = f if f.mode in ("L", "RGB") else f.convert("RGB" if f.mode in ("RGBA", "P") else "L")
        arr = np.asarray(im, dtype=np.uint8)
    return arr if arr.ndim == 2 else arr.transpose(2, 0, 1)  # HWC -> CHW


def load_images(
    source: str | os.PathLike[str] | np.ndarray | Any, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(images uint8 [N, ...], labels or None, names). `source`: an array, an .npz (key input,
    images or x; labels from `labels` or `y`), an image file or a folder of them (sorted by
    name). Grey images come as [N, H, W], colour ones as [N, 3, H, W]."""
    if isinstance(source, np.ndarray):
        x = source[:limit] if limit is not None else source
        return np.asarray(x), None, [str(i) for i in range(len(x))]
    path = Path(source)
    if path.suffix == ".npz" and path.is_file():
        with np.load(path) as z:
            key = next((k for k in NPZ_KEYS if k in z.files), None)
            if key is None:
                raise DriverError(f"{path}: no array named one of {NPZ_KEYS} (has {z.files})")
            x = z[key][:limit] if limit is not None else z[key]
            lab = next((z[k] for k in ("labels", "y") if k in z.files), None)
        labels = None if lab is None else np.asarray(lab)[: len(x)]
        return np.asarray(x), labels, [f"{path.name}[{i}]" for i in range(len(x))]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DriverError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    elif path.is_file():
        files = [path]
    else:
        raise DriverError(f"{path} does not exist")
    files = files[:limit] if limit is not None else files
    imgs = [_read_image(p) for p in files]
    shapes = {im.shape for im in imgs}
    if len(shapes) != 1:
        raise DriverError(f"{path}: images of different shapes {sorted(shapes)[:4]}")
    return np.stack(imgs), None, [p.name for p in files]
