"""Reading a domain's events through the Logs API for a delivery wait (the Events API's successor).

The Logs API pages by token, and its spec promises nothing about reading a token again later, so
a wait cannot keep a link as it does with Events (:mod:`.polling`). It keeps two times instead:

* ``frontier``: the newest event time seen. Each check reads the log newest first, from now down
  to the frontier, and stops at the first page that holds nothing new (or an event older than the
  frontier). New events cost one request per 100; a check with nothing new costs one request.
* ``trusted``: every event stamped before it was read once it had settled (Mailgun's advice: 30
  minutes). Once a stretch after ``trusted`` has settled (a tenth of the settle time, or all of
  it up to the frontier), a check reads that stretch again, oldest first ("sweep"), so an event
  indexed late is still counted.

Events are de-duplicated by id over a sliding window (:class:`~airflow_provider_mailgun.client.
logs_window.LogsWindow`), and the tracker's state is a join, so nothing is counted twice whichever
stretch is read again. A first check (or one after a check that hit the page cap) reads oldest
first from where the last read stopped. Pure apart from the ``query(body)`` it is handed (the sync
or the async client's ``logs``)::

    scan = LogsScan(cursor, window, domain="mg.example.com", names=("delivered", "failed"),
                    begin=t0, now=time.time(), settle_seconds=1800)
    while not scan.done:
        tracker.ingest(scan.record(client.logs.query(scan.body)))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_mailgun._watch.sources import logs_query
from airflow_provider_mailgun._watch.window import EventFilter
from airflow_provider_mailgun.client.analytics_query import logs_request
from airflow_provider_mailgun.client.logs_window import LogsWindow, item_time
from airflow_provider_mailgun.client.paging import next_token_body, reply_items

#: The Logs API takes whole seconds; a read starts this much before the time it needs.
START_MARGIN = 1.0
#: How long ids are remembered behind the newest event (enough to tell a page of repeats).
DEDUP_WINDOW = timedelta(minutes=2)
#: A settled stretch is read again once it spans this share of the settle time (or is the last).
SWEEP_FRACTION = 0.1
ASCENDING, DESCENDING = "timestamp:asc", "timestamp:desc"


@dataclass
class LogsCursor:
    """Where the next Logs check reads (see the module docstring); plain JSON via :meth:`to_dict`.

    :param trusted: events before this time were read after they had settled.
    :param frontier: the newest event time seen (``None`` before the first read).
    :param catching_up: the last read stopped at the page cap: read on oldest first.
    """

    trusted: float
    frontier: float | None = None
    catching_up: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"trusted": self.trusted, "frontier": self.frontier, "catching_up": self.catching_up}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, begin: float) -> LogsCursor:
        data = data or {}
        frontier = data.get("frontier")
        return cls(
            float(data.get("trusted", begin)),
            None if frontier is None else float(frontier),
            bool(data.get("catching_up", False)),
        )


def new_window(begin: float) -> LogsWindow:
    """The id window a wait keeps between checks (not serialised: a resumed wait re-reads)."""
    return LogsWindow(start=begin, overlap=DEDUP_WINDOW)


def _moves_on(start: float, newest: float) -> bool:
    """Whether a read stopped at ``newest`` lets the next one start later than this one did.

    Reads start on whole seconds; a burst of more events than the page cap within one second would
    be read again from the same start forever, so such a read goes on past the cap instead.
    """
    return math.floor(newest - START_MARGIN) > math.floor(start - START_MARGIN)


def _stamp(item: Mapping[str, Any]) -> float:
    moment = item_time(dict(item))
    return moment.timestamp() if moment is not None else math.inf


class LogsScan:
    """One check's requests: POST :attr:`body`, hand the reply to :meth:`record`, until :attr:`done`.

    :param cursor: updated in place.
    :param window: ids seen lately (drops repeats).
    :param names: event types to read.
    :param now: the wall-clock epoch of this check.
    :param max_pages: requests one check makes at most; the next check reads on.
    """

    def __init__(
        self,
        cursor: LogsCursor,
        window: LogsWindow,
        *,
        domain: str,
        names: Sequence[str],
        now: float,
        settle_seconds: float,
        max_pages: int,
    ) -> None:
        self.cursor, self.window = cursor, window
        self.domain, self.filter = domain, EventFilter(tuple(names))
        self.now, self.max_pages = now, max_pages
        self.horizon = now - settle_seconds
        self.sweep_step = settle_seconds * SWEEP_FRACTION
        self.pages = 0
        self.done = False
        self.body: dict[str, Any] = {}
        self._mode = ""
        self._until: float | None = None  # the sweep's end
        self._catch_from = cursor.trusted  # where a catch-up read began
        self._floor = -math.inf  # a head read stops below this (the frontier when it began)
        self._newest = cursor.frontier if cursor.frontier is not None else -math.inf
        self._next_phase(first=True)

    def _request(
        self, start: float, *, end: float | None = None, sort: str = ASCENDING, totals: bool = False
    ) -> dict[str, Any]:
        start = min(start, self.now)  # never ask for a start in the future (clocks differ)
        window: dict[str, Any] = {"start": start}
        if end is not None:
            window["end"] = max(end, start + 2 * START_MARGIN)
        if totals:
            window["include_totals"] = True
        return logs_request(**{**logs_query(self.domain, self.filter, **window), "sort": sort})

    def _next_phase(self, *, first: bool = False) -> None:
        cursor = self.cursor
        if first and (cursor.frontier is None or cursor.catching_up):
            self._mode = "catch-up"
            self._catch_from = cursor.trusted if cursor.frontier is None else cursor.frontier
            self.body = self._request(self._catch_from - START_MARGIN)
            return
        if first and cursor.frontier is not None and self._sweep_due():
            self._mode = "sweep"
            self._until = min(self.horizon, cursor.frontier)
            self.body = self._request(cursor.trusted - START_MARGIN, end=self._until)
            return
        if cursor.frontier is None:  # nothing at all yet: the catch-up read was the head read
            self.done = True
            return
        self._mode = "head"
        self._floor = cursor.frontier
        # With the total: a page of events already seen proves nothing more is new only if the
        # window has seen as many as the read holds (ties at one millisecond come in any order).
        self.body = self._request(cursor.frontier - START_MARGIN, sort=DESCENDING, totals=True)

    def _sweep_due(self) -> bool:
        """A settled stretch worth a request: a tenth of the settle time, or the last of it."""
        cursor = self.cursor
        if cursor.frontier is None:
            return False
        until = min(self.horizon, cursor.frontier)
        return until - cursor.trusted >= self.sweep_step or (
            cursor.frontier <= self.horizon and cursor.trusted < cursor.frontier
        )

    def record(self, reply: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Take one reply to :attr:`body`; returns the events not seen before (to be ingested)."""
        self.pages += 1
        items = reply_items(reply)
        fresh = self.window.accept(items)
        stamps = [_stamp(item) for item in items]
        known = [stamp for stamp in stamps if math.isfinite(stamp)]
        if known:
            self._newest = max(self._newest, *known)
        following = next_token_body(self.body, reply)
        capped = self.pages >= self.max_pages
        if self._mode == "catch-up":
            self._record_catch_up(known, following, capped)
        elif self._mode == "sweep":
            self._record_sweep(known, following, capped)
        else:
            self._record_head(fresh, known, following, capped, _total(reply))
        return fresh

    def _record_catch_up(self, known: list[float], following: dict[str, Any] | None, capped: bool) -> None:
        cursor = self.cursor
        if known:
            cursor.frontier = self._newest
        if following is None:
            # Read to the end from the trusted time on: what had settled is now trusted too.
            if self._catch_from <= cursor.trusted:
                cursor.trusted = max(cursor.trusted, min(self.horizon, self._newest))
            cursor.catching_up = False
            self.done = True
        elif capped and _moves_on(self._catch_from, self._newest):
            cursor.catching_up, self.done = True, True
        else:
            self.body = following

    def _record_sweep(self, known: list[float], following: dict[str, Any] | None, capped: bool) -> None:
        cursor = self.cursor
        assert self._until is not None
        if following is None:
            cursor.trusted = self._until
            self._next_phase()
        elif capped and known and _moves_on(cursor.trusted, min(max(known), self._until)):
            # Oldest first: everything before the last event read is now trusted.
            cursor.trusted = min(max(known), self._until)
            self.done = True
        else:
            self.body = following

    def _unseen_in_head_read(self, total: int) -> bool:
        """Whether the head read holds more events than the window has seen in its time range."""
        start = parsedate_to_datetime(self.body["start"])  # whole seconds, as the API reads it
        return total > self.window.seen_since(start)

    def _record_head(
        self,
        fresh: list[dict[str, Any]],
        known: list[float],
        following: dict[str, Any] | None,
        capped: bool,
        total: int | None,
    ) -> None:
        cursor = self.cursor
        reached_floor = any(stamp < self._floor for stamp in known) or (
            not fresh and (total is None or not self._unseen_in_head_read(total))
        )
        if reached_floor or following is None:
            cursor.frontier = max(self._floor, self._newest)
            self.done = True
        elif capped:
            # Newest first, stopped before the frontier: read the gap oldest first next time.
            cursor.catching_up, self.done = True, True
        else:
            self.body = following


def _total(reply: Mapping[str, Any]) -> int | None:
    paging = reply.get("pagination")
    total = paging.get("total") if isinstance(paging, Mapping) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None
