"""Fixtures of the deployment tests: one Airflow deployment per test module, made of real processes.

They run with ``make deploy-test`` (which sets ``MAILGUN_DEPLOYMENT_TESTS=1``); in the ordinary
suite they are skipped. Without PostgreSQL, Redis or the ``deploy`` extra they skip with one line
saying what to install. Reports land in ``test-artifacts/deployment/``; the logs of every process of
a deployment are copied to ``test-artifacts/deployment/logs/`` before its temp dir is removed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The scenarios assert in helper modules: give their failures pytest's detailed messages too.
pytest.register_assert_rewrite("tests.deployment.scenarios")

from tests.deployment.airflow_stack import Deployment  # noqa: E402
from tests.deployment.processes import describe  # noqa: E402
from tests.deployment.scenarios import REPORTS  # noqa: E402
from tests.deployment.scenarios.complaints import EXAMPLE_SETTINGS  # noqa: E402
from tests.deployment.services import missing_services  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
ENABLE_VAR = "MAILGUN_DEPLOYMENT_TESTS"
OLDEST_VENV_VAR = "MAILGUN_DEPLOY_OLDEST_VENV"
DAG_FILES = [
    REPO_ROOT / "example_dags" / "mailgun_large_campaign_mapped.py",
    *sorted((Path(__file__).parent / "dags").glob("*.py")),
]
#: Emulator options of every deployment: ``tempfail`` addresses deliver 30 s after failing.
EMULATOR_ARGS = ("--tempfail-retry", "30")


def _why_not() -> str | None:
    """Why the deployment tests cannot run: outside `make deploy-test`, or what to install."""
    if os.environ.get(ENABLE_VAR) != "1":
        return "deployment tests run with `make deploy-test`"
    return missing_services()


@pytest.fixture(scope="session", autouse=True)
def _deployment_tests_can_run() -> None:
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Report those skips at one place, so that pytest's summary shows them as one line."""
    report: pytest.TestReport = yield
    reason = _why_not()
    if report.skipped and reason is not None and isinstance(report.longrepr, tuple):
        report.longrepr = (
            str(Path(__file__).relative_to(REPO_ROOT)),
            _why_not.__code__.co_firstlineno,
            reason,
        )
    return report


def alert_settings(run_dir: Path) -> dict[str, str]:
    """``[email]`` of the deployment: Airflow's failure emails go through the provider's backend.

    The alert template is our own: Airflow 3.0's built-in one needs ``ti.mark_success_url``, which
    its task runner lacks (the alert would fail before reaching any backend).
    """
    template = run_dir / "alert.html"
    template.write_text("<p>{{ ti.task_id }} failed in {{ ti.dag_id }}: {{ exception_html }}</p>")
    subject = run_dir / "alert-subject.txt"
    subject.write_text("[Airflow] {{ ti.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }})")
    return {
        "AIRFLOW__EMAIL__SUBJECT_TEMPLATE": str(subject),
        "AIRFLOW__EMAIL__EMAIL_BACKEND": "airflow_provider_mailgun.utils.emailer.send_email",
        "AIRFLOW__EMAIL__EMAIL_CONN_ID": "mailgun_deploy",
        "AIRFLOW__EMAIL__HTML_CONTENT_TEMPLATE": str(template),
    }


def run_deployment(label: str, venv_bin: Path, **options: Any) -> Iterator[Deployment]:
    """Start a deployment in a fresh temp dir; stop it, keep its logs and check nothing is left."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"mailgun-deploy-{label}-"))
    deploy = Deployment(
        run_dir, venv_bin=venv_bin, dag_files=DAG_FILES, emulator_args=EMULATOR_ARGS, **options
    )
    try:
        deploy.start(extra_settings={**alert_settings(run_dir), **EXAMPLE_SETTINGS})
        yield deploy
    finally:
        deploy.stop()
        left = deploy.procs.leftovers()
        keep = REPORTS / "logs" / label
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(run_dir / "logs", keep, dirs_exist_ok=True)
        if (run_dir / "airflow" / "logs").is_dir():  # task logs, written by the workers
            shutil.copytree(run_dir / "airflow" / "logs", keep / "tasks", dirs_exist_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not left, f"processes left running after the deployment stopped:\n{describe(left)}"
        assert deploy.procs.strays_swept == 0, f"{deploy.procs.strays_swept} processes escaped their tree"


@pytest.fixture(scope="module")
def newest_deployment() -> Iterator[Deployment]:
    """The newest Airflow (this virtualenv) with the Celery executor and two workers.

    Module-scoped: the newest and the oldest deployment never run at the same time."""
    yield from run_deployment("newest", Path(sys.executable).parent)


@pytest.fixture(scope="module")
def oldest_deployment() -> Iterator[Deployment]:
    """Airflow 3.0 (the virtualenv ``make deploy-test`` builds) with the Celery executor."""
    venv = os.environ.get(OLDEST_VENV_VAR)
    python = Path(venv).absolute() / "bin" / "python" if venv else None
    if python is None or not python.exists():
        pytest.skip(f"no Airflow 3.0 virtualenv: run `make deploy-test`, or set {OLDEST_VENV_VAR}")
    yield from run_deployment("oldest", python.parent)
