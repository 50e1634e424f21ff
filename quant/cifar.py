"""CIFAR-10 in its python layout (`cifar-10-batches-py/`): no registry ships it, so the user points
dataset.path at a copy.

The batches are pickles; they are read with an unpickler that only builds numpy arrays and plain
containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from exitflow.quant.config import DatasetConfig
from exitflow.quant.data import ArrayDataset, DatasetError, DatasetMissingError

DIRNAME = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
META = "batches.meta"
CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
_HOW = (
    "download the python version from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and "
    "set dataset.path to the cifar-10-batches-py directory (or its parent)"
)
# What a pickled numpy array needs (protocols 0 to 5), under numpy 1's and numpy 2's module names.
_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy.core.numeric"}
_NUMPY_NAMES = {"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes in protocol < 3
            return codecs.encode
        plain = module.replace("numpy._core", "numpy.core")
        if plain not in _NUMPY_MODULES or name not in _NUMPY_NAMES:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if plain != "numpy" and hasattr(np, "_core"):  # numpy 2 renamed numpy.core
            plain = plain.replace("numpy.core", "numpy._core")
        return getattr(importlib.import_module(plain), name)


def _load_pickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            # encoding="bytes": the batches were pickled by Python 2 (keys are bytes).
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetError(f"{path}: not a CIFAR-10 batch ({exc}); {_HOW}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: not a CIFAR-10 batch (a {type(obj).__name__}); {_HOW}")
    # Python 3 re-pickles have str keys: accept both.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def batches_dir(cfg: DatasetConfig) -> Path:
    """The cifar-10-batches-py directory named by cfg.path (itself or its parent)."""
    if not cfg.path:
        raise DatasetMissingError(f"cifar10 needs dataset.path: {_HOW}")
    base = Path(cfg.path).expanduser()
    for candidate in (base, base / DIRNAME):
        if (candidate / TEST_BATCH).is_file():
            missing = [b for b in TRAIN_BATCHES if not (candidate / b).is_file()]
            if missing:
                raise DatasetMissingError(f"{candidate}: {', '.join(missing)} missing; {_HOW}")
            return candidate
    if not base.exists():
        raise DatasetMissingError(f"dataset.path {base} does not exist; {_HOW}")
    raise DatasetMissingError(f"no {TEST_BATCH} in {base} or {base / DIRNAME}; {_HOW}")


def _classes(directory: Path) -> list[str]:
    if not (directory / META).is_file():
        return list(CLASSES)
    names = _load_pickle(directory / META).get("label_names")
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{directory / META}: no label_names list; {_HOW}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _load_pickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DatasetError(f"{path}: a CIFAR-10 batch needs 'data' (array) and 'labels'; {_HOW}")
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: 'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or (len(labels) and not 0 <= labels.min() <= labels.max()):
        raise DatasetError(f"{path}: {labels.shape} labels for {len(data)} images")
    if len(labels) and labels.max() >= num_classes:
        raise DatasetError(f"{path}: label {labels.max()} but only {num_classes} classes")
    # Each row is the red plane, then green, then blue, each 32x32 in row-major order.
    return data.reshape(-1, 3, 32, 32), labels


def load(cfg: DatasetConfig, data_root: Path) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, test) at the native 3x32x32; `data_root` is unused (no install exists)."""
    directory = batches_dir(cfg)
    classes = _classes(directory)
    parts = [_read_batch(directory / b, len(classes)) for b in TRAIN_BATCHES]
    train = ArrayDataset(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes
    )
    test_images, test_labels = _read_batch(directory / TEST_BATCH, len(classes))
    return train, ArrayDataset(np.ascontiguousarray(test_images), test_labels, list(classes))


def info(cfg: DatasetConfig, data_root: Path) -> tuple[int, int, int, int]:
    """(3, 32, 32, classes) from the metadata file alone."""
    return 3, 32, 32, len(_classes(batches_dir(cfg)))
