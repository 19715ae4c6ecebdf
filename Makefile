# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv when missing, installs the pinned CPU torch first (an
# unpinned torch would pull a multi-GB CUDA build), then polymodal itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Packages install without pip's byte-compiling (one core), then compileall does it on every core. The
# compiled files matter: this machine sets PYTHONDONTWRITEBYTECODE=1, so a module without one is compiled
# again by every process that imports it. Some packages ship files that are not Python 3 (templates,
# examples): compileall reports them and fails, as pip's own compile step skips them silently, hence `|| true`.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --no-compile torch==2.13.0
	$(BIN)/pip install --quiet --no-compile -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/polymodal demo

# compileall: this machine sets PYTHONDONTWRITEBYTECODE=1, so without it every process the tests start
# (kill tests, CLI runs) compiles polymodal's modules again; existing .pyc files are still read.
# Two pytest-xdist workers, one per core, each on one thread (tests/conftest.py); --dist loadscope keeps a
# module's tests on one worker, so its module-scoped fixtures are built once.
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest -q -n 2 --dist loadscope

lint: install
	$(BIN)/ruff check src tests benchmarks

bench: install
	$(BIN)/python benchmarks/bench_loaders.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
