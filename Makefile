# The two commands a newcomer needs: `make run` and `make test`. Both work on a fresh machine
# with only python3 (>= 3.11) and make installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test migrate lint bench clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "db-postgres-service needs Python >= 3.11 (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed-run: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.python-ok
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-run

run: $(VENV)/.installed-run
	exec $(BIN)/db-postgres-service serve --migrate

test: $(VENV)/.installed-dev
	$(BIN)/pytest

migrate: $(VENV)/.installed-run
	$(BIN)/db-postgres-service migrate

# Load test of the service against the tutorial baseline (bench/README.md); needs wrk,
# pgbench and ss (apt-get install wrk postgresql-client iproute2). BENCH_* variables shorten
# or narrow it.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
