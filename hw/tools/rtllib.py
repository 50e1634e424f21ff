"""A copy of finn-plus's finn-rtllib, patched so that Verilator 5.48 compiles it.

The installed package is never modified: the copy lives in a cache folder keyed by the finn-plus
version and PATCH_VERSION, and is written atomically (built beside, then renamed into place), so
concurrent builds and interrupted runs never see a half-patched library.

Patches (finn-plus 1.6.1), each because Verilator rejects legal-but-unusual SystemVerilog:
- mvu/add_multi.sv declares a constant function (and its typedef) inside a generate block and
  calls it in a localparam; Verilator cannot evaluate it there. Moved to module level.
- fifo/hdl/fifo.sv calls a function returning a struct in a constant expression; Verilator cannot
  constant-fold struct-valued functions. Split into two int-valued functions.
- mvu/mvu_vvu_axi.sv sizes its output queue for 3 + clog2(SIMD+1) + (SIMD == 1) results in
  flight, but mvu.sv's pipeline is 3 + clog2(SIMD) + (SIMD == 1) + 1 deep (one more whenever
  SIMD is not a power of two: 8, not 7, at SIMD = 9), and the lock that stops new inputs on
  back-pressure is a register, so one more input enters after the output stalls. With one
  output per input (matrix width = SIMD) and random output back-pressure the queue overflows:
  its own assertion fires (stage 0 of the test design, PE 2, SIMD 9); in hardware a result
  would be lost. The patch sizes the queue for mvu.sv's depth + 1, measured to be enough and
  one less not (a finn-plus bug, not a Verilator limitation).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from exitflow.core.errors import PrerequisiteError, ToolMissingError

__all__ = ["PATCH_VERSION", "finn_rtllib_source", "patched_rtllib"]

log = logging.getLogger(__name__)

# Bump when a patch changes: old cached copies are then ignored.
PATCH_VERSION = 3

_LEAF_LOAD_DECL = """\t\t// Compute the count of decendents for all nodes in the reduction trees.
\t\ttypedef int unsigned  leaf_load_t[2*N-1];
\t\tfunction leaf_load_t init_leaf_loads();
\t\t\tautomatic leaf_load_t  res;
\t\t\tfor(int unsigned  i = 2*N-1; i-- > N-1;)  res[i] = 1;
\t\t\tfor(int unsigned  i =   N-1; i-- >   0;)  res[i] = res[2*i+1] + res[2*i+2];
\t\t\treturn  res;
\t\tendfunction : init_leaf_loads
"""
_L_DECL = "\tlocalparam int unsigned  L = $clog2(N);  // Number of levels with reductions\n"


def _patch_add_multi(text: str) -> str:
    text = _replace_once(text, _LEAF_LOAD_DECL, "", "mvu/add_multi.sv")
    moved = _LEAF_LOAD_DECL.replace("\n\t\t", "\n\t").replace("\t\t", "\t", 1)
    return _replace_once(text, _L_DECL, _L_DECL + "\n" + moved, "mvu/add_multi.sv")


_ABITS_STRUCT = """\ttypedef struct {
\t\tint unsigned  lo;
\t\tint unsigned  hi;
\t} abits_t;
\tfunction abits_t INIT_ABITS();
\t\tautomatic abits_t  abits = '{ lo: $clog2(DEPTH_REQ), hi: 0 };
\t\tif(abits.lo > MIN_ABITS) begin
\t\t\t// Consider Decomposition into lo + hi
\t\t\tautomatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(abits.lo-1));
\t\t\tif(hi_abits < abits.lo - 1) begin
\t\t\t\tabits.lo--;
\t\t\t\tabits.hi = hi_abits < 1? 1 : hi_abits;
\t\t\tend
\t\tend
\t\treturn  abits;
\tendfunction : INIT_ABITS
\tlocalparam abits_t       ABITS      = INIT_ABITS();
"""
_ABITS_INTS = """\t// exitflow patch: two int-valued functions instead of one struct-valued one (Verilator).
\tfunction int unsigned INIT_ABITS_LO();
\t\tautomatic int unsigned  lo = $clog2(DEPTH_REQ);
\t\tif(lo > MIN_ABITS) begin
\t\t\tautomatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(lo-1));
\t\t\tif(hi_abits < lo - 1)  lo--;
\t\tend
\t\treturn  lo;
\tendfunction : INIT_ABITS_LO
\tfunction int unsigned INIT_ABITS_HI();
\t\tautomatic int unsigned  lo = $clog2(DEPTH_REQ);
\t\tautomatic int unsigned  hi = 0;
\t\tif(lo > MIN_ABITS) begin
\t\t\tautomatic int unsigned  hi_abits = $clog2(DEPTH_REQ - 2**(lo-1));
\t\t\tif(hi_abits < lo - 1)  hi = hi_abits < 1? 1 : hi_abits;
\t\tend
\t\treturn  hi;
\tendfunction : INIT_ABITS_HI
\tlocalparam int unsigned  ABITS_LO = INIT_ABITS_LO();
\tlocalparam int unsigned  ABITS_HI = INIT_ABITS_HI();
"""


def _patch_fifo(text: str) -> str:
    text = _replace_once(text, _ABITS_STRUCT, _ABITS_INTS, "fifo/hdl/fifo.sv")
    return text.replace("ABITS.lo", "ABITS_LO").replace("ABITS.hi", "ABITS_HI")


_MVU_DEPTH_OLD = "/* else */    3 + $clog2(SIMD+1) + (SIMD == 1);"
_MVU_DEPTH_NEW = (
    "/* else */    3 + $clog2(SIMD) + (SIMD == 1) + 1;  // exitflow patch: mvu.sv's depth"
)


_MVU_FLIGHT_OLD = "localparam int unsigned  MAX_IN_FLIGHT = CORE_PIPELINE_DEPTH;"
_MVU_FLIGHT_NEW = (
    "localparam int unsigned  MAX_IN_FLIGHT = CORE_PIPELINE_DEPTH + 1;  "
    "// exitflow patch: the input lock is registered"
)


def _patch_mvu_axi(text: str) -> str:
    text = _replace_once(text, _MVU_DEPTH_OLD, _MVU_DEPTH_NEW, "mvu/mvu_vvu_axi.sv")
    return _replace_once(text, _MVU_FLIGHT_OLD, _MVU_FLIGHT_NEW, "mvu/mvu_vvu_axi.sv")


PATCHES: dict[str, Callable[[str], str]] = {
    "mvu/mvu_vvu_axi.sv": _patch_mvu_axi,
    "mvu/add_multi.sv": _patch_add_multi,
    "fifo/hdl/fifo.sv": _patch_fifo,
}


def _replace_once(text: str, old: str, new: str, name: str) -> str:
    if text.count(old) != 1:
        raise PrerequisiteError(
            f"finn-rtllib {name} is not the finn-plus 1.6.1 text exitflow knows how to patch for "
            "Verilator. Fix: install finn-plus==1.6.1, or update exitflow/hw/tools/rtllib.py "
            "for this version."
        )
    return text.replace(old, new)


def finn_rtllib_source() -> tuple[Path, str]:
    """Return (installed finn-rtllib folder, finn-plus version)."""
    try:
        from importlib.metadata import version

        import finn
    except ImportError as exc:
        raise ToolMissingError(
            "finn-plus is not installed. Fix: `pip install --no-deps finn-plus==1.6.1` after "
            "requirements/base.txt (see the Makefile)."
        ) from exc
    root = Path(finn.__file__).resolve().parent / "finn-rtllib"
    if not root.is_dir():
        raise ToolMissingError(
            f"finn-plus at {root.parent} has no finn-rtllib folder. Fix: reinstall finn-plus==1.6.1."
        )
    return root, version("finn-plus")


def patched_rtllib(cache_dir: str | os.PathLike) -> Path:
    """Return a patched copy of finn-rtllib under `cache_dir`, making it on first use."""
    source, finn_version = finn_rtllib_source()
    target = Path(cache_dir) / f"finn-rtllib-{finn_version}-p{PATCH_VERSION}"
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        copy = tmp / "finn-rtllib"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for rel, patch in PATCHES.items():
            path = copy / rel
            path.write_text(patch(path.read_text()))
        (copy / ".complete").write_text(f"finn-plus {finn_version}, patch {PATCH_VERSION}\n")
        try:
            os.replace(copy, target)
        except OSError:
            # another process finished first (target is a non-empty directory): use theirs
            if not (target / ".complete").is_file():
                raise
        log.info("patched finn-rtllib copy for Verilator at %s", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
