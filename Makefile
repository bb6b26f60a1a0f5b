# The two entry points a newcomer needs: `make up` runs the platform, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./tenantry-data

.PHONY: up test lint typecheck contracts pytest bench clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# System packages the tests use (openssl for TLS probes, wrk for benchmarks); installed once.
system-deps:
	@command -v openssl >/dev/null && command -v wrk >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl wrk >/dev/null; }

up: $(STAMP)
	$(BIN)/tenantry up --data-dir $(DATA_DIR)

test: $(STAMP) system-deps lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

bench: $(STAMP) system-deps
	$(BIN)/python bench/spine.py

clean:
	rm -rf $(VENV) $(DATA_DIR)
