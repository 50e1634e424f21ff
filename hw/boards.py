"""Target boards: FPGA part, default fabric clock and resource budget, in one table.

Matrix-vector units default to LUTs on the Z-7020 and to DSPs on UltraScale+: FINN's RTL MVU
packs two 4-bit MACs per DSP48E1, so the Z-7020's 220 DSPs hold about 440 MACs/cycle, less than
a 20k-frame/s fmnist3 needs (measured: 216 DSPs for stages 1-2 at 40% continuing frames), while
its 53k LUTs hold the same work; the UltraScale+ parts have 5-8x the DSPs.

Budgets are the device totals (BRAM_18K counts 18 Kb halves: 2 per 36 Kb block). Default clocks
are what FINN's board flows use for these parts: 100 MHz on Zynq-7000, 200 MHz on Zynq
UltraScale+ (timing closure of small dataflow designs at these clocks is routine; 150 MHz on the
Ultra96-V2's slowest speed grade, -1).

`board_part` is the Vivado board file (vendor:board:part0:version, the versions FINN's Zynq flow
uses; exitflow.hw.vivado takes the newest installed version of the same board) and `ps` the
processing system's IP: processing_system7 on Zynq-7000, zynq_ultra_ps_e on Zynq UltraScale+.
"""

from __future__ import annotations

from dataclasses import dataclass

from exitflow.hw.config import Board

RESOURCE_KEYS = ("LUT", "FF", "BRAM_18K", "URAM", "DSP")


@dataclass(frozen=True)
class BoardSpec:
    """One target board."""

    name: str
    part: str
    clock_mhz: float
    resources: dict[str, int]
    finn_board: str  # FINN's name for the board (ZynqBuild / deployment)
    mvau_style: str = "dsp"  # default implementation of matrix-vector units (hw.mvau_style)
    board_part: str = ""  # Vivado board file, vendor:board:part0:version

    @property
    def family(self) -> str:
        """'zynq7' or 'zynq_us+' (decides FINN's RTL/HLS choices, DSP48E1 vs E2)."""
        return "zynq7" if self.part.startswith("xc7z") else "zynq_us+"

    @property
    def ps(self) -> str:
        """The processing system's Vivado IP: 'processing_system7' or 'zynq_ultra_ps_e'."""
        return "processing_system7" if self.family == "zynq7" else "zynq_ultra_ps_e"


_Z7020 = {"LUT": 53200, "FF": 106400, "BRAM_18K": 280, "URAM": 0, "DSP": 220}

BOARDS: dict[Board, BoardSpec] = {
    Board.PYNQ_Z1: BoardSpec(
        "Pynq-Z1",
        "xc7z020clg400-1",
        100.0,
        dict(_Z7020),
        "Pynq-Z1",
        "lut",
        "www.digilentinc.com:pynq-z1:part0:1.0",
    ),
    Board.PYNQ_Z2: BoardSpec(
        "Pynq-Z2",
        "xc7z020clg400-1",
        100.0,
        dict(_Z7020),
        "Pynq-Z2",
        "lut",
        "tul.com.tw:pynq-z2:part0:1.0",
    ),
    Board.ZCU104: BoardSpec(
        "ZCU104",
        "xczu7ev-ffvc1156-2-e",
        200.0,
        {"LUT": 230400, "FF": 460800, "BRAM_18K": 624, "URAM": 96, "DSP": 1728},
        "ZCU104",
        board_part="xilinx.com:zcu104:part0:1.1",
    ),
    Board.KV260: BoardSpec(
        "KV260_SOM",
        "xck26-sfvc784-2LV-c",
        200.0,
        {"LUT": 117120, "FF": 234240, "BRAM_18K": 288, "URAM": 64, "DSP": 1248},
        "KV260_SOM",
        board_part="xilinx.com:kv260_som:part0:1.3",
    ),
    Board.ULTRA96_V2: BoardSpec(
        "Ultra96-V2",
        "xczu3eg-sbva484-1-i",
        150.0,
        {"LUT": 70560, "FF": 141120, "BRAM_18K": 432, "URAM": 0, "DSP": 360},
        "Ultra96-V2",
        board_part="avnet.com:ultra96v2:part0:1.2",
    ),
}


def board_spec(board: Board | str) -> BoardSpec:
    """The spec of `board` (a Board or its config value)."""
    try:
        return BOARDS[Board(board)]
    except ValueError:
        names = ", ".join(b.value for b in Board)
        raise ValueError(f"unknown board {board!r}; choose one of {names}") from None


def utilisation(resources: dict[str, float], spec: BoardSpec) -> dict[str, float]:
    """Fraction of the board's budget each resource uses (URAM on a board without: inf if used)."""
    out = {}
    for key in RESOURCE_KEYS:
        used = float(resources.get(key, 0))
        total = spec.resources[key]
        out[key] = used / total if total else (0.0 if used == 0 else float("inf"))
    return out
