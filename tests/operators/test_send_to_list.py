"""Sending to a mailing list's address (``to_list=True``) end to end: sync, send, the copies, the sensor."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_mailgun._common.compat import AirflowFailException
from airflow_provider_mailgun._send.ledger import ACCEPTED, SendLedger
from airflow_provider_mailgun.operators.lists import MailgunSyncListMembersOperator
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import clear_and_rerun, run_dag, task_states, xcom_result

START = pendulum.datetime(2026, 1, 1, tz="UTC")
LIST = "newsletter@mg.example.com"
FROM = f"Newsletter <{LIST}>"
CSV = (
    "address,name,first_name,subscribed\n"
    "ann@example.org,Ann Lee,Ann,yes\n"
    "bob@example.org,Bob Roe,Bob,yes\n"
    "cy@example.org,Cy Doe,Cy,no\n"
    "bounce-dee@example.org,Dee,Dee,yes\n"
)


def _sends(emu: MailgunEmulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]


def _send(conn_id: str, **overrides: Any) -> MailgunSendMessageOperator:
    arguments: dict[str, Any] = {
        "task_id": "send",
        "mailgun_conn_id": conn_id,
        "from_email": FROM,
        "to": LIST,
        "to_list": True,
        "subject": "Hi %recipient.first_name%",
        "text": "Dear %recipient_name%. Leave: %mailing_list_unsubscribe_url%",
        **overrides,
    }
    return MailgunSendMessageOperator(**arguments)


def test_sync_send_to_the_list_and_wait_each_subscribed_member_gets_one_personal_copy(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str, tmp_path: Path
) -> None:
    members = tmp_path / "members.csv"
    members.write_text(CSV)
    with DAG("list_send_end_to_end", schedule=None, start_date=START, catchup=False) as dag:
        sync = MailgunSyncListMembersOperator(
            task_id="sync",
            mailgun_conn_id=maton_conn_id,
            list_address=LIST,
            members=str(members),
            create_list=True,
        )
        send = _send(maton_conn_id)
        wait = MailgunDeliverySensor(
            task_id="wait",
            mailgun_conn_id=maton_conn_id,
            message_ids=send.output,
            min_success_fraction=0.6,
            fail_on_permanent_failure=False,
            poke_interval=1,
            timeout=60,
        )
        sync >> send >> wait
    dag_run = run_dag(dag)

    assert task_states(dag_run) == {"sync": "success", "send": "success", "wait": "success"}
    copies = mailgun_emulator.messages()
    assert Counter(c["recipient"] for c in copies) == {
        "ann@example.org": 1,
        "bob@example.org": 1,
        "bounce-dee@example.org": 1,
    }  # cy unsubscribed: no copy
    ann = next(c for c in copies if c["recipient"] == "ann@example.org")
    assert ann["subject"] == "Hi Ann"
    assert ann["text"].startswith("Dear Ann Lee. Leave: http")
    assert ann["to"] == [LIST]
    assert len(_sends(mailgun_emulator)) == 1  # one request, Mailgun's expansion did the rest
    sent = xcom_result(dag_run, "send")
    assert sent["message_ids"] == [ann["id"].strip("<>")]
    assert sent["mailing_list"] == LIST
    assert sent["list_members"] == 4  # on the list, subscribed or not
    waited = xcom_result(dag_run, "wait")
    assert waited["delivered"] == 2  # the sensor counted the member copies from the events
    assert [f["recipient"] for f in waited["failed"]] == ["bounce-dee@example.org"]
    assert waited["pending"] == 0


def test_a_lost_answer_is_reconciled_by_the_lists_events_and_nothing_is_sent_twice(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    mailgun_emulator.seed_list(
        LIST, [{"address": f"m{i}@example.org", "vars": {"first_name": f"M{i}"}} for i in range(5)]
    )
    mailgun_emulator.set_faults({"drop_after_store": [1], "path": "/messages", "methods": ["POST"]})
    with DAG("list_send_dropped", schedule=None, start_date=START, catchup=False) as dag:
        _send(mailgun_conn_id, reconcile_timeout=5, retries=1, retry_delay=timedelta(0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "success"}
    counts = Counter(c["recipient"] for c in mailgun_emulator.messages())
    assert len(counts) == 5
    assert set(counts.values()) == {1}
    assert len(_sends(mailgun_emulator)) == 1
    assert xcom_result(dag_run, "send")["reconciled"] == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"to": [LIST, "other@example.org"]}, "to_list=True needs exactly one address in 'to'"),
        (
            {"to": [{"address": LIST, "variables": {"first_name": "X"}}]},
            "to_list=True takes no per-recipient variables",
        ),
        ({"recipient_variables": {LIST: {"a": 1}}}, "to_list=True takes no per-recipient variables"),
        ({"batch": True}, "batch=True does not apply"),
        ({"to": "missing@mg.example.com"}, "there is no mailing list missing@mg.example.com"),
    ],
)
def test_a_wrong_list_send_fails_before_anything_is_sent(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, overrides: dict[str, Any], message: str
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org"])
    operator = _send(mailgun_conn_id, **overrides)
    with pytest.raises(AirflowFailException, match=re.escape(message)):
        operator.execute({})  # type: ignore[arg-type]
    assert _sends(mailgun_emulator) == []


def test_a_list_send_to_a_missing_list_fails_the_task_without_retrying(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    with DAG("list_send_missing", schedule=None, start_date=START, catchup=False) as dag:
        _send(mailgun_conn_id, retries=2, retry_delay=timedelta(0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "failed"}
    assert [ti.try_number for ti in dag_run.get_task_instances()] == [1]
    assert _sends(mailgun_emulator) == []


# --- Attacks on the list send: inputs two parsers may read differently, lists Mailgun sends nothing to.


def test_a_list_whose_members_are_all_unsubscribed_fails_before_anything_is_sent(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # members_count counts them, but Mailgun would make no copy: the delivery sensor would wait forever.
    mailgun_emulator.seed_list(LIST, [{"address": "ann@example.org", "subscribed": False}])
    with pytest.raises(AirflowFailException, match="none of them subscribed"):
        _send(mailgun_conn_id).execute({})  # type: ignore[arg-type]
    assert _sends(mailgun_emulator) == []


@pytest.mark.parametrize(
    ("to", "conn"),
    [
        ("Newsletter@MG.Example.com", "mailgun_conn_id"),
        (f'"News" <{LIST}>', "mailgun_conn_id"),
        (f'"News, Weekly" <{LIST}>', "mailgun_conn_id"),
        (f"  {LIST}  ", "mailgun_conn_id"),
        (LIST, "maton_conn_id"),  # the gateway passes the list filter on
    ],
)
def test_a_lost_answer_is_reconciled_whatever_the_spelling_of_the_list_address(
    airflow_db: None, mailgun_emulator: MailgunEmulator, request: pytest.FixtureRequest, to: str, conn: str
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org", "bob@example.org"])
    mailgun_emulator.set_faults({"drop_after_store": [1], "path": "/messages", "methods": ["POST"]})
    with DAG("list_send_spelling", schedule=None, start_date=START, catchup=False) as dag:
        _send(request.getfixturevalue(conn), to=to, reconcile_timeout=5, retries=1, retry_delay=timedelta(0))
    dag_run = run_dag(dag)
    _assert_each_member_mailed_once(mailgun_emulator, dag_run)
    assert xcom_result(dag_run, "send")["list_members"] == 2


def test_a_cleared_list_send_does_not_mail_the_list_again(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org", "bob@example.org"])
    with DAG("list_send_cleared", schedule=None, start_date=START, catchup=False) as dag:
        _send(mailgun_conn_id)
    dag_run = run_dag(dag)
    first = xcom_result(dag_run, "send")
    again = clear_and_rerun(dag, dag_run)
    assert task_states(again) == {"send": "success"}
    assert len(_sends(mailgun_emulator)) == 1
    assert xcom_result(again, "send")["message_ids"] == first["message_ids"]


@pytest.mark.parametrize(
    ("to", "state", "copies"),
    [
        ("{{ params.lists[:1] }}", "success", 2),  # renders to a one-address list: the list's
        ("{{ params.lists }}", "failed", 0),  # two addresses: refused before sending
        ("{{ params.lists | join(', ') }}", "failed", 0),
    ],
)
def test_a_templated_to_is_judged_as_rendered(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    to: str,
    state: str,
    copies: int,
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org", "bob@example.org"])
    params = {"lists": [LIST, "other@mg.example.com"]}
    with DAG("list_send_templated", schedule=None, start_date=START, catchup=False, params=params) as dag:
        _send(mailgun_conn_id, to=to, retries=1, retry_delay=timedelta(0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": state}
    assert len(mailgun_emulator.messages()) == copies
    assert len(_sends(mailgun_emulator)) == (1 if copies else 0)


@pytest.mark.parametrize(
    ("fault", "state", "copies"),
    [
        ({"drop_after_store": [1]}, "success", 2),  # the list was mailed: the retry finds that send
        ({"reset_at": [1]}, "failed", 0),  # it was not: nothing is sent to the emptied list
    ],
)
def test_a_retry_settles_the_earlier_send_even_when_every_member_has_since_unsubscribed(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    fault: dict[str, Any],
    state: str,
    copies: int,
) -> None:
    # The first try gets no answer, and cannot look its send up; before the retry both members leave.
    # The retry must not fail with "Nothing was sent" when the list was mailed, nor send when it was not.
    members = ["ann@example.org", "bob@example.org"]
    mailgun_emulator.seed_list(LIST, members)
    mailgun_emulator.set_faults({**fault, "path": "/messages", "methods": ["POST"]})
    mailgun_emulator.retire_events_api()

    def everyone_leaves(context: Any) -> None:
        mailgun_emulator.restore_events_api()
        mailgun_emulator.seed_list(LIST, [{"address": a, "subscribed": False} for a in members])

    with DAG("list_send_emptied", schedule=None, start_date=START, catchup=False) as dag:
        _send(
            mailgun_conn_id,
            reconcile_timeout=0.2,
            retries=1,
            retry_delay=timedelta(0),
            on_retry_callback=everyone_leaves,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": state}
    assert len(mailgun_emulator.messages()) == copies
    assert len(_sends(mailgun_emulator)) == 1  # the first try's; the retry sent nothing
    if copies:
        assert xcom_result(dag_run, "send")["reconciled"] == 1


def test_a_mime_message_sent_to_a_list_reaches_each_subscribed_member_once(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org", {"address": "cy@example.org", "subscribed": False}])
    message = tmp_path / "issue.eml"
    message.write_text(f"From: {FROM}\r\nTo: {LIST}\r\nSubject: Issue 1\r\n\r\nHello\r\n")
    mailgun_emulator.set_faults({"drop_after_store": [1], "path": "/messages", "methods": ["POST"]})
    with DAG("list_send_mime", schedule=None, start_date=START, catchup=False) as dag:
        _send(
            mailgun_conn_id,
            subject=None,
            text=None,
            mime_message=str(message),
            reconcile_timeout=5,
            retries=1,
            retry_delay=timedelta(0),
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "success"}
    assert [c["recipient"] for c in mailgun_emulator.messages()] == ["ann@example.org"]
    mime_sends = [r for r in mailgun_emulator.requests() if r["path"].endswith("/messages.mime")]
    assert len(mime_sends) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_list_check_that_fails_shows_no_key_and_sends_nothing(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, status: int
) -> None:
    mailgun_emulator.seed_list(LIST, ["ann@example.org"])
    # The list is found; the subscribed-member look-up that follows is the one refused.
    mailgun_emulator.set_faults({"error_at": {"1": status}, "path": "/members/pages", "retry_after": 0})
    operator = _send(mailgun_conn_id)
    with pytest.raises(Exception) as caught:
        operator.execute({})  # type: ignore[arg-type]
    shown = f"{caught.value!r} {caught.value} {caught.value.__cause__!r} {caught.value.__context__!r}"
    assert mailgun_emulator.mailgun_key not in shown
    assert _sends(mailgun_emulator) == []


def test_a_crash_after_mailgun_took_the_list_send_before_the_ledger_recorded_it_sends_nothing_again(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The crash at that exact instant: the first "accepted" write of the ledger fails; the record
    # stays "in flight", as after a killed worker, and the retry finds the send by the list's events.
    mailgun_emulator.seed_list(LIST, ["ann@example.org", "bob@example.org"])
    mark = SendLedger.mark
    crashes: list[str] = []

    def crash_once(self: SendLedger, batch: Any, state: str, **kwargs: Any) -> None:
        if state == ACCEPTED and not crashes:
            crashes.append(state)
            raise OSError("worker lost before the ledger recorded the accepted send")
        mark(self, batch, state, **kwargs)

    monkeypatch.setattr(SendLedger, "mark", crash_once)
    with DAG("list_send_crash_window", schedule=None, start_date=START, catchup=False) as dag:
        _send(mailgun_conn_id, reconcile_timeout=5, retries=1, retry_delay=timedelta(0))
    dag_run = run_dag(dag)
    assert crashes == [ACCEPTED]
    _assert_each_member_mailed_once(mailgun_emulator, dag_run)


def _assert_each_member_mailed_once(emu: MailgunEmulator, dag_run: Any) -> None:
    """Ann and Bob got one copy each from one request; the retry found the first try's send."""
    assert task_states(dag_run) == {"send": "success"}
    assert Counter(c["recipient"] for c in emu.messages()) == {"ann@example.org": 1, "bob@example.org": 1}
    assert len(_sends(emu)) == 1
    assert xcom_result(dag_run, "send")["reconciled"] == 1
