# The two entry points a newcomer needs: `make up` runs the platform, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./tenantry-data

.PHONY: up test lint typecheck contracts pytest bench clean system-deps office-deps backup-deps local-services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# System packages the tests use (openssl for TLS probes, wrk for benchmarks); installed once.
system-deps:
	@command -v openssl >/dev/null && command -v wrk >/dev/null && command -v redis-server >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl wrk redis-server >/dev/null; }

# LibreOffice (headless, no GUI) and fonts for media previews of Office files; installed once.
OFFICE_PACKAGES := libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui fonts-dejavu-core
office-deps:
	@command -v soffice >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(OFFICE_PACKAGES) >/dev/null; }

# pgBackRest (Debian's, 2.45) backs up PostgreSQL shards: `up` runs it, the tests drive it; installed once.
backup-deps:
	@command -v pgbackrest >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest >/dev/null; }

# The tests use the Redis on 127.0.0.1:6379; start it if it is installed but not running.
# They also need a PostgreSQL server on 127.0.0.1:5432 (user postgres, trust authentication),
# which `make test` does not install or start: stop early, saying so, when none answers.
PG_TEST_SERVER := postgresql://postgres@127.0.0.1:5432/postgres
local-services: $(STAMP)
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@$(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_SERVER)', connect_timeout=5).close()" 2>/dev/null || \
		{ echo "make test needs a PostgreSQL server on 127.0.0.1:5432 that lets user postgres in with trust authentication; start one and run make test again" >&2; exit 1; }

up: $(STAMP) office-deps backup-deps
	$(BIN)/tenantry up --data-dir $(DATA_DIR)

test: $(STAMP) system-deps office-deps backup-deps local-services lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# The whole suite on SQLite, then again on PostgreSQL (127.0.0.1:5432) every test that stores
# data on the run's backend: those marked `backend` (tests/backends.py says how they are marked),
# The test clouds keep no idle connection (`pool_size = 0`), so two test processes' clouds stay
# within the server's 100 connections.
pytest: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile --durations=15
	TENANTRY_TEST_BACKEND=postgres $(BIN)/pytest -n 2 --dist loadfile -m backend --durations=15

bench: $(STAMP) system-deps
	$(BIN)/python bench/spine.py

clean:
	rm -rf $(VENV) $(DATA_DIR)
