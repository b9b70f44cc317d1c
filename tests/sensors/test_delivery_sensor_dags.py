"""Poke mode and deferrable mode, run end to end with ``dag.test()``, reach the same outcome.

Messages are sent through the client to the emulator. Their outcome events are held back (a long
delivery delay) until the sensor has made its first check, so every run really waits: in
deferrable mode the sensor's quick check sees nothing decided and the trigger runs inline.
Every scenario runs on each event source: the Events API, the Logs API, and "auto" with the
Events API retired for the account right after the sensor's first read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import run_dag, task_states, xcom_result
from tests.sensors.delivery_helpers import (
    EVENT_SOURCES,
    event_reads,
    events_retired_mid_wait,
    is_event_read,
    outcomes_after_first_check,
    sensor_source,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def trigger_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records every event the trigger yields (a spy: the real trigger still runs)."""
    from airflow_provider_mailgun.triggers.delivery import MailgunDeliveryTrigger

    seen: list[dict[str, Any]] = []
    original = MailgunDeliveryTrigger.run

    async def spy(self: MailgunDeliveryTrigger) -> Any:
        async for event in original(self):
            seen.append(event.payload)
            yield event

    monkeypatch.setattr(MailgunDeliveryTrigger, "run", spy)
    return seen


@pytest.fixture(params=EVENT_SOURCES)
def event_source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run_sensor(
    event_source: str,
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], dict[str, Any]],
    trigger_runs: list[dict[str, Any]],
    raised_errors: list[str],
    request: pytest.FixtureRequest,
) -> Callable[..., dict[str, Any]]:
    """Send to ``addresses``, run a one-sensor DAG in ``mode``, report what happened."""
    from airflow.sdk import DAG

    from airflow_provider_mailgun.sensors.delivery import MailgunDeliverySensor

    def run(mode: str, addresses: list[str], **sensor_kwargs: Any) -> dict[str, Any]:
        mailgun_emulator.reset()
        trigger_runs.clear()
        raised_errors.clear()
        with (
            outcomes_after_first_check(mailgun_emulator) as sent_at,
            events_retired_mid_wait(mailgun_emulator, event_source),
        ):
            sent = send(addresses)
            sent_at.append(time.time())
            (message_id,) = sent["message_ids"]
            dag_id = re.sub(r"\W", "_", f"{request.node.name}_{mode}")
            with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1)) as dag:
                MailgunDeliverySensor(
                    task_id="wait",
                    mailgun_conn_id=mailgun_conn_id,
                    message_ids=sent,
                    poke_interval=0.2,
                    timeout=60,
                    mode="poke",
                    deferrable=mode == "deferrable",
                    event_source=sensor_source(event_source),
                    **sensor_kwargs,
                )
            dag_run = run_dag(dag)
        bare = message_id.strip("<>")
        errors = {message.replace(bare, "<id>") for message in raised_errors}
        result = xcom_result(dag_run, "wait")
        if result is not None:
            result = dict(result)
            for failure in result["failed"]:
                assert failure["message_id"] == bare
                failure["message_id"] = "<id>"
        return {
            "state": task_states(dag_run)["wait"],
            "result": result,
            "errors": errors,
            "triggered": list(trigger_runs),
            "event_reads": event_reads(mailgun_emulator),
            "apis": apis_read(mailgun_emulator),
            "source": event_source,
        }

    return run


def apis_read(emulator: MailgunEmulator) -> set[str]:
    """Which of the two APIs the wait read (answered or not)."""
    return {
        "logs" if r["path"].endswith("/logs") else "events" for r in emulator.requests() if is_event_read(r)
    }


def outcome(run: dict[str, Any]) -> tuple[str, Any, set[str]]:
    """What must match between modes: the state, the result without its request count, the error."""
    result = run["result"]
    if result is not None:
        result = {key: value for key, value in result.items() if key != "requests"}
    return run["state"], result, run["errors"]


def both_modes(run_sensor: Callable[..., dict[str, Any]], addresses: list[str], **kwargs: Any) -> Any:
    poke = run_sensor("poke", addresses, **kwargs)
    deferred = run_sensor("deferrable", addresses, **kwargs)
    assert poke["triggered"] == []
    assert len(deferred["triggered"]) == 1, "the deferrable run must really go through the trigger"
    assert poke["event_reads"] >= 2  # it waited: a first check, then at least one more
    assert outcome(poke) == outcome(deferred)
    expected_apis = {"events": {"events"}, "logs": {"logs"}, "auto-retired": {"events", "logs"}}
    for run in (poke, deferred):  # "auto" went on with Logs once Events was retired mid-wait
        assert run["apis"] == expected_apis[run["source"]]
    return poke, deferred


def test_all_delivered(run_sensor: Callable[..., dict[str, Any]]) -> None:
    poke, deferred = both_modes(run_sensor, ["ann@example.org", "bob@example.org", "cy@example.org"])
    assert poke["state"] == "success"
    assert poke["result"] == {
        "delivered": 3,
        "failed": [],
        "failed_count": 0,
        "pending": 0,
        "requests": poke["event_reads"],
    }
    assert deferred["result"]["requests"] == deferred["event_reads"]
    assert deferred["triggered"][0]["status"] == "success"


def test_permanent_bounce_fails_the_task_naming_recipient_and_code(
    run_sensor: Callable[..., dict[str, Any]],
) -> None:
    poke, deferred = both_modes(run_sensor, ["ann@example.org", "bounce-x@example.org"])
    assert poke["state"] == "failed"
    assert poke["result"] is None
    (error,) = poke["errors"]
    assert "bounce-x@example.org (550, bounce: 5.1.1" in error
    assert "in message <id>" in error
    assert deferred["triggered"][0]["status"] == "failure"


def test_temporary_failure_then_delivery_succeeds(
    run_sensor: Callable[..., dict[str, Any]], mailgun_emulator: MailgunEmulator
) -> None:
    poke, deferred = both_modes(run_sensor, ["ann@example.org", "tempfail-1@example.org"])
    assert deferred["triggered"][0]["status"] == "success"
    assert poke["state"] == "success"
    assert poke["result"]["delivered"] == 2
    assert poke["result"]["failed"] == []
    # The emulator redelivers ~2 s after the temporary failure: the sensor kept polling meanwhile.
    assert poke["event_reads"] >= 5
    assert mailgun_emulator.events("failed")[0]["severity"] == "temporary"


def test_fraction_threshold_met_despite_two_bounces(run_sensor: Callable[..., dict[str, Any]]) -> None:
    addresses = [f"user{i}@example.org" for i in range(98)] + ["bounce1@example.org", "bounce2@example.org"]
    poke, _ = both_modes(run_sensor, addresses, min_success_fraction=0.98)
    assert poke["state"] == "success"
    assert poke["result"]["delivered"] == 98
    assert poke["result"]["failed_count"] == 2
    assert [(f["recipient"], f["code"]) for f in poke["result"]["failed"]] == [
        ("bounce1@example.org", 550),
        ("bounce2@example.org", 550),
    ]
