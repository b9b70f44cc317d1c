"""MailgunNotifier in real DAG runs (dag.test()): the alerts it sends to the emulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import DAG_TEST_PASSES_EXCEPTION, run_dag, task_states
from tests.notifications.support import (
    START,
    WRONG_KEY,
    captured_logs,
    copies_by_id,
    failing_dag,
    free_port,
    notifier_lines,
    set_conn,
)


def test_failed_task_sends_exactly_one_default_alert(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    contexts: list[Any] = []
    notifier = MailgunNotifier(to=["oncall@example.org"], cc="lead@example.org", bcc="audit@example.org")
    dag = failing_dag("mg_notify_failure", [notifier, contexts.append])

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"explode": "failed"}
    messages = copies_by_id(mailgun_emulator)
    assert len(messages) == 1, f"exactly one email for one failure; {notifier_lines(caplog, capsys)}"
    (copies,) = messages.values()
    assert sorted(copy["recipient"] for copy in copies) == [
        "audit@example.org",
        "lead@example.org",
        "oncall@example.org",
    ]
    email = copies[0]
    assert email["from"] == f"airflow@{mailgun_emulator.domain}"
    assert (email["to"], email["cc"], email["bcc"]) == (
        ["oncall@example.org"],
        ["lead@example.org"],
        ["audit@example.org"],
    )
    assert email["subject"] == "[Airflow] FAILED mg_notify_failure.explode"
    text, html = email["text"], email["html"]
    for line in ("DAG: mg_notify_failure", "Task: explode", f"Run: {dag_run.run_id}", "Try: 1 of 1"):
        assert line in text
        assert line.split(": ")[1] in html
    assert f"Logical date: {dag_run.logical_date.isoformat()}" in text
    context = contexts[0]
    if DAG_TEST_PASSES_EXCEPTION:
        # Before 3.3 dag.test() leaves the exception out of the callback context (the real task
        # runner sets it; test_default_content covers that shape).
        assert context["exception"] is not None
    if context.get("exception") is not None:
        assert "ValueError: bad row <42> & more" in text
        assert "<pre>ValueError: bad row &lt;42&gt; &amp; more</pre>" in html
        assert "<42>" not in html
    else:
        assert "Exception:" not in text
    log_url = getattr(context["ti"], "log_url", None)
    if log_url:
        assert f"Log: {log_url}" in text
        assert "Task log</a>" in html
    logs = captured_logs(caplog, capsys)
    assert "Mailgun notification sent: '[Airflow] FAILED mg_notify_failure.explode'" in logs
    assert mailgun_emulator.maton_key not in logs


@pytest.mark.skipif(
    not DAG_TEST_PASSES_EXCEPTION, reason="before Airflow 3.3 dag.test() passes no exception to callbacks"
)
def test_secrets_in_the_exception_are_masked_in_the_alert(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow.sdk import DAG, task

    from airflow_provider_mailgun._common.compat import mask_secret

    secret = "warehouse-password-7c1e9a2b"
    with DAG("mg_notify_masked", schedule=None, start_date=START) as dag:

        @task(on_failure_callback=MailgunNotifier(to="oncall@example.org"))
        def login() -> None:
            mask_secret(secret)  # as a hook does with a connection's password
            raise PermissionError(f"login refused for password {secret}")

        login()

    run_dag(dag)

    (copies,) = copies_by_id(mailgun_emulator).values()
    assert "PermissionError: login refused for password ***" in copies[0]["text"]
    assert secret not in copies[0]["text"] + copies[0]["html"]


def test_templated_subject_and_body_render_for_each_task(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow.sdk import DAG, task

    # One notifier shared by two tasks: each email must carry its own task's values.
    notifier = MailgunNotifier(
        to="{{ params.alert_to }}",
        subject="{{ dag.dag_id }}: {{ ti.task_id }} done",
        html="<p>Run {{ run_id }}, try {{ ti.try_number }}</p>",
        text="Run {{ run_id }}",
        tags=["{{ dag.dag_id }}", "airflow"],
        headers={"X-Airflow-Task": "{{ ti.task_id }}"},
    )
    with DAG(
        "mg_notify_templated",
        schedule=None,
        start_date=START,
        params={"alert_to": "Data Team <data@example.org>"},
    ) as dag:

        @task(on_success_callback=notifier)
        def first() -> None:
            pass

        @task(on_success_callback=notifier)
        def second() -> None:
            pass

        first() >> second()

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"first": "success", "second": "success"}
    emails = [copies[0] for copies in copies_by_id(mailgun_emulator).values()]
    assert [email["subject"] for email in emails] == [
        "mg_notify_templated: first done",
        "mg_notify_templated: second done",
    ]
    for email, task_id in zip(emails, ("first", "second"), strict=True):
        assert email["to"] == ["Data Team <data@example.org>"]
        assert email["html"] == f"<p>Run {dag_run.run_id}, try 1</p>"
        assert email["text"] == f"Run {dag_run.run_id}"
        assert email["tags"] == ["mg_notify_templated", "airflow"]
        assert email["headers"].get("X-Airflow-Task") == task_id
    # Rendering happened on copies: the shared notifier still holds its templates.
    assert notifier.subject == "{{ dag.dag_id }}: {{ ti.task_id }} done"


def test_retry_then_failure_use_their_own_wording(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow.sdk import DAG, task

    notifier = MailgunNotifier(to="oncall@example.org")
    with DAG("mg_notify_retry", schedule=None, start_date=START) as dag:

        @task(
            retries=1,
            retry_delay=timedelta(0),
            on_retry_callback=notifier,
            on_failure_callback=notifier,
        )
        def flaky() -> None:
            raise RuntimeError("still broken")

        flaky()

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"flaky": "failed"}
    emails = [copies[0] for copies in copies_by_id(mailgun_emulator).values()]
    assert [email["subject"] for email in emails] == [
        "[Airflow] RETRY mg_notify_retry.flaky",
        "[Airflow] FAILED mg_notify_retry.flaky",
    ]
    assert "failed and will be retried" in emails[0]["text"]
    assert "Try: 1 of 2" in emails[0]["text"]
    assert "Try: 2 of 2" in emails[1]["text"]


def test_dag_level_failure_callback_sends_a_dag_alert(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import DAG, task

    with DAG(
        "mg_notify_dag_level",
        schedule=None,
        start_date=START,
        on_failure_callback=MailgunNotifier(to="oncall@example.org", text="{{ dag.dag_id }}: {{ reason }}"),
    ) as dag:

        @task
        def explode() -> None:
            raise ValueError("dag level")

        explode()

    dag_run = run_dag(dag)

    sent = copies_by_id(mailgun_emulator)
    assert len(sent) == 1, notifier_lines(caplog, capsys)
    (copies,) = sent.values()
    assert copies[0]["subject"] == "[Airflow] FAILED mg_notify_dag_level"
    assert copies[0]["text"] == "mg_notify_dag_level: task_failure"
    assert dag_run.state == "failed"


def test_unsendable_alert_is_logged_and_never_changes_the_task_outcome(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import DAG, task

    emu = mailgun_emulator
    extra = {"default_domain": emu.domain, "ctrl_url": emu.ctrl_url, "max_attempts": 1}
    set_conn(
        monkeypatch, "mg_wrong_key", conn_type="maton", host=emu.gateway_url, password=WRONG_KEY, extra=extra
    )
    down = f"http://127.0.0.1:{free_port()}"
    set_conn(monkeypatch, "mg_down", conn_type="maton", host=down, password=WRONG_KEY, extra=extra)
    set_conn(
        monkeypatch,
        "mg_wrong_key_2",
        conn_type="maton",
        host=emu.gateway_url,
        password=WRONG_KEY,
        extra=extra,
    )
    with DAG("mg_notify_unsendable", schedule=None, start_date=START) as dag:

        @task(on_failure_callback=MailgunNotifier(to="a@example.org", mailgun_conn_id="mg_wrong_key"))
        def fails_wrong_key() -> None:
            raise ValueError("the task's own error")

        @task(on_failure_callback=MailgunNotifier(to="a@example.org", mailgun_conn_id="mg_down"))
        def fails_server_down() -> None:
            raise ValueError("the task's own error")

        @task(on_success_callback=MailgunNotifier(to="a@example.org", mailgun_conn_id="mg_wrong_key_2"))
        def succeeds() -> None:
            pass

        fails_wrong_key()
        fails_server_down()
        succeeds()

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {
        "fails_wrong_key": "failed",
        "fails_server_down": "failed",
        "succeeds": "success",
    }
    assert emu.messages() == []
    logs = captured_logs(caplog, capsys)
    assert logs.count("Failed to send notification") >= 3  # BaseNotifier's own line, once per alert
    assert "MatonGatewayError: Mailgun API error 401" in logs
    assert "Connection refused" in logs
    assert WRONG_KEY not in logs
