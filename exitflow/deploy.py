"""The deploy package: what a user copies to a board, in one folder.

```
<package>/                  bitstreams/<board>/<design>/ once published
  <design>.bit, <design>.hwh  the overlay (when Vivado built it; PYNQ wants the same base name)
  exitflow_driver/            the board-side driver (exitflow/driver, standard library + pynq)
  manifest.json               exitflow_driver.manifest's schema: hashes (model, config, RTL,
                              the .bit's sha256), policy and thresholds, input and record
                              format, registers, clock, estimated/simulated/synthesised figures
  README.md                   how to copy it to a board and run it
```

`write_package(run_dir, project, out_dir)` writes it (atomically: a complete folder or the old
one); `publish(package, root)` copies it to `root/<board>/<design>/`. The manifest comes from
the driver's own writer (`exitflow.driver.manifest.manifest_from_run`), so the driver reads what
was written for it; the bitstream's sha256 is recorded at build time and the driver refuses a
.bit that does not match.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exitflow.core.errors import PrerequisiteError
from exitflow.core.files import write_text

__all__ = ["DeployPackage", "parse_utilization", "publish", "write_package"]

log = logging.getLogger(__name__)

_DRIVER = Path(__file__).resolve().parent / "driver"
DRIVER_NAME = "exitflow_driver"


@dataclass
class DeployPackage:
    """A written package: its folder, manifest and (when built) bitstream."""

    dir: Path
    board: str
    design: str
    manifest: Path
    bit: Path | None
    hwh: Path | None


def parse_utilization(text: str) -> dict[str, float]:
    """LUT, FF, BRAM_18K and DSP used, from Vivado's `report_utilization` text (7-series and
    UltraScale+ tables; block RAM tiles count as 2 BRAM_18K, as FINN counts)."""
    rows: dict[str, float] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[\d.]+", cells[1] or "x"):
            rows.setdefault(cells[0], float(cells[1]))
    out: dict[str, float] = {}
    for key, names in (("LUT", ("Slice LUTs", "CLB LUTs", "Slice LUTs*", "CLB LUTs*")),
                       ("FF", ("Slice Registers", "CLB Registers")),
                       ("BRAM_18K", ("Block RAM Tile",)), ("URAM", ("URAM",)),
                       ("DSP", ("DSPs",))):  # fmt: skip
        for n in names:
            if n in rows:
                out[key] = rows[n] * 2 if key == "BRAM_18K" else rows[n]
                break
    return out


def _copy_driver(dest: Path) -> None:
    if not (_DRIVER / "manifest.py").is_file():
        raise PrerequisiteError(
            f"{_DRIVER} has no driver (exitflow.driver.manifest): install exitflow with its driver"
        )
    shutil.copytree(_DRIVER, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def write_package(
    run_dir: str | Path,
    project: Any,
    out_dir: str | Path,
    *,
    rtl_dir: str | Path | None = None,
) -> DeployPackage:
    """Write the deploy package of `run_dir`'s design built by `project` (a
    exitflow.hw.vivado.VivadoProject) into `out_dir`, replacing it as a whole.

    The .bit/.hwh are copied when the project has them (output/); without them the manifest
    names no bitstream and the driver's pynq backend refuses the package (the verilator and sim
    backends still work). rtl_dir: where the generated top's design.json is (default build/rtl).
    """
    from exitflow.driver.manifest import manifest_from_run, write_manifest

    out = Path(out_dir).resolve()
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    built = project.bit.is_file() and project.hwh.is_file()
    bit = hwh = None
    if built:
        bit = Path(shutil.copyfile(project.bit, tmp / f"{project.design}.bit"))
        hwh = Path(shutil.copyfile(project.hwh, tmp / f"{project.design}.hwh"))
    synthesis = None
    util = project.dir / "output" / "utilization.rpt"
    if built and util.is_file():
        synthesis = {"resources": parse_utilization(util.read_text())}
    manifest = manifest_from_run(
        run_dir,
        board=project.board,
        bitstream=bit,
        hwh=hwh,
        synthesis=synthesis,
        ip_names={"dma": "dma", "registers": "accel"},
        rtl_dir=rtl_dir,
    )
    from exitflow.hw.vivado.shell import PACKET_RECORDS

    manifest["registers"]["packet_records"] = PACKET_RECORDS
    manifest["clock_mhz"] = float(project.clock_mhz)
    manifest["vivado"] = {
        "versions": list(project.versions),
        "part": project.part,
        "board_part": project.board_part,
        "built": built,
        "rtl_sha256": project.rtl_sha256,
        "dma_in_bits": project.dma_in,
        "dma_out_bits": project.dma_out,
    }
    write_manifest(tmp / "manifest.json", manifest)
    _copy_driver(tmp / DRIVER_NAME)
    write_text(tmp / "README.md", _readme(project, built))
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    log.info("wrote the deploy package %s (%s)", out, "with bitstream" if built else "no bitstream")
    return DeployPackage(
        out, project.board, project.design, out / "manifest.json",
        out / bit.name if bit else None, out / hwh.name if hwh else None,
    )  # fmt: skip


def publish(package: DeployPackage | str | Path, root: str | Path) -> Path:
    """Copy a package to `root/<board>/<design>/` (replacing that folder); returns it."""
    import json

    src = Path(package.dir if isinstance(package, DeployPackage) else package)
    m = json.loads((src / "manifest.json").read_text())
    dest = Path(root) / str(m["board"]) / str(m["design"])
    tmp = dest.with_name(f".{dest.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    log.info("published %s to %s", src, dest)
    return dest


def _readme(p: Any, built: bool) -> str:
    state = (
        f"`{p.design}.bit` and `{p.design}.hwh` are the overlay (Vivado {', '.join(p.versions)})."
        if built
        else "No bitstream yet: this package was written without Vivado. Build it with "
        "`exitflow bitstream --vivado /path/to/vivado` (or run the Vivado project's "
        "create_project.tcl on a machine with Vivado), then write the package again."
    )
    return f"""# {p.design} on {p.board}

{state} Clock {p.clock_mhz:g} MHz; part `{p.part}`. Generated by exitflow; do not edit.

## Copy it to the board

```
scp -r {p.design} xilinx@<board-ip>:/home/xilinx/      # the whole folder (PYNQ image)
```

## Run it (on the board, PYNQ's Python as root)

```python
import sys; sys.path.insert(0, "/home/xilinx/{p.design}")
from exitflow_driver import ExitflowAccelerator, load_images
acc = ExitflowAccelerator("/home/xilinx/{p.design}", backend="pynq")
result = acc.infer(load_images("images.npy"))   # exits, classes, logits, timing per frame
```
or `python3 -m exitflow_driver --help` in this folder. The driver checks the .bit's sha256
against manifest.json and refuses a bitstream that was not built with this manifest.

## What the hardware is

- `dma` (AXI DMA, simple mode): MM2S streams images ({p.in_width}-bit words in
  {p.dma_in}-bit DMA words), S2MM receives one {p.dma_out}-bit word per frame record; the
  accelerator raises TLAST after every N-th record, N = register 0x800 (reset 1).
- `accel`: the accelerator's AXI-Lite registers (thresholds, counters; manifest.json
  `registers`), the thresholds writable at run time.
"""
