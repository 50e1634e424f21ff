"""The device layer: one interface over a board (pynq) and its two stand-ins (verilator, sim).

A device takes register reads and writes (AXI-Lite, 32-bit, byte addresses from the manifest's
register map) and streams: it sends the packed input words of a batch and yields the output
records as they arrive, in chunks of raw record words with the time each chunk arrived. It does
not decide when a batch is complete: the accelerator reads until every frame id is seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeviceError, ManifestError
from .manifest import file_sha256

__all__ = ["Device", "PynqDevice", "check_bitstream", "packet_size"]

log = logging.getLogger(__name__)

Chunk = tuple[np.ndarray, np.ndarray]  # (uint8 [M, word_bytes] records, float64 [M] seconds)


class Device:
    """What every backend provides. Times are seconds from the start of the batch's stream."""

    name = "device"

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest

    def read_reg(self, addr: int) -> int:
        """Read a 32-bit register (unsigned)."""
        raise NotImplementedError

    def write_reg(self, addr: int, value: int) -> None:
        """Write a 32-bit register (`value` is taken modulo 2^32)."""
        raise NotImplementedError

    def next_frame_id(self) -> int:
        """The id the accelerator will give the next frame it accepts (ids count from 0 after
        reset and wrap modulo 2^id_bits)."""
        raise NotImplementedError

    def stream(self, words: np.ndarray, frames: int, timeout_s: float) -> Iterator[Chunk]:
        """Send `words` (uint8 [frames * words_per_frame, word_bytes]) and yield records until
        `frames` records arrived or `timeout_s` passed without one."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device."""


def packet_size(frames: int, most: int) -> int:
    """Records per DMA packet: the largest divisor of `frames` up to `most`, so that every
    S2MM transfer ends at a TLAST (the shell raises it after every packet_records records)."""
    for k in range(min(most, frames), 0, -1):
        if frames % k == 0:
            return k
    return 1


def check_bitstream(package: Path, manifest: dict[str, Any]) -> tuple[Path, Path]:
    """The package's .bit and .hwh, after checking the .bit's sha256 against the manifest."""
    bs = manifest.get("bitstream") or {}
    if not bs.get("file"):
        raise ManifestError(
            f"{package}: the manifest names no bitstream (built without Vivado?). Fix: build "
            "the bitstream and write the package again, or use backend='verilator' or 'sim'."
        )
    bit = package / bs["file"]
    hwh = package / (bs.get("hwh") or bit.with_suffix(".hwh").name)
    for f in (bit, hwh):
        if not f.is_file():
            raise ManifestError(f"{f} is missing: the package holds the .bit and .hwh beside it")
    want, got = bs.get("sha256"), file_sha256(bit)
    if want != got:
        raise ManifestError(
            f"{bit} does not belong to {package / 'manifest.json'}: its sha256 is {got[:16]}..., "
            f"the manifest was written for {str(want)[:16]}... (design {manifest.get('design')}). "
            "Fix: copy the bitstream and manifest of one build together (exitflow deploy)."
        )
    return bit, hwh


class PynqDevice(Device):
    """A PYNQ board: Overlay, allocate, AXI DMA send/recv channels, MMIO for the registers."""

    name = "pynq"

    def __init__(self, manifest: dict[str, Any], package: Path, chunk_records: int = 256) -> None:
        super().__init__(manifest)
        bit, _ = check_bitstream(package, manifest)
        try:
            import pynq
        except ImportError as exc:
            raise DeviceError(
                f"the pynq backend needs the pynq package ({exc}); it runs on a PYNQ board's "
                "Python. Off the board use backend='verilator' or 'sim'."
            ) from None
        try:
            self.overlay = pynq.Overlay(str(bit))
        except RuntimeError as exc:
            if "No Devices Found" in str(exc):
                raise DeviceError(
                    f"no FPGA found to load {bit.name} (pynq: {exc}): the pynq backend needs a "
                    "PYNQ board (Zynq PL or XRT device) and runs on the board itself. Off the "
                    "board use backend='verilator' or 'sim'."
                ) from None
            raise DeviceError(f"pynq could not load {bit.name}: {exc}") from None
        self._pynq = pynq
        ip = manifest.get("ip") or {}
        try:
            self.dma = getattr(self.overlay, ip.get("dma", "axi_dma_0"))
            regs = getattr(self.overlay, ip.get("registers", "exitflow_regs"))
        except AttributeError as exc:
            raise DeviceError(
                f"{bit.name}: {exc}; the manifest's ip names {ip} must match the block design "
                f"(the overlay has {sorted(self.overlay.ip_dict)})"
            ) from None
        self.mmio = regs.mmio if hasattr(regs, "mmio") else regs
        self.chunk = max(1, int(chunk_records))
        self._next_id = 0  # the overlay download reset the accelerator
        self._id_mod = 1 << int(manifest["record"]["id_bits"])

    def read_reg(self, addr: int) -> int:
        return int(self.mmio.read(addr)) & 0xFFFFFFFF

    def write_reg(self, addr: int, value: int) -> None:
        self.mmio.write(addr, int(value) & 0xFFFFFFFF)

    def next_frame_id(self) -> int:
        return self._next_id

    def stream(self, words: np.ndarray, frames: int, timeout_s: float) -> Iterator[Chunk]:
        wb = int(self.manifest["record"]["word_bytes"])
        max_bytes = int(getattr(self.dma.recvchannel, "_max_size", 0) or (1 << 14) - 1)
        per = packet_size(frames, min(self.chunk, max(1, max_bytes // wb)))
        period = self.manifest["registers"].get("packet_records")
        if period is not None:  # the shell's TLAST period: one S2MM transfer per packet
            self.write_reg(int(period), per)
        elif per != 1 and frames % per:
            log.warning("no packet_records register: the last transfer may never end")
        if per == 1 and frames > 1:
            log.warning("%d frames: one record per DMA transfer (give a count with a divisor "
                        "up to %d for faster reads)", frames, self.chunk)  # fmt: skip
        inbuf = self._pynq.allocate(shape=words.shape, dtype=np.uint8)
        inbuf[:] = words
        inbuf.flush()
        outbuf = self._pynq.allocate(shape=(per, wb), dtype=np.uint8)
        t0 = time.perf_counter()
        self.dma.sendchannel.transfer(inbuf)  # non-blocking: records are read while it runs
        got = 0
        try:
            while got < frames:
                self.dma.recvchannel.transfer(outbuf)  # ends at the packet's TLAST
                last = time.perf_counter()
                while not self.dma.recvchannel.idle:
                    if self.dma.recvchannel.error:
                        raise DeviceError("the receive DMA reports an error (record width?)")
                    if time.perf_counter() - last > timeout_s:
                        return
                outbuf.invalidate()
                t = time.perf_counter() - t0
                n = min(per, frames - got)
                got += n
                yield np.array(outbuf[:n]), np.full(n, t)
            self.dma.sendchannel.wait()
        finally:
            self._next_id = (self._next_id + frames) % self._id_mod
            inbuf.freebuffer()
            outbuf.freebuffer()

    def close(self) -> None:
        self.overlay.free() if hasattr(self.overlay, "free") else None
