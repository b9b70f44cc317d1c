"""Per-recipient data as a DAG author meets it: ``vars`` or ``variables``, and placeholders checked.

Each DAG runs with ``dag.test()`` against the emulator; a refused send fails before any request,
and the error text (read from the task's log) says what is wrong and how to mean it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_mailgun.exceptions import SendInputError
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


@pytest.fixture
def refused(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., str]:
    """Run a send that must fail before any request; returns the error line of the task's log."""

    def run(dag_id: str, to: Any, **fields: Any) -> str:
        caplog.set_level(logging.ERROR)
        raised: list[str] = []
        original = SendInputError.__init__

        def spy(self: SendInputError, *args: Any) -> None:  # the error itself, however it is logged
            raised.append(str(args[0]) if args else "")
            original(self, *args)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SendInputError, "__init__", spy)
            dag_run = _send(mailgun_conn_id, dag_id, to, **fields)
        assert task_states(dag_run) == {"send": "failed"}
        assert _sends(mailgun_emulator) == []
        lines = [r.getMessage() for r in caplog.records] + capsys.readouterr().out.splitlines()
        assert any("Nothing was sent." in line for line in lines), "the task's log must say why"
        errors = [message for message in raised if "Nothing was sent." in message]
        assert errors
        return errors[0]

    return run


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
    refused: Callable[..., str], to: list[dict[str, Any]], expected: str
) -> None:
    assert expected in refused("vars_shape", to)


def test_a_placeholder_no_recipient_defines_fails_before_any_send(refused: Callable[..., str]) -> None:
    to = [{"address": f"p{i}@example.org", "variables": {"name": f"P{i}"}} for i in range(3)]
    text = refused("vars_undefined", to)
    assert "placeholder %recipient.first_name% is used but no recipient defines 'first_name'" in text
    assert "allow_missing_recipient_vars" in text


def test_a_placeholder_some_recipients_lack_names_the_first_of_them(refused: Callable[..., str]) -> None:
    to: list[Any] = [{"address": f"p{i}@example.org", "vars": {"first_name": f"P{i}"}} for i in range(20)]
    to[3] = "plain@example.org"
    to[11] = {"address": "nameless@example.org", "vars": {"last_name": "X"}}
    text = refused("vars_some_lack", to, html="<p>%recipient.first_name%</p>")
    assert (
        "placeholder %recipient.first_name% is not defined for 2 of 20 recipients "
        "(first: plain@example.org, nameless@example.org)"
    ) in text
    assert "allow_missing_recipient_vars=['first_name']" in text


def test_placeholders_in_headers_and_variables_are_checked_too(refused: Callable[..., str]) -> None:
    to = [{"address": "ann@example.org", "vars": {"first_name": "Ann"}}, "bob@example.org"]
    text = refused(
        "vars_headers",
        to,
        subject="Hello",
        headers={"X-Customer": "%recipient.customer_id%"},
        variables={"cohort": "%recipient.cohort%"},
        template="newsletter",
        template_variables={"greeting": "%recipient.greeting%"},
    )
    assert "%recipient.customer_id%" in text
    assert "%recipient.cohort%" in text
    assert "%recipient.greeting%" in text


@pytest.mark.parametrize("allow", [True, ["first_name"]], ids=["all", "named"])
def test_missing_placeholders_can_be_meant(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, allow: Any
) -> None:
    to = [{"address": "ann@example.org", "vars": {"first_name": "Ann"}}, "bob@example.org"]
    dag_run = _send(mailgun_conn_id, "vars_allowed", to, allow_missing_recipient_vars=allow)
    assert task_states(dag_run) == {"send": "success"}
    subjects = {m["recipient"]: m["subject"] for m in mailgun_emulator.messages()}
    assert subjects == {"ann@example.org": "Hi Ann", "bob@example.org": "Hi "}
