"""`python -m exitflow_driver` on a board, `python -m exitflow.driver` in the repository."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
