"""The whole gated accelerator as one generated RTL top, co-simulated against the software model.

`generate_top(run_dir)` writes the SystemVerilog under build/rtl/ (TopDesign);
`cosim(design, ...)` simulates real test images through it in Verilator (CosimResult: per-frame
records, cycles, register counters); `check_against_reference` compares every frame's exit,
class and logits with quant/'s reference (export/reference.npz). docs/rtl.md, "The generated top".
"""

from exitflow.hw.top.cosim import CosimResult, FrameRecord, check_against_reference, cosim
from exitflow.hw.top.generate import RecordFormat, TopDesign, generate_top
from exitflow.hw.top.measure import measure_partition_timing

__all__ = [
    "CosimResult",
    "FrameRecord",
    "RecordFormat",
    "TopDesign",
    "check_against_reference",
    "cosim",
    "generate_top",
    "measure_partition_timing",
]
