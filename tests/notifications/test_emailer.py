"""The ``[email] email_backend``: every way Airflow calls it, sending to the emulator."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_mailgun.exceptions import MailgunError
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.utils.emailer import send_email
from tests.dag_runner import run_dag, task_states

BACKEND = "airflow_provider_mailgun.utils.emailer.send_email"
WRONG_KEY = "maton-wrong-key-0a1b2c3d4e5f60718293"
# Airflow 3.2's task runner sends email_on_failure/email_on_retry through the SMTP provider's
# SmtpNotifier and never reads [email] email_backend; 3.0, 3.1 and 3.3 call the backend.
TASK_EMAILS_SKIP_THE_BACKEND = Version("3.2") <= Version(airflow.__version__) < Version("3.3")


def _only_message(emu: MailgunEmulator) -> list[dict[str, Any]]:
    """The recipient copies of the one message the emulator stored."""
    ids = {copy["id"] for copy in emu.messages()}
    assert len(ids) == 1, f"expected one message, got {len(ids)}"
    return emu.messages()


def _configure_backend(monkeypatch: pytest.MonkeyPatch, conn_id: str, from_email: str | None = None) -> None:
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", BACKEND)
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", conn_id)
    if from_email:
        monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", from_email)


def test_airflow_33_call(mailgun_emulator: MailgunEmulator, maton_conn_id: str) -> None:
    """``backend(to, subject, html_content, conn_id=..., from_email=...)`` with ``to`` a list."""
    message_id = send_email(
        ["ops@example.org", "Dev <dev@example.org>"],
        "Airflow alert: etl.load",
        "<p>Try 1 out of 1</p>",
        conn_id=maton_conn_id,
        from_email="Airflow <alerts@mg.example.com>",
    )

    copies = _only_message(mailgun_emulator)
    assert message_id is not None
    assert copies[0]["id"].strip("<>") == message_id
    assert sorted(copy["recipient"] for copy in copies) == ["dev@example.org", "ops@example.org"]
    email = copies[0]
    assert email["from"] == "Airflow <alerts@mg.example.com>"
    assert email["to"] == ["ops@example.org", "Dev <dev@example.org>"]
    assert email["subject"] == "Airflow alert: etl.load"
    assert email["html"] == "<p>Try 1 out of 1</p>"


def test_legacy_call_through_airflow_utils_email(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Older code calls ``airflow.utils.email.send_email``, which passes files, cc, bcc, mime_*, ..."""
    from airflow.utils.email import send_email as airflow_send_email

    _configure_backend(monkeypatch, maton_conn_id, from_email="ETL <etl@mg.example.com>")
    report = tmp_path / "daily report.csv"
    report.write_text("day,rows\n2026-01-01,42\n")

    airflow_send_email(
        "ops@example.org; lead@example.org",
        "Daily report",
        "<p>Attached.</p>",
        files=[str(report)],
        cc="cc@example.org",
        bcc=["audit@example.org"],
        mime_subtype="alternative",
        mime_charset="us-ascii",
        custom_headers={"X-Report": "daily"},
        priority="high",  # unknown keyword arguments are accepted and ignored
    )

    copies = _only_message(mailgun_emulator)
    assert sorted(copy["recipient"] for copy in copies) == [
        "audit@example.org",
        "cc@example.org",
        "lead@example.org",
        "ops@example.org",
    ]
    email = copies[0]
    assert email["from"] == "ETL <etl@mg.example.com>"
    assert (email["to"], email["cc"], email["bcc"]) == (
        ["ops@example.org", "lead@example.org"],
        ["cc@example.org"],
        ["audit@example.org"],
    )
    assert [(a["filename"], a["size"]) for a in email["attachments"]] == [
        ("daily report.csv", report.stat().st_size)
    ]
    assert email["headers"].get("X-Report") == "daily"


@pytest.mark.skipif(
    TASK_EMAILS_SKIP_THE_BACKEND, reason="Airflow 3.2 sends email_on_failure through SmtpNotifier only"
)
def test_email_on_failure_reaches_the_backend(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A task with ``email=`` fails: Airflow (3.0, 3.1 and 3.3) hands the alert to our backend."""
    from airflow.sdk import DAG, task

    _configure_backend(monkeypatch, maton_conn_id)
    # Airflow 3.0's built-in alert template uses ti.mark_success_url, which its task runner lacks,
    # so the alert never reaches any backend; a template of one's own avoids that (3.3 reads it too).
    template = tmp_path / "alert.html"
    template.write_text("<p>{{ ti.task_id }} failed: {{ exception_html }}</p>")
    monkeypatch.setenv("AIRFLOW__EMAIL__HTML_CONTENT_TEMPLATE", str(template))
    with DAG("mg_backend_email", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:

        @task(email=["oncall@example.org"], email_on_failure=True, email_on_retry=False)
        def explode() -> None:
            raise ValueError("backend path")

        explode()

    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"explode": "failed"}
    email = _only_message(mailgun_emulator)[0]
    assert email["recipient"] == "oncall@example.org"
    # Without [email] from_email the sender is airflow@<domain> (3.3 passes "airflow@airflow").
    assert email["from"] == f"airflow@{mailgun_emulator.domain}"
    assert "explode" in email["subject"]
    assert email["html"] == "<p>explode failed: backend path</p>"


@pytest.mark.parametrize("conn_id", [None, "smtp_default", "some_smtp", "not_defined_anywhere"])
def test_non_mailgun_connections_fall_back_to_maton_default(
    mailgun_emulator: MailgunEmulator,
    maton_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    conn_id: str | None,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOME_SMTP", json.dumps({"conn_type": "smtp", "host": "smtp.example.org"})
    )
    caplog.set_level(logging.WARNING, logger="airflow_provider_mailgun.utils.emailer")

    send_email("ops@example.org", "Fallback", "<p>x</p>", conn_id=conn_id)

    assert _only_message(mailgun_emulator)[0]["subject"] == "Fallback"
    warnings = [r.getMessage() for r in caplog.records if r.name == "airflow_provider_mailgun.utils.emailer"]
    assert len(warnings) == 1
    assert f"{conn_id!r}" in warnings[0]
    assert "'maton_default'" in warnings[0]


def test_a_direct_mailgun_connection_is_used_as_given(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_mailgun.utils.emailer")

    send_email(["ops@example.org"], "Direct", "<p>x</p>", conn_id=mailgun_conn_id)

    assert _only_message(mailgun_emulator)[0]["subject"] == "Direct"
    assert [r for r in caplog.records if r.name == "airflow_provider_mailgun.utils.emailer"] == []
    assert {entry["entrance"] for entry in mailgun_emulator.requests()} == {"direct"}


def test_dryrun_logs_and_sends_nothing(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    attachment = tmp_path / "out.txt"
    attachment.write_text("x")
    caplog.set_level(logging.INFO, logger="airflow_provider_mailgun.utils.emailer")

    result = send_email(
        "ops@example.org", "Dry", "<p>x</p>", files=[str(attachment)], cc="cc@example.org", dryrun=True
    )

    assert result is None
    assert mailgun_emulator.messages() == []
    assert mailgun_emulator.requests() == []
    assert "Dry run, nothing sent: would send 'Dry' to 1 recipient(s) (cc 1, bcc 0), attachments out.txt" in (
        caplog.text
    )


def test_failed_send_raises_without_the_key(
    mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    extra = {"default_domain": mailgun_emulator.domain, "max_attempts": 1}
    monkeypatch.setenv(
        "AIRFLOW_CONN_MG_WRONG",
        json.dumps(
            {
                "conn_type": "maton",
                "host": mailgun_emulator.gateway_url,
                "password": WRONG_KEY,
                "extra": extra,
            }
        ),
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(MailgunError, match="401") as raised:
        send_email("ops@example.org", "Nope", "<p>x</p>", conn_id="mg_wrong")

    assert WRONG_KEY not in str(raised.value)
    assert WRONG_KEY not in caplog.text
    assert mailgun_emulator.messages() == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"to": "not-an-address"}, "1 invalid recipient"),
        ({"cc": "bad cc"}, "1 invalid cc recipient"),
        ({"files": ["/nonexistent/report.csv"]}, "not a readable file"),
        ({"from_email": "nobody"}, "1 invalid sender"),
    ],
)
def test_bad_input_raises_before_sending(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str, arguments: dict[str, Any], error: str
) -> None:
    call: dict[str, Any] = {"to": "ops@example.org", "subject": "s", "html_content": "<p>x</p>"}
    call.update(arguments)
    with pytest.raises(ValueError, match=error):
        send_email(conn_id=maton_conn_id, **call)
    assert mailgun_emulator.requests() == []
