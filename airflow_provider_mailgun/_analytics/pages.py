"""Where exported events come from: the Logs API, or the Events API when Logs cannot be reached.

``source="auto"`` reads Logs and falls back to Events, per domain, when the first Logs request
shows the API is not there for this connection (a gateway that does not forward v1 paths, a 404
or a 410); ``"logs"`` and ``"events"`` use one source only. The fallback is decided before any
row is written, so one object never mixes sources.

Pages are read one step ahead of the writer on a helper thread (at most ``depth`` pages
waiting), so the next request is in flight while the previous page is compressed; memory stays
that of a few pages::

    source, pages = export_pages(client, plan, default_domain="mg.example.com")
    for rows in pages: ...        # lists of rows in the Logs shape, inside the interval
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from airflow_provider_mailgun._analytics.plan import ExportPlan
from airflow_provider_mailgun._analytics.rows import from_events_api
from airflow_provider_mailgun.exceptions import (
    MailgunNotFoundError,
    MailgunQueryError,
    MailgunRetiredAPIError,
    MatonGatewayError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A first Logs request failing with one of these means "no Logs API here": use Events.
LOGS_UNAVAILABLE = (MatonGatewayError, MailgunRetiredAPIError, MailgunNotFoundError)
READ_AHEAD = 2


def export_pages(
    client: Any, plan: ExportPlan, *, default_domain: str | None = None
) -> tuple[str, Iterator[list[dict[str, Any]]]]:
    """``(source, pages)``: lists of rows in the Logs shape, in time order, inside the interval."""
    if plan.source != "events":
        pages = client.logs.pages(**plan.logs_query())
        try:
            first = next(pages, None)
        except LOGS_UNAVAILABLE as err:
            if plan.source == "logs":
                raise
            log.warning("The Logs API is not available (%s); reading the Events API instead.", err)
        else:
            rest = read_ahead(pages) if first is not None else iter(())
            keeps = plan.keeps
            return "logs", ([row for row in page.items if keeps(row)] for page in _chain(first, rest))
    plan.check_events_api()
    domains = plan.domains or ((default_domain.lower(),) if default_domain else ())
    if not domains:
        raise MailgunQueryError(
            "The Events API is read one domain at a time: give domains, or set the connection's "
            "default_domain."
        )
    streams = [_domain_rows(client, domain, plan) for domain in domains]
    merged = heapq.merge(*streams, key=lambda row: str(row.get("@timestamp", "")))
    return "events", _batched(row for row in merged if plan.keeps(row))


def _batched(rows: Iterator[dict[str, Any]], size: int = 300) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _domain_rows(client: Any, domain: str, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    for page in read_ahead(client.events.pages(domain, **plan.events_query())):
        for event in page.items:
            yield from_events_api(event, domain)


def _chain(first: Any, rest: Iterable[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def read_ahead(source: Iterator[T], depth: int = READ_AHEAD) -> Iterator[T]:
    """Iterate ``source`` on a helper thread, at most ``depth`` items ahead; errors re-raised here."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(_Failure(exc))

    worker = threading.Thread(target=produce, name="mailgun-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
