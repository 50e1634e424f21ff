"""ExitflowAccelerator: a deploy package (or a run) behind one API, on any of three backends.

    acc = ExitflowAccelerator("bitstreams/Pynq-Z2/fmnist3", backend="pynq")
    res = acc.infer(images)            # uint8 [N, C, H, W] (or [N, H, W] for grey images)
    res.classes, res.exits             # per frame, in frame order
    acc.set_threshold(0, 12)           # exit 0's threshold register (integer lattice)
    acc.counters()                     # records delivered per exit (AXI-Lite counters)

Records arrive out of frame order (early exits overtake later frames) and how many leave each
exit depends on the data: a batch is complete when every frame id has been seen, never after a
fixed count per exit. docs/driver.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .device import Device
from .errors import DeviceError, DriverError, MissingFramesError
from .manifest import manifest_from_run, read_manifest
from .records import decode_records, pack_images

__all__ = ["BACKENDS", "ExitflowAccelerator", "InferenceResult", "steady_state_fps"]

log = logging.getLogger(__name__)

BACKENDS = ("pynq", "verilator", "sim")


def steady_state_fps(times: Sequence[float] | np.ndarray) -> float | None:
    """Results per second after the first: (N - 1) / (t_N - t_1) over result times; records
    that arrived together with the first (one DMA transfer) are not counted. None when all
    results share one time."""
    t = np.sort(np.asarray(times, np.float64))
    if len(t) < 2 or t[-1] <= t[0]:
        return None
    return float(np.count_nonzero(t > t[0]) / (t[-1] - t[0]))


@dataclass
class InferenceResult:
    """Per-frame results of one `infer` call, in frame order."""

    classes: np.ndarray  # int64 [N]
    exits: np.ndarray  # int64 [N]
    forced: np.ndarray  # bool [N]: the exit was forced (load shedding), not decided
    logits: np.ndarray | None  # int64 [N, C] at the exit taken, when records carry them
    result_s: np.ndarray  # float64 [N]: when each frame's record arrived (from the stream start)
    arrival_order: np.ndarray  # int64 [N]: frame indices in the order their records arrived
    num_exits: int
    wall_s: float  # seconds the whole call took (packing, streaming, decoding)
    device_cycles: int | None = None  # cycles simulated (verilator, sim)

    @property
    def histogram(self) -> list[int]:
        """Frames per exit."""
        return np.bincount(self.exits, minlength=self.num_exits).tolist()

    @property
    def throughput_fps(self) -> float | None:
        """Steady-state results per second (`steady_state_fps` of the result times)."""
        return steady_state_fps(self.result_s)

    def summary(self, labels: np.ndarray | None = None) -> dict[str, Any]:
        """Frames, exit histogram, throughput, result latency span, accuracy if labels given."""
        out: dict[str, Any] = {
            "frames": len(self.classes),
            "exit_histogram": self.histogram,
            "forced": int(self.forced.sum()),
            "throughput_fps": self.throughput_fps,
            "first_result_s": float(self.result_s.min()) if len(self.result_s) else None,
            "last_result_s": float(self.result_s.max()) if len(self.result_s) else None,
            "wall_s": self.wall_s,
        }
        if labels is not None:
            out["accuracy"] = float(
                np.mean(self.classes == np.asarray(labels)[: len(self.classes)])
            )
        return out


class ExitflowAccelerator:
    """An early-exit accelerator behind its registers and streams.

    package: a deploy package folder (manifest.json, .bit, .hwh), or for the verilator and sim
    backends also a run folder (its manifest is made from the run's files). backend: "pynq" (a
    board), "verilator" (the generated RTL top), "sim" (the cycle simulator). run_dir: the run
    for verilator/sim when the package's own reference (manifest source.run_dir) moved.
    timeout_s: how long to wait for the next record before naming the missing frames.
    options: backend-specific (verilator: backpressure, seed, design; pynq: chunk_records).
    """

    def __init__(
        self,
        package: str | Path,
        backend: str = "pynq",
        *,
        run_dir: str | Path | None = None,
        timeout_s: float = 10.0,
        **options: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise DriverError(f"backend {backend!r}: choose one of {BACKENDS}")
        self.package = Path(package).resolve()
        run = Path(run_dir).resolve() if run_dir is not None else None
        if (self.package / "manifest.json").is_file():
            self.manifest = read_manifest(self.package)
        elif backend != "pynq" and (self.package / "build" / "hwdesc.json").is_file():
            self.manifest = manifest_from_run(self.package)
            run = run or self.package
        else:
            raise DriverError(
                f"{self.package}: neither a deploy package (manifest.json) nor, for the "
                "verilator and sim backends, a built run (build/hwdesc.json)"
            )
        self.backend, self.timeout_s = backend, float(timeout_s)
        self.device = self._open(backend, run, options)
        self._check_identity()
        log.info("%s on %s: %d exits", self.manifest["design"], backend, self.num_exits)

    def _open(self, backend: str, run: Path | None, options: dict[str, Any]) -> Device:
        if backend == "pynq":
            from .device import PynqDevice

            return PynqDevice(self.manifest, self.package, **options)
        from .dev_backends import SimDevice, VerilatorDevice

        if backend == "verilator":
            return VerilatorDevice(self.manifest, run, **options)
        return SimDevice(self.manifest, run, **options)

    def _check_identity(self) -> None:
        regs = self.manifest["registers"]
        magic, exits = self.device.read_reg(regs["magic"]), self.device.read_reg(regs["exits"])
        if magic != regs["magic_value"] or exits != self.num_exits:
            raise DeviceError(
                f"the device's register block reads magic 0x{magic:08x} and {exits} exits; the "
                f"manifest says 0x{regs['magic_value']:08x} and {self.num_exits}: the loaded "
                f"design is not {self.manifest['design']} (ip name {self.manifest.get('ip')})"
            )

    # ---- registers ----
    @property
    def num_exits(self) -> int:
        """Exits of the design (the last always fires)."""
        return int(self.manifest["num_exits"])

    @property
    def thresholds(self) -> list[int]:
        """The threshold registers (integer lattice, signed), one per non-final exit."""
        vals = [self.device.read_reg(a) for a in self.manifest["registers"]["thresholds"]]
        return [v - (1 << 32) if v >> 31 else v for v in vals]

    def set_threshold(self, exit_index: int, value: int) -> None:
        """Write exit `exit_index`'s threshold register (the integer T its unit compares)."""
        addrs = self.manifest["registers"]["thresholds"]
        if not 0 <= exit_index < len(addrs):
            raise DriverError(f"exit {exit_index}: thresholds exist for exits 0..{len(addrs) - 1}")
        if not -(1 << 31) <= int(value) < (1 << 31):
            raise DriverError(f"threshold {value} does not fit a signed 32-bit register")
        self.device.write_reg(addrs[exit_index], int(value))

    def set_thresholds(self, values: Sequence[int]) -> None:
        """Write every threshold register."""
        if len(values) != self.num_exits - 1:
            raise DriverError(f"give {self.num_exits - 1} thresholds, got {len(values)}")
        for k, v in enumerate(values):
            self.set_threshold(k, v)

    def counters(self) -> list[int]:
        """Records delivered per exit since reset or `clear_counters`."""
        return [self.device.read_reg(a) for a in self.manifest["registers"]["counters"]]

    def frames_in(self) -> int:
        """Frames the accelerator accepted since reset or `clear_counters`."""
        return self.device.read_reg(self.manifest["registers"]["frames_in"])

    def clear_counters(self) -> None:
        """Zero the per-exit counters and the frame count."""
        regs = self.manifest["registers"]
        self.device.write_reg(regs["control"], int(regs.get("control_clear_counters", 1)))

    # ---- inference ----
    def infer(self, images: Any, timeout_s: float | None = None) -> InferenceResult:
        """Run a batch of uint8 images; per-frame results in frame order."""
        t0 = time.perf_counter()
        words = pack_images(images, self.manifest["input"])
        per = int(self.manifest["input"]["words_per_frame"])
        n = len(words) // per
        limit = 1 << int(self.manifest["record"]["id_bits"])
        parts, offset_s, cycles = [], 0.0, 0
        for lo in range(0, n, limit):  # frame ids are unique within one stream
            hi = min(n, lo + limit)
            r = self._stream(words[lo * per : hi * per], hi - lo, timeout_s or self.timeout_s)
            r["result_s"] = r["result_s"] + offset_s
            offset_s = float(r["result_s"].max())
            parts.append(r)
            cycles += int(getattr(self.device, "cycles", 0) or 0)
        cat = {
            k: np.concatenate([p[k] for p in parts]) for k in parts[0] if parts[0][k] is not None
        }
        order = np.argsort(cat["result_s"], kind="stable")
        return InferenceResult(
            classes=cat["class"],
            exits=cat["exit"],
            forced=cat["forced"].astype(bool),
            logits=cat.get("logits"),
            result_s=cat["result_s"],
            arrival_order=order.astype(np.int64),
            num_exits=self.num_exits,
            wall_s=time.perf_counter() - t0,
            device_cycles=cycles if self.backend != "pynq" else None,
        )

    def _stream(self, words: np.ndarray, n: int, timeout_s: float) -> dict[str, Any]:
        rec = self.manifest["record"]
        mod = 1 << int(rec["id_bits"])
        base = self.device.next_frame_id()
        got = np.zeros(n, bool)
        cols: dict[str, Any] = {
            "class": np.zeros(n, np.int64),
            "exit": np.zeros(n, np.int64),
            "forced": np.zeros(n, np.int64),
            "result_s": np.zeros(n, np.float64),
            "logits": np.zeros((n, int(rec["num_classes"])), np.int64) if rec["logits"] else None,
        }
        extra: list[int] = []
        for raw, times in self.device.stream(words, n, timeout_s):
            f = decode_records(raw, rec)
            idx = (f["frame_id"] - base) % mod
            for j, i in enumerate(idx.tolist()):
                if i >= n or got[i]:
                    extra.append(int(f["frame_id"][j]))
                    continue
                got[i] = True
                for k in ("class", "exit", "forced"):
                    cols[k][i] = f[k][j]
                cols["result_s"][i] = times[j]
                if cols["logits"] is not None:
                    cols["logits"][i] = f["logits"][j]
            if got.all():
                break
        if extra:
            log.warning(
                "%d records with unexpected or repeated frame ids: %s", len(extra), extra[:10]
            )
        missing = np.flatnonzero(~got).tolist()
        if missing:
            raise MissingFramesError(
                f"{len(missing)} of {n} frames got no record within {timeout_s} s of the "
                f"last one (frames {missing[:10]}{'...' if len(missing) > 10 else ''}; "
                f"{len(extra)} records with unexpected ids). The accelerator may be stalled: "
                "reload the bitstream before the next batch.",
                missing,
            )
        return cols

    def close(self) -> None:
        """Release the device."""
        self.device.close()

    def __enter__(self) -> ExitflowAccelerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
