"""The two development-side devices: the generated RTL in Verilator, and the cycle simulator.

Both need the development environment (exitflow with its hw or sim parts, a built run) and
import exitflow lazily: the board never loads this module.

- `VerilatorDevice`: exitflow.hw.top's generated top, built by Verilator; each batch is one
  simulation from reset, fed the same packed bytes a DMA would send, with every register write
  made so far replayed over AXI-Lite before the stream; counters are read over AXI-Lite after
  it and accumulated across batches as a board's would.
- `SimDevice`: exitflow.sim's cycle simulator. It computes no CNN: each frame's logits come from
  the run's export/reference.npz (computed by brevitas), found by the frame's packed bytes; the
  threshold registers set the thresholds `exitflow.core.policies.apply_policy` applies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .device import Chunk, Device
from .errors import DeviceError, ManifestError
from .manifest import file_sha256, files_sha256
from .records import encode_records, pack_images

__all__ = ["SimDevice", "VerilatorDevice"]

log = logging.getLogger(__name__)


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


class _Registers(Device):
    """The register block's behaviour (exitflow.hw.ops.axilite.RegisterFile), kept across batches."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        super().__init__(manifest)
        from exitflow.hw.ops.axilite import RegisterFile

        regs = manifest["registers"]
        self.regs = RegisterFile(int(manifest["num_exits"]), list(regs["reset_thresholds"]))
        self.writes: list[tuple] = []

    def read_reg(self, addr: int) -> int:
        return self.regs.read(addr)

    def write_reg(self, addr: int, value: int) -> None:
        self.regs.write(addr, value)
        if addr != self.manifest["registers"]["control"]:
            self.writes.append((addr, int(value) & 0xFFFFFFFF))

    def thresholds(self) -> list[int]:
        """The threshold registers, signed."""
        return [_signed32(t) for t in self.regs.thresholds[: int(self.manifest["num_exits"]) - 1]]

    def next_frame_id(self) -> int:
        return 0  # every batch starts from reset


def _run_dir(manifest: dict[str, Any], run_dir: Path | None) -> Path:
    run = run_dir or Path((manifest.get("source") or {}).get("run_dir", ""))
    if not (run / "build" / "hwdesc.json").is_file():
        raise DeviceError(
            f"{run}: not a built run (no build/hwdesc.json). The verilator and sim backends "
            "need the run the package was made from: pass run_dir=."
        )
    return run


class VerilatorDevice(_Registers):
    """The generated RTL top in Verilator (exitflow.hw.top), a virtual board."""

    name = "verilator"

    def __init__(
        self,
        manifest: dict[str, Any],
        run_dir: Path | None = None,
        *,
        design: Any = None,
        backpressure: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(manifest)
        try:
            from exitflow.hw.top import generate_top
            from exitflow.hw.top.cosim import build_top_model
        except ImportError as exc:
            raise DeviceError(f"the verilator backend needs exitflow's hw part: {exc}") from None
        run = _run_dir(manifest, run_dir)
        rec = manifest["record"]
        if design is None:
            design = generate_top(run, logits=bool(rec["logits"]), id_bits=int(rec["id_bits"]))
        got = files_sha256([Path(s) for s in design.sources])
        want = (manifest.get("hashes") or {}).get("rtl")
        if want != got:
            raise ManifestError(
                f"the RTL generated from {run} ({got[:16]}...) is not the RTL the manifest was "
                f"written for ({str(want)[:16]}...): the run was rebuilt since the package was "
                "made. Fix: write the package again from this run."
            )
        self.design = design
        self.model = build_top_model(design)
        self.backpressure, self.seed = backpressure, seed
        self.cycles = 0

    def stream(self, words: np.ndarray, frames: int, timeout_s: float) -> Iterator[Chunk]:
        from exitflow.hw.ops import axilite

        d, m = self.design, self.manifest
        ints = [int.from_bytes(w.tobytes(), "little") for w in np.asarray(words, np.uint8)]
        n_exit = int(m["num_exits"])
        reads = [axilite.MAGIC, axilite.FRAMES_IN]
        reads += [axilite.counter_addr(k) for k in range(n_exit)]
        span = int(d.plan.extra.get("latency_cycles", 0))
        run = self.model.run(
            {d.input.name: ints},
            expect={d.output.name: frames},
            backpressure=self.backpressure,
            seed=self.seed,
            max_idle_cycles=100_000 + 4 * span,
            reg_writes=list(self.writes),
            reg_reads=reads,
            check=False,
        )
        self.seed += 1
        self.cycles = int(run.cycles)
        regs = run.registers
        if regs.get(axilite.MAGIC) != axilite.MAGIC_VALUE:
            raise DeviceError(f"register MAGIC read {regs.get(axilite.MAGIC)!r}: no AXI-Lite")
        self.regs.frames_in += int(regs[axilite.FRAMES_IN])
        for k in range(n_exit):
            self.regs.count(k, int(regs[axilite.counter_addr(k)]))
        wb = int(m["record"]["word_bytes"])
        out = [int(w).to_bytes(wb, "little") for w in run.outputs[d.output.name]]
        if out:
            raw = np.frombuffer(b"".join(out), np.uint8).reshape(len(out), wb)
            hz = float(m["clock_mhz"]) * 1e6
            yield raw.copy(), np.asarray(run.out_cycles[d.output.name], np.float64) / hz
        if run.status != "done":
            log.warning("verilator: the top stopped by %s after %d cycles", run.status, run.cycles)


class SimDevice(_Registers):
    """exitflow.sim's cycle simulator behind the same registers and streams."""

    name = "sim"

    def __init__(
        self, manifest: dict[str, Any], run_dir: Path | None = None, test_images: Any = None
    ) -> None:
        """test_images: the run's whole test set (uint8, in reference.npz's row order), for
        frames beyond the images reference.npz stores (its first 1,000)."""
        super().__init__(manifest)
        from exitflow.core.policies import PolicySpec
        from exitflow.sim import load_hwdesc, model_from_hwdesc

        run = _run_dir(manifest, run_dir)
        want = (manifest.get("hashes") or {}).get("hwdesc")
        if want is not None and want != file_sha256(run / "build" / "hwdesc.json"):
            raise ManifestError(
                f"{run / 'build' / 'hwdesc.json'} is not the design the manifest was written "
                "for (sha256 differs): the run was rebuilt. Fix: write the package again."
            )
        ref_path = run / "export" / "reference.npz"
        if not ref_path.is_file():
            raise DeviceError(f"{ref_path} is missing: run `exitflow export`")
        with np.load(ref_path) as z:
            images, self.logits = z["input"], z["logits"].astype(np.int64)
        if test_images is not None:
            full = np.asarray(test_images)
            k = min(len(images), len(full))
            if len(full) > len(self.logits) or not np.array_equal(
                full[:k].reshape(k, -1), images[:k].reshape(k, -1)
            ):
                raise DeviceError(
                    f"test_images ({len(full)}) are not the test set reference.npz was computed "
                    f"on ({len(self.logits)} rows; its first {len(images)} images differ)"
                )
            images = full
        per = int(manifest["input"]["words_per_frame"])
        packed = pack_images(images, manifest["input"]).reshape(len(images), -1)
        self.index = {packed[i].tobytes(): i for i in range(len(images))}
        self.frame_bytes = packed.shape[1]
        assert per * int(manifest["input"]["word_bytes"]) == self.frame_bytes
        self.model = model_from_hwdesc(load_hwdesc(run / "build" / "hwdesc.json"))
        pol = manifest["policy"]
        self._spec = lambda t: PolicySpec(pol["kind"], tuple(t), dict(pol.get("params") or {}))
        self.cycles = 0

    def policy(self) -> Any:
        """The PolicySpec the threshold registers stand for."""
        from exitflow.core.policies import threshold_for

        probe = self._spec([0.0] * (int(self.manifest["num_exits"]) - 1))
        return self._spec(
            [
                threshold_for(probe.kind, t, probe.exit_params(e))
                for e, t in enumerate(self.thresholds())
            ]
        )

    def stream(self, words: np.ndarray, frames: int, timeout_s: float) -> Iterator[Chunk]:
        from exitflow.core.policies import apply_policy
        from exitflow.sim import simulate

        frames_b = np.asarray(words, np.uint8).reshape(frames, self.frame_bytes)
        idx = np.empty(frames, np.int64)
        for i in range(frames):
            j = self.index.get(frames_b[i].tobytes())
            if j is None:
                raise DeviceError(
                    f"frame {i} is not one of the run's reference images: the sim backend "
                    "computes no CNN, it takes the logits brevitas computed for "
                    "export/reference.npz. Use backend='verilator' (or a board) for new images."
                )
            idx[i] = j
        logits = self.logits[idx]
        exit_index, cls = apply_policy(logits, self.policy())
        res = simulate(self.model, exit_index)
        self.cycles = res.cycles
        order = np.lexsort((exit_index, res.finish))
        rec = self.manifest["record"]
        fields = {
            "frame_id": order % (1 << int(rec["id_bits"])),
            "exit": exit_index[order],
            "class": cls[order],
            "logits": logits[order, exit_index[order]] if rec["logits"] else None,
        }
        self.regs.frames_in += frames
        for k, c in enumerate(np.bincount(exit_index, minlength=int(self.manifest["num_exits"]))):
            self.regs.count(k, int(c))
        hz = float(self.manifest["clock_mhz"]) * 1e6
        yield encode_records(fields, rec), res.finish[order].astype(np.float64) / hz
