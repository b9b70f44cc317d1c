"""The example end to end: emulated complaints -> the watcher's trigger -> one asset event per
batch -> the scheduled DAG -> the lists change (in process: the trigger run against the emulator,
the event recorded as the triggerer records it, the DAG run with ``dag.test()``)."""

from __future__ import annotations

import asyncio
import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from tests.dag_runner import task_states, xcom_result
from tests.triggers.airflow_side import (
    asset_events,
    queued_runs,
    run_consumer,
    submit,
    supervisor_comms,
    sync_dag,
    watcher_trigger,
)
from tests.triggers.watch_helpers import addresses, run_watch, watch

EXAMPLES = str(Path(__file__).resolve().parents[2] / "example_dags")
DAG_ID = "mailgun_complaints_unsubscribe"
ASSET = "mailgun_complaints"
FAST = {"poll_interval": 0.1, "persist_grace": 0.05, "settle_seconds": 3.0}
NEWS = "news@mg.example.com"
PROMO = "promo@mg.example.com"


@pytest.fixture
def example_env(mailgun_conn_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MAILGUN_EVENTS_CONN_ID", mailgun_conn_id)
    return mailgun_conn_id


def subscribed(emulator: MailgunEmulator, list_address: str) -> dict[str, bool]:
    hook = MailgunHook(mailgun_conn_id="mailgun_default")
    try:
        return {m["address"]: m["subscribed"] for m in hook.members.iter(list_address)}
    finally:
        hook.close()


def test_complaints_unsubscribe_from_every_list_once_per_batch(
    airflow_db: None,
    mailgun_emulator: MailgunEmulator,
    example_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = ["ann@example.org", "bob@example.org", "cid@example.org", "dan@example.org"]
    mailgun_emulator.seed_list(NEWS, people)
    mailgun_emulator.seed_list(PROMO, ["bob@example.org", "eve@example.org"])
    dag = sync_dag(EXAMPLES, DAG_ID)
    hook = MailgunHook(mailgun_conn_id=example_env)
    hook.messages.send(hook.domain(), {"from": NEWS, "to": people, "subject": "News", "text": "Hi"})
    hook.close()
    already = {event.id for event in asset_events(ASSET)}

    with supervisor_comms(monkeypatch) as supervisor:
        trigger_id, trigger = watcher_trigger(ASSET, ASSET, **FAST)

        async def scenario() -> list[dict[str, Any]]:
            running = asyncio.create_task(watch(trigger, seconds=3.0))
            await asyncio.sleep(0.5)  # the watch is running: what follows is news to it
            mailgun_emulator.complain("ann@example.org")
            mailgun_emulator.complain("bob@example.org")
            mailgun_emulator.bounce("dan@example.org")  # a delayed hard bounce
            return await running

        payloads = asyncio.run(scenario())

    assert len(payloads) == 1, payloads  # one batch for the three, and nothing after it
    for payload in payloads:
        submit(trigger_id, payload)
    new = [event for event in asset_events(ASSET) if event.id not in already]
    assert len(new) == 1
    assert new[0].extra["payload"]["count"] == 3
    assert queued_runs(DAG_ID) == 1  # the scheduler would start exactly one run
    if supervisor is not None:  # Airflow 3.3+: the cursor went to the asset state store
        assert "set_asset_state_store_by_name" in supervisor.requests

    # The triggerer restarts; a complaint arrives while it is down.
    mailgun_emulator.complain("cid@example.org")
    with supervisor_comms(monkeypatch) as supervisor:
        _, restarted = watcher_trigger(ASSET, ASSET, **FAST)
        later = run_watch(restarted, seconds=1.5)
    if supervisor is not None:  # 3.3+: resumed from the kept cursor, only the new complaint
        assert addresses(later) == ["cid@example.org"]
    else:  # before 3.3 a restart starts from now: the downtime's complaint is not reported
        assert later == []

    dag_run = run_consumer(dag, [new[0].id], monkeypatch)

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    assert subscribed(mailgun_emulator, NEWS) == {
        "ann@example.org": False,
        "bob@example.org": False,
        "cid@example.org": True,
        "dan@example.org": False,
    }
    assert subscribed(mailgun_emulator, PROMO) == {"bob@example.org": False, "eve@example.org": True}
    summary = xcom_result(dag_run, "summary")
    assert summary["batches"] == 1
    assert summary["addresses"] == 3
    assert summary["unsubscribed"] == 4
    assert summary["events"] == {"complained": 2, "failed": 1}
    assert json.dumps(summary)


def test_the_poll_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    example = str(Path(EXAMPLES) / f"{DAG_ID}.py")
    assert runpy.run_path(example)["complaints"].watchers[0].trigger.poll_interval == 60
    monkeypatch.setenv("MAILGUN_EVENTS_POLL_INTERVAL", "2.5")
    assert runpy.run_path(example)["complaints"].watchers[0].trigger.poll_interval == 2.5
