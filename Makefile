# kefu-floor developer targets.  `make test` sets everything up from a bare checkout.
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

.PHONY: venv services lint test test-fast bench demo replay-example fuzz bench-hostile

KERNELS := $(VENV)/.kernels
BYTECODE := $(VENV)/.bytecode

venv: $(STAMP) $(KERNELS) $(BYTECODE)

# Re-install only when pyproject.toml is newer than the stamp (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Compile the numba kernels into their cache at set-up (about 30 s once, and again when a
# kernel changes), so the first `make demo` only loads them (about 1 s); then the
# extension a replay runs them from without numba (kernels.compiled; about 15 s); then
# every module's bytecode, which a PYTHONDONTWRITEBYTECODE environment never writes
# (each command would compile the package's sources again: 0.1 s a run).
$(KERNELS): $(STAMP) $(wildcard kernels/*.py) kefu_floor/cli/aot.py
	$(PY) -m kefu_floor.live.warmup
	$(PY) -m kefu_floor.cli.aot
	@touch $(KERNELS)

$(BYTECODE): $(STAMP) $(shell find kefu_floor kernels dashboards -name '*.py')
	$(PY) -m compileall -q kefu_floor kernels dashboards
	@touch $(BYTECODE)

services:
	bash scripts/ensure-services.sh

# The linter first (pyproject.toml's [tool.ruff]; `ruff check --fix` mends what it can), then
# every test: core, live (real mosquitto, redis, Prometheus, Chromium), tui, perf.
test: venv services lint
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

# The pure core only (kernels, engine, rules, report, close, bridges' mappings, simulator):
# seconds, no services. `-m "not slow"` also works on the whole suite.
test-fast: venv
	$(PY) -m pytest -q -p no:cacheprovider tests/core -m "not slow" $(PYTEST_ARGS)

# every figure of issue 11 as a ratio to its peer in the same run (~10 min; the broker and
# Redis benchmarks start their own mosquitto and redis-server)
bench: venv
	$(PY) -m benchmarks.all $(ARGS)

demo: venv
	$(VENV)/bin/kefu-floor demo $(ARGS)

replay-example: venv
	$(VENV)/bin/kefu-floor replay examples/day/events.jsonl --roster examples/day/roster.csv --schedule examples/day/schedule.csv --policy chengdu-2014 --format table

fuzz: venv
	$(PY) -m simulators.fuzz --minutes $${MINUTES:-10}

bench-hostile: venv services
	$(PY) -m benchmarks.hostile
