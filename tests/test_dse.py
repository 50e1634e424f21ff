"""exitflow dse on the tiny synthetic design: the search end to end, its cache, its overlay, and
the checks that make the comparison honest (a folding FINN stops short of, a baseline that does
not fit, a gain past the physical bound)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("finn")

import exitflow
from exitflow.config import config_from_dict, load_config
from exitflow.core.errors import ConfigError
from exitflow.dse.compare import BaselinePoint, iso_sweep, pareto_front
from exitflow.dse.compose import Topology
from exitflow.dse.evaluate import BoundError
from exitflow.dse.space import CycleGrid, ThresholdPoint
from exitflow.layout import RunLayout
from exitflow.tiny_design import tiny_design

TINY = tiny_design(
    "dse-tiny",
    hw={"baseline": False, "stop_step": "step_specialize_layers"},
    dse={"fps_points": 5, "curve_points": 2, "rate_slack": [1.0], "buffer_depths": [2, 8],
         "budgets": [0.05, 0.2, 1.0], "sim_frames": 200, "workers": 1,
         "max_accuracy_drop": 0.05},
    sim=None,
)  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    run_dir = tmp_path_factory.mktemp("dse")
    cfg = config_from_dict({**TINY, "output_dir": str(run_dir)})
    exitflow.run_flow(cfg, run_dir, stop="build", data_root=".data")
    return run_dir, cfg


@pytest.fixture(scope="module")
def searched(built) -> tuple[Path, object, dict]:
    run_dir, cfg = built
    exitflow.run_flow(cfg, run_dir, steps=["dse"], data_root=".data")
    return run_dir, cfg, json.loads(RunLayout(run_dir).dse_report.read_text())


def test_search_writes_front_sweep_and_a_buildable_design(searched):
    run_dir, _cfg, rep = searched
    lay = RunLayout(run_dir)
    st = rep["stats"]
    assert st["candidates"] > 0 and st["simulated_designs"] > 0 and st["partition_foldings"] > 0
    chosen = rep["chosen"]
    assert chosen is not None and chosen["resource_fraction"] <= 1.0
    assert set(chosen["keep"]) <= {0} and chosen["fps"] > 0  # any exit subset builds
    # the front: nobody on it is beaten on every objective by another simulated design
    front = rep["pareto_front"]
    for a in front:
        for b in front:
            assert not (b["accuracy"] > a["accuracy"] and b["fps"] > a["fps"]
                        and b["latency_p99_us"] < a["latency_p99_us"]
                        and b["resource_fraction"] < a["resource_fraction"])  # fmt: skip
    for row in rep["iso_resource"]:
        if row.get("gain") is not None:
            assert row["gain"] <= row["bound"] + 1e-9
            assert row["gated"]["resource_fraction"] <= row["budget"] + 1e-12
            assert row["baseline"]["resource_fraction"] <= row["budget"] + 1e-12
        else:
            assert row["refused"]
    # the chosen design as a config `exitflow build` reads: folding for every FINN partition
    design = load_config(lay.dse_design)
    assert design.hw.cond_buffer_frames == chosen["cond_buffer_frames"]
    assert [float(t) for t in design.policy.thresholds or []] == [
        float(t) for t in chosen["thresholds"]
    ]
    assert {"stage0", "stage1", "head0", "head1"} <= set(design.hw.folding_overrides)
    assert lay.dse_report_md.read_text().startswith("# Design-space exploration")


def test_headline_is_on_the_test_set(searched):
    """The final figures: the chosen thresholds on the test outputs, the baseline that fits."""
    from exitflow.core.outputs import load_outputs
    from exitflow.core.policies import PolicySpec, apply_policy, threshold_from_json

    run_dir, _cfg, rep = searched
    h, chosen = rep["headline"], rep["chosen"]
    test = load_outputs(RunLayout(run_dir).outputs_test)
    spec = PolicySpec("margin", tuple(threshold_from_json(t) for t in chosen["thresholds"]), {})
    exits, pred = apply_policy(test.logits, spec)
    final = np.mean(test.logits[:, -1].argmax(-1) == test.labels)
    assert h["test_frames"] == len(test.labels)
    if not h["gated"]["forced_frames"]:
        drop = 100 * (final - np.mean(pred == test.labels))
        assert h["accuracy_drop_points"] == pytest.approx(drop)
    assert h["baseline"]["resource_fraction"] <= h["budget"] + 1e-12
    assert h["throughput_gain"] <= h["bound"] + 1e-9
    assert h["fraction_of_bound"] == pytest.approx(h["throughput_gain"] / h["bound"])
    # the reach the bound uses: frames reaching exit 1 (the final one) on the test set
    if not h["gated"]["forced_frames"]:
        assert h["reach"][1] == pytest.approx(np.mean(exits >= 1))
    adv = h["adversarial"]
    assert h["noexit_fps_over_baseline"] == pytest.approx(adv["fps"] / h["baseline"]["fps"])
    if not h["gated"]["load_shedding"]:  # nothing forced: every frame at the final exit
        assert h["adversarial_accuracy"] == pytest.approx(final)


def test_rerun_resumes_from_the_cache(searched):
    from exitflow.dse.run import run_dse

    run_dir, cfg, rep = searched
    again = run_dse(run_dir, cfg)
    assert again.folder_evaluations == 0  # every folding and simulation read back
    assert again.report["stats"]["cache_hits"] > 0
    assert again.report["chosen"] == rep["chosen"]


def test_folding_short_of_its_target_is_raised_or_recorded(built):
    """FINN stops raising SIMD at mvau_wwidth_max and only warns: the DSE raises the limit, and
    where it may not, records the target as not reached."""
    from exitflow.dse.partfold import fold_partition

    run_dir, _ = built
    ckpt = next(
        (run_dir / "build" / "checkpoints" / "stage1").glob("*_step_specialize_layers.onnx")
    )
    kw = dict(checkpoint=str(ckpt), name="stage1", kind="stage", target=1, fpgapart="xc7z020clg400-1",
              clock_mhz=100.0, mvau_style="dsp")  # fmt: skip
    stuck = fold_partition(**kw, wwidth_start=4, wwidth_limit=4)
    assert not stuck["reached"] and stuck["cycles_per_frame"] > 1
    fastest = fold_partition(**kw, wwidth_start=4, wwidth_limit=1 << 14)
    assert len(fastest["tries"]) > 1  # the limit was raised
    assert fastest["cycles_per_frame"] < stuck["cycles_per_frame"]
    t = fastest["tries"][0]["cycles_per_frame"]  # reachable: what wwidth 4 stopped at, halved
    ok = fold_partition(**{**kw, "target": t // 2}, wwidth_start=4, wwidth_limit=1 << 14)
    assert ok["reached"] and ok["cycles_per_frame"] <= t // 2
    assert ok["mvau_wwidth_max"] > 4 and ok["folding"]


def test_refined_folding_is_never_dearer_and_reaches_what_finn_reaches(built):
    """SetFolding steps PE over powers of two once SIMD hits its weight width (one step doubles
    the DSPs); the refinement takes the cheapest PE/SIMD pair meeting the target. Checked
    against SetFolding's own result and against a brute force over every pair."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from exitflow.dse.partfold import fold_partition

    run_dir, _ = built
    ckpt = next(
        (run_dir / "build" / "checkpoints" / "stage1").glob("*_step_specialize_layers.onnx")
    )
    kw = dict(checkpoint=str(ckpt), name="stage1", kind="stage", fpgapart="xc7z020clg400-1",
              clock_mhz=100.0, mvau_style="dsp")  # fmt: skip
    model = ModelWrapper(str(ckpt))
    mv = next(n for n in model.graph.node if n.op_type.startswith("MVAU"))
    inst = getCustomOp(mv)
    mw, mh = int(inst.get_nodeattr("MW")), int(inst.get_nodeattr("MH"))

    def node_cost(pe: int, simd: int) -> tuple[float, int]:
        inst.set_nodeattr("PE", pe)
        inst.set_nodeattr("SIMD", simd)
        res = inst.node_res_estimation("xc7z020clg400-1")
        return sum(res.get(k, 0) * w for k, w in PYNQ_COSTS.items()), inst.get_exp_cycles()

    pairs = {(p, s): node_cost(p, s) for p in range(1, mh + 1) if mh % p == 0
             for s in range(1, mw + 1) if mw % s == 0}  # fmt: skip
    cheaper = 0
    for target in (20000, 5000, 2000, 700):
        finn = fold_partition(**kw, target=target)
        mine = fold_partition(**kw, target=target, costs=PYNQ_COSTS)
        assert mine["reached"] >= finn["reached"], target
        # brute force over every pair meeting the target: the refined MVAU costs their least
        fold = mine["folding"][mv.name]
        meet = [c for c, cyc in pairs.values() if cyc <= target]
        if meet:
            assert pairs[(fold["PE"], fold["SIMD"])][0] == pytest.approx(min(meet)), target
            f = finn["folding"][mv.name]
            ours, theirs = pairs[(fold["PE"], fold["SIMD"])][0], pairs[(f["PE"], f["SIMD"])][0]
            assert ours <= theirs + 1e-12, target
            cheaper += ours < theirs - 1e-12
    assert cheaper >= 1, "no target where SetFolding's choice costs more: the test tests nothing"


def _cand(fps: float, fraction: float, no_exit: float = 1.0, **kw):
    from exitflow.dse.candidates import Candidate

    pt = ThresholdPoint((0,), (5.0,), (5.0,), 0.9, 0.5, np.array([0] * 50 + [1] * 50))
    return Candidate(pt, (100, 100), 1.0, depth=2, fraction=fraction, no_exit_fps=no_exit,
                     sim={"fps": fps, "frames": 100, "latency_p50_us": 1.0,
                          "latency_p99_us": 2.0, **kw.pop("sim", {})}, **kw)  # fmt: skip


PYNQ_COSTS = {"BRAM_18K": 1 / 280, "DSP": 1 / 220, "FF": 1 / 106400, "LUT": 1 / 53200}
TOPO = Topology(2, (0, 1), {"stage0": 100, "stage1": 100, "head0": 0, "head1": 0}, 10)


def test_gain_past_the_bound_raises():
    base = [BaselinePoint(10, 1000.0, 0.5, "LUT", {}, True)]
    # half the frames leave after stage 0 of 2 equal stages: bound 2 / 1.5 = 1.33
    ok = iso_sweep([_cand(1300.0, 0.5)], base, TOPO, [0.5], None)
    assert ok[0]["gain"] == pytest.approx(1.3) and ok[0]["bound"] == pytest.approx(4 / 3)
    with pytest.raises(BoundError, match="physical bound"):
        iso_sweep([_cand(1400.0, 0.5)], base, TOPO, [0.5], None)
    # at equal resources: a gated design on half the baseline's resources is judged at half
    with pytest.raises(BoundError):
        iso_sweep([_cand(1000.0, 0.25)], base, TOPO, [0.5], None)


def test_a_baseline_that_does_not_fit_is_refused_not_compared():
    rows = iso_sweep([_cand(100.0, 0.1)], [BaselinePoint(10, 1000.0, 0.6, "DSP", {}, True)],
                     TOPO, [0.2, 1.0], None)  # fmt: skip
    assert rows[0]["gain"] is None and "no single-exit baseline fits 20%" in rows[0]["refused"]
    assert rows[1]["gain"] is not None


def test_provisioned_floor_excludes_designs_below_it():
    base = [BaselinePoint(10, 1000.0, 0.5, "LUT", {}, True)]
    rows = iso_sweep([_cand(1200.0, 0.5, no_exit=400.0)], base, TOPO, [0.5], 0.5)
    assert rows[0]["gated"] is None and "no-exit throughput" in rows[0]["refused"]
    rows = iso_sweep([_cand(1200.0, 0.5, no_exit=600.0)], base, TOPO, [0.5], 0.5)
    assert rows[0]["gated"] is not None


def test_shedding_meets_the_floor_with_its_own_no_exit_throughput():
    base = [BaselinePoint(10, 1000.0, 0.5, "LUT", {}, True)]
    plain = _cand(1200.0, 0.5, no_exit=400.0, sim={"no_exit_fps_shedding": 1500.0})
    rows = iso_sweep([plain], base, TOPO, [0.5], 1.0)
    assert rows[0]["gated"] is None  # without shedding its no-exit stream is below the floor
    shed = _cand(1200.0, 0.5, no_exit=400.0, shedding=True,
                 sim={"no_exit_fps_shedding": 1500.0})  # fmt: skip
    rows = iso_sweep([shed], base, TOPO, [0.5], 1.0)
    assert rows[0]["gated"]["load_shedding"] and rows[0]["with_shedding"]["fps"] == 1200.0
    assert rows[0]["without_shedding"] is None


def test_forced_frames_are_scored_at_the_exit_they_left_at():
    from exitflow.dse.candidates import score_forced

    rng = np.random.default_rng(0)
    logits = rng.integers(-50, 50, size=(100, 2, 4))
    labels = rng.integers(0, 4, size=100)
    c = _cand(1000.0, 0.5, shedding=True)
    policy = c.point.exit_index  # frames 0-49 exit 0, 50-99 exit 1 by policy
    forced = policy.copy()
    forced[60:80] = 0  # 20 frames forced out at exit 0
    c.sim["exit_index"] = forced.tolist()
    score_forced(c, logits, labels, 2)
    right = [np.argmax(logits[i, e]) == labels[i] for i, e in enumerate(forced)]
    base = [np.argmax(logits[i, e]) == labels[i] for i, e in enumerate(policy)]
    assert c.accuracy == pytest.approx(0.9 - (np.mean(base) - np.mean(right)))


def test_shedding_design_serves_at_the_fastest_rate_within_the_accuracy_drop():
    """Saturated, a shedding design forces frames of an ordinary stream out too; it is judged at
    the fastest arrival rate of its ladder whose forced frames keep the accuracy allowed."""
    from exitflow.dse.candidates import score_forced

    rng = np.random.default_rng(1)
    logits = rng.integers(-50, 50, size=(100, 2, 4))
    labels = np.argmax(logits[:, 1], axis=1)  # the final exit is always right
    c = _cand(1000.0, 0.5, shedding=True)
    policy = c.point.exit_index
    many, few = policy.copy(), policy.copy()
    many[50:90] = 0  # at the full rate 40 continuing frames are forced out
    few[50:52] = 0  # at 0.9 of it two are
    rates = [(1.0, many, 1000.0, 100), (0.9, few, 900.0, 111), (0.8, policy, 800.0, 125)]
    c.sim = {
        "ladder": [{"service_fraction": f, "exit_index": ex.tolist(), "fps": fps,
                    "period_cycles": period, "forced": int((ex != policy).sum())}
                   for f, ex, fps, period in rates],
        "saturated_fps": 1000.0,
    }  # fmt: skip
    lost = [np.mean(np.argmax(logits[np.arange(100), ex], 1) == labels) for _, ex, _, _ in rates]
    # allowed: anything that loses at most what two forced frames lose
    score_forced(c, logits, labels, 2, min_accuracy=0.9 - (lost[2] - lost[1]) - 1e-12)
    assert c.sim["service_fraction"] == 0.9 and c.sim["period_cycles"] == 111
    assert c.fps == 900.0 and c.accuracy == pytest.approx(0.9 - (lost[2] - lost[1]))
    assert [t["service_fraction"] for t in c.sim["service"]] == [1.0, 0.9, 0.8]


def test_steady_state_throughput_leaves_out_fill_and_drain():
    """A frame every 10 cycles through a 1,000-cycle pipeline: 10 M frames/s at 100 MHz in
    steady state, as f_clk / II says; the span from first read to last result counts the fill."""
    from types import SimpleNamespace

    from exitflow.dse.evaluate import steady_fps
    from exitflow.sim.analysis import throughput_fps

    n = 200
    start = np.arange(n) * 10
    r = SimpleNamespace(num_frames=n, start=start, finish=start + 1000)
    assert steady_fps(r, 100.0) == pytest.approx(1e7)
    assert throughput_fps(r, 100.0) < 0.7e7
    # results bunched at the end (a backlog drained faster than frames entered): the start
    # cycles bound it, never above the rate frames entered
    late = np.where(np.arange(n) < n // 2, start + 1000, start[-1] + 1000 + np.arange(n))
    assert steady_fps(SimpleNamespace(num_frames=n, start=start, finish=late), 100.0) <= 1e7
    few = SimpleNamespace(num_frames=10, start=start[:10], finish=start[:10] + 1000)
    assert steady_fps(few, 100.0) == throughput_fps(few, 100.0)


def test_a_head_is_folded_to_stay_off_the_bottleneck_and_no_faster():
    """head_caps: stage 0 reached 1,000 cycles (every frame), stage 1 3,000 (half the frames):
    the design moves a frame per 1,500 cycles, so head 0 may take 1,500 and head 1 3,000, each
    on the 2% grid at most 2% below; a stage target below the cap is kept."""
    from exitflow.dse.candidates import head_caps, partition_targets

    topo = Topology(2, (0, 1), {"stage0": 1, "stage1": 1, "head0": 1, "head1": 1}, 1)
    grid = CycleGrid(16, 1.02)
    caps = head_caps(topo, [1.0, 0.5], [1000, 3000], grid)
    for e, need in ((0, 1500), (1, 3000)):
        assert need / 1.02 < caps[e] <= need
    pairs = dict(partition_targets(topo, (0,), (4000, 2000), caps))
    assert pairs["head0"] == caps[0] and pairs["decision0"] == caps[0]
    assert pairs["head1"] == 2000  # its stage's target is already below the cap
    assert pairs["stage0"] == 4000 and pairs["stage1"] == 2000


def test_pareto_front_drops_dominated_designs():
    a, b, c = _cand(1000.0, 0.5), _cand(900.0, 0.6), _cand(1100.0, 0.7)
    assert pareto_front([a, b, c]) == [a, c]


def test_cycle_grid_rounds_down_onto_the_grid():
    g = CycleGrid(16, 1.5)
    assert g.floor(16) == 16 and g.floor(23) == 16 and g.floor(24) == 24
    assert g.values(20, 60) == [24, 36, 54]


def test_config_section_is_checked():
    with pytest.raises(ConfigError, match="budgett"):
        config_from_dict({"dse": {"budgett": 0.5}})
    with pytest.raises(ConfigError, match="target_fps"):
        config_from_dict({"dse": {"objective": "resources"}})
    cfg = config_from_dict({"dse": {"budget": 0.5}})
    assert dataclasses.asdict(cfg.dse)["budget"] == 0.5


def test_ray_executor_folds_as_the_local_pool(built):
    """The same folding jobs on a local Ray instance give the local pool's results."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install ray)")
    from exitflow.dse.executor import LocalExecutor, RayExecutor
    from exitflow.dse.partfold import fold_partition

    run_dir, _ = built
    ckpt = next(
        (run_dir / "build" / "checkpoints" / "stage0").glob("*_step_specialize_layers.onnx")
    )
    jobs = [
        dict(checkpoint=str(ckpt), name="stage0", kind="stage", target=t,
             fpgapart="xc7z020clg400-1", clock_mhz=100.0, mvau_style="dsp")
        for t in (500, 5000)
    ]  # fmt: skip
    try:
        got = RayExecutor("local").map(fold_partition, jobs)
    finally:
        ray.shutdown()
    assert got == LocalExecutor(1).map(fold_partition, jobs)
    assert got[0]["cycles_per_frame"] < got[1]["cycles_per_frame"]


def test_the_build_reproduces_the_chosen_folding(searched):
    """design.yaml's settings through the build's own steps give the search's estimates."""
    from qonnx.core.modelwrapper import ModelWrapper

    from exitflow.dse.partfold import fold_partition
    from exitflow.hw.flow import folding, steps
    from exitflow.hw.flow.estimates import partition_estimate
    from exitflow.hw.flow.steps import PartitionCfg

    run_dir, _cfg, rep = searched
    checked = 0
    design = load_config(RunLayout(run_dir).dse_design)
    hw, chosen = design.hw, rep["chosen"]
    fractions = hw.stage_rate_fractions or []
    for name, over in hw.folding_overrides.items():
        stage = int(name[-1])  # tiny: head e reads stage e
        target = folding.target_cycles(100.0, hw.target_fps * fractions[stage])
        ckpt = next(
            (run_dir / "build" / "checkpoints" / name).glob("*_step_specialize_layers.onnx")
        )
        model = ModelWrapper(str(ckpt))
        cfg = PartitionCfg(name, name.rstrip("0123456789"), "xc7z020clg400-1", 10.0, target,
                           overrides=over, mvau_style="dsp")  # fmt: skip
        for fn in (steps.step_set_folding, steps.step_minimize_bit_width,
                   steps.step_insert_dwc_fifo):  # fmt: skip
            model = fn(model, cfg)
        est = partition_estimate(model, name, "xc7z020clg400-1")
        searched_est = fold_partition(
            str(ckpt), name, name.rstrip("0123456789"), chosen["partition_target_cycles"][name],
            "xc7z020clg400-1", 100.0, "dsp", costs=PYNQ_COSTS,
        )  # fmt: skip
        assert est.cycles_per_frame == searched_est["cycles_per_frame"], name
        assert est.resources == searched_est["resources"], name
        checked += 1
    assert checked == 4


def test_yosys_counts_correct_finn_estimates_and_add_flip_flops():
    from exitflow.dse.compose import resource_fraction
    from exitflow.dse.correction import correct

    finn = {"LUT": 1000.0, "BRAM_18K": 4.0, "URAM": 0.0, "DSP": 10.0}
    synth = {"parts": {"stage0": {"yosys": {"LUT": 1200.0, "FF": 2400.0, "BRAM_18K": 2, "DSP": 10},
                                  "yosys_over_finn": {"LUT": 1.2, "BRAM_18K": 0.5, "DSP": 1.0}}}}  # fmt: skip
    got, src = correct("stage0", finn, synth)
    assert src == "yosys" and got["LUT"] == 1200.0 and got["BRAM_18K"] == 2.0
    assert got["FF"] == 2400.0  # yosys's FF per LUT at the built folding
    # FINN gives its RTL MVU no LUTs (no ratio): yosys's count at the built folding instead
    head = {"yosys": {"LUT": 173, "FF": 363, "BRAM_18K": 9, "DSP": 2},
            "yosys_over_finn": {"LUT": None, "FF": None, "BRAM_18K": 1.125, "DSP": 1.0}}  # fmt: skip
    got_h, _ = correct(
        "head1", {"LUT": 0.0, "BRAM_18K": 8.0, "DSP": 2.0}, {"parts": {"head1": head}}
    )
    assert got_h == {"LUT": 173.0, "BRAM_18K": 9.0, "DSP": 2.0, "FF": 363.0}
    same, src = correct("stage1", finn, synth)
    assert src == "finn" and same == finn and "FF" not in same
    board = {"LUT": 53200, "FF": 106400, "BRAM_18K": 280, "URAM": 0, "DSP": 220}
    frac, key = resource_fraction({**got, "FF": 106400.0}, board)
    assert (frac, key) == (1.0, "FF")  # FF counts once yosys gives it


def test_yosys_luts_follow_the_mvu_parallelism_between_two_synthesised_foldings():
    """FINN gives its RTL MVU no LUTs; yosys's LUTs grow with the DSPs. With a stage and its
    baseline twin synthesised at two DSP counts, a folding yosys never saw gets the slope per
    DSP and the rest scaled by FINN's LUT estimate; the built folding keeps yosys's count."""
    from exitflow.dse.correction import correct, lut_per_dsp

    def part(lut, dsp):
        return {"yosys": {"LUT": lut, "FF": 2 * lut, "BRAM_18K": 0, "DSP": dsp},
                "finn": {"LUT": 1000.0, "DSP": float(dsp)},
                "yosys_over_finn": {"LUT": lut / 1000, "FF": None, "BRAM_18K": None,
                                    "DSP": 1.0}}  # fmt: skip

    head = {"yosys": {"LUT": 173, "FF": 363, "BRAM_18K": 9, "DSP": 2},
            "finn": {"LUT": 0.0, "DSP": 2.0},
            "yosys_over_finn": {"LUT": None, "FF": None, "BRAM_18K": 1.125, "DSP": 1.0}}  # fmt: skip
    synth = {"parts": {"stage1": part(6400, 36), "base_stage1": part(3400, 18), "head1": head}}
    assert lut_per_dsp(synth) == pytest.approx(3000 / 18)
    built, src = correct("stage1", {"LUT": 1000.0, "DSP": 36.0}, synth)
    assert src == "yosys" and built["LUT"] == pytest.approx(6400) and built["FF"] == 12800
    # 400 LUTs outside the MVU's per-DSP part, scaled by FINN's LUTs; 3000/18 per DSP
    fewer, _ = correct("stage1", {"LUT": 500.0, "DSP": 9.0}, synth)
    assert fewer["LUT"] == pytest.approx(200 + 9 * 3000 / 18)
    assert fewer["FF"] == pytest.approx(2 * fewer["LUT"])
    # a head's whole count is smaller than the slope allows: its own LUTs per DSP instead
    one, _ = correct("head1", {"LUT": 0.0, "BRAM_18K": 8.0, "DSP": 1.0}, synth)
    assert one["LUT"] == pytest.approx(173 / 2)
    assert lut_per_dsp({"parts": {"stage1": part(6400, 36)}}) is None


def test_never_threshold_is_above_every_margin_and_positive_in_the_register():
    """exit_unit.sv holds a threshold in W + 2 bits, two's complement; the top-1 minus top-2
    margin of W-bit logits is at most 2^W - 1. A value past the register would wrap negative
    and make every frame exit (the adversarial stream would test nothing)."""
    from exitflow.dse.adversarial import never

    for w in (4, 12, 20):
        t = never(w)
        margin = (2 ** (w - 1) - 1) - (-(2 ** (w - 1)))
        wrapped = t - (1 << (w + 2)) if t >> (w + 1) else t  # as the register reads it
        assert wrapped == t and t > margin
