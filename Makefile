# The two commands that matter: `make dev` (the whole control plane locally) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: dev test lint unit sweep install clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

## Run Azurite, the ARM simulator and the API (http://127.0.0.1:7071/api) in the foreground; Ctrl-C stops all.
dev: install
	$(PY) -m tools.devstack

## Lint, type-check and run the whole suite (starts its own Azurite and ARM simulator on free ports).
test: install lint
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

## One sweeper pass against the running local stack (make dev in another terminal).
sweep: $(VENV)/.installed
	set -a; . .devstack/env; set +a; $(PY) -m shared.sweeper

## Only the fast tests that need no services.
unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

clean:
	rm -rf .devstack .pytest_cache .mypy_cache .ruff_cache
