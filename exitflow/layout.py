"""Where a run keeps its artefacts: one named path per file, so no module spells them out again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout"]


@dataclass(frozen=True)
class RunLayout:
    """Every path of a run directory, by name (docs/artefacts.md describes the files).

    `RunLayout(run_dir).policy` is `run_dir/calibrate/policy.json`, and so on; `rel(path)` gives a
    path relative to the run directory, as the step records store them.
    """

    run_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))

    def rel(self, path: Path) -> str:
        """`path` relative to the run directory, with forward slashes."""
        return Path(path).relative_to(self.run_dir).as_posix()

    # --- train: QAT checkpoints, history and the integer outputs of every exit
    @property
    def train_dir(self) -> Path:
        return self.run_dir / "train"

    @property
    def best_pt(self) -> Path:
        return self.train_dir / "best.pt"

    @property
    def last_pt(self) -> Path:
        return self.train_dir / "last.pt"

    @property
    def history(self) -> Path:
        return self.train_dir / "history.json"

    @property
    def eval_dir(self) -> Path:
        return self.run_dir / "eval"

    @property
    def outputs_val(self) -> Path:
        return self.eval_dir / "outputs_val.npz"

    @property
    def outputs_test(self) -> Path:
        return self.eval_dir / "outputs_test.npz"

    def outputs(self, split: str) -> Path:
        """eval/outputs_<split>.npz (split: val or test)."""
        return self.eval_dir / f"outputs_{split}.npz"

    # --- calibrate
    @property
    def calibrate_dir(self) -> Path:
        return self.run_dir / "calibrate"

    @property
    def policy(self) -> Path:
        return self.calibrate_dir / "policy.json"

    # --- evaluate (writes beside train's outputs in eval/)
    @property
    def eval_report(self) -> Path:
        return self.eval_dir / "report.json"

    @property
    def eval_report_md(self) -> Path:
        return self.eval_dir / "report.md"

    @property
    def tradeoff_png(self) -> Path:
        return self.eval_dir / "tradeoff.png"

    @property
    def exits_png(self) -> Path:
        return self.eval_dir / "exits.png"

    # --- export
    @property
    def export_dir(self) -> Path:
        return self.run_dir / "export"

    @property
    def manifest(self) -> Path:
        return self.export_dir / "manifest.json"

    @property
    def reference(self) -> Path:
        return self.export_dir / "reference.npz"

    @property
    def parity(self) -> Path:
        return self.export_dir / "parity.json"

    # --- build
    @property
    def build_dir(self) -> Path:
        return self.run_dir / "build"

    @property
    def hwdesc(self) -> Path:
        return self.build_dir / "hwdesc.json"

    @property
    def build_report(self) -> Path:
        return self.build_dir / "report.json"

    @property
    def build_report_md(self) -> Path:
        return self.build_dir / "report.md"

    @property
    def build_log(self) -> Path:
        return self.build_dir / "build_log.json"

    @property
    def finn_dir(self) -> Path:
        return self.build_dir / "finn"

    @property
    def checkpoints_dir(self) -> Path:
        """FINN's graphs after each build step, per partition (the generated top reads them)."""
        return self.build_dir / "checkpoints"

    @property
    def top_dir(self) -> Path:
        """The generated RTL top and its Verilator builds (exitflow.hw.top; cached by source
        digest, shared by the cosim step, the verilator driver and tests)."""
        return self.build_dir / "rtl"

    # --- simulate
    @property
    def sim_dir(self) -> Path:
        return self.run_dir / "sim"

    @property
    def sim_report(self) -> Path:
        return self.sim_dir / "report.json"

    @property
    def sim_report_md(self) -> Path:
        return self.sim_dir / "report.md"

    @property
    def sim_frames(self) -> Path:
        return self.sim_dir / "frames.npz"

    # --- cosim: the generated RTL top in Verilator against quant/ and the simulator
    @property
    def rtl_dir(self) -> Path:
        return self.run_dir / "rtl"

    @property
    def rtl_report(self) -> Path:
        return self.rtl_dir / "report.json"

    @property
    def rtl_report_md(self) -> Path:
        return self.rtl_dir / "report.md"

    @property
    def rtl_frames(self) -> Path:
        return self.rtl_dir / "frames.npz"

    # --- bitstream: the Vivado project of the generated top and the deploy package
    @property
    def bitstream_dir(self) -> Path:
        return self.run_dir / "bitstream"

    @property
    def bitstream_project(self) -> Path:
        """The self-contained Vivado project (create_project.tcl; output/ after Vivado)."""
        return self.bitstream_dir / "project"

    @property
    def bitstream_package(self) -> Path:
        """The deploy package (bit/hwh, driver, manifest.json, README)."""
        return self.bitstream_dir / "package"

    # --- dse: design-space exploration (docs/dse.md)
    @property
    def dse_dir(self) -> Path:
        return self.run_dir / "dse"

    @property
    def dse_report(self) -> Path:
        return self.dse_dir / "report.json"

    @property
    def dse_report_md(self) -> Path:
        return self.dse_dir / "report.md"

    @property
    def dse_overlay(self) -> Path:
        """The chosen design's config sections (policy thresholds, hw folding and buffers)."""
        return self.dse_dir / "overlay.yaml"

    @property
    def dse_design(self) -> Path:
        """The run's config with the overlay merged: `exitflow build -c` it."""
        return self.dse_dir / "design.yaml"

    @property
    def dse_cache(self) -> Path:
        """Cached foldings and simulations (kept across reruns: outside dse/)."""
        return self.run_dir / "cache" / "dse"

    # --- report: the run's summary
    @property
    def summary_md(self) -> Path:
        return self.run_dir / "report.md"

    @property
    def summary_json(self) -> Path:
        return self.run_dir / "report.json"

    @property
    def summary_html(self) -> Path:
        """The self-contained page a person reads first (exitflow.report_html)."""
        return self.run_dir / "report.html"

    # --- bookkeeping
    @property
    def config(self) -> Path:
        """The config of the last step that ran and succeeded."""
        return self.run_dir / "config.yaml"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def lock(self) -> Path:
        return self.run_dir / ".lock"

    @property
    def records_dir(self) -> Path:
        """One record per step (<name>.json): inputs it consumed, status, result, config."""
        return self.run_dir / ".steps"

    def record(self, step: str) -> Path:
        return self.records_dir / f"{step}.json"

    def previous(self, step: str) -> Path:
        """Where a running step keeps the outputs it replaces until it has succeeded."""
        return self.run_dir / ".previous" / step
