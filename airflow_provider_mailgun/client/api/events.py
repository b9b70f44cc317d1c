"""Events: ``GET /v3/{domain}/events``, paged with opaque tokens in the path.

::

    for event in client.events.iter("mg.example.com", event="failed", ascending=True, begin=t0):
        print(event["recipient"], event["delivery-status"]["code"])

    page = client.events.read_page(saved_next_url)   # polling: re-read a kept link for new events
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_mailgun.client.api.base import Resource
from airflow_provider_mailgun.client.paging import Page, cursor_pages, read_page
from airflow_provider_mailgun.client.urls import segment, strip_message_id

MAX_EVENTS_PAGE = 300
TimeLike = datetime | float | int | str


def events_query(
    *,
    begin: TimeLike | None = None,
    end: TimeLike | None = None,
    ascending: bool | None = None,
    limit: int = MAX_EVENTS_PAGE,
    event: str | Sequence[str] | None = None,
    message_id: str | None = None,
    recipient: str | None = None,
    tags: str | None = None,
    filters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Query parameters for the first events page (shared with the async client)."""
    if not 1 <= limit <= MAX_EVENTS_PAGE:
        raise ValueError(f"Events page limit must be 1..{MAX_EVENTS_PAGE}, got {limit}.")
    query: dict[str, Any] = {"limit": limit, **(filters or {})}
    if begin is not None:
        query["begin"] = _epoch(begin)
    if end is not None:
        query["end"] = _epoch(end)
    if ascending is not None:
        query["ascending"] = "yes" if ascending else "no"
    if event:
        query["event"] = event if isinstance(event, str) else " OR ".join(event)
    if message_id:
        query["message-id"] = strip_message_id(message_id)
    if recipient:
        query["recipient"] = recipient
    if tags:
        query["tags"] = tags
    return query


def _epoch(value: TimeLike) -> str:
    if isinstance(value, datetime):
        return f"{value.timestamp():.6f}"
    if isinstance(value, int | float):
        return f"{float(value):.6f}"
    return value


class Events(Resource):
    def pages(self, domain: str, **query: Any) -> Iterator[Page]:
        """Non-empty pages of events; keyword arguments as :func:`events_query`."""
        return cursor_pages(self._request, self._path(domain), events_query(**query))

    def iter(self, domain: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Every event matching the query, lazily."""
        for page in self.pages(domain, **query):
            yield from page.items

    def first_page(self, domain: str, **query: Any) -> Page:
        """The first page, even when empty (its ``next_url`` is where polling continues)."""
        return read_page(self._request, self._path(domain), events_query(**query))

    def read_page(self, url: str) -> Page:
        """Re-read a page link kept from an earlier call; empty until new events arrive."""
        return read_page(self._request, url)

    @staticmethod
    def _path(domain: str) -> str:
        return f"/v3/{segment(domain, 'domain')}/events"
