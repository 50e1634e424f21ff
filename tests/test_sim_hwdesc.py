"""Reading hwdesc.json into the timing model: the realistic description, helper-5's stream naming,
width converters, inner nodes, overrides, and clear errors for bad descriptions."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from exitflow.sim.config import SimConfig
from exitflow.sim.design import model_from_hwdesc
from exitflow.sim.hwdesc import HwDescError, hwdesc_from_dict, load_hwdesc
from exitflow.sim.model import ModelError
from exitflow.sim.run import simulate

DATA = Path(__file__).parent / "data" / "fmnist3_hwdesc.json"


@pytest.fixture
def raw() -> dict:
    return json.loads(DATA.read_text())


def test_realistic_description_builds_three_segments():
    desc = load_hwdesc(DATA)
    m = model_from_hwdesc(desc)
    assert [s.stage_names for s in m.segments] == [("stage0",), ("stage1",), ("stage2",)]
    assert [n.name for n in m.segments[0].branch] == ["head0", "decision0"]
    assert m.segments[0].cbuf.capacity == 4 * 196
    assert m.segments[1].stage_links[0].name == "cbuf0->stage1"
    assert m.segments[2].cbuf is None and m.segments[2].verdict is None
    assert max(n.ii for n in m.nodes()) == desc.finn_estimate["cycles_per_frame"]


def test_inner_nodes_chain_and_same_bottleneck():
    desc = load_hwdesc(DATA)
    m = model_from_hwdesc(desc, SimConfig(inner_nodes=True))
    assert [n.name for n in m.segments[0].stage] == [
        "stage0/ConvolutionInputGenerator_0",
        "stage0/MVAU_0",
        "stage0/StreamingMaxPool_0",
    ]
    ex = np.full(40, 2)
    whole = simulate(model_from_hwdesc(desc), ex)
    inner = simulate(m, ex)
    steady = lambda r: np.diff(np.sort(r.finish))[-10:]  # noqa: E731
    assert (steady(whole) == 28224).all() and (steady(inner) == 28224).all()


def test_streams_named_as_hw_writes_them_and_width_converters(raw):
    """hw names the stage-to-stage stream stage0->stage1 (through cbuf0) and may change width."""
    raw["streams"] = [s for s in raw["streams"] if s["name"] != "cbuf0->stage1"]
    raw["streams"].append(
        {
            "name": "stage0->stage1",
            "src": "stage0",
            "dst": "stage1",
            "fifo_depth": 7,
            "through": "cbuf0",
        }
    )
    stage1 = next(p for p in raw["partitions"] if p["name"] == "stage1")
    stage1["in_beats"] = 392  # reads half-width beats: a converter 196 -> 392 goes in front
    m = model_from_hwdesc(hwdesc_from_dict(raw))
    seg = m.segments[1]
    assert [n.name for n in seg.stage] == ["stage0->stage1/dwc", "stage1"]
    assert (seg.stage_links[0].name, seg.stage_links[0].depth) == ("stage0->stage1", 7)
    assert (seg.stage[0].in_beats, seg.stage[0].out_beats, seg.stage[0].ii) == (196, 392, 392)
    fast = simulate(m, np.array([1, 2, 0, 2]), engine="fast")
    assert fast.timing_equal(simulate(m, np.array([1, 2, 0, 2]), engine="stepper")) == []


def test_overrides_by_stream_name(raw):
    desc = hwdesc_from_dict(raw)
    m = model_from_hwdesc(desc, SimConfig(fifo_depths={"stage0->head0": 3}, cond_buffer_frames=2))
    assert m.segments[0].branch_links[0].depth == 3
    assert m.segments[0].cbuf.capacity == 2 * 196
    with pytest.raises(ModelError, match=r"no FIFO named.*stage0->head0"):
        model_from_hwdesc(desc, SimConfig(fifo_depths={"stage0->nowhere": 3}))


def _broken(raw: dict, path: list, value) -> dict:
    bad = copy.deepcopy(raw)
    node = bad
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["schema"], "exitflow.hwdesc/0", "schema"),
        (["partitions", 0, "cycles_per_frame"], 0, r"stage0.*cycles_per_frame.*>= 1"),
        (["partitions", 0, "in_beats"], KeyError, r"stage0.*missing 'in_beats'"),
        (["partitions", 1, "kind"], "branch", "'kind' must be one of"),
        (
            ["cond_buffers", 0, "depth_frames"],
            0,
            r"cond_buffers\[0\]: 'depth_frames' must be >= 1.*hw.cond_buffer_frames",
        ),
        (
            ["cond_buffers", 1, "depth_frames"],
            -3,
            r"cond_buffers\[1\]: 'depth_frames' must be >= 1",
        ),
        (["cond_buffers", 0, "feeds"], "head1", r"cond_buffers\[0\]\.feeds names 'head1'"),
        (["cond_buffers", 0, "depth_frames"], 2.5, r"'depth_frames' must be int"),
        (["partitions", 0, "in_width_bits"], 0, r"stage0.*'in_width_bits' must be .* >= 1"),
        (["partitions", 0, "nodes", 1, "in_fifo_depth"], 0, r"nodes\[1\].*'in_fifo_depth'"),
        (["partitions", 0, "nodes", 0, "resources"], {"LUT": -1}, r"resources\['LUT'\]"),
        (["partitions", 2, "threshold"], 12.5, r"decision0.*'threshold' must be an integer"),
        (["partitions", 2, "threshold"], "never", r"decision0.*'threshold'.*'inf'"),
        (["partitions", 2, "rate_fraction"], 1.5, r"'rate_fraction' must be in \(0, 1\]"),
        (["streams", 0, "through"], "cbuf9", r"through 'cbuf9'.*no conditional buffer"),
        (["streams"], {"a": 1}, r"'streams' must be a list"),
        (["policy", "kind"], "softmax", r"policy: 'kind' must be one of"),
        (["policy", "thresholds"], [12, "never"], r"policy: thresholds\[1\]"),
        (["decision_impl"], "hls", r"'decision_impl' must be one of \['rtl', 'finn'\]"),
        (["finn_estimate", "fps"], 0, r"finn_estimate: 'fps' must be > 0"),
        (["baseline", "cycles_per_frame"], KeyError, r"baseline: missing 'cycles_per_frame'"),
        (["clock_mhz"], float("inf"), r"'clock_mhz' must be finite"),
        (["partitions", 3, "reads"], "head0", r"not reachable from the input"),
        (["exits", 0, "head"], "stage1", r"exits\[0\]\.head names 'stage1', which is a stage"),
        (["exits", 2, "decision"], "decision1", "the last exit has no decision unit"),
        (["cond_buffers", 0, "after"], "stage2", "no cond_buffers entry with after='stage0'"),
        (["partitions", 0, "out_beats"], 100, r"frame_beats 196 != .*out_beats 100"),
        (["streams", 0, "fifo_depth"], 0, r"fifo_depth.*>= 1"),
        (["clock_mhz"], -5, "clock_mhz must be > 0"),
    ],
)
def test_bad_descriptions_name_the_problem(raw, path, value, message):
    with pytest.raises((HwDescError, ModelError), match=message):
        model_from_hwdesc(hwdesc_from_dict(_broken(raw, path, value), "hwdesc.json"))


def test_zero_frame_buffer_is_refused_before_simulation(raw):
    raw["cond_buffers"][0]["depth_frames"] = 0
    with pytest.raises(HwDescError, match="'depth_frames' must be >= 1") as exc:
        hwdesc_from_dict(raw, "hwdesc.json")
    assert "hwdesc.json: cond_buffers[0]" in str(exc.value)


def test_description_round_trips_through_its_dict(raw):
    desc = hwdesc_from_dict(raw, "a")
    again = hwdesc_from_dict(json.loads(json.dumps(desc.to_dict())), "a")
    assert again == desc
    # every key of the hand-written file survives (a reader field the writer lacks would not)
    assert set(desc.to_dict()) == set(raw)
    for mine, theirs in zip(desc.to_dict()["partitions"], raw["partitions"]):
        assert mine == {k: v for k, v in theirs.items() if k != "nodes"} | {"nodes": mine["nodes"]}


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="exitflow build"):
        load_hwdesc(tmp_path / "hwdesc.json")
    (tmp_path / "hwdesc.json").write_text("{not json")
    with pytest.raises(HwDescError, match="not valid JSON"):
        load_hwdesc(tmp_path / "hwdesc.json")


def test_slow_port_is_raised_to_one_beat_per_cycle(raw, caplog):
    raw["partitions"][2]["cycles_per_frame"] = 4  # decision0 reads 10 logits
    m = model_from_hwdesc(hwdesc_from_dict(raw))
    assert m.segments[0].branch[-1].ii == 10
    assert "decision0: cycles_per_frame 4 < 10 beats" in caplog.text


def test_read_slack_is_how_far_held_reads_catch_up():
    from exitflow.hw.top.pair_timing import read_slack
    from exitflow.sim.rtl_timing import PartitionTiming, RtlTiming, rtl_timing_from_dict

    # first frame (pattern) reads at 0, 1, 5, 6; a held frame's at 0, 1, 9, 10 (4 behind from
    # read 2 on, never winning any back): 0; one at 0, 1, 9, 7 (3 of the 4 won back): 3
    first = [100, 101, 105, 106]
    assert read_slack(np.array([first, [200, 201, 209, 210]])) == 0
    assert read_slack(np.array([first, [200, 201, 209, 210], [300, 301, 309, 307]])) == 3
    # the field round-trips and reaches the node: the stage's reads paced by its saturated gaps
    desc = load_hwdesc(DATA)
    n_in = desc.partition("stage0").in_beats
    n_out = desc.partition("stage0").out_beats
    ins = tuple(j + 2 * (j // 2) for j in range(n_in))  # gaps 1, 3, 1, 3, ...
    outs = tuple(3 * n_in + 2 * k for k in range(n_out))
    part = PartitionTiming(6 * n_in, ins, outs, 4, 0, ins, outs, read_freeze=-1, read_slack=0)
    timing = rtl_timing_from_dict(RtlTiming("fmnist3", {"stage0": part}).to_dict())
    assert timing.partitions["stage0"].read_slack == 0
    node = model_from_hwdesc(desc, timing=timing).segments[0].stage[0]
    assert node.in_off.tolist() == list(ins)
    older = RtlTiming("fmnist3", {"stage0": replace(part, read_slack=-1)})
    node = model_from_hwdesc(desc, timing=older).segments[0].stage[0]
    assert node.in_off.tolist() == list(range(n_in))  # the fastest gap, as before


def test_measured_read_ahead_is_a_fifo_in_front_of_the_partition():
    from exitflow.sim.rtl_timing import PartitionTiming, RtlTiming, rtl_timing_from_dict

    desc = load_hwdesc(DATA)
    plain = model_from_hwdesc(desc)
    n_in = plain.segments[0].stage[-1].out_beats  # head0 reads its stage's words
    n_out = desc.partition("head0").out_beats
    part = PartitionTiming(
        4 * n_in,
        tuple(range(0, 2 * n_in, 2)),
        tuple(2 * n_in + 10 * k for k in range(n_out)),
        frames_measured=4,
        read_ahead=7,
    )
    timing = rtl_timing_from_dict(RtlTiming("fmnist3", {"head0": part}).to_dict())
    assert timing.partitions["head0"] == part  # the JSON form round-trips
    m = model_from_hwdesc(desc, timing=timing)
    link, base = m.segments[0].branch_links[0], plain.segments[0].branch_links[0]
    assert (link.name, link.depth, link.extra) == (base.name, base.depth + 7, 7)
    # setting the described FIFO's depth keeps the partition's own buffer behind it
    deeper = m.with_depths(fifo={link.name: 3}).segments[0].branch_links[0]
    assert (deeper.depth, deeper.extra) == (10, 7)
    bad = RtlTiming("fmnist3", {"head0": part}).to_dict()
    bad["partitions"]["head0"]["starved_in_offsets"] = [0, 1]
    with pytest.raises(Exception, match="starved_in_offsets"):
        rtl_timing_from_dict(bad)


def test_held_reads_are_what_each_held_read_waits_for():
    from exitflow.hw.top.pair_timing import held_reads
    from exitflow.sim.rtl_timing import PartitionTiming, RtlTiming, rtl_timing_from_dict

    # saturated reads 0, 1, 2, 3, writes from 2; the pair's last frame: read 2 held (gap 5, its
    # saturated one 1) 2 cycles after the frame's write 1, read 3 not held
    stage = PartitionTiming(20, (0, 1, 2, 3), (2, 3, 4, 5))
    reads = np.array([[0, 1, 2, 3], [20, 21, 26, 27]])
    writes = np.array([[2, 3, 4, 5], [22, 24, 30, 31]])
    assert held_reads(reads, writes, stage) == ((2, 1, 2),)
    # through a converter of 2 narrow words per read: read j >= 1 is narrow word 2 * (j - 1)
    narrow = np.array([[0, 0, 1, 1, 2, 2, 3, 3], [21, 22, 26, 26, 27, 28, 29, 30]])
    assert held_reads(narrow, writes, stage) == ((2, 1, 2),)
    # the field round-trips and replaces the freeze rule's bound of that read only
    desc = load_hwdesc(DATA)
    n_in = desc.partition("stage0").in_beats
    n_out = desc.partition("stage0").out_beats
    ins = tuple(range(n_in))
    outs = tuple(2 + 5 * k for k in range(n_out))  # (784 reads, 196 writes: the last after)
    part = PartitionTiming(4 * n_in + 4 * n_out, ins, outs, 4, 0, ins, outs, read_freeze=0)
    base = model_from_hwdesc(desc, timing=RtlTiming("fmnist3", {"stage0": part}))
    held = replace(part, held_reads=((n_in - 1, 0, 3),))
    timing = rtl_timing_from_dict(RtlTiming("fmnist3", {"stage0": held}).to_dict())
    assert timing.partitions["stage0"].held_reads == ((n_in - 1, 0, 3),)
    a, b = base.segments[0].stage[0], model_from_hwdesc(desc, timing=timing).segments[0].stage[0]
    assert (b.fzk[-1], b.fzd[-1]) == (n_out, 3)
    assert a.fzk[:-1].tolist() == b.fzk[:-1].tolist() and a.fzd[:-1].tolist() == b.fzd[:-1].tolist()
    bad = RtlTiming("fmnist3", {"stage0": replace(part, held_reads=((0, 0, 3),))}).to_dict()
    with pytest.raises(Exception, match="held_reads"):
        rtl_timing_from_dict(bad)
