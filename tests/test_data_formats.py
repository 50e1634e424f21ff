"""CIFAR-10 pickles and image folders, written in tmp_path in their real on-disk formats."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from exitflow.quant.config import DatasetConfig
from exitflow.quant.data import DatasetError, DatasetMissingError, dataset_info, load_splits

# --- CIFAR-10 ----------------------------------------------------------------------------------

NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]


def write_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    """The real layout: a dict with bytes keys, data uint8 [N, 3072], labels a list of ints."""
    batch = {
        b"batch_label": path.name.encode(),
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img{i}.png".encode() for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture
def cifar(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (8, 3072), dtype=np.uint8)
        write_batch(root / name, data, [int(v) for v in rng.integers(0, 5, 8)])
        written[name] = data
    (root / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": NAMES, b"num_vis": 3072}, protocol=2)
    )
    return root, written


def test_cifar_layout_is_planar_rgb(cifar: tuple[Path, dict], tmp_path: Path) -> None:
    root, written = cifar
    for path in (root, root.parent):  # the batches directory or its parent
        splits = load_splits(DatasetConfig(name="cifar10", path=str(path)), tmp_path)
        assert len(splits.train) + len(splits.val) == 40 and len(splits.test) == 8
        assert splits.test.images.shape == (8, 3, 32, 32)
        assert splits.train.classes == [n.decode() for n in NAMES]
    flat = written["test_batch"]
    images = splits.test.images
    for c, y, x in [(0, 0, 0), (1, 5, 7), (2, 31, 30), (0, 17, 3)]:
        assert np.array_equal(images[:, c, y, x], flat[:, c * 1024 + y * 32 + x])
    cfg = DatasetConfig(name="cifar10", path=str(root))
    assert dataset_info(cfg, tmp_path) == (3, 32, 32, 5)


def test_cifar_to_grey_and_resized(cifar: tuple[Path, dict], tmp_path: Path) -> None:
    root, written = cifar
    cfg = DatasetConfig(name="cifar10", path=str(root), channels=1, image_size=16)
    splits = load_splits(cfg, tmp_path)
    assert splits.test.images.shape == (8, 1, 16, 16)
    rgb = written["test_batch"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    ref = Image.fromarray(rgb).convert("L").resize((16, 16), Image.BILINEAR)
    assert np.abs(splits.test.images[0, 0].astype(int) - np.asarray(ref)).max() <= 1


def test_cifar_needs_a_path_and_names_the_missing_batch(cifar, tmp_path: Path) -> None:
    root, _ = cifar
    with pytest.raises(DatasetMissingError, match=r"dataset\.path"):
        load_splits(DatasetConfig(name="cifar10"), tmp_path)
    with pytest.raises(DatasetMissingError, match="does not exist"):
        load_splits(DatasetConfig(name="cifar10", path=str(tmp_path / "nope")), tmp_path)
    (root / "data_batch_3").unlink()
    with pytest.raises(DatasetMissingError, match="data_batch_3 missing"):
        load_splits(DatasetConfig(name="cifar10", path=str(root)), tmp_path)


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_cifar_pickle_cannot_run_code(cifar, tmp_path: Path, monkeypatch) -> None:
    root, _ = cifar
    monkeypatch.chdir(tmp_path)
    (root / "test_batch").write_bytes(pickle.dumps({b"data": _Boom()}))
    with pytest.raises(DatasetError, match="test_batch"):
        load_splits(DatasetConfig(name="cifar10", path=str(root)), tmp_path)
    assert not (tmp_path / "pwned.txt").exists()


def test_cifar_bad_batch_is_named(cifar, tmp_path: Path) -> None:
    root, _ = cifar
    write_batch(root / "data_batch_2", np.zeros((4, 100), dtype=np.uint8), [0, 1, 2, 3])
    with pytest.raises(DatasetError, match=r"data_batch_2.*uint8 \[N, 3072\]"):
        load_splits(DatasetConfig(name="cifar10", path=str(root)), tmp_path)


# --- image folders -------------------------------------------------------------------------------


def save(path: Path, value: int | tuple, size: tuple[int, int], mode: str = "L") -> None:
    """A constant image; the value identifies it after decoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)


def folder_cfg(root: Path, **kw) -> DatasetConfig:
    return DatasetConfig(name="image_folder", path=str(root), **kw)


def test_image_folder_with_split_mixed_sizes_and_colours(tmp_path: Path) -> None:
    for i in range(5):
        save(tmp_path / "train" / "dog" / f"{i}.png", 10 + i, (24, 24))
        save(tmp_path / "train" / "cat" / f"{i}.jpg", (200, 0, 0), (30, 20), "RGB")
    save(tmp_path / "test" / "cat" / "a.png", (0, 0, 255), (24, 24), "RGB")
    save(tmp_path / "test" / "dog" / "b.png", 99, (50, 60))
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "dog" / ".hidden.png").write_bytes(b"junk")
    splits = load_splits(folder_cfg(tmp_path), tmp_path)
    assert splits.train.classes == ["cat", "dog"]
    # 3 channels (some images are RGB); 24 is the most common size among the 12 images.
    assert splits.test.images.shape == (2, 3, 24, 24)
    assert splits.test.labels.tolist() == [0, 1]
    assert np.all(splits.test.images[0].max(axis=(1, 2)) == [0, 0, 255])
    assert np.all(splits.test.images[1] == 99)  # grey replicated, constant survives resizing
    assert len(splits.train) + len(splits.val) == 10
    assert dataset_info(folder_cfg(tmp_path), tmp_path) == (3, 24, 24, 2)


def test_image_folder_all_grey_gives_one_channel(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / "train" / cls / f"{i}.png", 50, (12, 12))
        save(tmp_path / "test" / cls / "t.png", 50, (16, 12))
    splits = load_splits(folder_cfg(tmp_path), tmp_path)
    assert splits.train.images.shape[1:] == (1, 12, 12)
    resized = load_splits(folder_cfg(tmp_path, image_size=8, channels=3), tmp_path)
    assert resized.test.images.shape == (2, 3, 8, 8)


def test_image_folder_without_split_holds_out_a_seeded_fifth(tmp_path: Path) -> None:
    for cls, base in (("ants", 0), ("bees", 100)):
        for i in range(10):
            save(tmp_path / cls / f"{i:02d}.png", base + i, (8, 8))
    cfg = folder_cfg(tmp_path)
    a, b = load_splits(cfg, tmp_path), load_splits(cfg, tmp_path)
    test_ids = set(a.test.images[:, 0, 0, 0].tolist())
    train_ids = set(a.train.images[:, 0, 0, 0].tolist()) | set(a.val.images[:, 0, 0, 0].tolist())
    assert len(a.test) == 4 and np.bincount(a.test.labels).tolist() == [2, 2]
    assert not test_ids & train_ids and len(test_ids | train_ids) == 20
    assert np.array_equal(a.test.images, b.test.images)
    other = load_splits(folder_cfg(tmp_path, split_seed=5), tmp_path)
    assert set(other.test.images[:, 0, 0, 0].tolist()) != test_ids


def test_image_folder_no_dominant_size_defaults_to_32(tmp_path: Path) -> None:
    save(tmp_path / "x" / "0.png", 1, (10, 10))
    save(tmp_path / "y" / "0.png", 2, (40, 40))
    assert dataset_info(folder_cfg(tmp_path), tmp_path) == (1, 32, 32, 2)


def test_image_folder_scales_16_bit_grey(tmp_path: Path) -> None:
    for cls, value in (("a", 65535), ("b", 257 * 100)):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.full((6, 6), value, dtype=np.uint16)).save(tmp_path / cls / "0.png")
        Image.fromarray(np.full((6, 6), value, dtype=np.uint16)).save(tmp_path / cls / "1.png")
    splits = load_splits(folder_cfg(tmp_path, val_fraction=0.5), tmp_path)
    everything = np.concatenate([splits.train.images, splits.val.images, splits.test.images])
    labels = np.concatenate([splits.train.labels, splits.val.labels, splits.test.labels])
    assert set(everything[labels == 0].ravel().tolist()) == {255}
    assert set(everything[labels == 1].ravel().tolist()) == {100}


def test_image_folder_empty_class_folder_is_named(tmp_path: Path) -> None:
    save(tmp_path / "train" / "full" / "0.png", 1, (8, 8))
    (tmp_path / "train" / "empty").mkdir()
    (tmp_path / "train" / "empty" / "readme.txt").write_text("no images here")
    save(tmp_path / "test" / "full" / "0.png", 1, (8, 8))
    with pytest.raises(DatasetError) as exc:
        load_splits(folder_cfg(tmp_path), tmp_path)
    assert str(tmp_path / "train" / "empty") in str(exc.value) and "no images" in str(exc.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_image_folder_corrupt_image_is_named(tmp_path: Path, damage: str) -> None:
    for cls in ("a", "b"):
        for i in range(3):
            save(tmp_path / cls / f"{i}.png", 9, (20, 20))
    bad = tmp_path / "b" / "1.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20), np.uint8)).save(bad)
    data = bad.read_bytes()
    bad.write_bytes(b"this is not a png" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DatasetError, match="cannot read image") as exc:
        load_splits(folder_cfg(tmp_path), tmp_path)
    assert str(bad) in str(exc.value)


def test_image_folder_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissingError, match=r"dataset\.path"):
        load_splits(DatasetConfig(name="image_folder"), tmp_path)
    with pytest.raises(DatasetMissingError, match="not a directory"):
        load_splits(folder_cfg(tmp_path / "missing"), tmp_path)
    save(tmp_path / "one" / "only" / "0.png", 1, (8, 8))
    with pytest.raises(DatasetError, match="at least 2"):
        load_splits(folder_cfg(tmp_path / "one"), tmp_path)
    for cls in ("a", "b"):
        save(tmp_path / "two" / "train" / cls / "0.png", 1, (8, 8))
    save(tmp_path / "two" / "test" / "zebra" / "0.png", 1, (8, 8))
    with pytest.raises(DatasetError, match="zebra"):
        load_splits(folder_cfg(tmp_path / "two"), tmp_path)
