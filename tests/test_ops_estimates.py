"""The RTL blocks' resource formulas against yosys synth_xilinx of the same RTL (when installed)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from exitflow.hw.ops import cond_buffer, exit_decision, merge, sources
from exitflow.hw.ops.estimates import decision_unit, logit_width

YOSYS = shutil.which("yosys")
needs_yosys = pytest.mark.skipif(
    YOSYS is None, reason="yosys not on PATH (scripts/install_tools.sh installs it)"
)


def _synth(block: str, module: str, params: dict[str, int]) -> dict[str, int]:
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    files = " ".join(str(s) for s in sources(block))
    script = (
        f"read_verilog -sv {files}; chparam {sets} {module}; "
        f"synth_xilinx -family xc7 -top {module}; stat"
    )
    out = subprocess.run([YOSYS, "-p", script], capture_output=True, text=True, check=True).stdout
    stats = out[out.rindex("Printing statistics") :]
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stats, re.M)}
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[1-6]", k))
    luts += 4 * (cells.get("RAM32M", 0) + cells.get("RAM64M", 0))  # distributed RAM
    bram18 = cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0)
    dsp = sum(v for k, v in cells.items() if k.startswith("DSP"))
    ff = cells.get("FDRE", 0) + cells.get("FDSE", 0)
    return {"LUT": luts, "FF": ff, "BRAM_18K": bram18, "DSP": dsp}


@needs_yosys
@pytest.mark.parametrize(("policy", "c", "w"), [("margin", 10, 8), ("max_logit", 10, 16)])
def test_decision_unit_estimate_tracks_synthesis(policy, c, w):
    est = exit_decision.estimate(policy, c, w)
    got = _synth("exit_decision", "exit_decision", exit_decision.params(policy, c, w, 5))
    assert got["DSP"] == 0
    if (policy, c, w) == ("margin", 10, 8):
        assert got["LUT"] < 100  # the budget for a 10-class 8-bit margin unit
    assert got["LUT"] == pytest.approx(est.lut, rel=0.15)
    assert got["FF"] == pytest.approx(est.ff, rel=0.15)


@needs_yosys
# distributed RAM; one block wide and shallow (512 x 36); narrow and deep (4096 x 4 banks),
# 1024 x 18 banks (the last was not among the points the formula was fitted to)
@pytest.mark.parametrize(
    ("dw", "fb", "depth"), [(32, 4, 2), (128, 196, 2), (4, 1568, 32), (8, 784, 12)]
)
def test_cond_buffer_estimate_tracks_synthesis(dw, fb, depth):
    est = cond_buffer.estimate(dw, fb, depth)
    got = _synth("cond_buffer", "cond_buffer", cond_buffer.params(dw, fb, depth, 32))
    assert got["BRAM_18K"] == est.bram_18k
    assert got["LUT"] == pytest.approx(est.lut, rel=0.3)
    assert got["FF"] == pytest.approx(est.ff, rel=0.3)


@needs_yosys
def test_merge_estimate_tracks_synthesis():
    est = merge.estimate(3, 16, 4, depth=8)
    got = _synth("merge", "merge", merge.params(3, 16, 4, depth=8))
    assert got["BRAM_18K"] == 0 and got["DSP"] == 0
    assert got["LUT"] == pytest.approx(est.lut, rel=0.2)
    assert got["FF"] == pytest.approx(est.ff, rel=0.1)


def test_estimates_scale_and_reject_unsupported_policies():
    assert decision_unit("margin", 10, 24).lut > decision_unit("margin", 10, 16).lut
    assert decision_unit("margin", 10, 16).cycles_per_frame == 10
    assert decision_unit("margin", 10, 16).latency_cycles == 11  # the simulator's C + 1
    assert cond_buffer.estimate(32, 4, 2).bram_18k == 0  # small: distributed RAM
    assert cond_buffer.estimate(128, 196, 2).bram_18k == 4
    assert cond_buffer.estimate(4, 1568, 32).bram_18k == 13  # 50176 x 4 bits in 4096 x 4 blocks
    assert cond_buffer.estimate(16, 4, 2).cycles_per_frame == 5  # the hand-off cycle
    assert merge.params(3, 16, 4, depth=5)["DEPTH"] == 8
    assert logit_width(127) == 8 and logit_width(128) == 9
    with pytest.raises(ValueError, match="max_logit or margin"):
        decision_unit("entropy", 10, 16)
