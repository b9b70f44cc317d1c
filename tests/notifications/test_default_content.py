"""Default alert content: kind detection, facts from the three context shapes, escaping, masking."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mailgun._notify.default_content import (
    MAX_EXCEPTION_CHARS,
    default_html,
    default_subject,
    default_text,
    exception_text,
    facts_from_context,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _ti(**overrides: Any) -> SimpleNamespace:
    fields = {
        "dag_id": "etl",
        "task_id": "load",
        "map_index": -1,
        "try_number": 2,
        "max_tries": 1,
        "state": "failed",
        "log_url": "http://airflow.local/dags/etl/runs/r1/tasks/load?try_number=2",
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    ("state", "error", "kind", "headline"),
    [
        ("failed", ValueError("x"), "failure", "[Airflow] FAILED etl.load"),
        ("up_for_retry", ValueError("x"), "retry", "[Airflow] RETRY etl.load"),
        ("success", None, "success", "[Airflow] SUCCESS etl.load"),
        ("skipped", None, "skipped", "[Airflow] SKIPPED etl.load"),
        ("running", ValueError("x"), "failure", "[Airflow] FAILED etl.load"),
        ("running", None, "notification", "[Airflow] NOTICE etl.load"),
    ],
)
def test_kind_is_detected_from_the_task_state(state: str, error: Any, kind: str, headline: str) -> None:
    facts = facts_from_context({"ti": _ti(state=state), "exception": error})
    assert facts.kind == kind
    assert default_subject(facts) == headline


def test_explicit_kind_wins_and_is_checked() -> None:
    assert facts_from_context({"ti": _ti(state="failed")}, kind="success").kind == "success"
    with pytest.raises(ValueError, match="kind must be one of"):
        facts_from_context({}, kind="oops")


def test_task_failure_content_names_everything() -> None:
    context = {
        "ti": _ti(map_index=3),
        "run_id": "scheduled__2026-01-02",
        "logical_date": WHEN,
        "exception": RuntimeError("disk full"),
    }
    facts = facts_from_context(context)
    assert default_subject(facts) == "[Airflow] FAILED etl.load[3]"
    text = default_text(facts)
    for expected in (
        "Task etl.load[3] failed.",
        "DAG: etl",
        "Task: load",
        "Map index: 3",
        "Run: scheduled__2026-01-02",
        "Try: 2 of 2",
        "Logical date: 2026-01-02T03:04:05+00:00",
        "Log: http://airflow.local/dags/etl/runs/r1/tasks/load?try_number=2",
        "RuntimeError: disk full",
    ):
        assert expected in text
    body = default_html(facts)
    assert '<a href="http://airflow.local/dags/etl/runs/r1/tasks/load?try_number=2">Task log</a>' in body
    assert "<pre>RuntimeError: disk full</pre>" in body


def test_dag_level_callback_context() -> None:
    dag_run = SimpleNamespace(dag_id="etl", run_id="manual__1", state="failed", logical_date=None)
    facts = facts_from_context(
        {"dag": SimpleNamespace(dag_id="etl"), "dag_run": dag_run, "reason": "task_failure"}
    )
    assert facts.kind == "failure"
    assert default_subject(facts) == "[Airflow] FAILED etl"
    text = default_text(facts)
    assert text.startswith("DAG run etl failed.")
    assert "Run: manual__1" in text
    assert "Reason: task_failure" in text
    assert "Task:" not in text


@pytest.mark.parametrize(("reason", "kind"), [("task_failure", "failure"), ("success", "success")])
def test_dag_callback_with_a_task_instance_is_about_the_dag(reason: str, kind: str) -> None:
    """DAG callbacks may carry the last task's ti (with no state): the reason decides."""
    context = {"ti": _ti(state=None), "dag_run": SimpleNamespace(state="running"), "reason": reason}
    facts = facts_from_context(context)
    assert facts.kind == kind
    assert default_subject(facts) == f"[Airflow] {'FAILED' if kind == 'failure' else 'SUCCESS'} etl"
    assert default_text(facts).startswith("DAG run etl ")
    assert "Task: load" in default_text(facts)


def test_deadline_alert_context_has_dicts() -> None:
    context = {
        "dag_run": {"dag_id": "etl", "dag_run_id": "r7", "logical_date": "2026-01-02T00:00:00Z"},
        "deadline": {"id": "d1", "deadline_time": WHEN},
    }
    facts = facts_from_context(context)
    assert facts.kind == "deadline"
    assert default_subject(facts) == "[Airflow] DEADLINE MISSED etl"
    text = default_text(facts)
    assert "Run: r7" in text
    assert "Deadline: 2026-01-02T03:04:05+00:00" in text


def test_exception_text_is_truncated() -> None:
    text = exception_text(ValueError("x" * (MAX_EXCEPTION_CHARS * 2)))
    assert text is not None
    assert len(text) < MAX_EXCEPTION_CHARS + 50
    assert text.endswith(f"... ({len('ValueError: ') + MAX_EXCEPTION_CHARS} more characters)")
    assert exception_text(None) is None
    assert exception_text(KeyError()) == "KeyError"
    assert exception_text("plain string") == "plain string"


def test_exception_text_goes_through_the_secrets_masker() -> None:
    from airflow_provider_mailgun._common.compat import mask_secret

    secret = "db-password-4f9a8b7c6d5e"
    mask_secret(secret)
    text = exception_text(ConnectionError(f"login failed with {secret}"))
    assert text is not None
    assert secret not in text
    assert "login failed with ***" in text


_hostile = st.text(alphabet=st.sampled_from(list("<>&\"'ab /=\n")), min_size=1, max_size=40)


@given(message=_hostile, task_id=_hostile, run_id=_hostile)
def test_html_escapes_every_value(message: str, task_id: str, run_id: str) -> None:
    """No value from the context can open a tag in the HTML body."""
    facts = facts_from_context(
        {"ti": _ti(task_id=task_id, log_url=f"http://x/{run_id}"), "run_id": run_id, "exception": message}
    )
    body = default_html(facts)
    # Remove the markup we write ourselves; what is left must contain no raw tag characters.
    stripped = re.sub(r"</?(p|table|tr|th|td|pre|a)( [a-z]+=\"[^\"]*\")?>", "", body)
    assert "<" not in stripped
    assert ">" not in stripped
    assert f"<pre>{html.escape(message)}</pre>" in body
