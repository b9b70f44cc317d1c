"""A campaign of 100 message ids and 100,000 recipients: requests follow the events, not the ids.

Seeded through the client (100 batch sends of 1,000 recipients with recipient-variables), which
takes about 2 s against the emulator. The last batch's outcomes are held back so the wait is still
pending after its first check; the default settle threshold (30 minutes) means no page is trusted
yet, which is exactly the case where an idle check must still cost one request.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.sensors.delivery_helpers import HOLD_BACK, event_reads

MESSAGES, RECIPIENTS_EACH = 100, 1000
PAGE = 300
LOGS_PAGE = 100


def pages_for(events: int) -> int:
    """Requests to read ``events`` from a kept link: a short last page ends the read, a full one
    needs one more (empty) request to know it was the last."""
    return events // PAGE + 1


def logs_pages_for(events: int) -> int:
    """Requests to read ``events`` through the Logs API: the last page has no ``next`` token."""
    return math.ceil(events / LOGS_PAGE)


pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def campaign(
    mailgun_emulator: MailgunEmulator, send: Callable[[list[str]], dict[str, Any]]
) -> tuple[dict[str, Any], Callable[[], None]]:
    """Send the campaign; returns the send result and a function that releases the last batch."""
    message_ids: list[str] = []
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for index in range(MESSAGES):
        if index == MESSAGES - 1:
            mailgun_emulator.set_delivery_delay(HOLD_BACK)
        sent = send([f"user{index}-{n}@example.org" for n in range(RECIPIENTS_EACH)])
        message_ids += sent["message_ids"]
        counts.update(sent["recipients_per_message"])
    sent_at = time.time()
    print(f"seeded {MESSAGES} x {RECIPIENTS_EACH} in {time.perf_counter() - started:.1f} s")

    def release_last_batch() -> None:
        mailgun_emulator.advance_events(sent_at + HOLD_BACK - time.time() + 0.05)

    return {"message_ids": message_ids, "recipients_per_message": counts}, release_last_batch


@pytest.mark.parametrize("event_source", ["events", "logs"])
def test_poke_mode_requests_follow_events_and_an_idle_check_costs_one(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    campaign: tuple[dict[str, Any], Callable[[], None]],
    event_source: str,
) -> None:
    result, release_last_batch = campaign
    sensor = MailgunDeliverySensor(
        task_id="wait", mailgun_conn_id=mailgun_conn_id, message_ids=result, event_source=event_source
    )
    sensor._start({})  # type: ignore[arg-type]
    before = event_reads(mailgun_emulator)

    started = time.perf_counter()
    assert sensor.poke({}) is False  # type: ignore[arg-type]  # the held-back batch is pending
    first = event_reads(mailgun_emulator) - before
    print(f"first check: {first} requests in {time.perf_counter() - started:.1f} s")
    delivered_so_far = (MESSAGES - 1) * RECIPIENTS_EACH
    logs = event_source == "logs"
    assert first == (logs_pages_for if logs else pages_for)(delivered_so_far)

    assert sensor.poke({}) is False  # type: ignore[arg-type]
    assert event_reads(mailgun_emulator) - before == first + 1  # nothing new: one request

    release_last_batch()
    value = sensor.poke({})  # type: ignore[arg-type]
    total = event_reads(mailgun_emulator) - before
    assert value
    assert value.xcom_value == {  # type: ignore[union-attr]
        "delivered": MESSAGES * RECIPIENTS_EACH,
        "failed": [],
        "failed_count": 0,
        "pending": 0,
        "requests": total,
    }
    if logs:
        # Newest first down to what was seen: the new pages, plus the page that reaches it.
        assert total == first + 1 + logs_pages_for(RECIPIENTS_EACH) + 1
        assert total <= 1.1 * logs_pages_for(MESSAGES * RECIPIENTS_EACH)
        return
    # About ceil(events / 300) for all the events, plus the one idle check.
    assert total == first + 1 + pages_for(RECIPIENTS_EACH)
    assert total <= math.ceil(MESSAGES * RECIPIENTS_EACH / PAGE) + 2
    print(f"decided with {total} requests for {MESSAGES * RECIPIENTS_EACH} events")


@pytest.mark.parametrize("event_source", ["events", "logs"])
def test_trigger_decides_the_campaign_with_as_few_requests(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    campaign: tuple[dict[str, Any], Callable[[], None]],
    event_source: str,
) -> None:
    from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger

    result, release_last_batch = campaign
    release_last_batch()
    ids = [message_id.strip("<>") for message_id in result["message_ids"]]
    trigger = MailgunDeliveryTrigger(
        mailgun_conn_id=mailgun_conn_id,
        domain=mailgun_emulator.domain,
        message_ids=ids,
        expected_recipients={k.strip("<>"): v for k, v in result["recipients_per_message"].items()},
        begin=time.time() - 600,
        poll_interval=0.1,
        event_source=event_source,
    )
    before = event_reads(mailgun_emulator)

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    started = time.perf_counter()
    payload = asyncio.run(first_event())
    requests = event_reads(mailgun_emulator) - before
    print(f"trigger: {requests} requests in {time.perf_counter() - started:.1f} s")
    assert payload["status"] == "success"
    assert payload["result"]["delivered"] == MESSAGES * RECIPIENTS_EACH
    assert payload["result"]["requests"] == requests
    events = MESSAGES * RECIPIENTS_EACH
    if event_source == "logs":
        assert requests == logs_pages_for(events)
    else:
        assert requests == pages_for(events) == math.ceil(events / PAGE)
