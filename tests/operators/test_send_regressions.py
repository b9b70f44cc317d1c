"""Send defects a review reproduced, each pinned against the emulator over real HTTP.

* A 2xx reply without a usable message id (a proxy's HTML page after Mailgun took the send) is
  ambiguous: reconciled against the events, never resent blindly.
* A quoted display name with a comma is one recipient, and reaches Mailgun as one; whatever the
  names in a batch's one comma-separated ``to`` field hold, each recipient is read back once.
* The result's ``started_at`` is the earliest send of any try, so the delivery sensor reads the
  events of batches an earlier try sent long before.
* Reconciliation finds a batch's ``accepted`` event when Mailgun stores the recipient in another
  case than the one sent.
* A retry after a crash with several batches in flight waits ``reconcile_timeout`` once for all of
  them, not once each (four batches in flight made a retry wait four minutes).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from email.utils import getaddresses
from typing import Any
from unittest import mock

import pendulum
import pytest
from airflow.sdk import DAG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from airflow_provider_mailgun.operators.messages import MailgunSendMessageOperator
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.reliability.conftest import set_connection
from tests.reliability.servers import Answer, RewritingProxy

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FROM = "News <news@mg.example.com>"


def _sends(emu: MailgunEmulator) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/messages")]


def _html_for_second_send() -> Any:
    seen = {"sends": 0}

    def rewrite(method: str, path: str, status: int, body: bytes) -> Answer | None:
        if method != "POST" or not path.endswith("/messages") or status != 200:
            return None
        seen["sends"] += 1
        if seen["sends"] != 2:
            return None
        return 200, {"Content-Type": "text/html"}, b"<html><body>Request processed</body></html>"

    return rewrite


@pytest.mark.parametrize("body", ["html", "json without id"])
def test_a_2xx_without_a_message_id_is_reconciled_not_resent(
    airflow_db: None, mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    emu = mailgun_emulator
    rewrite = _html_for_second_send()
    if body != "html":
        html = rewrite

        def rewrite(method: str, path: str, status: int, content: bytes) -> Answer | None:
            answer = html(method, path, status, content)
            return None if answer is None else (200, {}, b'{"message": "Queued. Thank you."}')

    with RewritingProxy(emu.url, rewrite) as proxy:
        conn_id = set_connection(
            monkeypatch, "mailgun_via_proxy", conn_type="mailgun", host=proxy.url, password=emu.mailgun_key,
            extra={"default_domain": emu.domain},
        )  # fmt: skip
        with DAG(f"send_unusable_2xx_{body.replace(' ', '_')}", schedule=None, start_date=START) as dag:
            MailgunSendMessageOperator(
                task_id="send", mailgun_conn_id=conn_id, from_email=FROM,
                to=[f"p{i}@example.org" for i in range(8)], subject="s", text="t", batch_size=2,
                max_concurrency=1, reconcile_timeout=5, retries=1, retry_delay=timedelta(0),
            )  # fmt: skip
        dag_run = run_dag(dag)
        assert proxy.rewritten == 1
    assert task_states(dag_run) == {"send": "success"}
    copies = Counter(m["recipient"] for m in emu.messages())
    assert len(copies) == 8
    assert set(copies.values()) == {1}, copies
    assert len(_sends(emu)) == 4
    result = xcom_result(dag_run, "send")
    assert len(result["message_ids"]) == 4
    assert result["reconciled"] == 1


def test_a_quoted_display_name_with_a_comma_is_mailed_as_one_recipient(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    result = MailgunSendMessageOperator(
        task_id="names", mailgun_conn_id=mailgun_conn_id, from_email='"News, Weekly" <news@mg.example.com>',
        to='"Doe, John" <john@example.org>, ann@example.org', cc='"Ops; Team" <ops@example.org>',
        batch=False, subject="s", text="t", on_invalid="skip",
    ).execute({})  # type: ignore[arg-type]  # fmt: skip
    assert result["skipped_invalid"] == []
    copies = {m["recipient"]: m for m in mailgun_emulator.messages()}
    assert sorted(copies) == ["ann@example.org", "john@example.org", "ops@example.org"]
    assert '"Doe, John" <john@example.org>' in copies["john@example.org"]["to"]
    assert copies["john@example.org"]["from"] == '"News, Weekly" <news@mg.example.com>'


_ANY_TEXT = st.characters(codec="utf-8", exclude_characters="\r\n")
_NAMES = st.text(_ANY_TEXT, max_size=10) | st.sampled_from(
    ['"', "\\", "Doe, Jane", "Roe; Ann", "(c)", "a<b>", "x@y.org", 'Q"uote\\', "=?utf-8?q?a,b?=", "Zoë"]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAMES, min_size=2, max_size=6))
def test_any_display_names_in_one_to_field_reach_each_recipient_once(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, names: list[str]
) -> None:
    """A batch's recipients go in one comma-separated ``to``: whatever their names hold, the
    emulator's address-list parser reads back each recipient once, and no other."""
    mailgun_emulator.reset()
    to = [{"address": f"r{i}@example.org", "name": name} for i, name in enumerate(names)]
    result = MailgunSendMessageOperator(
        task_id="names", mailgun_conn_id=mailgun_conn_id, from_email=FROM, to=to,
        subject="s", text="t",
    ).execute({})  # type: ignore[arg-type]  # fmt: skip
    assert len(result["message_ids"]) == 1
    copies = Counter(m["recipient"] for m in mailgun_emulator.messages())
    assert copies == Counter(f"r{i}@example.org" for i in range(len(names)))


LATER = 20 * 60.0


class _RetriedTwentyMinutesLater(MailgunSendMessageOperator):
    """Try 2 starts 20 minutes after try 1 (a long retry delay): the emulator's event clock moves on,
    and so does the operator's clock."""

    emulator: MailgunEmulator

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number == 1:
            return super().execute(context)
        self.emulator.advance_events(LATER)
        real = time.time
        with mock.patch("airflow_provider_mailgun.operators.messages.time") as clock:
            clock.time.side_effect = lambda: real() + LATER
            return super().execute(context)


def _later_sensor() -> type[Any]:
    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    class _WaitingAfterTheRetry(MailgunDeliverySensor):
        """The wait runs after try 2, so 20 minutes after try 1 too."""

        def execute(self, context: Any) -> Any:
            real = time.time
            with mock.patch("airflow_provider_mailgun.sensors.delivery.time") as clock:
                clock.time.side_effect = lambda: real() + LATER
                return super().execute(context)

    return _WaitingAfterTheRetry


def test_the_delivery_sensor_finds_batches_an_earlier_try_sent_long_before(
    airflow_db: None, mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    # Try 1 has two batches accepted, then the third is refused (400): the task is retried.
    mailgun_emulator.set_faults({"error_at": {"3": 400}, "path": "/messages", "methods": ["POST"]})
    _RetriedTwentyMinutesLater.emulator = mailgun_emulator
    first_try = time.time()
    with DAG("send_then_wait_after_a_long_retry_delay", schedule=None, start_date=START) as dag:
        send = _RetriedTwentyMinutesLater(
            task_id="send", mailgun_conn_id=mailgun_conn_id, from_email=FROM,
            to=[f"w{i}@example.org" for i in range(8)], subject="s", text="t", batch_size=2,
            max_concurrency=1, retries=1, retry_delay=timedelta(0),
        )  # fmt: skip
        send >> _later_sensor()(
            task_id="wait", mailgun_conn_id=mailgun_conn_id, message_ids=send.output, mode="poke",
            poke_interval=1, timeout=15,
        )  # fmt: skip
    dag_run = run_dag(dag)
    result = xcom_result(dag_run, "send")
    assert len(result["message_ids"]) == 4
    assert result["started_at"] < first_try + 60  # when try 1 sent its batches, not when try 2 began
    assert task_states(dag_run) == {"send": "success", "wait": "success"}
    assert xcom_result(dag_run, "wait")["delivered"] == 8


def test_reconciliation_finds_a_recipient_stored_in_another_case(httpserver: HTTPServer) -> None:
    """A stand-in Mailgun that stores recipients lower-cased and filters events by exact match."""
    from airflow_provider_mailgun._send.execution import PlanSender
    from airflow_provider_mailgun._send.fields import SendSpec
    from airflow_provider_mailgun._send.ledger import SendLedger
    from airflow_provider_mailgun._send.ledger_stores import MemoryStore
    from airflow_provider_mailgun._send.plan import build_plan
    from airflow_provider_mailgun.client import ClientConfig
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    accepted: list[dict[str, Any]] = []

    def take_send(request: Request) -> Response:
        form = request.form
        accepted.extend(
            {"event": "accepted", "id": f"a{len(accepted)}", "timestamp": time.time(),
             "recipient": address.lower(), "user-variables": {"airflow-batch": form["v:airflow-batch"]},
             "message": {"headers": {"message-id": "stored.1@mg.example.com"}}}
            for _, address in getaddresses(form.getlist("to"))
        )  # fmt: skip
        return Response('{"message": "upstream timeout"}', status=503, content_type="application/json")

    def events(request: Request) -> Response:
        wanted = request.args.get("recipient")
        items = [e for e in accepted if e["recipient"] == wanted]  # exact: case-sensitive
        return Response(json.dumps({"items": items, "paging": {}}), content_type="application/json")

    httpserver.expect_request("/v3/mg.example.com/messages", method="POST").respond_with_handler(take_send)
    httpserver.expect_request("/v3/mg.example.com/events").respond_with_handler(events)
    hook = MailgunHook()
    hook.__dict__["config"] = ClientConfig.for_mailgun("k" * 20, base_url=httpserver.url_for("/"))
    plan = build_plan(
        SendSpec(to=["Ann.Smith@Example.org", "Carl.Jones@Example.org"], from_email=FROM, subject="s",
                 text="t", batch=True),
        "dag__run__task__-1",
    )  # fmt: skip
    sender = PlanSender(
        hook, "mg.example.com", plan, SendLedger(MemoryStore()), max_concurrency=1,
        on_ambiguous="fail", reconcile_timeout=1,
    )  # fmt: skip
    try:
        outcome = sender.run()
    finally:
        hook.close()
    assert outcome.reconciled == 1
    assert list(outcome.message_ids.values()) == ["stored.1@mg.example.com"]


def test_a_retry_waits_for_its_in_flight_batches_once_not_once_each(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str
) -> None:
    from airflow_provider_mailgun._send.execution import PlanSender
    from airflow_provider_mailgun._send.ledger import IN_FLIGHT, SendLedger
    from airflow_provider_mailgun._send.ledger_stores import MemoryStore
    from airflow_provider_mailgun._send.plan import SendSpec, build_plan
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    people = [f"u{i}@example.org" for i in range(8)]
    plan = build_plan(
        SendSpec(to=people, from_email=FROM, subject="s", text="t", batch_size=2), "d__r__t__-1"
    )
    store = MemoryStore()
    crashed = SendLedger(store)
    crashed.load(plan.batches)
    for batch in plan.batches[:3]:  # a worker died with three batches in flight, none reached Mailgun
        crashed.mark(batch, IN_FLIGHT, sent_at=time.time())
    timeout = 2.0
    retry = PlanSender(
        hook,
        hook.domain(),
        plan,
        SendLedger(store),
        max_concurrency=4,
        on_ambiguous="reconcile",
        reconcile_timeout=timeout,
    )
    began = time.monotonic()
    try:
        retry.run()
    finally:
        hook.close()
    waited = time.monotonic() - began
    assert Counter(m["recipient"] for m in mailgun_emulator.messages()) == Counter(people)
    # Each batch was looked for at least reconcile_timeout after it was sent, all in one wait.
    assert timeout <= waited < 2 * timeout, waited
