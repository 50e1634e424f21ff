"""The deploy package and the bitstream step.

Fast: Vivado's utilisation table is read into FINN's resource names. Slow (a trained and built
tiny all-RTL Fashion-MNIST design, as tests/test_top.py builds it, about 1-2 min): `exitflow
bitstream` without Vivado writes the project (its dry run passes), a package without .bit whose
manifest the driver reads, and ends with exit 4 naming the versions and the fix; with a .bit in
the project's output/ (standing in for Vivado's), the package records its sha256 and the
driver accepts it and refuses a different one; publish copies it to <root>/<board>/<design>/.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from exitflow.deploy import parse_utilization, publish, write_package

_UTIL = """
+----------------------------+-------+-------+------------+-----------+-------+
|          Site Type         |  Used | Fixed | Prohibited | Available | Util% |
+----------------------------+-------+-------+------------+-----------+-------+
| Slice LUTs                 |  9876 |     0 |          0 |     53200 | 18.56 |
|   LUT as Logic             |  9000 |     0 |          0 |     53200 | 16.92 |
| Slice Registers            | 12345 |     0 |          0 |    106400 | 11.60 |
| Block RAM Tile             |   7.5 |     0 |          0 |       140 |  5.36 |
| DSPs                       |    20 |     0 |          0 |       220 |  9.09 |
+----------------------------+-------+-------+------------+-----------+-------+
"""


def test_vivado_utilisation_is_read_in_finn_units() -> None:
    got = parse_utilization(_UTIL)
    assert got == {"LUT": 9876.0, "FF": 12345.0, "BRAM_18K": 15.0, "DSP": 20.0}


@pytest.fixture(scope="module")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("finn")
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh not installed")
    sys.path.insert(0, str(Path(__file__).parent))
    from test_hw_flow import FMNIST, _config

    if not (FMNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (make data)")
    from exitflow.config import config_from_dict, save_config

    run_dir = tmp_path_factory.mktemp("deployrun")
    cfg = config_from_dict(_config(run_dir, mvau_style="dsp", verify_samples=50))
    save_config(cfg, run_dir.parent / f"{run_dir.name}.yaml")
    from exitflow.cli import main

    assert main(["run", "-c", str(run_dir.parent / f"{run_dir.name}.yaml"), "--to", "build",
                 "--data-root", str(FMNIST.parent)]) == 0  # fmt: skip
    return run_dir


@pytest.mark.slow
def test_bitstream_without_vivado_writes_project_and_package(built_run, capsys) -> None:
    from exitflow.cli import main
    from exitflow.driver.device import check_bitstream
    from exitflow.driver.errors import ManifestError
    from exitflow.driver.manifest import read_manifest
    from exitflow.hw.vivado import VivadoProject, dry_run

    config = built_run.parent / f"{built_run.name}.yaml"
    rc = main(["bitstream", "-c", str(config)])
    err = capsys.readouterr().err
    assert rc == 4, err
    assert "2022.2 or 2024.2" in err and "--vivado" in err and "XILINX_VIVADO" in err
    project = VivadoProject.load(built_run / "bitstream" / "project")
    assert dry_run(project.dir).ok
    package = built_run / "bitstream" / "package"
    m = read_manifest(package)
    assert m["bitstream"]["sha256"] is None and m["registers"]["packet_records"] == 0x800
    assert m["ip"] == {"dma": "dma", "registers": "accel"} and m["board"] == "Pynq-Z2"
    assert m["vivado"]["rtl_sha256"] == project.rtl_sha256 and not m["vivado"]["built"]
    assert (package / "exitflow_driver" / "manifest.py").is_file()
    with pytest.raises(ManifestError, match="names no bitstream"):
        check_bitstream(package, m)
    # the top the project holds is the one generated for the cosim step (build/rtl)
    design = json.loads((built_run / "build" / "rtl" / "design.json").read_text())
    origins = [s["origin"] for s in project.sources if s["origin"] != "generated"]
    assert origins == design["sources"]

    # a bitstream in output/ (what Vivado writes): recorded by sha256, checked by the driver
    out = project.dir / "output"
    out.mkdir(exist_ok=True)
    project.bit.write_bytes(b"bitstream-1")
    project.hwh.write_text("<hwh/>")
    pkg = write_package(built_run, project, built_run / "pkg2")
    m2 = read_manifest(pkg.dir)
    assert m2["vivado"]["built"] and m2["bitstream"]["file"] == f"{project.design}.bit"
    assert check_bitstream(pkg.dir, m2)[0] == pkg.bit
    dest = publish(pkg, built_run / "bitstreams")
    assert dest == built_run / "bitstreams" / "Pynq-Z2" / m2["design"]
    (dest / f"{project.design}.bit").write_bytes(b"bitstream-2")
    with pytest.raises(ManifestError, match="does not belong"):
        check_bitstream(dest, read_manifest(dest))
