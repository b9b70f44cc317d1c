"""``source="auto"``: the watch reads Events until Mailgun retires it for the account, then Logs,
through one window: nothing reported twice or missed across the switch, or across a restart after
it. A watch that cannot switch says what to change and never yields an error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.event_watch import MailgunEventTrigger
from tests.triggers.watch_helpers import JsonAssetStore, Payloads, addresses, error_lines, watch

FAST = {"poll_interval": 0.1, "settle_seconds": 3.0, "persist_grace": 0.05}
PEOPLE = [f"p{i}@example.org" for i in range(6)]


@pytest.fixture
def sent(mailgun_conn_id: str) -> None:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    hook.messages.send(hook.domain(), {"from": "n@mg.example.com", "to": PEOPLE, "subject": "N", "text": "N"})
    hook.close()


def _reads(emulator: MailgunEmulator, api: str) -> int:
    path = "/v1/analytics/logs" if api == "logs" else "/events"
    return sum(1 for request in emulator.requests() if request["path"].endswith(path))


def test_events_retired_mid_watch_and_a_restart_after_it_report_each_event_once(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, sent: None
) -> None:
    store = JsonAssetStore()

    def trigger() -> MailgunEventTrigger:
        fresh = MailgunEventTrigger(mailgun_conn_id=mailgun_conn_id, events=["complained"], **FAST)
        fresh.asset_state_store = store
        return fresh

    async def scenario() -> tuple[Payloads, Payloads, int]:
        shutdown = asyncio.Event()
        first = asyncio.create_task(watch(trigger(), seconds=15.0, stop=shutdown))
        await asyncio.sleep(0.4)
        mailgun_emulator.complain(PEOPLE[0])  # read from Events
        mailgun_emulator.complain(PEOPLE[1], index_delay=1.0)  # stamped before the switch, seen after
        await asyncio.sleep(0.5)
        mailgun_emulator.retire_events_api()
        mailgun_emulator.complain(PEOPLE[2])  # read from Logs
        await asyncio.sleep(1.5)
        mailgun_emulator.complain(PEOPLE[3], index_delay=1.0)  # still hidden at the restart
        shutdown.set()
        before = await first
        events_reads = _reads(mailgun_emulator, "events")
        mailgun_emulator.complain(PEOPLE[4])  # while no triggerer runs
        after = await watch(trigger(), seconds=3.0, stop_when=lambda p: len(addresses(before + p)) >= 5)
        return before, after, _reads(mailgun_emulator, "events") - events_reads

    before, after, events_reads_after_restart = asyncio.run(scenario())
    reported = addresses(before) + addresses(after)
    assert sorted(reported) == PEOPLE[:5]  # each once
    assert before[0]["source"] == "events"
    assert {p["source"] for p in before[1:] + after} == {"logs"}
    assert events_reads_after_restart == 1  # one 410 after the restart, then Logs only


@pytest.mark.parametrize(
    "kwargs", [{"source": "events"}, {"source": "auto", "lists": ["news@mg.example.com"]}], ids=str
)
def test_a_watch_that_cannot_read_logs_says_what_to_change_and_never_yields(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    sent: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    kwargs: dict[str, Any],
) -> None:
    mailgun_emulator.complain(PEOPLE[0])
    mailgun_emulator.retire_events_api()
    trigger = MailgunEventTrigger(
        mailgun_conn_id=mailgun_conn_id, events=["complained"], start_lookback=60, **{**FAST, **kwargs}
    )

    payloads = asyncio.run(watch(trigger, seconds=1.0))

    assert payloads == []
    refusals = error_lines(capsys.readouterr().out, caplog.records, "Mailgun API error 410")
    assert refusals
    assert all("read the Logs API with source='logs'" in text for text in refusals)
    assert _reads(mailgun_emulator, "logs") == 0
