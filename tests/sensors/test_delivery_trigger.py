"""The trigger: plain serialisable arguments, an async connection lookup, and a loop it never blocks."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_mailgun.sensors.delivery import (
    MAX_HANDOFF_RECIPIENTS,
    MailgunDeliveryError,
    MailgunDeliverySensor,
)
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger
from tests.sensors.delivery_helpers import event_reads, outcomes_after_first_check

CLASSPATH = "airflow_provider_mailgun.triggers.delivery.MailgunDeliveryTrigger"


def trigger_for(conn_id: str, sent: dict[str, Any], **overrides: Any) -> MailgunDeliveryTrigger:
    (message_id,) = sent["message_ids"]
    bare = message_id.strip("<>")
    kwargs: dict[str, Any] = {
        "mailgun_conn_id": conn_id,
        "domain": "mg.example.com",
        "message_ids": [bare],
        "expected_recipients": {bare: sent["recipients_per_message"][message_id]},
        "begin": time.time() - 600,
        "poll_interval": 0.2,
        **overrides,
    }
    return MailgunDeliveryTrigger(**kwargs)


def first_event(trigger: MailgunDeliveryTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger yielded nothing")

    return asyncio.run(run())


def test_serialize_round_trips_through_its_own_kwargs() -> None:
    state = {"tracker": {"version": 1, "ids": {"a@mg.example.com": {"success": ["x@y.org"]}}}, "cursor": {}}
    trigger = MailgunDeliveryTrigger(
        mailgun_conn_id="maton_default",
        domain="mg.example.com",
        message_ids=("a@mg.example.com", "b@mg.example.com"),
        expected_recipients={"a@mg.example.com": 2},
        success_events=("delivered", "opened"),
        min_success_fraction=0.9,
        fail_on_permanent_failure=False,
        begin=1718000000.5,
        poll_interval=30,
        event_settle_seconds=60,
        state=state,
        prior_requests=4,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON values only
    rebuilt = MailgunDeliveryTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.goal() == trigger.goal()


def test_serialize_survives_airflow_serde() -> None:
    serde = pytest.importorskip("airflow.sdk.serde")  # what 3.2+ stores trigger kwargs with
    trigger = MailgunDeliveryTrigger(
        mailgun_conn_id="c", domain="d.example.com", message_ids=["a@d.example.com"], begin=1.0
    )
    classpath, kwargs = trigger.serialize()
    restored = serde.deserialize(serde.serialize(kwargs))
    assert MailgunDeliveryTrigger(**restored).serialize() == (classpath, kwargs)


def test_trigger_polls_with_the_async_client_and_never_blocks_the_loop(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with outcomes_after_first_check(mailgun_emulator) as sent_at:
        sent = send(["ann@example.org", "tempfail-1@example.org"])
        sent_at.append(time.time())

        def no_sync_http(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the trigger used the blocking requests client")

        monkeypatch.setattr(requests.Session, "request", no_sync_http)
        trigger = trigger_for(mailgun_conn_id, sent, poll_interval=0.5)

        async def race() -> tuple[dict[str, Any], list[float]]:
            ticks: list[float] = []
            done = asyncio.Event()

            async def ticker() -> None:
                while not done.is_set():
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(ticker())
            try:
                async for event in trigger.run():
                    return dict(event.payload), ticks
                raise AssertionError("no event")
            finally:
                done.set()
                await ticking

        started = time.monotonic()
        payload, ticks = asyncio.run(race())
        elapsed = time.monotonic() - started

    assert payload["status"] == "success"
    assert payload["result"]["delivered"] == 2
    assert event_reads(mailgun_emulator) >= 4  # it polled through the temporary failure
    assert elapsed >= 1.5
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    # A blocking wait (time.sleep, a sync request) would stall the ticker for a whole poll interval.
    assert max(gaps) < 0.25, max(gaps)
    assert len(ticks) >= elapsed / 0.01 / 3


def test_a_missing_connection_yields_an_error_event(mailgun_emulator: MailgunEmulator) -> None:
    sent = {"message_ids": ["<a@mg.example.com>"], "recipients_per_message": {"<a@mg.example.com>": 1}}
    payload = first_event(trigger_for("no_such_connection", sent))
    assert payload["status"] == "error"
    assert "'no_such_connection' is not defined" in payload["message"]
    sensor = MailgunDeliverySensor(task_id="wait", message_ids=sent, deferrable=True)
    with pytest.raises(MailgunDeliveryError, match="is not defined"):
        sensor.execute_complete({}, payload)  # type: ignore[arg-type]


def test_a_rejected_key_yields_an_error_event_without_the_key(
    mailgun_emulator: MailgunEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = "key-wrong-0123456789abcdef0123456789"
    connection = {"conn_type": "mailgun", "host": mailgun_emulator.url, "password": wrong_key}
    monkeypatch.setenv("AIRFLOW_CONN_MAILGUN_WRONG", json.dumps(connection))
    sent = {"message_ids": ["<a@mg.example.com>"], "recipients_per_message": {"<a@mg.example.com>": 1}}
    payload = first_event(trigger_for("mailgun_wrong", sent))
    assert payload["status"] == "error"
    assert "401" in payload["message"]
    assert wrong_key not in json.dumps(payload)


def test_handed_over_state_is_not_read_again(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], dict[str, Any]]
) -> None:
    with outcomes_after_first_check(mailgun_emulator) as sent_at:
        sent = send([f"user{i}@example.org" for i in range(5)])
        sent_at.append(time.time())
        sensor = MailgunDeliverySensor(
            task_id="wait", mailgun_conn_id=mailgun_conn_id, message_ids=sent, poke_interval=0.2
        )
        sensor._start({})  # type: ignore[arg-type]
        assert sensor.poke({}) is False  # type: ignore[arg-type]  # nothing delivered yet
        trigger = sensor._trigger()
        assert trigger.state is not None
        assert trigger.prior_requests == 1
        while len(mailgun_emulator.events("delivered")) < 5:
            time.sleep(0.05)
    payload = first_event(trigger)
    assert payload["status"] == "success"
    # One request for the new page: the trigger continued from the sensor's link, not from ``begin``.
    assert event_reads(mailgun_emulator) == 2
    assert payload["result"]["requests"] == 2


def test_large_state_is_not_handed_over() -> None:
    ids = [f"m{i}@mg.example.com" for i in range(3)]
    sensor = MailgunDeliverySensor(
        task_id="wait", message_ids=ids, expected_recipients=MAX_HANDOFF_RECIPIENTS, begin=0
    )
    from airflow_provider_mailgun._delivery.polling import DeliveryWait
    from airflow_provider_mailgun._delivery.state import DeliveryGoal

    goal = DeliveryGoal(tuple(ids), expected=dict.fromkeys(ids, MAX_HANDOFF_RECIPIENTS))
    wait = DeliveryWait(goal, domain="mg.example.com", begin=0.0)
    events = [
        {"event": "delivered", "recipient": f"r{n}@x.org", "message": {"headers": {"message-id": ids[0]}}}
        for n in range(MAX_HANDOFF_RECIPIENTS + 1)
    ]
    sensor._wait = wait
    assert "tracker" in (sensor._trigger().state or {})
    wait.tracker.ingest(events)
    # The trigger re-reads from ``begin`` instead; only the API being read is handed over.
    assert sensor._trigger().state == {"reading": "events"}


def test_connection_lookup_falls_back_without_the_compat_helper(
    mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from airflow_provider_mailgun._connection.lookup import connection_async

    # An older common-compat has no ``connection`` module: the sync lookup runs in a worker thread.
    monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.connection", None)
    conn = asyncio.run(connection_async(mailgun_conn_id))
    assert conn.conn_type == "mailgun"
    assert conn.host.startswith("http://127.0.0.1:")


def test_through_the_maton_gateway_both_modes_follow_rebased_page_links(
    mailgun_emulator: MailgunEmulator, maton_conn_id: str
) -> None:
    from airflow_provider_mailgun.hooks.mailgun import MailgunHook

    hook = MailgunHook(mailgun_conn_id=maton_conn_id)
    addresses = [f"user{n}@example.org" for n in range(301)]  # two pages of events
    reply = hook.messages.send(
        hook.domain(),
        {
            "from": "n@mg.example.com",
            "to": addresses,
            "subject": "s",
            "text": "t",
            "recipient-variables": json.dumps({a: {} for a in addresses}),
        },
    )
    sent = {"message_ids": [reply.id], "recipients_per_message": {reply.id: len(addresses)}}
    sensor = MailgunDeliverySensor(task_id="wait", mailgun_conn_id=maton_conn_id, message_ids=sent)
    sensor._start({})  # type: ignore[arg-type]
    poked = sensor.poke({})  # type: ignore[arg-type]
    payload = first_event(trigger_for(maton_conn_id, sent))
    assert poked
    assert poked.xcom_value["delivered"] == payload["result"]["delivered"] == 301  # type: ignore[union-attr]
    assert poked.xcom_value["requests"] == payload["result"]["requests"] == 2  # type: ignore[union-attr]
    gateway_reads = [r for r in mailgun_emulator.requests() if "/events" in r["path"]]
    assert len(gateway_reads) == 4
    assert all(r["entrance"] == "gateway" for r in gateway_reads), gateway_reads
