"""The RTL resource formulas against yosys synth_xilinx of the same RTL (when yosys is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from exitflow.hw.rtl_blocks import cond_buffer, decision_unit, logit_width
from exitflow.hw.rtlsim import RTL_DIR

YOSYS = shutil.which("yosys")


def _synth(module: str, params: dict[str, int]) -> dict[str, int]:
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    script = (
        f"read_verilog {RTL_DIR / (module + '.v')}; chparam {sets} {module}; "
        f"synth_xilinx -family xc7 -top {module}; stat"
    )
    out = subprocess.run([YOSYS, "-p", script], capture_output=True, text=True, check=True).stdout
    stats = out[out.rindex("Printing statistics") :]
    cells = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", stats, re.M)}
    luts = sum(v for k, v in cells.items() if re.fullmatch(r"LUT[2-6]", k))
    bram18 = cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0)
    return {"LUT": luts, "FF": cells.get("FDRE", 0) + cells.get("FDSE", 0), "BRAM_18K": bram18}


@pytest.mark.skipif(
    YOSYS is None, reason="yosys not on PATH (scripts/install_tools.sh installs it)"
)
@pytest.mark.parametrize(("policy", "c", "w"), [("margin", 10, 16), ("max_logit", 10, 16)])
def test_decision_unit_estimate_tracks_synthesis(policy, c, w):
    est = decision_unit(policy, c, w)
    got = _synth(
        "exit_decision",
        {
            "C": c,
            "W": w,
            "POLICY": int(policy == "margin"),
            "THRESHOLD": 5,
            "CW": max(1, (c - 1).bit_length()),
        },
    )
    assert got["LUT"] == pytest.approx(est.lut, rel=0.25)
    assert got["FF"] == pytest.approx(est.ff, rel=0.25)


@pytest.mark.skipif(
    YOSYS is None, reason="yosys not on PATH (scripts/install_tools.sh installs it)"
)
# wide and shallow (512 x 36 blocks), narrow and deep (4096 x 4), in between (1024 x 18, 2048 x 9);
# (8, 1568, 16) was not among the points the bank term was fitted to
@pytest.mark.parametrize(
    ("dw", "fb", "depth"), [(128, 196, 2), (4, 1568, 32), (16, 784, 32), (8, 1568, 16)]
)
def test_cond_buffer_estimate_tracks_synthesis(dw, fb, depth):
    est = cond_buffer(dw, fb, depth)
    got = _synth("cond_buffer", {"DW": dw, "FRAME_BEATS": fb, "DEPTH_FRAMES": depth})
    assert got["BRAM_18K"] == est.bram_18k
    assert got["LUT"] == pytest.approx(est.lut, rel=0.3)


def test_estimates_scale_and_reject_unsupported_policies():
    assert decision_unit("margin", 10, 24).lut > decision_unit("margin", 10, 16).lut
    assert decision_unit("margin", 10, 16).cycles_per_frame == 10
    assert cond_buffer(32, 4, 2).bram_18k == 0  # small: distributed RAM
    assert cond_buffer(128, 196, 2).bram_18k == 4
    assert cond_buffer(4, 1568, 32).bram_18k == 13  # 50176 words of 4 bits in 4096 x 4 blocks
    assert logit_width(127) == 8 and logit_width(128) == 9
    with pytest.raises(ValueError, match="max_logit or margin"):
        decision_unit("entropy", 10, 16)
