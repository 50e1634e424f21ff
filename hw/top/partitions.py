"""One stitched module per FINN partition, its generated modules renamed with a prefix.

Every partition has its own `MVAU_rtl_0` and friends, so the files FINN generated for a
partition are copied with each module name prefixed by the top's and the partition's name
(exitflow.hw.top.generate).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from exitflow.core.files import write_text
from exitflow.hw.flow import finn_compat
from exitflow.hw.tools.finn_rtl import stitch
from exitflow.hw.tools.rtllib import finn_rtllib_source, patched_rtllib
from exitflow.hw.top.plan import TopPlan

__all__ = ["partition_module", "rename_modules"]

_MODULE = re.compile(r"^\s*module\s+(\w+)", re.M)


def rename_modules(text: str, names: dict[str, str]) -> str:
    """Replace whole-word module names outside string literals (paths keep their names)."""
    if not names:
        return text
    pat = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    parts = text.split('"')
    for i in range(0, len(parts), 2):
        parts[i] = pat.sub(lambda m: names[m.group(1)], parts[i])
    return '"'.join(parts)


def partition_module(plan: TopPlan, name: str, prefix: str, out: Path) -> tuple[str, list[Path]]:
    """Stitch partition `name` under `out`; copy its generated files with module names
    prefixed. Returns the stitched module's name and every source it needs."""
    finn_compat.init_finn(out / "finn")  # FINN's file lists read its process-wide settings
    installed, _ = finn_rtllib_source()
    lib = patched_rtllib(out / "cache")
    part = plan.parts[name]
    module = f"{prefix}_{name}"
    top = stitch(part.model, module, lib, installed)
    gen_dirs = [
        Path(str(_node_attr(n, "code_gen_dir_ipgen"))).resolve() for n in part.model.graph.node
    ]
    own = [s for s in top.sources if any(d in s.parents for d in gen_dirs)]
    shared = [s for s in top.sources if s not in own]
    texts = {s: s.read_text() for s in own}
    names = {m: f"{prefix}_{name}_{m}" for t in texts.values() for m in _MODULE.findall(t)}
    pdir = out / name
    files = []
    for s, t in texts.items():
        files.append(write_text(pdir / s.name, rename_modules(t, names)))
    files.append(write_text(pdir / f"{module}.sv", rename_modules(top.text, names)))
    return module, shared + files


def _node_attr(node: Any, name: str) -> Any:
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(node).get_nodeattr(name)
