"""A sliding window over the Logs API, for reading the same stream again and again (polling).

The Logs API promises no polling semantics for its page tokens (unlike the Events API, whose
``next`` link later returns newer events), and events may be indexed late. So each poll asks again
from a little before the newest event already seen, and drops the events already seen by id::

    window = LogsWindow(start=sent_at, overlap=timedelta(minutes=10))
    while waiting:
        for item in client.logs.iter(start=window.query_start(), events=["delivered", "failed"]):
            for event in window.accept([item]):
                count(event)                       # each event exactly once

Memory stays bounded: ids older than the window's start are forgotten (an event that old cannot
come back in a later read, which starts after it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_mailgun.client.analytics_query import as_datetime

DEFAULT_OVERLAP = timedelta(minutes=10)


def item_time(item: dict[str, Any]) -> datetime | None:
    """The ``@timestamp`` of a Logs item (``timestamp`` epoch seconds of an Events item) as UTC."""
    raw = item.get("@timestamp", item.get("timestamp"))
    if raw is None:
        return None
    try:
        return as_datetime(raw, "@timestamp")
    except ValueError:
        return None


class LogsWindow:
    """Remembers what was seen; says where the next read starts; filters out repeats.

    :param start: the earliest time of interest (the first read starts here).
    :param overlap: how far before the newest seen event a later read starts again, i.e. how late
        an event may be indexed and still be counted.
    """

    def __init__(self, start: datetime | float | str, overlap: timedelta = DEFAULT_OVERLAP) -> None:
        if overlap < timedelta(0):
            raise ValueError(f"overlap must not be negative, got {overlap!r}.")
        self.start = as_datetime(start, "start")
        self.overlap = overlap
        self.newest: datetime | None = None
        self._seen: dict[tuple[str, str], datetime] = {}
        self._prune_at = 1024

    def query_start(self) -> datetime:
        """Where the next read starts: ``overlap`` before the newest event seen, never before start."""
        if self.newest is None:
            return self.start
        return max(self.start, self.newest - self.overlap)

    def accept(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items not seen before, in the order given; remembers them."""
        fresh = []
        for item in items:
            moment = item_time(item) or datetime.now(timezone.utc)
            key = (str(item.get("id", "")), moment.isoformat())
            if key in self._seen:
                continue
            self._seen[key] = moment
            fresh.append(item)
            if self.newest is None or moment > self.newest:
                self.newest = moment
        self._forget_before(self.query_start())
        return fresh

    def seen_since(self, moment: datetime) -> int:
        """How many events stamped at ``moment`` or later were seen (and are still remembered)."""
        return sum(1 for when in self._seen.values() if when >= moment)

    def _forget_before(self, cutoff: datetime) -> None:
        if len(self._seen) < self._prune_at:
            return
        self._seen = {key: when for key, when in self._seen.items() if when >= cutoff}
        self._prune_at = max(1024, 2 * len(self._seen))

    def __len__(self) -> int:
        return len(self._seen)
