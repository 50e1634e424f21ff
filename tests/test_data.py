"""quant.data: the installed IDX datasets, splits, limits, resizing, missing and corrupt data.

CIFAR-10 and image folders are faked in tmp_path in their real on-disk formats.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exitflow.quant.data as qdata
from exitflow.quant.config import DatasetConfig
from exitflow.quant.data import (
    ArrayDataset,
    DatasetError,
    DatasetMissingError,
    dataset_info,
    limit,
    load_splits,
    resize_crop,
    split_train_val,
)


def indexed(n: int, classes: int = 3) -> ArrayDataset:
    """A dataset whose image i carries i in its first two pixels (to trace samples)."""
    images = np.zeros((n, 1, 4, 4), dtype=np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    return ArrayDataset(images, np.arange(n) % classes, [str(c) for c in range(classes)])


def ids(data: ArrayDataset) -> np.ndarray:
    return data.images[:, 0, 0, 0].astype(int) + 256 * data.images[:, 0, 0, 1].astype(int)


def rows(images: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in images}


# --- installed IDX datasets ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=["fashion_mnist", "mnist"])
def idx_splits(request: pytest.FixtureRequest, data_root: Path) -> tuple[str, qdata.Splits]:
    return request.param, load_splits(DatasetConfig(name=request.param), data_root)


def test_installed_idx_dataset_shapes_and_labels(idx_splits: tuple[str, qdata.Splits]) -> None:
    name, splits = idx_splits
    assert len(splits.train) + len(splits.val) == 60000 and len(splits.test) == 10000
    assert len(splits.val) == 6000
    for part in (splits.train, splits.val, splits.test):
        assert part.images.dtype == np.uint8 and part.images.shape[1:] == (1, 28, 28)
        assert part.labels.dtype == np.int64 and set(np.unique(part.labels)) == set(range(10))
        assert part.images.flags.writeable
        assert len(part.classes) == 10
    assert splits.test.images.max() == 255 and splits.test.images.min() == 0
    assert (splits.train.classes[0] == "T-shirt/top") == (name == "fashion_mnist")
    if name == "fashion_mnist":  # its test set is exactly balanced (MNIST's is not)
        assert np.bincount(splits.test.labels).tolist() == [1000] * 10


def test_dataset_info_matches_loaded_shapes(data_root: Path) -> None:
    assert dataset_info(DatasetConfig(name="fashion_mnist"), data_root) == (1, 28, 28, 10)
    cfg = DatasetConfig(name="mnist", image_size=32, channels=3)
    assert dataset_info(cfg, data_root) == (3, 32, 32, 10)
    assert dataset_info(DatasetConfig(name="synthetic", synthetic_classes=5), data_root) == (
        1,
        16,
        16,
        5,
    )
    assert dataset_info(DatasetConfig(name="digits", image_size=12), data_root) == (1, 12, 12, 10)


def test_mnist_resized_and_replicated_to_rgb(data_root: Path) -> None:
    cfg = DatasetConfig(name="mnist", image_size=32, channels=3, limit_train=64, limit_test=32)
    splits = load_splits(cfg, data_root)
    assert splits.train.images.shape == (64, 3, 32, 32) and splits.test.images.shape[0] == 32
    assert len(splits.val) == 6000  # limit_train cuts after the split: validation is untouched
    rgb = splits.test.images
    assert np.array_equal(rgb[:, 0], rgb[:, 1]) and np.array_equal(rgb[:, 0], rgb[:, 2])
    assert dataset_info(cfg, data_root) == (3, 32, 32, 10)


def test_idx_system_install_is_the_fallback(tmp_path: Path, monkeypatch, data_root) -> None:
    system = tmp_path / "system"
    system.mkdir()
    (system / "fashion-mnist").symlink_to(data_root / "fashion-mnist")
    monkeypatch.setattr(qdata, "SYSTEM_DATASETS", system)
    cfg = DatasetConfig(name="fashion_mnist")
    assert dataset_info(cfg, tmp_path / "empty") == (1, 28, 28, 10)


# --- missing and corrupt IDX files ---------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fake_mnist(directory: Path, gz: bool, n_train: int = 30, n_test: int = 10) -> dict:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array, gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_raw_or_gzipped_under_dataset_path(tmp_path: Path, gz: bool) -> None:
    arrays = fake_mnist(tmp_path / "mnist", gz)
    splits = load_splits(DatasetConfig(name="mnist", path=str(tmp_path)), tmp_path / "unused")
    assert np.array_equal(splits.test.images[:, 0], arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(splits.test.labels, arrays["t10k-labels-idx1-ubyte"])
    assert len(splits.train) + len(splits.val) == 30


def test_missing_idx_dataset_names_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(qdata, "SYSTEM_DATASETS", tmp_path / "no-system")
    for cfg in (
        DatasetConfig(name="fashion_mnist"),
        DatasetConfig(name="mnist", path=str(tmp_path / "elsewhere")),
    ):
        with pytest.raises(DatasetMissingError) as exc:
            load_splits(cfg, tmp_path / "data")
        message = str(exc.value)
        assert "make data" in message and "scripts/fetch_data.sh" in message
        assert "dataset.path" in message
        assert isinstance(exc.value, FileNotFoundError)
    with pytest.raises(DatasetMissingError, match="no-system"):
        dataset_info(DatasetConfig(name="fashion_mnist"), tmp_path / "data")


def test_incomplete_idx_dataset_names_the_missing_file(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist", gz=False)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetMissingError, match="t10k-labels-idx1-ubyte missing"):
        load_splits(DatasetConfig(name="mnist", path=str(tmp_path)), tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:-7], "truncated"),
        (lambda b: b + b"extra", "truncated or corrupt"),
        (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: gzip.compress(b)[:-20], "corrupt"),
        (lambda b: b"\x1f\x8b" + b"\x00" * 40, "corrupt"),
    ],
)
def test_corrupt_idx_file_is_named(tmp_path: Path, damage, message: str) -> None:
    fake_mnist(tmp_path / "mnist", gz=False)
    target = tmp_path / "mnist" / "train-images-idx3-ubyte"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(DatasetError, match=message) as exc:
        load_splits(DatasetConfig(name="mnist", path=str(tmp_path / "mnist")), tmp_path)
    assert "train-images-idx3-ubyte" in str(exc.value)


def test_idx_labels_out_of_range_are_rejected(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist", gz=False)
    write_idx(tmp_path / "mnist" / "t10k-labels-idx1-ubyte", np.full(10, 12))
    with pytest.raises(DatasetError, match="t10k-labels"):
        load_splits(DatasetConfig(name="mnist", path=str(tmp_path)), tmp_path)


# --- splits and limits ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 600),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_val_split_is_disjoint_complete_and_seeded(n: int, fraction: float, seed: int) -> None:
    data = indexed(n)
    train, val = split_train_val(data, fraction, seed)
    a, b = ids(train), ids(val)
    assert len(b) == min(max(1, round(n * fraction)), n - 1)
    assert not set(a) & set(b) and sorted([*a, *b]) == list(range(n))
    assert np.all(np.diff(a) > 0) and np.all(np.diff(b) > 0)  # source order kept
    again_train, again_val = split_train_val(data, fraction, seed)
    assert np.array_equal(ids(again_val), b) and np.array_equal(ids(again_train), a)


def test_val_split_depends_on_the_seed() -> None:
    data = indexed(500)
    vals = {tuple(ids(split_train_val(data, 0.2, seed)[1])) for seed in range(5)}
    assert len(vals) == 5


def test_limit_is_a_seeded_random_subset() -> None:
    data = indexed(1000)
    cut = limit(data, 100, seed=3)
    assert len(cut) == 100 and np.all(np.diff(ids(cut)) > 0)
    assert ids(cut).max() > 500  # not simply the first 100
    assert np.array_equal(ids(limit(data, 100, seed=3)), ids(cut))
    assert limit(data, 5000, seed=3) is data and limit(data, None, seed=3) is data


def test_load_splits_is_deterministic_and_limits_apply(data_root: Path) -> None:
    full = load_splits(DatasetConfig(name="digits"), data_root)
    again = load_splits(DatasetConfig(name="digits"), data_root)
    for a, b in zip((full.train, full.val, full.test), (again.train, again.val, again.test)):
        assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    other = load_splits(DatasetConfig(name="digits", split_seed=1), data_root)
    assert not np.array_equal(other.val.images, full.val.images)
    cut = load_splits(DatasetConfig(name="digits", limit_train=100, limit_test=40), data_root)
    assert len(cut.train) == 100 and len(cut.test) == 40
    assert np.array_equal(cut.val.images, full.val.images)
    assert rows(cut.train.images) <= rows(full.train.images)
    assert rows(cut.test.images) <= rows(full.test.images)


# --- resizing and channel conversion ----------------------------------------------------------


@pytest.mark.parametrize(("h", "w", "size"), [(28, 28, 32), (28, 28, 10), (40, 30, 16), (9, 20, 8)])
def test_resize_crop_matches_pil_bilinear(h: int, w: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(h * w + size)
    img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    ours = resize_crop(img[None, None], size)[0, 0].astype(int)
    scale = size / min(h, w)
    full_w, full_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (full_w - size) // 2, (full_h - size) // 2
    ref = Image.fromarray(img).resize((full_w, full_h), Image.BILINEAR)
    ref = np.asarray(ref.crop((left, top, left + size, top + size))).astype(int)
    assert ours.shape == (size, size)
    assert np.abs(ours - ref).max() <= 1  # PIL rounds in fixed point


def test_resize_crop_keeps_the_centre_and_constant_images() -> None:
    img = np.zeros((1, 1, 20, 40), dtype=np.uint8)
    img[0, 0, :, 18:22] = 255  # a vertical stripe in the middle of a wide image
    out = resize_crop(img, 10)[0, 0]
    assert out.shape == (10, 10) and out[:, 4:6].min() > 100 and out[:, [0, 9]].max() == 0
    flat = np.full((3, 2, 7, 5), 77, dtype=np.uint8)
    assert np.all(resize_crop(flat, 12) == 77)


def test_rgb_to_grey_is_pils_luma(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, 3, 6, 6), dtype=np.uint8)
    ours = qdata.convert_channels(rgb, 1)[0, 0]
    ref = np.asarray(Image.fromarray(rgb[0].transpose(1, 2, 0)).convert("L"))
    assert np.array_equal(ours, ref)


def test_array_dataset_rejects_wrong_arrays() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ArrayDataset(np.zeros((2, 1, 4, 4), dtype=np.float32), np.zeros(2), ["a"])
    with pytest.raises(ValueError, match="labels must be"):
        ArrayDataset(np.zeros((2, 1, 4, 4), dtype=np.uint8), np.zeros(3), ["a"])
    with pytest.raises(ValueError, match=r"0\.\.1"):
        ArrayDataset(np.zeros((2, 1, 4, 4), dtype=np.uint8), np.array([0, 2]), ["a", "b"])


# --- synthetic and digits --------------------------------------------------------------------------


def test_synthetic_is_deterministic_balanced_and_seeded(data_root: Path) -> None:
    cfg = DatasetConfig(name="synthetic", synthetic_samples=300, synthetic_classes=6)
    a, b = load_splits(cfg, data_root), load_splits(cfg, data_root)
    assert np.array_equal(a.train.images, b.train.images)
    assert np.array_equal(a.test.labels, b.test.labels)
    assert len(a.train) + len(a.val) + len(a.test) == 300 and a.train.images.shape[1:] == (
        1,
        16,
        16,
    )
    labels = np.concatenate([a.train.labels, a.val.labels, a.test.labels])
    assert np.bincount(labels).tolist() == [50] * 6 and len(a.train.classes) == 6
    other = load_splits(
        DatasetConfig(name="synthetic", split_seed=7, synthetic_samples=300), data_root
    )
    assert not np.array_equal(other.test.images[:10], a.test.images[:10])
    with pytest.raises(DatasetError, match="synthetic_classes=20"):
        load_splits(DatasetConfig(name="synthetic", synthetic_classes=20), data_root)


def test_synthetic_is_learnable_by_a_tiny_cnn(data_root: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    splits = load_splits(DatasetConfig(name="synthetic"), data_root)
    x = torch.tensor(splits.train.images, dtype=torch.float32) / 255
    y = torch.tensor(splits.train.labels)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),  # like an exit head pooled to 1x1: position is lost
        nn.Flatten(),
        nn.Linear(16, 4),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(4):
        for batch in torch.randperm(len(x)).split(64):
            loss = nn.functional.cross_entropy(net(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        xt = torch.tensor(splits.test.images, dtype=torch.float32) / 255
        accuracy = (net(xt).argmax(1).numpy() == splits.test.labels).mean()
    assert accuracy > 0.9


def test_digits_are_8x8_rescaled_to_8_bits(data_root: Path) -> None:
    splits = load_splits(DatasetConfig(name="digits"), data_root)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    assert splits.test.images.shape[1:] == (1, 8, 8) and splits.test.images.max() == 255
    assert set(np.unique(splits.test.labels)) == set(range(10))
