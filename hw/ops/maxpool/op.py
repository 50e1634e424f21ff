"""Pool_rtl: the RTL backend of FINN's Pool layer for max-pooling (FINN has only Pool_hls).

A FINN HW op in FINN's own RTL domain ("finn.custom_op.fpgadataflow.rtl"), so FINN's transforms
treat it as a native RTL layer: PrepareIP calls generate_hdl, AnnotateCycles / estimates /
dataflow_performance read get_exp_cycles and node_res_estimation, InsertDWC / InsertFIFO read
its stream widths, CreateStitchedIP reads code_generation_ipi. qonnx resolves that domain by
importing FINN's rtl package, which does not know this class: importing exitflow.hw.ops.maxpool
registers it (qonnx's add_op_to_domain), and any process that loads a model holding Pool_rtl
must import it first.

Why a backend of FINN's Pool and not a fused max-pool: FINN lowers MaxPool to a depthwise
ConvolutionInputGenerator (already RTL) and Pool; keeping that split leaves the windowing
(kernel, stride, padding, odd sizes) to FINN's SWG and keeps FINN's folding rule that ties the
SWG's SIMD to the Pool's PE. This op only reduces each window (exitflow_maxpool.sv).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from finn.custom_op.fpgadataflow.pool import Pool
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend
from qonnx.core.datatype import DataType

from exitflow.hw.ops.maxpool import estimate, reference

__all__ = ["CORE_SV", "DOMAIN", "RTL_DIR", "Pool_rtl", "core_params"]

log = logging.getLogger(__name__)

DOMAIN = "finn.custom_op.fpgadataflow.rtl"
RTL_DIR = Path(__file__).resolve().parent
CORE_SV = RTL_DIR / "exitflow_maxpool.sv"
TEMPLATE = RTL_DIR / "exitflow_maxpool_template.v"


def _bytes(bits: int) -> int:
    return (bits + 7) // 8 * 8


def core_params(pe: int, dt: DataType, kk: int) -> dict[str, int]:
    """Parameters of exitflow_maxpool for PE lanes of `dt` and windows of kk elements."""
    # BIPOLAR is stored as one bit (0 = -1, 1 = +1): its encoding is ordered like unsigned
    signed = dt.signed() and dt.name != "BIPOLAR"
    return {"PE": pe, "W": dt.bitwidth(), "KK": kk, "SIGNED": int(signed)}


class Pool_rtl(Pool, RTLBackend):  # noqa: N801 (FINN's naming: <op>_rtl)
    """FINN Pool (Function=MaxPool) as exitflow RTL: one output beat per KK input beats."""

    def get_nodeattr_types(self):
        attrs = Pool.get_nodeattr_types(self)
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    # --- behaviour -------------------------------------------------------------------------
    def execute_node(self, context, graph):
        """Python: the beat-level reference (reference.pool_beats); rtlsim: FINN's (xsim)."""
        if self.get_nodeattr("exec_mode") == "rtlsim":
            RTLBackend.execute_node(self, context, graph)
            return
        node = self.onnx_node
        ch, pe = self.get_nodeattr("Channels"), self.get_nodeattr("PE")
        kk = int(np.prod(self.get_nodeattr("KernelSize")))
        x = np.asarray(context[node.input[0]])
        beats = reference.depthwise_beats(x, kk, ch, pe)
        out = reference.pool_beats(beats, kk)
        dims = tuple(x.shape[1:-1])
        context[node.output[0]] = reference.beats_to_normal(out, dims, ch).astype(np.float32)

    def verify_node(self):
        msgs = super().verify_node()
        if self.get_nodeattr("Function") != "MaxPool":
            msgs.append(
                f"Pool_rtl implements MaxPool only, not {self.get_nodeattr('Function')}: "
                "leave that Pool to FINN's Pool_hls"
            )
        if self.get_nodeattr("Channels") % self.get_nodeattr("PE"):
            msgs.append("Pool_rtl: PE must divide Channels (choose a divisor)")
        return msgs

    # --- estimates -------------------------------------------------------------------------
    def _kk(self) -> int:
        return int(np.prod(self.get_nodeattr("KernelSize")))

    def resources(self) -> dict[str, int]:
        """LUT/FF/BRAM_18K/URAM/DSP (estimate.resources, fitted to yosys)."""
        bits = self.get_input_datatype().bitwidth()
        return estimate.resources(self.get_nodeattr("PE"), bits, self._kk())

    def lut_estimation(self, fpgapart: str | None = None) -> int:
        return self.resources()["LUT"]

    def bram_estimation(self, fpgapart: str | None = None) -> int:
        return 0

    def uram_estimation(self, fpgapart: str | None = None) -> int:
        return 0

    def dsp_estimation(self, fpgapart: str | None = None) -> int:
        return 0

    # --- HDL -------------------------------------------------------------------------------
    def template_values(self) -> dict[str, str]:
        """Substitutions of exitflow_maxpool_template.v."""
        p = core_params(self.get_nodeattr("PE"), self.get_input_datatype(), self._kk())
        core_bits = p["PE"] * p["W"]
        out_bits = _bytes(core_bits)
        pad = out_bits - core_bits
        assign = (
            "assign out0_V_TDATA = core_out;"
            if pad == 0
            else f"assign out0_V_TDATA = {{{{{pad}{{1'b0}}}}, core_out}};"
        )
        return {
            "TOP_MODULE_NAME": self.get_verilog_top_module_name(),
            "PE": str(p["PE"]),
            "ELEM_BITS": str(p["W"]),
            "KK": str(p["KK"]),
            "SIGNED": str(p["SIGNED"]),
            "IN_BITS": str(_bytes(core_bits)),
            "OUT_BITS": str(out_bits),
            "OUT_ASSIGN": assign,
        }

    def generate_hdl(self, model, fpgapart, clk):
        """Write the wrapper (FINN's port names) and a copy of the core into code_gen_dir_ipgen."""
        code_gen_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        text = TEMPLATE.read_text()
        for key, value in self.template_values().items():
            text = text.replace(f"${key}$", value)
        # the name survives later renames of the node (e.g. GiveUniqueNodeNames with a prefix)
        self.set_nodeattr("gen_top_module", self.get_verilog_top_module_name())
        (code_gen_dir / f"{self.get_verilog_top_module_name()}.v").write_text(text)
        shutil.copyfile(CORE_SV, code_gen_dir / CORE_SV.name)
        # HLSSynthIP and CreateStitchedIP look for these on every HW layer
        self.set_nodeattr("ipgen_path", str(code_gen_dir))
        self.set_nodeattr("ip_path", str(code_gen_dir))
        log.debug("%s: HDL written to %s", self.onnx_node.name, code_gen_dir)

    def get_rtl_file_list(self, abspath=False):
        base = self.get_nodeattr("code_gen_dir_ipgen") + "/" if abspath else ""
        return [base + CORE_SV.name, base + self.get_nodeattr("gen_top_module") + ".v"]

    def code_generation_ipi(self):
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd.append(
            f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')} "
            f"{self.onnx_node.name}"
        )
        return cmd
