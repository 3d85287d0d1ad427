# Tocsin developer commands. `make run` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/tocsin: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Tocsin needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/tocsin
	$(BIN)/tocsin migrate
	$(BIN)/tocsin demo examples/demo.yaml
	$(BIN)/tocsin serve --host $(HOST) --port $(PORT)

lint: $(BIN)/tocsin
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(BIN)/tocsin
	$(BIN)/mypy

pytest: $(BIN)/tocsin
	$(BIN)/pytest -q
	@if [ -n "$$TOCSIN_TEST_POSTGRES" ]; then \
		echo "== the same suite on PostgreSQL ($$TOCSIN_TEST_POSTGRES)"; \
		DATABASE_URL="$$TOCSIN_TEST_POSTGRES" TOCSIN_E2E_POSTGRES="$$TOCSIN_TEST_POSTGRES" \
			$(BIN)/pytest -q; \
	else echo "TOCSIN_TEST_POSTGRES is not set: PostgreSQL run skipped"; fi

test: lint typecheck pytest

# Ingestion, paging latency, escalation lateness and memory; then the status page against
# nginx (needs wrk and nginx: apt-get install wrk nginx). PostgreSQL too with
# TOCSIN_BENCH_POSTGRES=postgresql://... . Figures are written to bench/*.md.
bench: $(BIN)/tocsin
	$(BIN)/python -m bench
	$(BIN)/python -m bench.statuspage

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
