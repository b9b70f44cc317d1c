"""What an event watch has read: a time horizon plus the ids it reported after that horizon.

Mailgun indexes events out of order for a while (its advice: trust a stretch of the log only once
it is older than about 30 minutes). So a watch cannot keep a single "read up to here" mark: an
event stamped 10:00 may appear at 10:05, after a poll at 10:02 went past it. The window keeps:

* ``horizon``: every matching event stamped before it has been reported (or was before the watch
  started). Each poll reads every matching event stamped at or after it.
* ``seen``: id -> timestamp of the events reported that are stamped at or after the horizon, so a
  re-read reports none of them twice.

After each poll the horizon moves to ``now - settle_seconds`` (events older than that are trusted
to be indexed) and ids stamped before it are forgotten, so ``seen`` holds about one settle window
of events. Mailgun event ids are unique within a day, so an id counts as seen only with the same
timestamp. "Before" and "same" allow for ``SAME_TIME`` of rounding: the Logs API stamps events to
the millisecond, rounded down, and a watch may read one API and then the other. Pure (no I/O, no
Airflow)::

    window = WatchWindow.starting_at(time.time())
    fresh = window.take(events_read_from(window.read_from()), now=time.time(), settle_seconds=1800)
    store(window.to_state())              # plain JSON
    window = WatchWindow.from_state(load())
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mailgun._common.mailgun_names import EVENTS_API_TYPES

#: Event names a watch may ask for: those the Events API filters on.
EVENT_NAMES = frozenset(EVENTS_API_TYPES)
SEVERITIES = ("permanent", "temporary")
STATE_VERSION = 1
#: Two timestamps of one event differ by rounding only (the Logs API's are milliseconds rounded
#: down, the Events API's microseconds); another day's reuse of an id by far more. An event is
#: taken as at or after the horizon when either of its timestamps is.
SAME_TIME = 0.001
#: Pages are asked from a little before the horizon, so that rounding of the ``begin`` parameter
#: never drops an event stamped exactly at it (those before the horizon are skipped here).
READ_MARGIN = 1.0


@dataclass(frozen=True)
class WatchedEvent:
    """The fields of one Mailgun event a watch reports on, whatever API it came from."""

    id: str
    timestamp: float
    event: str
    recipient: str = ""
    severity: str | None = None
    reason: str | None = None
    tags: tuple[str, ...] = ()
    message_id: str | None = None


@dataclass(frozen=True)
class EventFilter:
    """Which events a watch reports: event names, and optionally severity and tags.

    ``severity`` applies to ``failed`` events only (a complaint has none), so "complaints and
    permanent failures" is ``EventFilter(("complained", "failed"), severity="permanent")``.
    ``tags`` matches an event carrying any of them. ``lists`` is handed to the API's ``list``
    filter (messages sent through those mailing lists); events carry no field to check it here.
    """

    events: tuple[str, ...]
    severity: str | None = None
    tags: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("Name at least one event type to watch, e.g. ('complained',).")
        unknown = sorted(set(self.events) - EVENT_NAMES)
        if unknown:
            raise ValueError(
                f"Unknown Mailgun event type(s) {', '.join(map(repr, unknown))}; "
                f"use {', '.join(sorted(EVENT_NAMES))}."
            )
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"severity must be 'permanent', 'temporary' or None, got {self.severity!r}.")
        if self.severity is not None and "failed" not in self.events:
            raise ValueError("severity only applies to 'failed' events: add 'failed' to the event types.")

    def matches(self, event: WatchedEvent) -> bool:
        if event.event not in self.events:
            return False
        if self.severity is not None and event.event == "failed" and event.severity != self.severity:
            return False
        return not self.tags or any(tag in event.tags for tag in self.tags)

    def describe(self) -> dict[str, Any]:
        """Plain JSON naming the filter (kept beside the cursor, shown in payloads)."""
        return {
            "events": sorted(self.events),
            "severity": self.severity,
            "tags": sorted(self.tags),
            "lists": sorted(self.lists),
        }


@dataclass
class WatchWindow:
    """See the module docstring. ``seen`` maps event id -> timestamp."""

    horizon: float
    seen: dict[str, float] = field(default_factory=dict)

    @classmethod
    def starting_at(cls, start: float) -> WatchWindow:
        """A new watch: events stamped from ``start`` on are reported (not those a millisecond
        before, which the horizon's rounding allowance would let in)."""
        return cls(horizon=float(start) + SAME_TIME)

    def read_from(self) -> float:
        """Where the next read should begin (a little before the horizon; see ``READ_MARGIN``)."""
        return self.horizon - READ_MARGIN

    def take(
        self,
        events: Iterable[WatchedEvent],
        *,
        now: float,
        settle_seconds: float,
        read_until: float | None = None,
    ) -> list[WatchedEvent]:
        """Record a read of every matching event since :meth:`read_from`; return the new ones.

        :param events: what the read returned (any order, duplicates allowed).
        :param now: when the read finished (our clock).
        :param settle_seconds: age after which the log is trusted to be complete.
        :param read_until: timestamp of the last event read, when the read stopped before the end
            of the log (a page cap): the horizon then never passes what was not read.
        """
        fresh: list[WatchedEvent] = []
        for event in sorted(events, key=lambda item: item.timestamp):
            if event.timestamp < self.horizon - SAME_TIME:
                continue
            known = self.seen.get(event.id)
            if known is not None and abs(known - event.timestamp) < SAME_TIME:
                continue
            self.seen[event.id] = event.timestamp
            fresh.append(event)
        trusted = now - settle_seconds
        if read_until is not None:
            trusted = min(trusted, read_until)
        if trusted > self.horizon:
            self.horizon = trusted
            self.seen = _after(self.seen, trusted)
        return fresh

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "horizon": self.horizon, "seen": dict(self.seen)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WatchWindow:
        """The window kept by :meth:`to_state`; a ``ValueError`` for anything else."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise ValueError("not a watch window state of this version")
        horizon = _finite(state.get("horizon"))
        seen_raw = state.get("seen", {})
        if not isinstance(seen_raw, Mapping):
            raise ValueError("the seen ids are not a mapping")
        seen = {str(key): _finite(ts) for key, ts in seen_raw.items()}
        return cls(horizon=horizon, seen=_after(seen, horizon))

    @classmethod
    def merged(cls, windows: Sequence[WatchWindow]) -> WatchWindow:
        """One window from several copies (the same cursor kept on several assets).

        The furthest horizon wins; the ids any copy saw after it are all kept, so nothing a copy
        reported is reported again.
        """
        if not windows:
            raise ValueError("nothing to merge")
        horizon = max(window.horizon for window in windows)
        seen: dict[str, float] = {}
        for window in windows:
            seen.update(_after(window.seen, horizon))
        return cls(horizon=horizon, seen=seen)


def _after(seen: Mapping[str, float], horizon: float) -> dict[str, float]:
    """The ids a window must keep at ``horizon``: those a read may still return (see ``take``)."""
    return {key: ts for key, ts in seen.items() if ts >= horizon - SAME_TIME}


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a finite timestamp: {value!r}")
    return float(value)
