"""What one export or report covers, checked before any request, and the queries it makes.

::

    plan = ExportPlan.build(start=interval_start, end=interval_end, events=["delivered", "opened"],
                            tags=["newsletter"], domains=["mg.example.com"])
    plan.logs_query()              # keyword arguments of client.logs.pages(...)
    plan.events_query()            # keyword arguments of client.events.pages(domain, ...)
    plan.keeps(row)                # the exact interval and filters, applied to each row

The interval is half-open, ``[start, end)``, so consecutive data intervals never share an event.
The APIs take whole seconds; the plan asks for a window covering the interval and :meth:`keeps`
cuts it to the exact edges on each row's millisecond ``@timestamp``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from airflow_provider_mailgun._common.mailgun_names import EVENTS_API_TYPES, LOG_EVENTS
from airflow_provider_mailgun.client.analytics_query import as_datetime, window
from airflow_provider_mailgun.exceptions import MailgunQueryError

SOURCES = ("auto", "logs", "events")


def iso_ms(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000Z``: the Logs ``@timestamp`` format, milliseconds rounded down."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _names(values: Any, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)
    cleaned = [str(v).strip() for v in items]
    if any(not v for v in cleaned):
        raise MailgunQueryError(f"Empty {what} in {items!r}.")
    return tuple(dict.fromkeys(cleaned))


@dataclass(frozen=True)
class ExportPlan:
    """A validated export: the interval, the filters, and where events are read from."""

    start: datetime
    end: datetime
    events: tuple[str, ...]
    tags: tuple[str, ...]
    domains: tuple[str, ...]
    source: str = "auto"

    @classmethod
    def build(
        cls,
        *,
        start: Any,
        end: Any,
        events: Iterable[str] | str | None = None,
        tags: Iterable[str] | str | None = None,
        domains: Iterable[str] | str | None = None,
        source: str = "auto",
        now: datetime | None = None,
    ) -> ExportPlan:
        """Check everything that can be checked before a request; raise ``MailgunQueryError``."""
        if start is None or end is None:
            raise MailgunQueryError(
                "The export needs a start and an end (the data interval); with a timetable whose "
                "runs have an empty interval, use one with intervals, e.g. "
                "CronTriggerTimetable('0 0 * * *', timezone='UTC', interval=timedelta(days=1))."
            )
        begin, finish = window(start, end, now=now)
        assert begin is not None
        assert finish is not None
        chosen = _names(events, "event type")
        unknown = [e for e in chosen if e not in LOG_EVENTS]
        if unknown:
            raise MailgunQueryError(
                f"Unknown event type(s) {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(LOG_EVENTS)}."
            )
        if source not in SOURCES:
            raise MailgunQueryError(f"source must be one of {', '.join(SOURCES)}, got {source!r}.")
        plan = cls(
            begin,
            finish,
            chosen,
            _names(tags, "tag"),
            tuple(d.lower() for d in _names(domains, "domain")),
            source,
        )
        if source == "events":
            plan.check_events_api()
        return plan

    def check_events_api(self) -> None:
        """The Events API cannot express every Logs event type: refuse what it would silently drop."""
        missing = [e for e in self.events if e not in EVENTS_API_TYPES]
        if missing:
            raise MailgunQueryError(
                f"The Events API has no event type(s) {', '.join(missing)}; read them from Logs."
            )

    @cached_property
    def start_iso(self) -> str:
        return iso_ms(self.start)

    @cached_property
    def end_iso(self) -> str:
        return iso_ms(self.end)

    def logs_query(self) -> dict[str, Any]:
        """Keyword arguments of ``client.logs.pages``: oldest first, 100 a page."""
        query: dict[str, Any] = {"start": self.start, "end": self.end, "sort": "timestamp:asc", "limit": 100}
        if self.events:
            query["events"] = list(self.events)
        conditions = shorthand_filter(self.domains, self.tags)
        if conditions:
            query["filter"] = conditions
        return query

    def events_query(self) -> dict[str, Any]:
        """Keyword arguments of ``client.events.pages(domain, ...)``: ascending, 300 a page."""
        query: dict[str, Any] = {
            "begin": math.floor(self.start.timestamp()),
            "end": math.ceil(self.end.timestamp()),
            "ascending": True,
        }
        if self.events:
            query["event"] = list(self.events)
        if self.tags:
            query["tags"] = " OR ".join(self.tags)
        return query

    def keeps(self, row: dict[str, Any]) -> bool:
        """Whether a row (Logs shape) is inside ``[start, end)`` and passes the filters."""
        moment = row.get("@timestamp")
        if not isinstance(moment, str) or not self.start_iso <= moment < self.end_iso:
            return False
        if self.events and row.get("event") not in self.events:
            return False
        if self.tags and not {str(t).lower() for t in row.get("tags") or ()} & {t.lower() for t in self.tags}:
            return False
        if self.domains:
            domain = row.get("domain")
            name = domain.get("name") if isinstance(domain, dict) else domain
            if str(name or "").lower() not in self.domains:
                return False
        return True


@dataclass(frozen=True)
class ReportPlan:
    """Metrics per tag and per day for an interval (see :mod:`.report`)."""

    start: datetime
    end: datetime
    tags: tuple[str, ...]
    domains: tuple[str, ...]

    @classmethod
    def build(
        cls, *, start: Any, end: Any, tags: Any = None, domains: Any = None, now: datetime | None = None
    ) -> ReportPlan:
        if start is None or end is None:
            raise MailgunQueryError("The report needs a start and an end (the data interval).")
        begin, finish = window(as_datetime(start, "start"), as_datetime(end, "end"), now=now)
        assert begin is not None
        assert finish is not None
        return cls(begin, finish, _names(tags, "tag"), tuple(d.lower() for d in _names(domains, "domain")))


def shorthand_filter(domains: tuple[str, ...], tags: tuple[str, ...]) -> dict[str, list[str]]:
    """The API filter (shorthand form) for these domains and tags; empty when neither is given."""
    conditions: dict[str, list[str]] = {}
    if domains:
        conditions["domain"] = list(domains)
    if tags:
        conditions["tag"] = list(tags)
    return conditions
