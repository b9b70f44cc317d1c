"""Reading a domain's events incrementally, with Mailgun's polling advice, for a delivery wait.

Mailgun indexes events out of order for a while: a page whose newest event is recent may still get
events back-filled into it. Its advice is to trust a page only once its newest event is older than a
threshold (30 minutes) and to re-read the same link until then. A sensor cannot wait 30 minutes to
see a delivery, so the cursor keeps two links:

* ``frontier``: the link after the last page read at all. Each check reads from here, so new events
  cost one page per 300 and a check with nothing new costs one request. Decisions use every event
  read, trusted or not.
* ``trusted``: the link after the last page read once it had settled. Once the page after it has
  settled (``gate``), the next check re-reads from here ("sweep") to pick up back-filled events,
  advancing over settled pages. So every region of the event log is read at most about twice, and
  an event indexed late is still counted; the tracker's state is a join, so nothing counts twice.

Pure apart from the page source it is handed (the sync or the async client's events)::

    wait = DeliveryWait(goal, domain="mg.example.com", begin=t0, settle_seconds=1800)
    decision = wait.check(hook.events)                 # poke mode
    decision = await wait.acheck(async_client.events)  # trigger
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mailgun._delivery.state import Decision, DeliveryGoal, DeliveryTracker
from airflow_provider_mailgun.client.api.events import MAX_EVENTS_PAGE

if TYPE_CHECKING:
    from airflow_provider_mailgun.client.paging import Page

DEFAULT_SETTLE_SECONDS = 30 * 60.0  # Mailgun's advice for when a page of events can be trusted
# Pages one check reads at most (300,000 events); the next check carries on from the cursor, so a
# source that never runs out of pages cannot hold a check (or the triggerer's loop) forever.
MAX_PAGES_PER_CHECK = 1000


class PageSource(Protocol):
    """The client's events API: ``hook.events`` (what :meth:`DeliveryWait.check` reads)."""

    def first_page(self, domain: str, **query: Any) -> Page: ...

    def read_page(self, url: str) -> Page: ...


class AsyncPageSource(Protocol):
    """The async client's events API (what :meth:`DeliveryWait.acheck` reads)."""

    async def first_page(self, domain: str, **query: Any) -> Page: ...

    async def read_page(self, url: str) -> Page: ...


@dataclass
class EventCursor:
    """Where the next check reads; see the module docstring. ``None`` links mean the first-page query.

    :param trusted: link after the last page read once it had settled.
    :param frontier: link after the last page read.
    :param gate: newest timestamp on the page after ``trusted`` when last read; ``None`` exactly when
        ``trusted`` and ``frontier`` are the same place (nothing unsettled in between).
    """

    trusted: str | None = None
    frontier: str | None = None
    gate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trusted": self.trusted, "frontier": self.frontier, "gate": self.gate}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EventCursor:
        data = data or {}
        gate = data.get("gate")
        return cls(data.get("trusted"), data.get("frontier"), None if gate is None else float(gate))


class EventScan:
    """One check's walk over pages: ask :attr:`link`, read it, :meth:`record` it, until :attr:`done`.

    :param cursor: updated in place as pages are recorded.
    :param now: the wall-clock epoch of this check.
    :param settle_seconds: age after which a page's events are trusted to be complete.
    :param page_limit: the ``limit`` the pages were asked with (a shorter page is the current end).
    """

    def __init__(
        self, cursor: EventCursor, *, now: float, settle_seconds: float, page_limit: int = MAX_EVENTS_PAGE
    ) -> None:
        self.cursor = cursor
        self.horizon = now - settle_seconds
        self.page_limit = page_limit
        self.sweeping = cursor.gate is not None and cursor.gate <= self.horizon
        self.link = cursor.trusted if self.sweeping else cursor.frontier
        self.done = False
        self.pages = 0

    def record(self, items: Sequence[Mapping[str, Any]], next_url: str | None) -> None:
        """Move the cursor past a page just read from :attr:`link`."""
        self.pages += 1
        if self.sweeping:
            self._record_sweep(items, next_url)
        else:
            self._record_frontier(items, next_url)
        if self.pages >= MAX_PAGES_PER_CHECK:
            self.done = True

    def _settled(self, items: Sequence[Mapping[str, Any]]) -> tuple[bool, float]:
        newest = max((_timestamp(item) for item in items), default=math.inf)
        return newest <= self.horizon, newest

    def _record_sweep(self, items: Sequence[Mapping[str, Any]], next_url: str | None) -> None:
        cursor = self.cursor
        if not items:  # the sweep reached the end of the log: nothing unread, nothing unsettled
            cursor.frontier, cursor.gate, self.done = cursor.trusted, None, True
            return
        settled, newest = self._settled(items)
        if not settled:  # stop sweeping here; carry on from the frontier
            cursor.gate = newest
            self.sweeping, self.link = False, cursor.frontier
            return
        cursor.trusted = next_url or self.link
        if len(items) < self.page_limit or next_url in (None, self.link):
            cursor.frontier, cursor.gate, self.done = cursor.trusted, None, True
        elif cursor.trusted == cursor.frontier:  # caught up: read on as one settled front
            cursor.gate, self.sweeping, self.link = None, False, cursor.frontier
        else:
            self.link = cursor.trusted

    def _record_frontier(self, items: Sequence[Mapping[str, Any]], next_url: str | None) -> None:
        cursor = self.cursor
        if not items:  # nothing new: the next check re-reads this same link
            self.done = True
            return
        advance = next_url or self.link
        if cursor.gate is None:
            settled, newest = self._settled(items)
            if settled:
                cursor.trusted = advance
            else:
                cursor.gate = newest
        cursor.frontier = advance
        # A short page is the current end of the log; its next link is where new events will appear.
        if len(items) < self.page_limit or next_url in (None, self.link):
            self.done = True
        else:
            self.link = advance


def _timestamp(item: Mapping[str, Any]) -> float:
    value = item.get("timestamp")
    return float(value) if isinstance(value, int | float) else math.inf


class DeliveryWait:
    """A delivery wait's whole state: what it waits for, what it has seen, where it reads next.

    :param goal: ids, counts and thresholds.
    :param domain: the sending domain whose events are read.
    :param begin: epoch seconds to read events from (a margin before the send).
    :param settle_seconds: see the module docstring.
    :param tracker: observations so far (a fresh one when omitted).
    :param cursor: reading position (the start when omitted).
    :param page_limit: events per page (Mailgun's maximum, 300, by default).
    """

    def __init__(
        self,
        goal: DeliveryGoal,
        *,
        domain: str,
        begin: float,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        tracker: DeliveryTracker | None = None,
        cursor: EventCursor | None = None,
        page_limit: int = MAX_EVENTS_PAGE,
    ) -> None:
        self.goal = goal
        self.domain = domain
        self.begin = float(begin)
        self.settle_seconds = float(settle_seconds)
        self.tracker = tracker or DeliveryTracker(goal)
        self.cursor = cursor or EventCursor()
        self.page_limit = page_limit
        self.pages_read = 0

    def query(self) -> dict[str, Any]:
        """The first-page query: ascending from ``begin``, only the event types that matter.

        One id is filtered by ``message-id``; several are read domain-wide, so requests grow with
        the events, not with the number of ids.
        """
        query: dict[str, Any] = {
            "begin": self.begin,
            "ascending": True,
            "event": list(self.goal.event_names()),
            "limit": self.page_limit,
        }
        if len(self.goal.message_ids) == 1:
            query["message_id"] = self.goal.message_ids[0]
        return query

    def _scan(self, now: float | None) -> EventScan:
        return EventScan(
            self.cursor,
            now=time.time() if now is None else now,
            settle_seconds=self.settle_seconds,
            page_limit=self.page_limit,
        )

    def check(self, source: PageSource, *, now: float | None = None) -> Decision:
        """Read what is new (and re-read what has just settled), then decide."""
        scan = self._scan(now)
        while not scan.done:
            if scan.link is None:
                page = source.first_page(self.domain, **self.query())
            else:
                page = source.read_page(scan.link)
            self.tracker.ingest(page.items)
            scan.record(page.items, page.next_url)
        self.pages_read += scan.pages
        return self.tracker.decide()

    async def acheck(self, source: AsyncPageSource, *, now: float | None = None) -> Decision:
        """:meth:`check` on an event loop."""
        scan = self._scan(now)
        while not scan.done:
            if scan.link is None:
                page = await source.first_page(self.domain, **self.query())
            else:
                page = await source.read_page(scan.link)
            self.tracker.ingest(page.items)
            scan.record(page.items, page.next_url)
        self.pages_read += scan.pages
        return self.tracker.decide()

    def state(self) -> dict[str, Any]:
        """Tracker and cursor as plain JSON values (the trigger can resume from them)."""
        return {"tracker": self.tracker.to_dict(), "cursor": self.cursor.to_dict()}

    @classmethod
    def resume(
        cls,
        goal: DeliveryGoal,
        state: Mapping[str, Any] | None,
        *,
        domain: str,
        begin: float,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        page_limit: int = MAX_EVENTS_PAGE,
    ) -> DeliveryWait:
        """A wait continuing from :meth:`state` (or starting afresh when ``state`` is empty)."""
        state = state or {}
        return cls(
            goal,
            domain=domain,
            begin=begin,
            settle_seconds=settle_seconds,
            tracker=DeliveryTracker.from_dict(goal, state.get("tracker")),
            cursor=EventCursor.from_dict(state.get("cursor")),
            page_limit=page_limit,
        )
