"""The watch's reads at the edges of paging: the page cap, paging links that repeat, pages out of
order. The cap is lowered so a few events stand for Mailgun's 100 pages of 300; servers that page
wrongly are served over real HTTP by a local test server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from pytest_httpserver.httpserver import QueryMatcher

from airflow_provider_mailgun._watch import sources as event_sources
from airflow_provider_mailgun._watch.window import EventFilter, WatchWindow
from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.hooks.mailgun import MailgunHook
from airflow_provider_mailgun.testing import MailgunEmulator
from airflow_provider_mailgun.triggers.event_watch import MailgunEventTrigger
from tests.client.rawserver import SilentServer
from tests.triggers.watch_helpers import addresses, run_watch

FAST = {"poll_interval": 0.1, "settle_seconds": 3.0, "persist_grace": 0.05}
DOMAIN = "mg.example.com"
COMPLAINTS = EventFilter(("complained",))


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 2 events and reads of at most 2 pages: 5 events stand for a burst over the cap."""
    monkeypatch.setattr(event_sources, "EVENTS_PAGE_LIMIT", 2)
    monkeypatch.setattr(event_sources, "MAX_PAGES_PER_READ", 2)


def test_a_burst_over_the_page_cap_in_one_second_is_read_to_the_end(
    mailgun_emulator: MailgunEmulator, mailgun_conn_id: str, small_pages: None
) -> None:
    """More events than one capped read holds, all stamped within the read margin of each other:
    every poll used to re-read the same capped pages from just before the horizon, forever."""
    people = [f"p{i}@example.org" for i in range(7)]
    hook = MailgunHook(mailgun_conn_id=mailgun_conn_id)
    hook.messages.send(hook.domain(), {"from": "n@mg.example.com", "to": people, "subject": "N", "text": "N"})
    hook.close()
    for person in people:
        mailgun_emulator.complain(person)

    trigger = MailgunEventTrigger(
        mailgun_conn_id=mailgun_conn_id, events=["complained"], start_lookback=60, **FAST
    )
    payloads = run_watch(trigger, seconds=4.0, stop_when=lambda p: len(addresses(p)) >= len(people))

    assert sorted(addresses(payloads)) == people


def _item(event_id: str, ts: float) -> dict[str, Any]:
    return {"id": event_id, "event": "complained", "timestamp": ts, "recipient": f"{event_id}@example.org"}


def _page(items: list[dict[str, Any]], server: HTTPServer, following: str) -> dict[str, Any]:
    return {"items": items, "paging": {"next": server.url_for(f"/v3/{DOMAIN}/events/{following}")}}


@pytest.fixture
def events_client(httpserver: HTTPServer) -> Callable[[], AsyncMailgunClient]:
    base = httpserver.url_for("/").rstrip("/")
    config = ClientConfig.for_mailgun("key-test-0123456789abcdef", base_url=base, max_attempts=1)

    def build() -> AsyncMailgunClient:
        return AsyncMailgunClient(config)

    return build


def _read(client_factory: Callable[[], AsyncMailgunClient], window: WatchWindow, now: float) -> list[str]:
    """One poll as the trigger makes it: read from the window, take what is new."""

    async def poll() -> list[str]:
        async with client_factory() as client:
            read = await event_sources.read_window(
                event_sources.SOURCES["events"](client, DOMAIN), window, COMPLAINTS
            )
        fresh = window.take(read.events, now=now, settle_seconds=0.0, read_until=read.read_until)
        return [event.id for event in fresh]

    return asyncio.run(poll())


def test_a_paging_link_that_repeats_never_moves_the_horizon_past_unread_events(
    httpserver: HTTPServer, events_client: Callable[[], AsyncMailgunClient]
) -> None:
    """A server handing out the same ``next`` link twice: the read stops, but nothing after it may
    be skipped; a later read starting from what was read gets the rest."""
    httpserver.expect_request(f"/v3/{DOMAIN}/events", query_string=_begins_before(1000)).respond_with_json(
        _page([_item("a", 1001), _item("b", 1002)], httpserver, "loop")
    )
    httpserver.expect_request(f"/v3/{DOMAIN}/events/loop").respond_with_json(
        _page([_item("c", 1003), _item("d", 1004)], httpserver, "loop")
    )
    httpserver.expect_request(f"/v3/{DOMAIN}/events").respond_with_json(
        _page([_item("d", 1004), _item("e", 1005)], httpserver, "end")
    )
    httpserver.expect_request(f"/v3/{DOMAIN}/events/end").respond_with_json(
        {"items": [], "paging": {"next": httpserver.url_for(f"/v3/{DOMAIN}/events/end")}}
    )
    window = WatchWindow.starting_at(1000.0)

    first = _read(events_client, window, now=2000.0)
    second = _read(events_client, window, now=2001.0)

    assert first == ["a", "b", "c", "d"]
    assert second == ["e"]


def test_pages_served_newest_first_never_move_the_horizon_past_unread_events(
    httpserver: HTTPServer, events_client: Callable[[], AsyncMailgunClient], small_pages: None
) -> None:
    """A server (or gateway) ignoring ``ascending=yes``: the capped read's last event is then the
    oldest read, not the newest, and the older events not read yet must not fall behind the horizon."""
    newest_first = [_item(f"e{i}", 1000 + i) for i in range(6, 0, -1)]
    pages = [newest_first[i : i + 2] for i in range(0, 6, 2)] + [[]]
    httpserver.expect_request(f"/v3/{DOMAIN}/events").respond_with_json(_page(pages[0], httpserver, "1"))
    for number in range(1, len(pages)):
        httpserver.expect_request(f"/v3/{DOMAIN}/events/{number}").respond_with_json(
            _page(pages[number], httpserver, str(number + 1))
        )
    window = WatchWindow.starting_at(1000.0)

    reported = _read(events_client, window, now=2000.0) + _read(events_client, window, now=2001.0)

    assert sorted(reported) == [f"e{i}" for i in range(1, 7)]


class _begins_before(QueryMatcher):
    """Matches a first-page query whose ``begin`` is before ``limit``."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def get_comparing_values(self, request_query_string: bytes) -> tuple[Any, Any]:
        begin = parse_qs(request_query_string.decode()).get("begin", ["inf"])[0]
        return float(begin) < self.limit, True


@pytest.mark.parametrize("stage", ["request", "backoff"])
def test_a_stopping_triggerer_never_waits_for_mailgun(monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    """Cancelled while a request hangs (a server that never answers) or while backing off after
    errors (one that drops every request): the trigger ends at once."""
    with SilentServer(delay=30.0 if stage == "request" else 0.0) as server:
        extra = {"default_domain": DOMAIN, "max_attempts": 1, "timeout": 60}
        monkeypatch.setenv(
            "AIRFLOW_CONN_SILENT",
            json.dumps({"conn_type": "mailgun", "host": server.url, "password": "key-x" * 4, "extra": extra}),
        )
        trigger = MailgunEventTrigger(mailgun_conn_id="silent", events=["complained"], poll_interval=60)

        async def stop_after_a_while() -> float:
            task = asyncio.create_task(trigger.run().__anext__())
            await asyncio.sleep(0.5)
            assert server.requests, "the trigger never reached the server"
            started = time.monotonic()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return time.monotonic() - started

        assert asyncio.run(stop_after_a_while()) < 0.5
