"""Test environment: a throwaway AIRFLOW_HOME with sqlite, set before anything imports Airflow."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="mailgun-provider-tests-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")
os.environ.setdefault(
    "AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent.parent / "example_dags")
)
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# dag.test()'s in-process execution API signs task tokens; Airflow 3.2 needs the key set to start it.
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(16))
# Nothing in the test suite may reach the real services: the sentinel makes any accidental use fail fast.
os.environ.pop("MATON_API_KEY", None)


import pytest  # noqa: E402  (the environment above must be set before anything imports Airflow)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata DB, created once per test session (about 3 s on sqlite)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(autouse=True)
def _own_rate_limit_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh host: what one test taught the rate limiter stays with it.

    Many tests share one emulator (one account), and the limiter shares what it learns per account
    and host: without this, a test that provokes 429s on purpose would slow the tests after it.
    """
    from airflow_provider_mailgun.client.limit_stores import STATE_DIR_ENV

    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("ratelimit")))
