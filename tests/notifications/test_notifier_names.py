"""The notifier takes the send operator's ``attachments``, and SMTP's ``files`` and ``html_content``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_mailgun.exceptions import SendInputError
from airflow_provider_mailgun.notifications.mailgun import MailgunNotifier
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states
from tests.notifications.support import copies_by_id, failing_dag


def _alert(emu: MailgunEmulator) -> dict:
    messages = copies_by_id(emu)
    assert len(messages) == 1
    (copies,) = messages.values()
    return copies[0]


def test_smtp_notifier_names_html_content_and_files_work_as_is(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("day,rows\n2026-01-01,42\n")
    notifier = MailgunNotifier(
        to="oncall@example.org",
        subject="{{ ti.task_id }} failed",
        html_content="<p>{{ dag.dag_id }} needs a look</p>",
        files=[str(report)],
    )
    dag_run = run_dag(failing_dag("mg_notify_smtp_names", [notifier]))
    assert task_states(dag_run) == {"explode": "failed"}
    alert = _alert(mailgun_emulator)
    assert alert["html"] == "<p>mg_notify_smtp_names needs a look</p>"
    assert [a["filename"] for a in alert["attachments"]] == ["report.csv"]


def test_attachments_take_paths_and_filename_bytes_pairs_as_the_send_operator_does(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    notifier = MailgunNotifier(
        to="oncall@example.org", attachments=[str(report), ("summary.txt", b"3 rows failed")]
    )
    run_dag(failing_dag("mg_notify_attachments", [notifier]))
    alert = _alert(mailgun_emulator)
    assert [(a["filename"], a["size"]) for a in alert["attachments"]] == [
        ("report.csv", report.stat().st_size),
        ("summary.txt", 13),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"attachments": ["a.csv"], "files": ["b.csv"]}, "Give attachments or files"),
        ({"html": "<p>a</p>", "html_content": "<p>b</p>"}, "Give html or html_content"),
    ],
)
def test_both_names_of_one_argument_is_a_clear_error(arguments: dict, message: str) -> None:
    with pytest.raises(SendInputError, match=message):
        MailgunNotifier(to="oncall@example.org", **arguments)


@pytest.mark.parametrize("name", ["attachments", "files"])
def test_an_attachment_that_is_missing_sends_nothing_and_names_the_file(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path, name: str
) -> None:
    missing = tmp_path / "report.csv"
    notifier = MailgunNotifier(
        to="oncall@example.org",
        text="t",
        subject="s",
        mailgun_conn_id=mailgun_conn_id,
        **{name: [str(missing)]},
    )
    with pytest.raises(ValueError, match=re.escape(f"Attachment {str(missing)!r} is not a readable file")):
        notifier.notify({})  # type: ignore[arg-type]
    assert mailgun_emulator.messages() == []


def test_an_attachment_over_the_message_limit_is_refused_before_it_is_read(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "dump.bin"
    with huge.open("wb") as out:  # sparse: 30 MB on paper, nothing on disk
        out.truncate(30 * 1024 * 1024)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read whole"))
    notifier = MailgunNotifier(
        to="oncall@example.org", text="t", subject="s", mailgun_conn_id=mailgun_conn_id, files=str(huge)
    )
    with pytest.raises(ValueError, match="more than 25 MB"):
        notifier.notify({})  # type: ignore[arg-type]
    assert mailgun_emulator.messages() == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ params.reports }}",  # a list, rendered to its text as Jinja renders it
        "{{ params.reports | join(', ') }}",  # comma separated, as the send operator reads it
    ],
)
def test_a_templated_list_of_attachments_is_read_as_the_send_operator_reads_it(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str, tmp_path: Path, template: str
) -> None:
    reports = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for report in reports:
        report.write_text("x,y\n1,2\n")
    notifier = MailgunNotifier(to="oncall@example.org", attachments=template)
    dag = failing_dag("mg_notify_templated_files", [notifier], params={"reports": [str(r) for r in reports]})
    run_dag(dag)
    alert = _alert(mailgun_emulator)
    assert [a["filename"] for a in alert["attachments"]] == ["a.csv", "b.csv"]
