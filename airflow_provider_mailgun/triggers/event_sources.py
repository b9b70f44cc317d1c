"""Where an event watch reads: a small interface, and the Events API behind it.

A source answers one question, "every event matching this filter stamped at or after ``since``",
in timestamp order, as :class:`~.watch_window.WatchedEvent` values, so the watch (window, batch,
cursor) does not care which Mailgun API it reads. Only the Events API
(``GET /v3/{domain}/events``) is built; a Logs API source (``POST /v1/analytics/logs``, time range
in the body, ``pagination.token`` paging, ``@timestamp`` ISO strings) plugs in by implementing
:class:`EventSource` and registering a factory in :data:`SOURCES`::

    source = SOURCES["events"](async_client, "mg.example.com")
    read = await source.read_since(window.read_from(), EventFilter(("complained",)))
    read.events, read.complete
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mailgun.triggers.watch_window import EventFilter, WatchedEvent

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.async_client import AsyncMailgunClient
    from airflow_provider_mailgun.sensors.event_polling import AsyncPageSource

EVENTS_PAGE_LIMIT = 300  # Mailgun's maximum page size for events
#: Pages one poll reads at most; a longer backlog is read over the next polls (the window's
#: horizon never passes an event that was not read).
MAX_PAGES_PER_READ = 100


@dataclass(frozen=True)
class SourceRead:
    """One read: the matching events, and whether it reached the current end of the log.

    :param events: matching events, oldest first.
    :param complete: False when the read stopped at the page cap.
    :param last_timestamp: timestamp of the last event read (matching or not), if any.
    """

    events: list[WatchedEvent]
    complete: bool = True
    last_timestamp: float | None = None


class EventSource(Protocol):
    """What a watch needs from a Mailgun API (see the module docstring)."""

    name: str

    async def read_since(self, since: float, event_filter: EventFilter) -> SourceRead: ...


class EventsApiSource:
    """The Events API, read ascending from ``since`` with the filters Mailgun applies itself.

    Event names and tags go to the server; ``severity`` too when only ``failed`` events are
    watched (with other types it would drop them: a complaint has no severity), else it is
    checked here. Every event is checked against the filter again before it is reported.
    """

    name = "events"

    def __init__(
        self,
        events: AsyncPageSource,
        domain: str,
        *,
        page_limit: int = EVENTS_PAGE_LIMIT,
        max_pages: int = MAX_PAGES_PER_READ,
    ) -> None:
        self.events = events
        self.domain = domain
        self.page_limit = page_limit
        self.max_pages = max_pages

    def query(self, since: float, event_filter: EventFilter) -> dict[str, Any]:
        filters: dict[str, str] = {}
        if event_filter.severity is not None and set(event_filter.events) == {"failed"}:
            filters["severity"] = event_filter.severity
        if event_filter.lists:
            filters["list"] = " OR ".join(event_filter.lists)
        return {
            "begin": since,
            "ascending": True,
            "limit": self.page_limit,
            "event": sorted(event_filter.events),
            "tags": " OR ".join(event_filter.tags) or None,
            "filters": filters,
        }

    async def read_since(self, since: float, event_filter: EventFilter) -> SourceRead:
        page = await self.events.first_page(self.domain, **self.query(since, event_filter))
        found: list[WatchedEvent] = []
        last: float | None = None
        fetched = {page.url}
        for pages in range(1, self.max_pages + 1):
            for item in page.items:
                event = from_events_item(item)
                if event is None:
                    continue
                last = event.timestamp
                if event_filter.matches(event):
                    found.append(event)
            link = page.next_url
            # Only an empty page ends the log: Mailgun may return a short page mid-way.
            if not page.items or not link or link in fetched:
                return SourceRead(found, True, last)
            if pages == self.max_pages:
                break
            fetched.add(link)
            page = await self.events.read_page(link)
        return SourceRead(found, False, last)


def from_events_item(item: Mapping[str, Any]) -> WatchedEvent | None:
    """An Events API item (or a webhook's ``event-data``) as a :class:`WatchedEvent`."""
    event_id, stamp, name = item.get("id"), item.get("timestamp"), item.get("event")
    if not isinstance(event_id, str) or not isinstance(name, str):
        return None
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
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
#: Source name (the trigger's ``source`` argument) -> how to build it from the async client.
SOURCES: dict[str, SourceFactory] = {
    "events": lambda client, domain: EventsApiSource(client.events, domain),
}
