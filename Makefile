# The two commands that matter: `make dev` (the whole control plane locally) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Processes make test runs the suite on (pytest-xdist); each starts its own services on free ports.
TEST_WORKERS ?= 2
# Where make dev keeps its data, logs and env file (make clean removes it).
STATE_DIR ?= .devstack
# make dev API_PORT=7171 ARM_PORT=8543 TABLES_PORT=10102 QUEUE_PORT=10101 picks other ports (defaults: 7071 8443 10002 10001).
DEVSTACK_FLAGS := --state-dir $(STATE_DIR) $(if $(API_PORT),--api-port $(API_PORT)) $(if $(ARM_PORT),--arm-port $(ARM_PORT)) \
	$(if $(TABLES_PORT),--tables-port $(TABLES_PORT)) $(if $(QUEUE_PORT),--queue-port $(QUEUE_PORT))

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
# One command, no shell: make's signals reach the stack runner itself.
dev: install
	$(PY) -m tools.devstack $(DEVSTACK_FLAGS)

## Lint, type-check and run the whole suite (starts its own Azurite and ARM simulator on free ports).
test: install lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

## One sweeper pass against the running local stack (make dev in another terminal); SWEEP_FLAGS=--json for scripts.
sweep: $(VENV)/.installed
	@test -f $(STATE_DIR)/env || { echo "no $(STATE_DIR)/env: start make dev first" >&2; exit 1; }
	@set -a; . $(STATE_DIR)/env; set +a; $(PY) -m shared.sweeper $(SWEEP_FLAGS)

## Only the fast tests that need no services.
unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

## Reset the local stack's world (tables, queue, ARM simulator state, env file) and the tool caches.
clean:
	rm -rf $(STATE_DIR) .pytest_cache .mypy_cache .ruff_cache
