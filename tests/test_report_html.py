"""runs/<name>/report.html on a tiny run: self-contained, drawn by headless Chromium (not blank),
its headline numbers in the DOM equal to figures recomputed here from the run's raw artefacts;
a partial run renders every section and names the step that produces what is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import exitflow
from exitflow.report_html import fmt_headline
from exitflow.step_report import summarise
from exitflow.tiny_design import tiny_design

TINY = tiny_design("report-html-tiny")  # examples/api_flow.py's tiny design
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not installed (scripts/install_tools.sh: apt-get install chromium)",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report_html") / "run"
    cfg = exitflow.config_from_dict(TINY)
    # up to the simulator, then the report: later steps have sections of their own (faked below)
    exitflow.run_flow(cfg, out, stop="simulate", data_root=".data", command="pytest")
    exitflow.run_flow(cfg, out, start="report", stop="report", command="pytest")
    return out


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
    ]  # fmt: skip
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class _Headline(HTMLParser):
    """The headline table's value cells: data-key -> (data-value, shown text)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, tuple[str | None, str]] = {}
        self._key: str | None = None
        self._value: str | None = None
        self._in_value = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-key"):
            self._key = a["data-key"]
        if tag == "td" and self._key and "value" in (a.get("class") or "").split():
            self._in_value, self._value, self._text = True, a.get("data-value"), ""

    def handle_data(self, data: str) -> None:
        if self._in_value:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._in_value and self._key:
            self.rows[self._key] = (self._value, self._text.strip())
            self._in_value, self._key = False, None


def _expected(run: Path) -> dict[str, float]:
    """Headline figures recomputed from raw artefacts, without exitflow's report code."""
    ref = np.load(run / "export" / "reference.npz")
    labels = ref["labels"]
    accuracy = float(np.mean(ref["pred"] == labels))
    final = float(np.mean(ref["logits"][:, -1, :].argmax(axis=1) == labels))
    frames = np.load(run / "sim" / "frames.npz")
    sim = json.loads((run / "sim" / "report.json").read_text())
    span = int(frames["finish"].max()) - int(frames["start"].min()) + 1
    fps = frames["frame"].size * sim["clock_mhz"] * 1e6 / span
    build = json.loads((run / "build" / "report.json").read_text())
    gated = build["gated"]
    lut = sum(p["LUT"] for p in gated["partitions"]) + sum(c["LUT"] for c in gated["cond_buffers"])
    lut_ratio = lut / build["baseline"]["total"]["LUT"]
    gain = fps / build["baseline"]["fps"] / lut_ratio
    return {
        "accuracy": accuracy,
        "accuracy_drop": final - accuracy,
        "throughput_fps": fps,
        "gain_equal_resources": gain,
        "fraction_of_bound": gain / sim["bound"],
        "resource_fraction": lut / 53200,  # the Pynq-Z2's LUTs bind on this design
    }


def test_the_page_is_self_contained(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external link"
    assert "@import" not in page and "url(" not in page
    assert "data:image/png;base64," in page  # the simulator's occupancy plot, inline
    assert page.count("<svg") >= 4  # trade-off, exits, resources, frames in flight


def test_three_streams_are_on_the_page_as_the_simulator_gave_them(run_dir: Path) -> None:
    """Test set, no exit by policy and hard bursts, each with throughput and accuracy."""
    page = (run_dir / "report.html").read_text()
    streams = json.loads((run_dir / "sim" / "report.json").read_text())["streams"]
    for key in ("test", "no_exit", "hard_bursts"):
        row = re.search(rf'<tr data-stream="{key}">(.*?)</tr>', page)
        assert row, f"no {key} row"
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1))
        assert cells[:2] == [format(streams[key]["fps"], ".4g"),
                             format(streams[key]["accuracy"], ".4g")], key  # fmt: skip
    assert streams["no_exit"]["fps"] < streams["test"]["fps"]


@needs_chromium
def test_chromium_draws_the_page(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={shot}",
              (run_dir / "report.html").as_uri())  # fmt: skip
    img = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert img.shape[:2] == (2400, 1200)
    grey = img.mean(axis=2)
    background = np.bincount(grey.astype(np.int64).ravel()).argmax()
    ink = np.abs(grey - background) > 40
    colours = np.unique(img.reshape(-1, 3) // 16, axis=0).shape[0]
    assert grey.std() > 10, "the screenshot is nearly uniform"
    assert ink.mean() > 0.03, f"only {ink.mean():.1%} of the pixels differ from the background"
    assert colours > 40, f"{colours} colours: the charts did not draw"
    # saturated chart colours (bars, markers), not only black text on white
    assert ((img.max(axis=2) - img.min(axis=2)) > 100).mean() > 0.005


@needs_chromium
def test_the_headline_numbers_in_the_dom_are_the_run_s(run_dir: Path, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", (run_dir / "report.html").as_uri()).stdout
    parser = _Headline()
    parser.feed(dom)
    index = json.loads((run_dir / "report.json").read_text())
    for key, want in _expected(run_dir).items():
        assert key in parser.rows, f"headline row {key} is not in the DOM"
        value, shown = parser.rows[key]
        assert value is not None, f"{key}: no data-value"
        assert float(value) == pytest.approx(want, rel=1e-9, abs=1e-12), key
        assert float(value) == index["headline"][key]["value"], f"{key}: DOM vs report.json"
        assert shown == fmt_headline(key, want), f"{key}: shows {shown!r}"
    sources = index["headline"]["resource_fraction"]
    assert sources["resources_from"] == "FINN estimates"  # no build/synth.json in this run
    assert "FINN estimates" in dom
    assert "exitflow cosim" in dom or "RTL co-simulation" in dom


def test_a_partial_run_names_what_is_missing(run_dir: Path, tmp_path: Path) -> None:
    from exitflow.report_html import render

    part = tmp_path / "partial"
    for sub in ("eval", "calibrate"):
        shutil.copytree(run_dir / sub, part / sub)
    _, index = summarise(part)
    page = render(index, part)
    assert index["headline"]["accuracy"]["value"] is not None
    for key in ("throughput_fps", "gain_equal_resources", "fraction_of_bound"):
        assert index["headline"][key]["missing"] == "simulate"
    assert index["headline"]["resource_fraction"]["missing"] == "build"
    for step in ("simulate", "build", "cosim", "dse"):
        assert f"run <code>exitflow {step}</code>" in page, step
    status = {r["rung"]: r["status"] for r in index["rungs"]}
    assert status["simulator -> reference"] == "not run"
    assert status["brevitas -> QONNX"] == "not run"
    assert page.count("<svg") == 2  # trade-off curve and exit histogram only
    empty = tmp_path / "empty"
    empty.mkdir()
    page = render(summarise(empty)[1], empty)
    assert page.count('class="missing"') >= 5


def test_rtl_and_dse_reports_feed_their_sections(run_dir: Path, tmp_path: Path) -> None:
    from exitflow.report_html import render

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("finn", "checkpoints"))
    (run / "rtl").mkdir(exist_ok=True)
    rtl = {"frames": 50, "exit_mismatches": 0, "class_mismatches": 2, "logit_mismatches": 0,
           "rtl_fps": 900.0, "sim_fps": 1000.0, "fps_ratio": 0.9, "order_equal": True}  # fmt: skip
    (run / "rtl" / "report.json").write_text(json.dumps(rtl))
    dse = {
        "budget": 0.5,
        "pareto_front": [{"fps": 2000.0, "accuracy": 0.9}, {"fps": 3000.0, "accuracy": 0.85}],
        "baseline": [{"fps": 1500.0, "resource_fraction": 0.5}],
        "chosen": {"fps": 2000.0, "accuracy": 0.9},
        "iso_resource": [
            {"budget": 0.25, "gain": 1.2, "baseline": {"fps": 1000.0}, "gated": {"fps": 1200.0}},
            {"budget": 0.5, "gain": 1.4, "baseline": {"fps": 1500.0}, "gated": {"fps": 2100.0}},
        ],
    }
    (run / "dse").mkdir(exist_ok=True)
    (run / "dse" / "report.json").write_text(json.dumps(dse))
    _, index = summarise(run)
    rung = next(r for r in index["rungs"] if r["rung"] == "RTL co-simulation")
    assert rung["status"] == "failed" and "2 exit/class/logit mismatches" in rung["detail"]
    assert index["headline"]["gain_iso_resource"]["value"] == 1.4  # the DSE's own budget
    assert index["figures"]["tradeoff"]["kind"] == "pareto"
    page = render(index, run)
    assert "Pareto front (dse/)" in page and 'id="iso"' in page
    assert "RTL / simulator throughput" in page
    rtl = {"skipped": True, "reason": "no Verilator on this machine"}
    (run / "rtl" / "report.json").write_text(json.dumps(rtl))
    _, index = summarise(run)
    rung = next(r for r in index["rungs"] if r["rung"] == "RTL co-simulation")
    assert (rung["status"], rung["detail"]) == ("skipped", "no Verilator on this machine")
    assert "Skipped: no Verilator on this machine" in render(index, run)
