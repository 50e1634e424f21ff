"""Every partition of a built design through yosys, beside FINN's estimates (slow: about two
minutes; the 2-stage Fashion-MNIST design of test_hw_flow built with hw.mvau_style: dsp so that
every layer is RTL).

Checks figures yosys cannot make up: DSPs equal FINN's own MVAU_rtl DSP formula per partition and
the DSP48E1 instances the RTL elaborates; the glue blocks stay DSP-free; build/synth.json holds
every part with its ratio; a rerun is served from the cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("finn")

from exitflow.core.errors import ToolMissingError
from exitflow.hw.tools.yosys import find_yosys

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory: pytest.TempPathFactory):
    try:
        yosys = find_yosys()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    import test_hw_flow as flow  # the same small design, built once here with RTL MVAUs

    from exitflow.config import config_from_dict
    from exitflow.context import RunContext, ToolPaths
    from exitflow.hw.build import run_build
    from exitflow.hw.tools.synth_design import synthesise_design
    from exitflow.steps import run_step

    if not (flow.FMNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    run_dir = tmp_path_factory.mktemp("synthrun")
    cfg = config_from_dict(flow._config(run_dir, mvau_style="dsp"))
    ctx = RunContext(cfg, run_dir, flow.FMNIST.parent, ToolPaths())
    for name in ("train", "calibrate", "export"):
        run_step(name, ctx)
    run_build(run_dir, cfg.hw, {"vivado": None, "vitis_hls": None})
    return run_dir, yosys, synthesise_design(run_dir, yosys)


def test_every_partition_synthesises_with_finns_dsp_count(synthesised) -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from exitflow.hw.flow.builder import checkpoint_path

    run_dir, _, results = synthesised
    desc = json.loads((run_dir / "build" / "hwdesc.json").read_text())
    names = [p["name"] for p in desc["partitions"]]
    names += [f"base_{p['name']}" for p in desc["baseline"]["partitions"]]
    names += [c["name"] for c in desc["cond_buffers"]] + ["merge"]
    assert set(results) == set(names)
    for name, res in results.items():
        assert res.lut > 0 and res.ff > 0
        assert res.dsp == res.extra["rtl_dsp_instances"]
        ckpt = checkpoint_path(run_dir / "build", name, "step_hw_codegen")
        if not ckpt.is_file():  # exitflow's own blocks: no multipliers
            assert res.dsp == 0, name
            continue
        model = ModelWrapper(str(ckpt))
        finn_dsp = sum(
            getCustomOp(n).dsp_estimation("xc7z020clg400-1")
            for n in model.get_nodes_by_op_type("MVAU_rtl")
        )
        assert res.dsp == finn_dsp, name


def test_synth_json_sets_yosys_beside_finn_and_reruns_from_cache(synthesised) -> None:
    from exitflow.hw.tools.synth_design import synthesise_design

    run_dir, yosys, results = synthesised
    report = json.loads((run_dir / "build" / "synth.json").read_text())
    assert report["schema"] == "exitflow.synth/1" and report["skipped"] == {}
    for name, part in report["parts"].items():
        assert part["yosys"] == results[name].resources()
        if "finn" in part and part["finn"].get("LUT"):
            assert part["yosys_over_finn"]["LUT"] == pytest.approx(
                part["yosys"]["LUT"] / part["finn"]["LUT"], abs=1e-3
            )
    gated = report["totals"]["gated"]["yosys"]
    assert gated["DSP"] == sum(r.dsp for n, r in results.items() if not n.startswith("base_"))
    again = synthesise_design(run_dir, yosys, only=["stage0", "cbuf0"])
    assert all(r.cached for r in again.values()) and set(again) == {"stage0", "cbuf0"}


def test_synth_step_adds_both_whole_tops_with_their_parts_dsps(synthesised) -> None:
    """`exitflow synth` (the step function): the gated and the baseline top go into synth.json
    and the headline keys come from them; a top's DSPs are its partitions' (the glue has none)."""
    from exitflow.hw.tools.synth_design import benchmark_keys
    from exitflow.run import Run
    from exitflow.step_synth import synth

    run_dir, _, results = synthesised
    res = synth(Run(cfg=None, run_dir=run_dir))
    report = json.loads(res.path.read_text())
    tops = report["tops"]
    assert set(tops) == {"gated", "baseline"}
    for label, base in (("gated", False), ("baseline", True)):
        parts = sum(r.dsp for n, r in results.items() if n.startswith("base_") == base)
        assert tops[label]["yosys"]["DSP"] == parts > 0, label
        assert tops[label]["yosys"]["LUT"] > 0
    keys = benchmark_keys(report)
    assert keys == res.keys
    assert keys["gated_source"] == keys["baseline_source"] == "top"
    assert keys["baseline_lut"] == tops["baseline"]["yosys"]["LUT"]
    assert keys["yosys_over_finn_lut"] == report["totals"]["gated"]["yosys_over_finn"]["LUT"]
