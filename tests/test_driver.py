"""The driver without a built run: manifest schema, packing and record decoding against hw/'s
own implementations, the bitstream/manifest pairing, steady-state throughput, image loading, and
that the package stays self-contained for a board (relative imports, Python 3.10 syntax, runs
with exitflow unimportable)."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exitflow.driver import (
    SCHEMA,
    DeviceError,
    DriverError,
    ExitflowAccelerator,
    ManifestError,
    load_images,
    read_manifest,
    steady_state_fps,
    write_manifest,
)
from exitflow.driver.manifest import file_sha256, record_fields
from exitflow.driver.records import decode_records, encode_records, pack_images
from exitflow.hw.ops.merge import unpack_output
from exitflow.hw.tools.finn_rtl import pack_stream

DRIVER = Path(__file__).resolve().parents[1] / "exitflow" / "driver"
STDLIB_OK = {"numpy", "PIL", "pynq"} | set(sys.stdlib_module_names)


def _manifest(num_exits: int = 3, logits: bool = True, bits: int = 8, per: int = 1) -> dict:
    rec = {"id_bits": 16, "exit_bits": 2, "class_bits": 4, "num_classes": 10,
           "logit_bits": 12, "logits": logits}  # fmt: skip
    fields = record_fields(rec)
    width = sum(f["bits"] for f in fields)
    return {
        "schema": SCHEMA,
        "design": "unit",
        "clock_mhz": 100.0,
        "num_exits": num_exits,
        "num_classes": 10,
        "policy": {"kind": "margin", "thresholds": [5] * (num_exits - 1), "params": {}},
        "input": {"shape": [2, 4, 6], "dtype": "uint8", "stream_layout": "NHWC",
                  "element_bits": bits, "signed": False, "elements_per_word": per,
                  "word_bits": bits * per, "word_bytes": 4, "words_per_frame": 48 // per},
        "record": {**rec, "fields": fields, "width_bits": width,
                   "word_bytes": 1 << (((width + 7) // 8) - 1).bit_length()},
        "registers": {"magic": 0, "exits": 4, "control": 8, "frames_in": 12,
                      "magic_value": 0x45584631,
                      "thresholds": [0x100 + 4 * k for k in range(num_exits - 1)],
                      "counters": [0x200 + 4 * k for k in range(num_exits)],
                      "reset_thresholds": [5] * (num_exits - 1)},
        "hashes": {"model": None, "config": None, "rtl": None, "hwdesc": None},
        "bitstream": {"file": "unit.bit", "hwh": "unit.hwh", "sha256": None},
    }  # fmt: skip


def test_manifest_round_trip_and_refusals(tmp_path: Path) -> None:
    m = _manifest()
    write_manifest(tmp_path, m)
    assert read_manifest(tmp_path) == json.loads(json.dumps(m))
    bad = copy.deepcopy(m)
    bad["record"]["width_bits"] += 1
    with pytest.raises(ManifestError, match="record fields sum to"):
        write_manifest(tmp_path, bad)
    bad = copy.deepcopy(m)
    bad["schema"] = "exitflow.deploy-manifest/0"
    (tmp_path / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(ManifestError, match="schema"):
        read_manifest(tmp_path)
    bad = copy.deepcopy(m)
    bad["input"]["words_per_frame"] = 47
    with pytest.raises(ManifestError, match="48 elements"):
        write_manifest(tmp_path, bad)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nowhere")


@pytest.mark.parametrize(("bits", "per"), [(8, 1), (8, 3), (4, 2), (2, 4), (8, 4)])
def test_packing_equals_finn_stream_packing(bits: int, per: int) -> None:
    m = _manifest(bits=bits, per=per)
    inp = m["input"]
    inp["word_bytes"] = max(1, 1 << (((bits * per + 7) // 8) - 1).bit_length())
    rng = np.random.default_rng(bits * 10 + per)
    images = rng.integers(0, 1 << bits, size=(3, 2, 4, 6), dtype=np.uint8)
    got = pack_images(images, inp)
    # hw/'s implementation: NCHW -> NHWC (stage 0's layout), then FINN's word packing
    want = pack_stream(images.transpose(0, 2, 3, 1), bits, per)
    assert got.shape == (len(want), inp["word_bytes"])
    assert [int.from_bytes(w.tobytes(), "little") for w in got] == want


def test_grey_images_and_wrong_shapes() -> None:
    inp = {**_manifest()["input"], "shape": [1, 4, 6], "words_per_frame": 24}
    x = np.arange(2 * 24, dtype=np.uint8).reshape(2, 4, 6)
    assert np.array_equal(pack_images(x, inp), pack_images(x[:, None], inp))
    with pytest.raises(DriverError, match=r"takes \[1, 4, 6\]"):
        pack_images(np.zeros((2, 5, 6), np.uint8), inp)
    with pytest.raises(DriverError, match="uint8"):
        pack_images(np.full((1, 4, 6), 300), inp)


@pytest.mark.parametrize("logits", [True, False])
def test_record_decoding_equals_merge_unpacking(logits: bool) -> None:
    rec = _manifest(num_exits=3, logits=logits)["record"]
    rng = np.random.default_rng(1)
    n = 50
    f = {
        "frame_id": rng.integers(0, 1 << 16, n),
        "exit": rng.integers(0, 3, n),
        "forced": rng.integers(0, 2, n),
        "class": rng.integers(0, 10, n),
        "logits": rng.integers(-2048, 2048, (n, 10)) if logits else None,
    }
    raw = encode_records(f, rec)
    assert raw.shape == (n, rec["word_bytes"])
    got = decode_records(raw, rec)
    # hw/ops/merge's own decoder of the same words
    words = [int.from_bytes(r.tobytes(), "little") for r in raw]
    hw = unpack_output(words, 3, 16, 4)
    for k in ("frame_id", "exit", "forced", "class"):
        assert np.array_equal(got[k], hw[k]) and np.array_equal(got[k], f[k]), k
    if logits:
        assert np.array_equal(got["logits"], f["logits"])
        mask = (1 << 12) - 1
        first = np.array([int(p) & mask for p in hw["payload"]])
        assert np.array_equal(first, f["logits"][:, 0] & mask)
    else:
        assert "logits" not in got


def test_steady_state_throughput() -> None:
    assert steady_state_fps([0.0, 1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.0)
    # a first DMA transfer of 3 records arriving together counts once, as t_1
    assert steady_state_fps([5.0, 5.0, 5.0, 6.0, 7.0]) == pytest.approx(1.0)
    assert steady_state_fps([1.0, 1.0]) is None and steady_state_fps([2.0]) is None


def _package(tmp_path: Path, bit_bytes: bytes, manifest_bit: bytes) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "unit.bit").write_bytes(bit_bytes)
    (pkg / "unit.hwh").write_text("<hwh/>")
    m = _manifest()
    (tmp_path / "other.bit").write_bytes(manifest_bit)
    m["bitstream"]["sha256"] = file_sha256(tmp_path / "other.bit")
    write_manifest(pkg, m)
    return pkg


def test_wrong_bitstream_manifest_pair_is_refused(tmp_path: Path) -> None:
    pkg = _package(tmp_path, b"bitstream of design A", b"bitstream of design B")
    with pytest.raises(ManifestError, match=r"unit\.bit does not belong to .*manifest\.json"):
        ExitflowAccelerator(pkg, "pynq")


def test_matching_pair_reaches_pynq_and_names_what_is_missing(tmp_path: Path) -> None:
    pkg = _package(tmp_path, b"same bits", b"same bits")
    try:
        import pynq  # noqa: F401
    except ImportError:
        with pytest.raises(DeviceError, match=r"needs the pynq package.*'verilator' or 'sim'"):
            ExitflowAccelerator(pkg, "pynq")
    else:  # pragma: no cover - pynq in this environment, no board
        with pytest.raises(DeviceError, match="No Devices Found"):
            ExitflowAccelerator(pkg, "pynq")


def test_unknown_backend_and_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="choose one of"):
        ExitflowAccelerator(tmp_path, "fpga")
    with pytest.raises(DriverError, match="neither a deploy package"):
        ExitflowAccelerator(tmp_path, "sim")


def test_images_from_npz_pgm_and_png(tmp_path: Path) -> None:
    x = np.arange(3 * 28 * 28, dtype=np.uint64).reshape(3, 28, 28).astype(np.uint8)
    np.savez(tmp_path / "a.npz", input=x[:, None], labels=np.array([1, 2, 3]))
    imgs, labels, names = load_images(tmp_path / "a.npz", limit=2)
    assert imgs.shape == (2, 1, 28, 28) and labels.tolist() == [1, 2] and len(names) == 2
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):  # binary PGM, with a comment line as some writers put
        (d / f"{i}.pgm").write_bytes(b"P5\n# made by a test\n28 28\n255\n" + x[i].tobytes())
    imgs, labels, names = load_images(d)
    assert np.array_equal(imgs, x) and labels is None and names == ["0.pgm", "1.pgm", "2.pgm"]
    pil = pytest.importorskip("PIL.Image")
    pil.fromarray(x[0]).save(tmp_path / "one.png")
    assert np.array_equal(load_images(tmp_path / "one.png")[0][0], x[0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DriverError, match="no image files"):
        load_images(tmp_path / "empty")


def test_driver_is_self_contained_for_the_board() -> None:
    """Relative imports only (exitflow only lazily, inside the dev backends' functions), module
    level imports from the standard library, numpy, Pillow or pynq, Python 3.10 syntax."""
    for py in sorted(DRIVER.glob("*.py")):
        tree = ast.parse(py.read_text(), feature_version=(3, 10))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] in STDLIB_OK | {"__future__"}, (py, node.module)
            if isinstance(node, ast.Import):
                for a in node.names:
                    assert a.name.split(".")[0] in STDLIB_OK, (py, a.name)
        text = py.read_text()
        for banned in ("StrEnum", "typing import Self", "tomllib", "ExceptionGroup"):
            assert banned not in text, (py, banned)
    manifest = ast.parse((DRIVER / "manifest.py").read_text())
    mods = {n.module for n in ast.walk(manifest) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name for n in ast.walk(manifest) if isinstance(n, ast.Import) for a in n.names}
    assert "numpy" not in mods, "manifest.py must stay stdlib-only"


def test_copied_package_runs_without_exitflow(tmp_path: Path) -> None:
    shutil.copytree(
        DRIVER, tmp_path / "exitflow_driver", ignore=shutil.ignore_patterns("__pycache__")
    )
    pkg = _package(tmp_path, b"x", b"x")
    block = "import sys; sys.modules['exitflow'] = None; sys.argv[0] = 'exitflow_driver'; "
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-c", block + "import runpy; runpy.run_module('exitflow_driver', "
         "run_name='__main__')", *a], cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    info = run("info", str(pkg))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["design"] == "unit"
    np.savez(tmp_path / "x.npz", input=np.zeros((2, 2, 4, 6), np.uint8))
    res = run("run", str(pkg), str(tmp_path / "x.npz"))
    assert res.returncode == 3
    assert "error:" in res.stderr and "pynq" in res.stderr and "Traceback" not in res.stderr


def test_packet_size_divides_the_batch() -> None:
    from exitflow.driver.device import packet_size

    assert packet_size(10_000, 256) == 250 and packet_size(1000, 256) == 250
    assert packet_size(5, 256) == 5 and packet_size(997, 256) == 1
    for n in range(1, 300):
        k = packet_size(n, 64)
        assert n % k == 0 and 1 <= k <= 64
