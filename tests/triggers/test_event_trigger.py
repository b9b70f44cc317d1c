"""MailgunEventTrigger against the emulator: one event per batch, late events, restarts, a free loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.event_watch import MailgunEventTrigger
from tests.triggers.watch_helpers import JsonAssetStore, addresses, error_lines, run_watch, watch

CLASSPATH = "airflow_provider_mailgun.triggers.event_watch.MailgunEventTrigger"
FAST = {"poll_interval": 0.1, "settle_seconds": 3.0, "persist_grace": 0.05}


@pytest.fixture
def send(mailgun_conn_id: str) -> Iterator[Callable[[list[str]], None]]:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)

    def _send(recipients: list[str]) -> None:
        hook.messages.send(
            hook.domain(),
            {"from": "news@mg.example.com", "to": recipients, "subject": "News", "text": "Hi"},
        )

    yield _send
    hook.close()


def complaints_trigger(conn_id: str, **overrides: Any) -> MailgunEventTrigger:
    kwargs: dict[str, Any] = {
        "mailgun_conn_id": conn_id,
        "events": ["complained", "failed"],
        "severity": "permanent",
        **FAST,
        **overrides,
    }
    return MailgunEventTrigger(**kwargs)


def test_serialize_round_trips_and_survives_airflow_serde() -> None:
    trigger = MailgunEventTrigger(
        mailgun_conn_id="maton_default",
        domain="MG.Example.com",
        events=("complained", "failed"),
        severity="permanent",
        tags=("newsletter",),
        lists=("news@mg.example.com",),
        poll_interval=30,
        max_addresses=50,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs["domain"] == "mg.example.com"
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON values only
    assert MailgunEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    serde = pytest.importorskip("airflow.sdk.serde")  # what 3.2+ stores trigger kwargs with
    restored = serde.deserialize(serde.serialize(kwargs))
    assert MailgunEventTrigger(**restored).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": "complained"}, "lists of names"),
        ({"events": ["spam"]}, "Unknown Mailgun event type"),
        ({"source": "smtp"}, "Unknown event source"),
        ({"source": "logs", "lists": ["news@mg.example.com"]}, "no mailing-list filter"),
        ({"poll_interval": 0}, "poll_interval must be a positive number"),
        ({"settle_seconds": float("nan")}, "settle_seconds must be"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MailgunEventTrigger(**kwargs)


def test_one_trigger_event_per_poll_however_many_complaints(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    send(["ann@example.org", "bob@example.org", "cid@example.org", "bounce-dan@example.org"])
    for address in ("ann@example.org", "bob@example.org"):
        mailgun_emulator.complain(address)

    payloads = run_watch(complaints_trigger(mailgun_conn_id, start_lookback=60), seconds=2.0)

    assert len(payloads) == 1, payloads  # polls went on for 2 s; nothing new came after the batch
    (batch,) = payloads
    assert batch["count"] == 3
    assert batch["events"] == {"complained": 2, "failed": 1}
    assert sorted(batch["addresses"]) == ["ann@example.org", "bob@example.org", "bounce-dan@example.org"]
    assert batch["domain"] == mailgun_emulator.domain


def test_starts_from_now_by_default_and_reports_what_happens_next(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    send(["ann@example.org", "bob@example.org", "bounce-old@example.org"])
    mailgun_emulator.complain("ann@example.org")  # before the watch started: not reported

    def later(payloads: list[dict[str, Any]]) -> None:
        raise AssertionError(f"reported an event from before the start: {payloads}")

    trigger = complaints_trigger(mailgun_conn_id)

    async def scenario() -> list[dict[str, Any]]:
        task = asyncio.create_task(watch(trigger, seconds=3.0, stop_when=lambda p: len(p) >= 1))
        await asyncio.sleep(0.5)
        mailgun_emulator.complain("bob@example.org")
        return await task

    payloads = asyncio.run(scenario())
    assert addresses(payloads) == ["bob@example.org"]


@pytest.mark.parametrize("source", ["events", "logs"])
def test_an_event_indexed_late_is_reported_once_when_it_appears(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None], source: str
) -> None:
    send(["ann@example.org", "bob@example.org"])
    mailgun_emulator.complain("ann@example.org", index_delay=1.0)  # stamped first, visible last
    mailgun_emulator.complain("bob@example.org")

    payloads = run_watch(complaints_trigger(mailgun_conn_id, start_lookback=60, source=source), seconds=2.5)

    assert [p["addresses"] for p in payloads] == [["bob@example.org"], ["ann@example.org"]]
    assert payloads[1]["first_timestamp"] <= payloads[0]["first_timestamp"]  # Logs: to the millisecond
    assert {p["source"] for p in payloads} == {source}


@pytest.mark.parametrize("source", ["events", "logs"])
def test_a_restart_mid_watch_reports_nothing_twice_and_misses_nothing(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None], source: str
) -> None:
    people = [f"p{i}@example.org" for i in range(6)]
    send(people)
    store = JsonAssetStore()

    def trigger() -> MailgunEventTrigger:
        fresh = complaints_trigger(mailgun_conn_id, source=source)
        fresh.asset_state_store = store  # what the 3.3 triggerer injects before run()
        return fresh

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        shutdown = asyncio.Event()
        first = asyncio.create_task(watch(trigger(), seconds=10.0, stop=shutdown))
        await asyncio.sleep(0.4)
        mailgun_emulator.complain(people[0])
        mailgun_emulator.complain(people[1], index_delay=1.5)  # still unindexed at the restart
        await asyncio.sleep(0.6)
        shutdown.set()  # the triggerer stops between polls
        before = await first
        mailgun_emulator.complain(people[2])  # while no triggerer runs
        after = await watch(
            trigger(), seconds=4.0, on_event=lambda p: _more_complaints(mailgun_emulator, people, p)
        )
        return before, after

    before, after = asyncio.run(scenario())
    reported = addresses(before) + addresses(after)
    assert addresses(before) == [people[0]]
    assert sorted(reported) == sorted(people[:4])  # each once; people[3] came after the restart
    assert len(set(reported)) == len(reported)
    assert store.writes >= 2


def _more_complaints(emulator: MailgunEmulator, people: list[str], payloads: list[dict[str, Any]]) -> None:
    if len(payloads) == 1:
        emulator.complain(people[3])


def test_a_batch_yielded_just_before_a_crash_is_reported_again_not_lost(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    """Killed between the yield and the cursor write: at least once, by design (see the docs)."""
    send(["ann@example.org"])
    store = JsonAssetStore()

    def trigger() -> MailgunEventTrigger:
        fresh = complaints_trigger(mailgun_conn_id, persist_grace=30.0)
        fresh.asset_state_store = store
        return fresh

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first = asyncio.create_task(watch(trigger(), seconds=5.0, stop_when=lambda p: len(p) == 1))
        await asyncio.sleep(0.5)  # a few polls: a cursor from before the complaint is kept
        mailgun_emulator.complain("ann@example.org")
        before = await first  # stopped right after the yield, inside the persist grace
        return before, await watch(trigger(), seconds=3.0, stop_when=lambda p: len(p) == 1)

    before, after = asyncio.run(scenario())
    assert store.writes >= 1
    assert addresses(before) == addresses(after) == ["ann@example.org"]


def test_without_an_asset_state_store_a_restart_starts_from_now(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    send(["ann@example.org", "bob@example.org"])

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first = asyncio.create_task(watch(complaints_trigger(mailgun_conn_id), seconds=1.2))
        await asyncio.sleep(0.3)
        mailgun_emulator.complain("ann@example.org")
        before = await first
        mailgun_emulator.complain("bob@example.org")  # during the restart: not reported (3.0-3.2)
        return before, await watch(complaints_trigger(mailgun_conn_id), seconds=1.0)

    before, after = asyncio.run(scenario())
    assert addresses(before) == ["ann@example.org"]
    assert after == []


def test_filters_keep_temporary_failures_and_other_tags_out(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    for tag in ("newsletter", "receipts"):
        hook.messages.send(
            hook.domain(),
            {
                "from": "news@mg.example.com",
                "to": [f"bounce-{tag}@example.org", f"tempfail-{tag}@example.org"],
                "subject": "News",
                "text": "Hi",
                "o:tag": tag,
            },
        )
    hook.close()
    trigger = MailgunEventTrigger(
        mailgun_conn_id=mailgun_conn_id,
        events=["failed"],
        severity="permanent",
        tags=["newsletter"],
        start_lookback=60,
        **FAST,
    )
    payloads = run_watch(trigger, seconds=1.5)
    assert addresses(payloads) == ["bounce-newsletter@example.org"]
    reads = [r for r in mailgun_emulator.requests() if r["path"].endswith("/events")]
    assert "severity=permanent" in reads[0]["query"]
    assert "tags=newsletter" in reads[0]["query"]


def test_errors_are_retried_never_yielded_and_the_watch_recovers(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], None],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    send(["ann@example.org"])
    mailgun_emulator.complain("ann@example.org")
    mailgun_emulator.set_faults({"error_rate": 1.0, "statuses": [401], "path": "/events"})

    def heal(_: Any = None) -> None:
        mailgun_emulator.clear_faults()

    async def scenario() -> list[dict[str, Any]]:
        task = asyncio.create_task(
            watch(
                complaints_trigger(mailgun_conn_id, start_lookback=60, poll_interval=0.2),
                seconds=6.0,
                stop_when=lambda p: len(p) >= 1,
            )
        )
        await asyncio.sleep(0.8)
        heal()
        return await task

    payloads = asyncio.run(scenario())
    assert addresses(payloads) == ["ann@example.org"]  # one batch: no error ever became an event
    logged = capsys.readouterr().out
    assert "Mailgun event watch: Mailgun API error 401" in logged
    assert error_lines(logged, caplog.records, "Mailgun API error 401")  # a refused key needs a fix
    assert mailgun_emulator.mailgun_key not in logged


def test_the_watch_polls_with_the_async_client_and_never_blocks_the_loop(
    mailgun_emulator: MailgunEmulator,
    mailgun_conn_id: str,
    send: Callable[[list[str]], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send([f"p{i}@example.org" for i in range(300)])
    for i in range(0, 300, 3):
        mailgun_emulator.complain(f"p{i}@example.org")

    def no_sync_http(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the trigger used the blocking requests client")

    monkeypatch.setattr(requests.Session, "request", no_sync_http)
    trigger = complaints_trigger(mailgun_conn_id, start_lookback=60, poll_interval=0.2)

    async def race() -> tuple[list[dict[str, Any]], list[float]]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        try:
            return await watch(trigger, seconds=2.0), ticks
        finally:
            stop.set()
            await ticking

    payloads, ticks = asyncio.run(race())
    assert [p["count"] for p in payloads] == [100]
    gaps = [later - earlier for earlier, later in itertools.pairwise(ticks)]
    assert max(gaps) < 0.25, max(gaps)  # a blocking call would stall the ticker for a whole request
    polls = [r for r in mailgun_emulator.requests() if "/events" in r["path"]]
    assert len(polls) >= 5  # it kept polling after the batch


def test_several_assets_sharing_one_trigger_keep_the_cursor_on_each() -> None:
    from airflow_provider_mailgun._watch.cursor import cursor_store
    from airflow_provider_mailgun._watch.window import WatchWindow

    class TwoAssets:  # the shape of Airflow's accessor collection for two watched assets
        def __init__(self) -> None:
            self._by_name = {"a": JsonAssetStore(), "b": JsonAssetStore()}
            self._by_uri: dict[str, Any] = {}

    shared = TwoAssets()
    store = cursor_store(shared, "k")

    async def scenario() -> WatchWindow | None:
        await store.save(WatchWindow(100.0, {"x": 150.0}))
        shared._by_name["c"] = JsonAssetStore()  # an asset added later has nothing kept yet
        return await cursor_store(shared, "k").load()

    loaded = asyncio.run(scenario())
    assert loaded == WatchWindow(100.0, {"x": 150.0})
    assert all(accessor.rows.get("k") for name, accessor in shared._by_name.items() if name != "c")


def test_a_lists_watch_asks_mailgun_for_mail_sent_through_those_lists(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, send: Callable[[list[str]], None]
) -> None:
    send(["news@mg.example.com"])  # a message sent through the list is addressed to it
    send(["bounce-direct@example.org"])
    mailgun_emulator.complain("news@mg.example.com")
    mailgun_emulator.bounce("bounce-direct@example.org")
    trigger = complaints_trigger(mailgun_conn_id, lists=["news@mg.example.com"], start_lookback=60)
    payloads = run_watch(trigger, seconds=1.0)
    assert addresses(payloads) == ["news@mg.example.com"]
    reads = [r for r in mailgun_emulator.requests() if r["path"].endswith("/events")]
    assert "list=news%40mg.example.com" in reads[0]["query"]
