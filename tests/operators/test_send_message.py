"""MailgunSendMessageOperator against the emulator over real HTTP, DAGs run with dag.test()."""

from __future__ import annotations

import email.message
import email.utils
import logging
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.sensors.delivery_helpers import EVENT_SOURCES, is_event_read, sensor_source

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False)


def _send_requests(emu: MailgunEmulator) -> list[dict[str, Any]]:
    return [
        r
        for r in emu.requests()
        if r["method"] == "POST" and r["path"].endswith(("/messages", "/messages.mime"))
    ]


@pytest.fixture(params=EVENT_SOURCES)
def reconcile_source(request: pytest.FixtureRequest, mailgun_emulator: MailgunEmulator) -> Iterator[str]:
    """Where reconciliation reads the accepted events: the Events API, the Logs API, or "auto" on
    an account whose Events API is retired (it answers 410 from the first look on)."""
    if request.param == "auto-retired":
        mailgun_emulator.retire_events_api()
    yield str(request.param)
    mailgun_emulator.restore_events_api()


def _apis_read(emu: MailgunEmulator) -> set[str]:
    return {"logs" if r["path"].endswith("/logs") else "events" for r in emu.requests() if is_event_read(r)}


def _people(count: int, prefix: str = "user") -> list[dict[str, Any]]:
    return [
        {
            "address": f"{prefix}{i:05d}@example.org",
            "name": f"Person {i}",
            "variables": {"first": f"P{i}", "n": i},
        }
        for i in range(count)
    ]


def test_single_message_arrives_with_every_field(
    airflow_db: None, mailgun_emulator: MailgunEmulator, maton_conn_id: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("day,rows\n2026-01-01,42\n")
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with _dag("send_single") as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=maton_conn_id,
            from_email=FROM,
            to="Ann Example <ann@example.org>",
            cc=["carl@example.org"],
            bcc="bea@example.org",
            subject="Report for {{ dag.dag_id }}",
            text="Rows: 42",
            html='<p>Rows: 42</p><img src="cid:logo.png">',
            tags=["daily", "etl"],
            variables={"run": "{{ run_id }}", "rows": 42},
            headers={"X-Report": "daily"},
            reply_to="ops@example.org",
            attachments=[str(report)],
            inline=[str(logo)],
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "success"}
    copies = {m["recipient"]: m for m in mailgun_emulator.messages()}
    assert set(copies) == {"ann@example.org", "carl@example.org", "bea@example.org"}
    message = copies["ann@example.org"]
    assert message["from"] == FROM
    assert message["subject"] == "Report for send_single"
    assert message["text"] == "Rows: 42"
    assert "cid:logo.png" in message["html"]
    assert sorted(message["tags"]) == ["daily", "etl"]
    assert message["user_variables"]["run"] == dag_run.run_id
    assert message["user_variables"]["rows"] == "42"
    assert message["headers"]["X-Report"] == "daily"
    assert message["headers"]["Reply-To"] == "ops@example.org"
    assert "carl@example.org" in str(message["cc"])
    assert [(a["filename"], a["size"]) for a in message["attachments"]] == [
        ("report.csv", report.stat().st_size)
    ]
    assert [(a["filename"], a["size"]) for a in message["inline"]] == [("logo.png", 72)]
    result = xcom_result(dag_run, "send")
    assert result["batches"] == 1
    assert result["recipients"] == 3
    assert len(result["message_ids"]) == 1
    assert not result["message_ids"][0].startswith("<")
    assert result["recipients_per_message"] == {result["message_ids"][0]: 3}


def test_template_mime_delivery_time_and_test_mode(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, tmp_path: Path
) -> None:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    hook.templates.create(
        mailgun_emulator.domain, "welcome", template="<p>Hi {{name}}, issue {{issue}}</p>", tag="v1"
    )
    context = _context("templated")
    when = pendulum.now("UTC").add(hours=2).replace(microsecond=0)
    MailgunSendMessageOperator(
        task_id="templated",
        mailgun_conn_id=mailgun_conn_id,
        from_email=FROM,
        to="ann@example.org",
        subject="Welcome",
        template="welcome",
        template_version="v1",
        template_variables={"name": "Ann", "issue": 7},
        delivery_time=when,
        test_mode=True,
    ).execute(context)
    (copy,) = mailgun_emulator.messages(recipient="ann@example.org")
    assert (copy["template"]["name"], copy["template"]["version"]) == ("welcome", "v1")
    assert "Hi Ann, issue 7" in copy["html"]
    assert copy["test_mode"] is True
    assert email.utils.parsedate_to_datetime(copy["delivery_time"]) == when

    mime = email.message.EmailMessage()
    mime["From"] = FROM
    mime["To"] = "bob@example.org"
    mime["Subject"] = "Raw MIME"
    mime.set_content("Sent as MIME")
    path = tmp_path / "message.eml"
    path.write_bytes(bytes(mime))
    result = MailgunSendMessageOperator(
        task_id="mime",
        mailgun_conn_id=mailgun_conn_id,
        to=["bob@example.org", "cid@example.org"],
        mime_message=str(path),
    ).execute(_context("mime"))
    assert {
        m["recipient"] for m in mailgun_emulator.messages() if m["id"].strip("<>") in result["message_ids"]
    } == {
        "bob@example.org",
        "cid@example.org",
    }
    assert any(r["path"].endswith("/messages.mime") for r in _send_requests(mailgun_emulator))


def test_2500_personal_recipients_take_three_requests(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    with _dag("send_campaign_2500") as dag:

        @task
        def audience() -> list[dict[str, Any]]:
            return _people(2500)

        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email=FROM,
            to=audience(),
            subject="Hello %recipient.first%",
            text="Dear %recipient.first% (%recipient.n%), this is for %recipient_email% only.",
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"audience": "success", "send": "success"}
    assert len(_send_requests(mailgun_emulator)) == 3
    copies = mailgun_emulator.messages()
    assert len(copies) == 2500
    by_recipient = {m["recipient"]: m for m in copies}
    assert len(by_recipient) == 2500
    for i in (0, 999, 1000, 2499):
        copy = by_recipient[f"user{i:05d}@example.org"]
        assert copy["subject"] == f"Hello P{i}"
        assert f"Dear P{i} ({i})" in copy["text"]
        assert copy["to"] in (
            [f"Person {i} <user{i:05d}@example.org>"],
            f"Person {i} <user{i:05d}@example.org>",
        )
    result = xcom_result(dag_run, "send")
    assert result["batches"] == 3
    assert sorted(result["recipients_per_message"].values()) == [500, 1000, 1000]


def test_an_invalid_address_fails_the_task_before_any_send(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    people = _people(1000)
    people[617]["address"] = "broken.example.org"
    with _dag("send_invalid") as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email=FROM,
            to=people,
            subject="s",
            text="t",
            retries=2,
            retry_delay=timedelta(0),
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "failed"}
    assert _send_requests(mailgun_emulator) == []
    assert mailgun_emulator.messages() == []
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 1  # bad input is not retried


def test_on_invalid_skip_sends_to_the_rest_and_reports(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    result = MailgunSendMessageOperator(
        task_id="skip",
        mailgun_conn_id=mailgun_conn_id,
        from_email=FROM,
        subject="s",
        text="t",
        to=["good@example.org", "bad@", "Good@Example.org", "also-good@example.org"],
        on_invalid="skip",
    ).execute(_context("skip"))
    assert result["skipped_invalid"] == ["bad@"]
    assert sorted(m["recipient"] for m in mailgun_emulator.messages()) == [
        "also-good@example.org",
        "good@example.org",
    ]


def test_dropped_connection_after_a_stored_batch_sends_each_recipient_once(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, reconcile_source: str
) -> None:
    mailgun_emulator.set_faults({"drop_after_store": [2], "path": "/messages", "methods": ["POST"]})
    with _dag(f"send_dropped_{reconcile_source.replace('-', '_')}") as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email=FROM,
            to=_people(1000),
            subject="s",
            text="Hi %recipient.first%",
            batch_size=200,
            reconcile_timeout=5,
            retries=1,
            retry_delay=timedelta(0),
            event_source=sensor_source(reconcile_source),
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send": "success"}
    counts = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    assert len(_send_requests(mailgun_emulator)) == 5
    assert xcom_result(dag_run, "send")["reconciled"] == 1
    assert "logs" in _apis_read(mailgun_emulator) or reconcile_source == "events"


def test_a_retried_task_skips_accepted_batches_and_resends_only_the_lost_one(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    _run_send_that_loses_its_third_batch(
        "send_retried", MailgunSendMessageOperator, mailgun_emulator, mailgun_conn_id
    )


def _run_send_that_loses_its_third_batch(
    dag_id: str, operator: type[MailgunSendMessageOperator], emulator: MailgunEmulator, conn_id: str
) -> Any:
    """Send 1000 recipients in 5 batches while the 3rd send gets a 500 without being stored
    (ambiguous for the client, absent from the events): the first try fails, Airflow's retry must
    resend only that batch, so every recipient ends with one copy from 6 send requests."""
    emulator.set_faults({"error_at": {"3": 500}, "path": "/messages", "methods": ["POST"]})
    with _dag(dag_id) as dag:
        operator(
            task_id="send",
            mailgun_conn_id=conn_id,
            from_email=FROM,
            to=_people(1000),
            subject="s",
            text="t",
            batch_size=200,
            reconcile_timeout=0.2,
            retries=1,
            retry_delay=timedelta(0),
        )
    dag_run = run_dag(dag)
    (ti,) = dag_run.get_task_instances()
    assert task_states(dag_run) == {"send": "success"}
    assert ti.try_number == 2
    counts = Counter(m["recipient"] for m in emulator.messages())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    assert len(_send_requests(emulator)) == 6  # 5 in the first try, the lost one again in the second
    return dag_run


def test_mapped_sends_keep_one_ledger_per_map_index(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    chunks = [[p["address"] for p in _people(300, f"c{k}x")] for k in range(3)]
    with _dag("send_mapped") as dag:
        MailgunSendMessageOperator.partial(
            task_id="send", mailgun_conn_id=mailgun_conn_id, from_email=FROM, subject="s", text="t"
        ).expand(to=chunks)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"send[0]": "success", "send[1]": "success", "send[2]": "success"}
    counts = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert len(counts) == 900
    assert set(counts.values()) == {1}


def test_templated_string_ending_in_html_is_not_read_as_a_file(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    operator = MailgunSendMessageOperator(
        task_id="trap",
        mailgun_conn_id=mailgun_conn_id,
        from_email=FROM,
        to="a@example.org",
        subject="s",
        html="see https://example.org/page.html",
    )
    assert operator.template_ext == ()
    operator.execute(_context("trap"))
    assert mailgun_emulator.messages()[0]["html"] == "see https://example.org/page.html"


def test_a_jinja_rendered_xcom_list_of_dicts_is_read_as_recipients(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # Without render_template_as_native_obj, "{{ ti.xcom_pull(...) }}" renders to the Python repr.
    with _dag("send_jinja_xcom") as dag:

        @task
        def audience() -> list[dict[str, Any]]:
            return _people(3)

        audience() >> MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email=FROM,
            to="{{ ti.xcom_pull(task_ids='audience') }}",
            variables="{{ {'campaign': 'spring'} }}",
            subject="Hello %recipient.first%",
            text="t",
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"audience": "success", "send": "success"}
    copies = {m["recipient"]: m for m in mailgun_emulator.messages()}
    assert sorted(copies) == [f"user{i:05d}@example.org" for i in range(3)]
    assert copies["user00001@example.org"]["subject"] == "Hello P1"
    assert copies["user00001@example.org"]["user_variables"]["campaign"] == "spring"


@pytest.mark.parametrize(
    ("on_ambiguous", "retries", "state", "tries", "requests", "recipients"),
    [
        # Not found among the events: left alone at once, no retry needed, the task succeeds.
        ("skip", 0, "success", 1, 5, 800),
        # Sent again by the retry, without reading the events.
        ("resend", 1, "success", 2, 6, 1000),
        # Not found in either try: the task fails and nothing is resent.
        ("fail", 1, "failed", 2, 5, 800),
    ],
)
def test_on_ambiguous_modes_for_a_lost_batch(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    reconcile_source: str,
    on_ambiguous: str,
    retries: int,
    state: str,
    tries: int,
    requests: int,
    recipients: int,
) -> None:
    # The 3rd send gets a 500 without being stored: ambiguous for the client, absent from events.
    mailgun_emulator.set_faults({"error_at": {"3": 500}, "path": "/messages", "methods": ["POST"]})
    with _dag(f"send_ambiguous_{on_ambiguous}_{reconcile_source.replace('-', '_')}") as dag:
        MailgunSendMessageOperator(
            task_id="send",
            mailgun_conn_id=mailgun_conn_id,
            from_email=FROM,
            to=_people(1000),
            subject="s",
            text="t",
            batch_size=200,
            on_ambiguous=on_ambiguous,
            reconcile_timeout=0.2,
            retries=retries,
            retry_delay=timedelta(0),
            event_source=sensor_source(reconcile_source),
        )
    dag_run = run_dag(dag)
    (ti,) = dag_run.get_task_instances()
    assert task_states(dag_run) == {"send": state}
    assert ti.try_number == tries
    assert len(_send_requests(mailgun_emulator)) == requests
    counts = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert len(counts) == recipients
    assert set(counts.values()) == {1}
    event_reads = [r for r in mailgun_emulator.requests() if is_event_read(r)]
    assert (event_reads == []) == (on_ambiguous == "resend")
    if on_ambiguous != "resend" and reconcile_source != "events":
        assert "logs" in _apis_read(mailgun_emulator)
    if on_ambiguous == "skip":
        result = xcom_result(dag_run, "send")
        assert len(result["skipped_ambiguous_batches"]) == 1
        assert len(result["message_ids"]) == 4
        assert sum(result["recipients_per_message"].values()) == 800


@pytest.mark.parametrize("stored", [True, False])
def test_on_ambiguous_fail_looks_for_an_earlier_trys_send_before_failing(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, stored: bool, reconcile_source: str
) -> None:
    from airflow_provider_mailgun._send.execution import PlanSender
    from airflow_provider_mailgun._send.fields import SendSpec
    from airflow_provider_mailgun._send.ledger import IN_FLIGHT, SendLedger
    from airflow_provider_mailgun._send.ledger_stores import MemoryStore
    from airflow_provider_mailgun._send.plan import build_plan
    from airflow_provider_mailgun.exceptions import UnsettledSendError

    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    domain = hook.domain()
    spec = SendSpec(
        to=[f"u{i}@example.org" for i in range(4)], from_email=FROM, subject="s", text="t", batch_size=2
    )
    plan = build_plan(spec, "dag__run__task__-1")
    store = MemoryStore()
    earlier = SendLedger(store)
    earlier.load(plan.batches)
    # An earlier try marked batch 0 in flight and its worker died: sent or not, nobody knows.
    earlier.mark(plan.batches[0], IN_FLIGHT, sent_at=time.time())
    if stored:
        hook.messages.send(domain, plan.batches[0].fields())
    before = len(_send_requests(mailgun_emulator))
    sender = PlanSender(
        hook,
        domain,
        plan,
        SendLedger(store),
        max_concurrency=2,
        on_ambiguous="fail",
        reconcile_timeout=0.5,
        event_source=sensor_source(reconcile_source),
    )
    try:
        if stored:
            outcome = sender.run()
            assert outcome.reconciled == 1
            assert sorted(outcome.counts.values()) == [2, 2]
            assert len(_send_requests(mailgun_emulator)) == before + 1  # batch 1 only
        else:
            with pytest.raises(UnsettledSendError, match="on_ambiguous='fail'"):
                sender.run()
            assert len(_send_requests(mailgun_emulator)) == before  # nothing resent
    finally:
        hook.close()
    counts = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert set(counts.values()) <= {1}
    assert "logs" in _apis_read(mailgun_emulator) or reconcile_source == "events"


class _SendWithoutTaskStateStore(MailgunSendMessageOperator):
    """The send operator as it runs on Airflow 3.0 to 3.2, which have no ``task_state_store``."""

    def execute(self, context: Any) -> dict[str, Any]:
        without = {k: v for k, v in context.items() if k != "task_state_store"}
        return super().execute(without)  # type: ignore[arg-type]


def test_before_airflow_3_3_the_ledger_is_kept_in_variables(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from airflow.models import Variable
    from airflow.utils.session import create_session

    from airflow_provider_mailgun._send.ledger_stores import (
        HEAD_KEY,
        INDEX_PREFIX,
        KEY_PREFIX,
        VariableStore,
    )

    written: list[str] = []
    original = VariableStore.set

    def spy(self: VariableStore, key: str, value: Any) -> None:
        written.append(self._name(key))
        original(self, key, value)

    monkeypatch.setattr(VariableStore, "set", spy)
    # The retry reads the first try's ledger from the Variable: only the lost batch goes out again.
    dag_run = _run_send_that_loses_its_third_batch(
        "send_variable_ledger", _SendWithoutTaskStateStore, mailgun_emulator, mailgun_conn_id
    )
    scope = f"send_variable_ledger__{dag_run.run_id}__send__-1"
    ledger_names = {f"{KEY_PREFIX}:0__{scope}", f"{HEAD_KEY}__{scope}"}
    assert set(written) == {*ledger_names, f"{INDEX_PREFIX}__send_variable_ledger__send__-1"}
    # Kept after success, the head marked completed: a retry or a clear must not send again.
    with create_session() as session:
        left = {
            row.key: json.loads(row.val)
            for row in session.query(Variable).filter(Variable.key.in_(ledger_names))
        }
    assert set(left) == ledger_names
    assert left[f"{HEAD_KEY}__{scope}"]["completed_at"] > 0


def test_info_logs_of_a_large_send_show_counts_not_addresses(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    result = MailgunSendMessageOperator(
        task_id="big",
        mailgun_conn_id=mailgun_conn_id,
        from_email=FROM,
        to=[*_people(2500), "broken"],
        subject="s",
        text="t",
        on_invalid="skip",
    ).execute(_context("big"))
    assert result["recipients"] == 2500
    captured = capsys.readouterr()
    ours = [r.getMessage() for r in caplog.records if "airflow_provider_mailgun.testing" not in r.name]
    logs = "\n".join(ours) + captured.out + captured.err
    assert "Sending to 2500 recipient(s)" in logs
    assert "Batch 3/3 accepted" in logs
    assert "@example.org" not in logs
    assert "broken" not in logs


def _context(task_id: str) -> Any:
    """A minimal context for calling execute() directly (no task_state_store: in-memory ledger)."""
    return {}


def test_ambiguous_send_lines_count_batches_from_1_like_every_other_line(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    # One request at a time, so the 3rd request is the 3rd batch; its 500 leaves it ambiguous.
    mailgun_emulator.set_faults({"error_at": {"3": 500}, "path": "/messages", "methods": ["POST"]})
    MailgunSendMessageOperator(
        task_id="numbered",
        mailgun_conn_id=mailgun_conn_id,
        from_email=FROM,
        to=_people(10),
        subject="s",
        text="t",
        batch_size=2,
        max_concurrency=1,
        on_ambiguous="skip",
        reconcile_timeout=0.1,
    ).execute(_context("numbered"))
    captured = capsys.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err
    assert "Batch 2/5 accepted" in logs
    assert "Batch 3/5: " in logs  # the ambiguous send's warning
    assert "Batch 3: not found as accepted; skipped" in logs
    assert "Batch 4/5 accepted" in logs
