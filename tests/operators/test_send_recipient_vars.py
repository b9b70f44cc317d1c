"""Per-recipient data as a DAG author meets it: ``vars`` or ``variables``, and placeholders checked.

Each DAG runs with ``dag.test()`` against the emulator; a refused send fails before any request,
and the error text (read from the task's log) says what is wrong and how to mean it.
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"


def _send(conn_id: str, dag_id: str, to: Any, **fields: Any) -> Any:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=conn_id,
            from_email=FROM,
            to=to,
            **{"subject": "Hi %recipient.first_name%", "text": "Hello", **fields},
        )
    return run_dag(dag)


def _failure(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    lines = [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()
    refused = [line for line in lines if "Nothing was sent." in line]
    assert refused, "the task's log must say why nothing was sent"
    return refused[0]


def _sends(emu: MailgunEmulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]


def test_vars_as_list_members_call_them_personalise_the_message(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    to = [
        {"address": "ann@example.org", "vars": {"first_name": "Ann"}},
        {"address": "bob@example.org", "variables": {"first_name": "Bob"}},
    ]
    dag_run = _send(mailgun_conn_id, "vars_personalise", to)
    assert task_states(dag_run) == {"send": "success"}
    subjects = {m["recipient"]: m["subject"] for m in mailgun_emulator.messages()}
    assert subjects == {"ann@example.org": "Hi Ann", "bob@example.org": "Hi Bob"}


def test_a_single_recipient_with_vars_gets_them_too(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    to = [{"address": "ann@example.org", "vars": {"first_name": "Ann"}}]
    dag_run = _send(mailgun_conn_id, "vars_single", to)
    assert task_states(dag_run) == {"send": "success"}
    assert [m["subject"] for m in mailgun_emulator.messages()] == ["Hi Ann"]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (
            [{"address": "ann@example.org", "first_name": "Ann", "variables": {"first_name": "Ann"}}],
            "unknown key 'first_name' in recipient 'ann@example.org' "
            "(accepted: address, email, name, variables, vars)",
        ),
        (
            [{"address": "ann@example.org", "vars": {"first_name": "A"}, "variables": {"first_name": "A"}}],
            "recipient 'ann@example.org' has both 'variables' and 'vars' (the same thing): give one",
        ),
    ],
    ids=["unknown-key", "both-keys"],
)
def test_a_recipient_dict_that_cannot_be_read_fails_before_any_send(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    to: list[dict[str, Any]],
    expected: str,
) -> None:
    caplog.set_level(logging.ERROR)
    dag_run = _send(mailgun_conn_id, "vars_shape", to)
    assert task_states(dag_run) == {"send": "failed"}
    assert _sends(mailgun_emulator) == []
    assert expected in _failure(caplog, capsys)


def test_a_placeholder_no_recipient_defines_fails_before_any_send(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.ERROR)
    to = [{"address": f"p{i}@example.org", "variables": {"name": f"P{i}"}} for i in range(3)]
    dag_run = _send(mailgun_conn_id, "vars_undefined", to)
    assert task_states(dag_run) == {"send": "failed"}
    assert _sends(mailgun_emulator) == []
    text = _failure(caplog, capsys)
    assert "placeholder %recipient.first_name% is used but no recipient defines 'first_name'" in text
    assert "allow_missing_recipient_vars" in text


def test_a_placeholder_some_recipients_lack_names_the_first_of_them(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.ERROR)
    to: list[Any] = [{"address": f"p{i}@example.org", "vars": {"first_name": f"P{i}"}} for i in range(20)]
    to[3] = "plain@example.org"
    to[11] = {"address": "nameless@example.org", "vars": {"last_name": "X"}}
    dag_run = _send(mailgun_conn_id, "vars_some_lack", to, html="<p>%recipient.first_name%</p>")
    assert task_states(dag_run) == {"send": "failed"}
    assert _sends(mailgun_emulator) == []
    text = _failure(caplog, capsys)
    assert (
        "placeholder %recipient.first_name% is not defined for 2 of 20 recipients "
        "(first: plain@example.org, nameless@example.org)"
    ) in text
    assert "allow_missing_recipient_vars=['first_name']" in text


def test_placeholders_in_headers_and_template_variables_are_checked_too(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.ERROR)
    to = [{"address": "ann@example.org", "vars": {"first_name": "Ann"}}, "bob@example.org"]
    dag_run = _send(
        mailgun_conn_id,
        "vars_headers",
        to,
        subject="Hello",
        headers={"X-Customer": "%recipient.customer_id%"},
        variables={"cohort": "%recipient.cohort%"},
    )
    assert task_states(dag_run) == {"send": "failed"}
    text = _failure(caplog, capsys)
    assert "%recipient.customer_id%" in text
    assert "%recipient.cohort%" in text
    assert _sends(mailgun_emulator) == []


@pytest.mark.parametrize("allow", [True, ["first_name"]], ids=["all", "named"])
def test_missing_placeholders_can_be_meant(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, allow: Any
) -> None:
    to = [{"address": "ann@example.org", "vars": {"first_name": "Ann"}}, "bob@example.org"]
    dag_run = _send(mailgun_conn_id, "vars_allowed", to, allow_missing_recipient_vars=allow)
    assert task_states(dag_run) == {"send": "success"}
    subjects = {m["recipient"]: m["subject"] for m in mailgun_emulator.messages()}
    assert subjects == {"ann@example.org": "Hi Ann", "bob@example.org": "Hi "}
