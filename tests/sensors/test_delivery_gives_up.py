"""A wait that cannot succeed ends by itself, with a reason, instead of running until its timeout.

* An id Mailgun never accepted (a typo, another domain) fails with "no accepted event for id X"
  once ``missing_grace`` has passed, in poke and deferrable mode, on either event source.
* A real id whose recipients are simply slow is not mistaken for one (its accepted event is looked
  up when only delivery events are read).
* Deferred, the trigger keeps the sensor's timeout itself: Airflow's in-process trigger runner
  (``dag.test()``, ``airflow dags test``) does not enforce it.
* A cancelled trigger stops at once: its client is closed and no request follows.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger
from tests.dag_runner import run_dag, task_states
from tests.sensors.delivery_helpers import HOLD_BACK, event_reads

pytestmark = pytest.mark.timeout(120)
BOGUS = "not-a-real-id"


@pytest.fixture
def run_wait(airflow_db: None, mailgun_conn_id: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a one-sensor DAG with ``dag.test()``; its final state and how long it took."""
    from airflow.sdk import DAG

    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    def run(message_ids: Any, *, deferrable: bool, **kwargs: Any) -> tuple[str, float]:
        dag_id = re.sub(r"\W", "_", request.node.name)
        with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            MailgunDeliverySensor(
                task_id="wait",
                mailgun_conn_id=mailgun_conn_id,
                message_ids=message_ids,
                deferrable=deferrable,
                **{"timeout": 300, "poke_interval": 0.2, "mode": "poke", **kwargs},
            )
        started = time.monotonic()
        dag_run = run_dag(dag)
        return task_states(dag_run)["wait"], time.monotonic() - started

    return run


@pytest.mark.parametrize("event_source", ["events", "logs"])
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_an_id_that_never_appears_fails_after_the_grace_period_not_the_timeout(
    run_wait: Callable[..., Any], raised_errors: list[str], deferrable: bool, event_source: str
) -> None:
    state, seconds = run_wait(BOGUS, deferrable=deferrable, missing_grace=1, event_source=event_source)
    assert state == "failed"
    assert seconds < 60  # the timeout is 300 s
    (error,) = raised_errors
    assert f"no accepted event for id {BOGUS}" in error


@pytest.mark.parametrize("event_source", ["events", "logs"])
def test_a_send_result_naming_an_unknown_id_fails_too(
    run_wait: Callable[..., Any], raised_errors: list[str], send: Callable[..., Any], event_source: str
) -> None:
    # With every recipient count known the wait reads only delivery events; the missing id's
    # accepted event is looked up once the grace period is over.
    real = send(["ann@example.org"])
    (real_id,) = real["message_ids"]
    result = {
        "message_ids": [real_id, f"<{BOGUS}@mg.example.com>"],
        "recipients_per_message": {real_id: 1, f"<{BOGUS}@mg.example.com>": 3},
    }
    state, _ = run_wait(result, deferrable=False, missing_grace=0.5, event_source=event_source)
    assert state == "failed"
    (error,) = raised_errors
    assert f"no accepted event for id {BOGUS}@mg.example.com" in error
    assert real_id.strip("<>") not in error.split("Delivered")[0]


@pytest.mark.parametrize("event_source", ["events", "logs"])
def test_a_real_id_whose_delivery_is_slow_is_not_taken_for_a_missing_one(
    run_wait: Callable[..., Any],
    raised_errors: list[str],
    mailgun_emulator: MailgunEmulator,
    send: Callable[[list[str]], dict[str, Any]],
    event_source: str,
) -> None:
    mailgun_emulator.set_delivery_delay(HOLD_BACK)  # accepted now, delivered much later
    sent = send(["ann@example.org", "bob@example.org"])
    state, _ = run_wait(sent, deferrable=False, missing_grace=0, timeout=3, event_source=event_source)
    assert state == "failed"  # Airflow's sensor timeout, not "no accepted event"
    assert raised_errors == []


def test_a_deferred_wait_ends_at_the_sensors_timeout_in_dag_test(
    run_wait: Callable[..., Any],
    mailgun_emulator: MailgunEmulator,
    send: Callable[[list[str]], dict[str, Any]],
) -> None:
    mailgun_emulator.set_delivery_delay(HOLD_BACK)
    sent = send(["ann@example.org"])
    state, seconds = run_wait(sent, deferrable=True, timeout=3)
    assert state == "failed"
    assert seconds < 60


def _held_back_trigger(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], dict[str, Any]],
    **extra: Any,
) -> MailgunDeliveryTrigger:
    mailgun_emulator.set_delivery_delay(HOLD_BACK)
    sent = send(["ann@example.org"])
    (message_id,) = sent["message_ids"]
    bare = message_id.strip("<>")
    return MailgunDeliveryTrigger(
        mailgun_conn_id=mailgun_conn_id,
        domain=mailgun_emulator.domain,
        message_ids=[bare],
        expected_recipients={bare: 1},
        begin=time.time() - 600,
        poll_interval=0.1,
        **extra,
    )


def test_the_trigger_ends_with_a_timeout_event_at_its_deadline(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], dict[str, Any]]
) -> None:
    trigger = _held_back_trigger(mailgun_emulator, mailgun_conn_id, send, deadline=time.time() + 1.0)
    assert trigger.serialize()[1]["deadline"] == trigger.deadline

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    started = time.monotonic()
    payload = asyncio.run(asyncio.wait_for(first(), timeout=30))
    assert payload["status"] == "timeout"
    assert 0.9 <= time.monotonic() - started < 10
    assert payload["result"]["pending"] == 1
    assert "no decision by the deadline" in payload["message"]


def test_a_cancelled_trigger_closes_its_client_and_makes_no_more_requests(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient

    trigger = _held_back_trigger(mailgun_emulator, mailgun_conn_id, send)
    closed: list[bool] = []
    original_close = AsyncMailgunClient.aclose

    async def spy_close(self: AsyncMailgunClient) -> None:
        closed.append(True)
        await original_close(self)

    monkeypatch.setattr(AsyncMailgunClient, "aclose", spy_close)

    async def scenario() -> tuple[int, int]:
        async def consume() -> None:
            async for _event in trigger.run():
                raise AssertionError("the wait cannot be decided")

        task = asyncio.create_task(consume())
        while event_reads(mailgun_emulator) < 3:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = event_reads(mailgun_emulator)
        await asyncio.sleep(1.0)  # ten poll intervals
        return at_cancel, event_reads(mailgun_emulator)

    at_cancel, later = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert closed == [True]
    assert later == at_cancel


@pytest.mark.skipif(
    Version(airflow.__version__) < Version("3.1"),
    reason="Airflow 3.0's own sensor fails a rescheduled poke under dag.test() (its first reschedule "
    "date arrives as text: datetime - str)",
)
def test_an_id_that_never_appears_fails_after_the_grace_period_in_reschedule_mode_too(
    run_wait: Callable[..., Any], raised_errors: list[str]
) -> None:
    # Each reschedule is a new start of the sensor: the grace is counted from the first one (as
    # Airflow counts the sensor's timeout), not from each poke, or it would never run out.
    state, seconds = run_wait(
        BOGUS, deferrable=False, missing_grace=2, timeout=25, mode="reschedule", poke_interval=1
    )
    assert state == "failed"
    assert seconds < 25
    (error,) = raised_errors
    assert f"no accepted event for id {BOGUS}" in error
