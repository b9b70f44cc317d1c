# Two commands for a new user: `make demo` and `make test`. Each creates its virtualenv when missing
# and installs what it needs; a second run reuses it.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_SPEC ?= apache-airflow>=3.3.2,<4
OLDEST_AIRFLOW ?= 3.0.6
OLDEST_VENV ?= .venv-oldest
PIP_EXTRA ?=
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
DEPLOY_STAMP = $(VENV)/.deploy-installed

.PHONY: demo test test-oldest lint typecheck pytest bench reliability deploy-test clean

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
	$(MAKE) pytest VENV=$(OLDEST_VENV) AIRFLOW_SPEC="apache-airflow==$(OLDEST_AIRFLOW)" \
		PIP_EXTRA="-c constraints/airflow-$(OLDEST_AIRFLOW).txt"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The reliability suite alone; its reports are printed and kept in test-artifacts/reliability/.
reliability: $(STAMP)
	$(BIN)/pytest tests/reliability -q
	@cat test-artifacts/reliability/*.txt

$(DEPLOY_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,deploy]" "$(AIRFLOW_SPEC)" $(PIP_EXTRA)
	@touch $@

# Airflow as production runs it: PostgreSQL, Redis, api-server, scheduler, dag-processor, triggerer
# and Celery workers as separate processes, on the newest Airflow and on the oldest. Its reports are
# printed and kept in test-artifacts/deployment/ (with every process's log under logs/).
deploy-test: $(DEPLOY_STAMP)
	$(MAKE) $(OLDEST_VENV)/.deploy-installed VENV=$(OLDEST_VENV) \
		AIRFLOW_SPEC="apache-airflow==$(OLDEST_AIRFLOW)" PIP_EXTRA="-c constraints/airflow-$(OLDEST_AIRFLOW).txt"
	@rm -f test-artifacts/deployment/*.txt
	MAILGUN_DEPLOYMENT_TESTS=1 MAILGUN_DEPLOY_OLDEST_VENV=$(OLDEST_VENV) $(BIN)/pytest tests/deployment -q; \
		status=$$?; cat test-artifacts/deployment/*.txt 2>/dev/null; exit $$status

clean:
	rm -rf .venv .venv-oldest .demo build *.egg-info
