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

The Logs API (the Events API's successor) is read with the same guarantees by
:mod:`.logs_scan`; ``source="auto"`` reads Events while it answers and Logs once Mailgun says it is
retired for the account (or the gateway refuses it), for the rest of the wait. Either way the
decision is the tracker's (:mod:`.state`). Pure apart from the APIs it is handed::

    wait = DeliveryWait(goal, domain="mg.example.com", begin=t0, settle_seconds=1800)
    decision = wait.check(hook.events, hook.logs)                      # poke mode
    decision = await wait.acheck(async_client.events, async_client.logs)  # trigger
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun._common.limits import DEFAULT_SETTLE_SECONDS
from airflow_provider_mailgun._delivery.logs_scan import LogsCursor, LogsScan, new_window
from airflow_provider_mailgun._delivery.sources import (
    EVENT_SOURCES,
    AsyncLogsSource,
    AsyncPageSource,
    LogsSource,
    PageSource,
    Request,
    acall,
    call,
    events_unavailable,
)
from airflow_provider_mailgun._delivery.state import Decision, DeliveryGoal, DeliveryTracker
from airflow_provider_mailgun.client.api.events import MAX_EVENTS_PAGE
from airflow_provider_mailgun.exceptions import MailgunError

# Pages one check reads at most (300,000 events); the next check carries on from the cursor, so a
# source that never runs out of pages cannot hold a check (or the triggerer's loop) forever.
MAX_PAGES_PER_CHECK = 1000
#: Ids without any event after the grace period looked up per check (one request each via Events).
MAX_LOOKUPS = 20
log = logging.getLogger(__name__)


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
    :param cursor: reading position in the Events API (the start when omitted).
    :param page_limit: events per page (Mailgun's maximum, 300, by default).
    :param source: ``"auto"`` (the Events API while it answers, then the Logs API for the rest of
        the wait), ``"events"`` or ``"logs"``.
    :param reading: the API being read now (``"events"`` or ``"logs"``; from ``source`` by default).
    :param logs_cursor: reading position in the Logs API (:mod:`.logs_scan`).
    :param missing_after: epoch seconds after which an id with no event at all is an error ("no
        accepted event"): it has had time to be indexed. ``None``: never.
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
        source: str = "auto",
        reading: str | None = None,
        logs_cursor: LogsCursor | None = None,
        missing_after: float | None = None,
    ) -> None:
        if source not in EVENT_SOURCES:
            raise ValueError(f"event_source must be one of {', '.join(EVENT_SOURCES)}, got {source!r}.")
        self.goal = goal
        self.domain = domain
        self.begin = float(begin)
        self.settle_seconds = float(settle_seconds)
        self.tracker = tracker or DeliveryTracker(goal)
        self.cursor = cursor or EventCursor()
        self.page_limit = page_limit
        self.source = source
        self.reading = reading or ("logs" if source == "logs" else "events")
        self.logs_cursor = logs_cursor or LogsCursor(trusted=self.begin)
        self.logs_window = new_window(self.begin)
        self.missing_after = missing_after
        self.pages_read = 0
        self._looked_up: set[str] = set()  # ids whose accepted event was looked for

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

    def check(
        self, events: PageSource, logs: LogsSource | None = None, *, now: float | None = None
    ) -> Decision:
        """Read what is new (and re-read what has just settled), then decide.

        :param events: the client's Events API (``hook.events``).
        :param logs: the client's Logs API (``hook.logs``), for ``source`` "logs" or "auto".
        """
        steps = self._steps(time.time() if now is None else now)
        request, decision = _advance(steps, None, None)
        while request is not None:
            try:
                reply, error = call(request, self.domain, events, logs), None
            except MailgunError as err:
                reply, error = None, err
            request, decision = _advance(steps, reply, error)
        assert decision is not None
        return decision

    async def acheck(
        self, events: AsyncPageSource, logs: AsyncLogsSource | None = None, *, now: float | None = None
    ) -> Decision:
        """:meth:`check` on an event loop (the async client's ``events`` and ``logs``)."""
        steps = self._steps(time.time() if now is None else now)
        request, decision = _advance(steps, None, None)
        while request is not None:
            try:
                reply, error = await acall(request, self.domain, events, logs), None
            except MailgunError as err:
                reply, error = None, err
            request, decision = _advance(steps, reply, error)
        assert decision is not None
        return decision

    # -- one check, as a sequence of requests (the same for the sync and the async client) --------

    def _steps(self, now: float) -> Generator[Request, Any, Decision]:
        yield from self._on_either(lambda: self._events_steps(now), lambda: self._logs_steps(now))
        missing = self._missing(now)
        if missing:
            # Before an id fails as never accepted, its accepted event is looked for once from the
            # start: accepted events are not read when every count is known, and one indexed late
            # behind the newest event seen is only read again once its stretch has settled.
            unchecked = [message_id for message_id in missing if message_id not in self._looked_up]
            unchecked = unchecked[:MAX_LOOKUPS]
            if unchecked:
                self._looked_up.update(unchecked)
                yield from self._on_either(
                    lambda: self._events_lookup(unchecked), lambda: self._logs_lookup(now)
                )
            missing = [message_id for message_id in self._missing(now) if message_id in self._looked_up]
        return self.tracker.decide(missing=missing)

    def _on_either(
        self,
        on_events: Callable[[], Generator[Request, Any, None]],
        on_logs: Callable[[], Generator[Request, Any, None]],
    ) -> Generator[Request, Any, None]:
        """Read the API of the moment; with ``source="auto"``, move to Logs for good once Events is gone."""
        if self.reading == "events":
            try:
                yield from on_events()
                return
            except MailgunError as err:
                if self.source != "auto" or not events_unavailable(err):
                    raise
                log.warning("The Events API does not answer (%s); reading the Logs API from now on.", err)
                self.reading = "logs"
        yield from on_logs()

    def _events_steps(self, now: float) -> Generator[Request, Any, None]:
        scan = EventScan(self.cursor, now=now, settle_seconds=self.settle_seconds, page_limit=self.page_limit)
        while not scan.done:
            page = yield ("first_page", self.query()) if scan.link is None else ("read_page", scan.link)
            self.tracker.ingest(page.items)
            scan.record(page.items, page.next_url)
            self.pages_read += 1

    def _logs_steps(self, now: float) -> Generator[Request, Any, None]:
        scan = LogsScan(
            self.logs_cursor,
            self.logs_window,
            domain=self.domain,
            names=self.goal.event_names(),
            now=now,
            settle_seconds=self.settle_seconds,
            max_pages=MAX_PAGES_PER_CHECK,
        )
        while not scan.done:
            reply = yield ("logs", scan.body)
            self.tracker.ingest(scan.record(reply))
            self.pages_read += 1

    def _missing(self, now: float) -> list[str]:
        if self.missing_after is None or now < self.missing_after:
            return []
        return [message_id for message_id in self.goal.message_ids if not self.tracker.has_events(message_id)]

    def _events_lookup(self, message_ids: list[str]) -> Generator[Request, Any, None]:
        query = {"begin": self.begin, "ascending": True, "event": ["accepted"], "limit": 1}
        for message_id in message_ids:
            page = yield ("first_page", {**query, "message_id": message_id})
            self.tracker.ingest(page.items)
            self.pages_read += 1

    def _logs_lookup(self, now: float) -> Generator[Request, Any, None]:
        # The Logs API has no message-id filter: read the domain's accepted events until all are found.
        scan = LogsScan(
            LogsCursor(trusted=self.begin),
            new_window(self.begin),
            domain=self.domain,
            names=("accepted",),
            now=now,
            settle_seconds=self.settle_seconds,
            max_pages=MAX_PAGES_PER_CHECK,
        )
        while not scan.done and self._missing(math.inf):
            reply = yield ("logs", scan.body)
            self.tracker.ingest(scan.record(reply))
            self.pages_read += 1

    def state(self, *, observations: bool = True) -> dict[str, Any]:
        """Plain JSON values the trigger can resume from: the API being read and where, and (with
        ``observations``) what was seen so far."""
        found: dict[str, Any] = {"reading": self.reading}
        if observations:
            found.update(
                tracker=self.tracker.to_dict(),
                cursor=self.cursor.to_dict(),
                logs_cursor=self.logs_cursor.to_dict(),
            )
        return found

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
        source: str = "auto",
        missing_after: float | None = None,
    ) -> DeliveryWait:
        """A wait continuing from :meth:`state` (or starting afresh when ``state`` is empty)."""
        state = state or {}
        reading = state.get("reading")
        return cls(
            goal,
            domain=domain,
            begin=begin,
            settle_seconds=settle_seconds,
            tracker=DeliveryTracker.from_dict(goal, state.get("tracker")),
            cursor=EventCursor.from_dict(state.get("cursor")),
            page_limit=page_limit,
            source=source,
            reading=reading if reading in ("events", "logs") else None,
            logs_cursor=LogsCursor.from_dict(state.get("logs_cursor"), begin)
            if state.get("logs_cursor")
            else None,
            missing_after=missing_after,
        )


def _advance(
    steps: Generator[Request, Any, Decision], reply: Any, error: MailgunError | None
) -> tuple[Request | None, Decision | None]:
    """Hand a check its last reply (or error); its next request, or its decision once it is done."""
    try:
        return (steps.send(reply) if error is None else steps.throw(error)), None
    except StopIteration as stop:
        return None, stop.value
