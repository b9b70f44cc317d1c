# Two commands for a new user: `make demo` and `make test`. Each creates its virtualenv when missing
# and installs what it needs; a second run reuses it.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_SPEC ?= apache-airflow>=3.3.2,<4
OLDEST_AIRFLOW ?= 3.0.6
OLDEST_VENV ?= .venv-oldest
# The latest patch release of each minor between the oldest and the newest (checked on PyPI).
AIRFLOW_3_1 ?= 3.1.8
AIRFLOW_3_2 ?= 3.2.2
PIP_EXTRA ?=
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
DEPLOY_STAMP = $(VENV)/.deploy-installed

.PHONY: demo test test-oldest test-3.1 test-3.2 test-on lint typecheck pytest docs wheel-check bench \
	reliability deploy-test clean

$(STAMP): pyproject.toml Makefile $(wildcard constraints/*.txt)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]" "$(AIRFLOW_SPEC)" $(PIP_EXTRA)
	@touch $@

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Strict mypy for the Python the venv runs, and for the oldest and newest the package supports.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --python-version 3.10
	$(BIN)/mypy --python-version 3.13

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The same test suite on older Airflow releases, each in its own virtualenv. A release that needs
# pins besides Airflow's own has them in constraints/airflow-<version>.txt.
test-oldest:
	$(MAKE) test-on AIRFLOW_VERSION=$(OLDEST_AIRFLOW) VENV=$(OLDEST_VENV)

# On 3.1 and 3.2, the tests of what changed between Airflow minors (callbacks, notifier and email
# backend, the send ledger's store, deferral and triggers, assets, extra links, the UI, DAG runs);
# the worker-kill retries run with the whole suite on the newest and the oldest (in this selection
# their ledger read met Variables encrypted with another Fernet key than the test process's);
# the whole suite runs on the newest and the oldest. `make test-on AIRFLOW_VERSION=3.2.2
# VENV=.venv-3.2` runs all of it on one of them.
VERSION_SENSITIVE_TESTS ?= tests/notifications tests/sensors tests/triggers tests/links tests/plugins \
	tests/test_example_dags.py tests/test_provider_info.py \
	tests/operators/test_send_ledger_attacks.py tests/operators/test_send_ledger_lifetime.py \
	tests/operators/test_default_conn_id.py \
	tests/reliability/test_regressions.py tests/browser/test_airflow_connection_form.py \
	tests/browser/test_airflow_extra_links.py tests/testing/test_readme_pytest_snippet.py

test-3.1:
	$(MAKE) test-on AIRFLOW_VERSION=$(AIRFLOW_3_1) VENV=.venv-3.1 PYTEST_ARGS="$(VERSION_SENSITIVE_TESTS)"

test-3.2:
	$(MAKE) test-on AIRFLOW_VERSION=$(AIRFLOW_3_2) VENV=.venv-3.2 PYTEST_ARGS="$(VERSION_SENSITIVE_TESTS)"

test-on:
	$(MAKE) pytest VENV=$(VENV) AIRFLOW_SPEC="apache-airflow==$(AIRFLOW_VERSION)" \
		PIP_EXTRA="$(addprefix -c ,$(wildcard constraints/airflow-$(AIRFLOW_VERSION).txt))" \
		PYTEST_ARGS="$(PYTEST_ARGS)"

# The Sphinx site in docs/_build/html; any warning fails the build.
docs: $(VENV)/.docs-installed
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html

$(VENV)/.docs-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test,docs]" "$(AIRFLOW_SPEC)" $(PIP_EXTRA)
	@touch $@

# Build the sdist and the wheel, install the wheel in a fresh .venv-wheel and use it there.
wheel-check: $(STAMP)
	$(BIN)/python scripts/wheel_check.py --airflow "$(AIRFLOW_SPEC)"

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
	rm -rf .venv .venv-oldest .venv-3.1 .venv-3.2 .venv-wheel .demo build dist docs/_build *.egg-info
