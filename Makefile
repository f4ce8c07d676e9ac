# The two commands a newcomer needs: `make run` and `make test`. Both work on a fresh machine
# with only python3 (>= 3.11) and make installed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test migrate migration lint bench clean browser pgbouncer

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

# The Python client (clients/python), editable, for its tests and its type check.
$(VENV)/.installed-client: clients/python/pyproject.toml $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $@

run: $(VENV)/.installed-run
	exec $(BIN)/db-postgres-service serve --migrate

test: $(VENV)/.installed-client browser pgbouncer
	$(BIN)/pytest

# The browser test of /docs (tests/test_docs.py) drives Chromium through ChromeDriver. As root
# on Debian or Ubuntu they are installed from the distribution's packages; elsewhere that test
# is skipped and says why (.ci/run turns the skip into a failure).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium and chromium-driver for the /docs browser test"; \
			{ apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
			  { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; } || \
			echo "could not install chromium; the /docs browser test will be skipped"; \
		else \
			echo "no chromium/chromedriver: the /docs browser test will be skipped"; \
		fi; \
	fi

# The tests of DATABASE_POOL_MODE=transaction (tests/test_pgbouncer.py) start their own
# PgBouncer; as root on Debian or Ubuntu the package is installed when missing (it starts no
# server of its own where there is no systemd; elsewhere its service is stopped again, so
# only the tests' own PgBouncer runs). Without it those tests are skipped and say why.
pgbouncer:
	@if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing pgbouncer for the transaction-mode tests"; \
			{ apt-get install -y -qq pgbouncer >/dev/null 2>&1 || \
			  { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }; } || \
			echo "could not install pgbouncer; the transaction-mode tests will be skipped"; \
			if command -v systemctl >/dev/null && systemctl is-active -q pgbouncer 2>/dev/null; then \
				systemctl stop pgbouncer; systemctl disable -q pgbouncer; fi; \
		else \
			echo "no pgbouncer: the transaction-mode tests will be skipped"; \
		fi; \
	fi

migrate: $(VENV)/.installed-run
	$(BIN)/db-postgres-service migrate

# The next numbered migration from what the models add (`make migration name=add_projects`):
# against the embedded server without DATABASE_URL, whether or not `make run` serves. The dev
# extras bring ruff, which formats the file as `make lint` wants it.
migration: $(VENV)/.installed-dev
	@test -n "$(name)" || { echo "usage: make migration name=add_projects"; exit 2; }
	$(BIN)/db-postgres-service migration $(name)

# Load test of the service against the tutorial baseline (bench/README.md); needs wrk,
# pgbench and ss (apt-get install wrk postgresql-client iproute2). BENCH_* variables shorten
# or narrow it.
bench: $(VENV)/.installed-bench $(VENV)/.installed-client
	$(BIN)/python bench/run.py

lint: $(VENV)/.installed-client
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src clients/python/src

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
