# PaySync: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.paysync-installed
export DAGSTER_HOME ?= $(CURDIR)/.paysync/dagster_home

.PHONY: venv demo test bench validate clean

# The virtual environment is built from pyproject.toml and rebuilt when it changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo            the Dagster UI on http://127.0.0.1:3000 with the sandboxes; Ctrl-C stops everything
## make demo HEADLESS=1 the main job once over the demo week, a summary, exit
## make demo DB=postgres  the same on a throw-away PostgreSQL (initdb/pg_ctl) for the instance and the warehouse
DB ?= sqlite
demo: $(STAMP)
	$(VENV)/bin/paysync demo --db $(DB) $(if $(HEADLESS),--headless,)

## make test            the whole suite, PostgreSQL tests included (pytest exits non-zero when it collects nothing)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench           benchmarks (not part of the tests); writes bench/results/latest.json
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

validate: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

clean:
	rm -rf $(VENV) .paysync .pytest_cache .hypothesis
