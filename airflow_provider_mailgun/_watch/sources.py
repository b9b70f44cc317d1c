"""Where an event watch reads: the Events API or the Logs API, behind one small interface.

A source yields pages of :class:`~.window.WatchedEvent` values, oldest first, for "every
event matching this filter stamped at or after ``since``"; :func:`read_window` is the one place
that decides how much of them one poll reads (a page cap that always moves past the window's
horizon) and what the read proves (:class:`SourceRead`), whichever API answered::

    source = SOURCES["logs"](async_client, "mg.example.com")
    read = await read_window(source, window, EventFilter(("complained",)))
    window.take(read.events, now=time.time(), settle_seconds=1800, read_until=read.read_until)

* ``events``: ``GET /v3/{domain}/events``, ascending, with the filters Mailgun applies itself.
* ``logs``: ``POST /v1/analytics/logs``, ``timestamp:asc``, filtered on the domain and tags, the
  time read from ``@timestamp`` (milliseconds, rounded down).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mailgun._watch.window import EventFilter, WatchedEvent, WatchWindow
from airflow_provider_mailgun.client.api.events import MAX_EVENTS_PAGE
from airflow_provider_mailgun.client.logs_window import item_time
from airflow_provider_mailgun.exceptions import MailgunError

if TYPE_CHECKING:
    from airflow_provider_mailgun._delivery.sources import AsyncPageSource
    from airflow_provider_mailgun.client.async_analytics import AsyncLogs
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient

log = logging.getLogger(__name__)
EVENTS_PAGE_LIMIT = MAX_EVENTS_PAGE
LOGS_PAGE_LIMIT = 100  # the Logs API's
#: Pages one poll reads at most once it has passed the horizon; a longer backlog is read over the
#: next polls (the horizon never passes an event that was not read).
MAX_PAGES_PER_READ = 100


@dataclass(frozen=True)
class SourceRead:
    """One read: the matching events, and how far it is known to be complete.

    :param events: matching events, in the order read.
    :param read_until: ``None`` when the read reached the current end of the log; else every
        event stamped up to this time was read (the read stopped at the page cap, or at paging
        that went in circles).
    """

    events: list[WatchedEvent]
    read_until: float | None = None


class PagingLoopError(MailgunError):
    """The API handed out a paging link it had already given: the rest of the log is unreachable."""


class EventSource(Protocol):
    """What a watch needs from a Mailgun API (see the module docstring)."""

    name: str

    def pages(self, since: float, event_filter: EventFilter) -> AsyncIterator[list[WatchedEvent]]:
        """Pages of the events stamped at or after ``since`` that the API's own filters pass,
        oldest first; the end of iteration is the current end of the log."""
        ...


async def read_window(source: EventSource, window: WatchWindow, event_filter: EventFilter) -> SourceRead:
    """Read ``source`` from the window's horizon; the matching events and what the read covered.

    The page cap only stops a read whose events came in time order and that got past the horizon,
    so each capped read moves the horizon on (a burst larger than the cap, stamped within one
    second, is read on rather than re-read forever). Pages out of time order are read to the end:
    a capped read of them would not prove that the older, unread events were read.
    """
    found: list[WatchedEvent] = []
    last: float | None = None
    in_order = True
    pages = 0
    try:
        async for page in source.pages(window.read_from(), event_filter):
            pages += 1
            for event in page:
                in_order = in_order and (last is None or event.timestamp >= last)
                last = event.timestamp
                if event_filter.matches(event):
                    found.append(event)
            if pages >= MAX_PAGES_PER_READ and in_order and last is not None and last > window.horizon:
                return SourceRead(found, last)
    except PagingLoopError as err:
        log.warning("Mailgun event watch read stopped early (%s); the next poll reads on.", err)
        return SourceRead(found, last if in_order and last is not None else window.horizon)
    if not in_order:
        log.warning("Mailgun's %s pages came out of time order; read them all.", source.name)
    return SourceRead(found)


class EventsApiSource:
    """The Events API, read ascending from ``since`` with the filters Mailgun applies itself.

    Event names, tags and lists go to the server; ``severity`` too when only ``failed`` events
    are watched (with other types it would drop them: a complaint has no severity), else it is
    checked by :func:`read_window`, which checks every event against the filter again.
    """

    name = "events"

    def __init__(self, events: AsyncPageSource, domain: str) -> None:
        self.events = events
        self.domain = domain

    @staticmethod
    def query(since: float, event_filter: EventFilter) -> dict[str, Any]:
        filters: dict[str, str] = {}
        if event_filter.severity is not None and set(event_filter.events) == {"failed"}:
            filters["severity"] = event_filter.severity
        if event_filter.lists:
            filters["list"] = " OR ".join(event_filter.lists)
        return {
            "begin": since,
            "ascending": True,
            "limit": EVENTS_PAGE_LIMIT,
            "event": sorted(event_filter.events),
            "tags": " OR ".join(event_filter.tags) or None,
            "filters": filters,
        }

    async def pages(self, since: float, event_filter: EventFilter) -> AsyncIterator[list[WatchedEvent]]:
        page = await self.events.first_page(self.domain, **self.query(since, event_filter))
        fetched = {page.url}
        while True:
            yield _converted(page.items)
            # Only an empty page ends the log: Mailgun may return a short page mid-way.
            if not page.items or not page.next_url:
                return
            if page.next_url in fetched:
                raise PagingLoopError(f"the Events API repeated the paging link {page.next_url}")
            fetched.add(page.next_url)
            page = await self.events.read_page(page.next_url)


class LogsApiSource:
    """The Logs API, oldest first from ``since``, filtered on the domain (it is account-wide), the
    event names and the tags; severity is checked by :func:`read_window`. It has no mailing-list
    filter, so a watch with ``lists`` cannot read it."""

    name = "logs"

    def __init__(self, logs: AsyncLogs, domain: str) -> None:
        self.logs = logs
        self.domain = domain

    async def pages(self, since: float, event_filter: EventFilter) -> AsyncIterator[list[WatchedEvent]]:
        async for page in self.logs.pages(**logs_query(self.domain, event_filter, start=since)):
            yield _converted(page.items)


def logs_query(domain: str, event_filter: EventFilter, **window: Any) -> dict[str, Any]:
    """Keyword arguments of ``logs.pages`` (sync or async) for a watch's filter on one domain."""
    if event_filter.lists:
        raise ValueError("The Logs API has no mailing-list filter: a watch with lists reads Events.")
    conditions: dict[str, list[str]] = {"domain": [domain]}
    if event_filter.tags:
        conditions["tag"] = list(event_filter.tags)
    return {
        **window,
        "events": sorted(event_filter.events),
        "filter": conditions,
        "sort": "timestamp:asc",
        "limit": LOGS_PAGE_LIMIT,
    }


def _converted(items: list[dict[str, Any]]) -> list[WatchedEvent]:
    events = [from_api_item(item) for item in items]
    return [event for event in events if event is not None]


def from_api_item(item: Mapping[str, Any]) -> WatchedEvent | None:
    """An Events API item, a Logs API item or a webhook's ``event-data`` as a :class:`WatchedEvent`
    (``None`` without an id, a name or a time)."""
    event_id, name = item.get("id"), item.get("event")
    if not isinstance(event_id, str) or not isinstance(name, str):
        return None
    stamp = item.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        moment = item_time(dict(item)) if isinstance(item.get("@timestamp"), str) else None
        if moment is None:
            return None
        stamp = moment.timestamp()
    headers = (item.get("message") or {}).get("headers") or {}
    tags = item.get("tags") or []
    return WatchedEvent(
        id=event_id,
        timestamp=float(stamp),
        event=name,
        recipient=str(item.get("recipient") or "").lower(),
        severity=item.get("severity") if isinstance(item.get("severity"), str) else None,
        reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
        tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
        message_id=headers.get("message-id") if isinstance(headers, Mapping) else None,
    )


SourceFactory = Callable[["AsyncMailgunClient", str], EventSource]
#: API name -> how to build its source from the async client and the watched domain.
SOURCES: dict[str, SourceFactory] = {
    "events": lambda client, domain: EventsApiSource(client.events, domain),
    "logs": lambda client, domain: LogsApiSource(client.logs, domain),
}
