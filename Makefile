# Two commands for a new user: `make demo` and `make test`. Each creates its virtualenv when missing
# and installs what it needs; a second run reuses it.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_SPEC ?= apache-airflow>=3.3.2,<4
OLDEST_AIRFLOW ?= 3.0.6
PIP_EXTRA ?=
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: demo test test-oldest lint typecheck pytest bench reliability clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]" "$(AIRFLOW_SPEC)" $(PIP_EXTRA)
	@touch $@

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# The same test suite on the oldest supported Airflow, in its own virtualenv.
test-oldest:
	$(MAKE) pytest VENV=.venv-oldest AIRFLOW_SPEC="apache-airflow==$(OLDEST_AIRFLOW)" \
		PIP_EXTRA="-c constraints/airflow-$(OLDEST_AIRFLOW).txt"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The reliability suite alone; its reports are printed and kept in test-artifacts/reliability/.
reliability: $(STAMP)
	$(BIN)/pytest tests/reliability -q
	@cat test-artifacts/reliability/*.txt

clean:
	rm -rf .venv .venv-oldest .demo build *.egg-info
