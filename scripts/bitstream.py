"""`make bitstream CONFIG=... [BOARD=...] [VIVADO=...]`: the bitstream step, then the package
published to bitstreams/<board>/<design>/ (also without Vivado: the package has no .bit then).

BOARD other than the config's hw.board writes a derived config beside the run (build/ of the
checkout) with hw.board replaced: the design is rebuilt for that board (its part decides FINN's
RTL), so the flow's earlier steps rerun as needed (`exitflow run --to report` first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exitflow.cli import main as cli_main
from exitflow.config import load_config, save_config
from exitflow.deploy import publish
from exitflow.layout import RunLayout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", required=True)
    ap.add_argument("--board", default="")
    ap.add_argument("--vivado", default="")
    ap.add_argument("--root", default="bitstreams", help="where packages are published")
    args = ap.parse_args()
    cfg = load_config(args.config)
    config = Path(args.config)
    if args.board and args.board != str(cfg.hw.board):
        cfg.hw.board = type(cfg.hw.board)(args.board)
        config = Path("build") / f"{config.stem}-{args.board}.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        save_config(cfg, config)
        print(f"board {args.board}: derived config {config}")
        cfg = load_config(config)
    rc = cli_main(["run", "-c", str(config), "--to", "report"])
    if rc != 0:
        return rc
    rc = cli_main(
        ["bitstream", "-c", str(config), *(["--vivado", args.vivado] if args.vivado else [])]
    )
    package = RunLayout(cfg.run_dir(Path.cwd())).bitstream_package
    if rc in (0, 4) and (package / "manifest.json").is_file():
        print(f"published {publish(package, args.root)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
