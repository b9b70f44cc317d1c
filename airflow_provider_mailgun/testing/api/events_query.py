"""Events API queries: parameter rules, opaque page tokens and page selection.

A page token (the last path segment of ``/v3/{domain}/events/{token}``) carries the original
filters, direction, time range, limit and a pivot *position* in the domain's event log. Positions
never move (logs are append-only), so keeping the last ``next`` URL and re-requesting it later
returns exactly the events that arrived since - the polling pattern Mailgun recommends.

Example::

    query = parse_params({"ascending": "yes", "event": "failed OR delivered"})
    page = select_page(store, "mg.example.com", query, "f", 0)
    page.items, page.next_pivot
"""

from __future__ import annotations

import base64
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun.testing.model.events import KIND_NAMES, STATUS, DomainEvents, EventStore
from airflow_provider_mailgun.testing.util import ApiError, is_yes, parse_date

MAX_LIMIT = 300
DEFAULT_LIMIT = 100
FILTERS = ("event", "recipient", "message-id", "tags", "severity", "from", "to", "subject", "list")
_OR = re.compile(r"\s+OR\s+")

Terms = list[tuple[bool, str]]  # (negated, value)


class QueryError(ApiError, ValueError):
    """Invalid Events API parameters (answered with 400)."""


@dataclass(slots=True)
class EventQuery:
    ascending: bool
    begin: float | None
    end: float | None
    limit: int
    filters: dict[str, str]

    def token(self, kind: str, pivot: int) -> str:
        raw: dict[str, Any] = {"a": self.ascending, "b": self.begin, "e": self.end, "l": self.limit}
        raw.update({"f": self.filters, "k": kind, "p": pivot})
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> tuple[EventQuery, str, int]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            begin, end = raw["b"], raw["e"]
            filters = {str(k): str(v) for k, v in dict(raw["f"]).items() if k in FILTERS}
            query = cls(bool(raw["a"]), begin, end, int(raw["l"]), filters)
            kind, pivot = str(raw["k"]), int(raw["p"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise QueryError("Invalid page token") from exc
        times_ok = all(_is_time(t) for t in (begin, end))
        if kind not in ("f", "n", "p", "l") or not times_ok or not 1 <= query.limit <= MAX_LIMIT:
            raise QueryError("Invalid page token")
        return query, kind, pivot


def _is_time(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def parse_params(params: Mapping[str, str]) -> EventQuery:
    """Apply Mailgun's rules: ``limit`` <= 300; ``end`` or ``ascending`` with ``begin``; agreement."""
    raw_limit = params.get("limit")
    try:
        limit = int(raw_limit) if raw_limit not in (None, "") else DEFAULT_LIMIT
    except ValueError as exc:
        raise QueryError("Invalid value for 'limit': must be an integer") from exc
    if limit < 1 or limit > MAX_LIMIT:
        raise QueryError(f"Invalid value for 'limit': must be between 1 and {MAX_LIMIT}")
    begin = _time(params, "begin")
    end = _time(params, "end")
    asc_raw = params.get("ascending")
    if asc_raw not in (None, "") and asc_raw.lower() not in ("yes", "no", "true", "false"):
        raise QueryError("Invalid value for 'ascending': must be 'yes' or 'no'")
    ascending = is_yes(asc_raw) if asc_raw else None
    if begin is not None and end is not None:
        natural = begin <= end
        if ascending is not None and ascending != natural:
            raise QueryError("Direction of the time range contradicts the 'ascending' parameter")
        ascending = natural
    elif begin is not None and ascending is None:
        raise QueryError("Either 'end' or 'ascending' must be specified together with 'begin'")
    filters = {k: params[k] for k in FILTERS if params.get(k)}
    return EventQuery(bool(ascending), begin, end, limit, filters)


def _time(params: Mapping[str, str], key: str) -> float | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    parsed = parse_date(value)
    if parsed is None:
        raise QueryError(f"Invalid time value for '{key}': {value}")
    return parsed


def _terms(expr: str) -> Terms:
    out = []
    for term in _OR.split(expr.strip()):
        negated = term.startswith("NOT ")
        value = term[4:].strip() if negated else term.strip()
        out.append((negated, value.strip('"')))
    return out


@dataclass(slots=True)
class Page:
    items: list[int]
    next_pivot: int
    previous_pivot: int


def select_page(store: EventStore, domain: str, query: EventQuery, kind: str, pivot: int) -> Page:
    """Positions of one page in display order plus the pivots of the next/previous pages."""
    log = store.domains.get(domain) or DomainEvents()
    n, ts = len(log), log.ts
    if query.ascending:
        lo = bisect_left(ts, query.begin) if query.begin is not None else 0
        hi = bisect_right(ts, query.end) if query.end is not None else n
    else:
        hi = bisect_right(ts, query.begin) if query.begin is not None else n
        lo = bisect_left(ts, query.end) if query.end is not None else 0
    candidates, check = _plan(store, log, query.filters)
    if log.hidden:
        check = _visible_only(log.hidden, check)
    walker = _Walker(candidates, check, query.limit)
    asc = query.ascending
    boundary = {
        "f": lo if asc else hi,
        "n": max(pivot, lo) if asc else min(pivot, hi),
        "p": min(pivot, hi) if asc else max(pivot, lo),
        "l": hi if asc else lo,
    }[kind]
    forward_kinds = ("f", "n") if asc else ("p", "l")
    items = walker.forward(boundary, hi) if kind in forward_kinds else walker.backward(boundary, lo)
    if kind in ("p", "l"):
        items.reverse()
    if asc:
        next_pivot = items[-1] + 1 if items else boundary
        prev_pivot = items[0] if items else boundary
    else:
        next_pivot = items[-1] if items else boundary
        prev_pivot = items[0] + 1 if items else boundary
    return Page(items, next_pivot, prev_pivot)


def _visible_only(hidden: dict[int, float], check: Callable[[int], bool] | None) -> Callable[[int], bool]:
    """``check`` that also skips events indexed late and not yet shown."""
    if check is None:
        return lambda pos: pos not in hidden
    inner = check
    return lambda pos: pos not in hidden and inner(pos)


class _Walker:
    """Scans positions (all, or an index's sorted positions) collecting matches up to a limit."""

    def __init__(self, candidates: Any, check: Callable[[int], bool] | None, limit: int) -> None:
        self.candidates = candidates
        self.check = check
        self.limit = limit

    def forward(self, start: int, stop: int) -> list[int]:
        """Matches in [start, stop), ascending."""
        cand = self.candidates
        if cand is None:
            return self._collect(range(start, stop))
        # Index through the candidate array rather than slicing it: no copy per page.
        span = range(bisect_left(cand, start), bisect_left(cand, stop))
        return self._collect(cand[i] for i in span)

    def backward(self, start: int, low: int) -> list[int]:
        """Matches in [low, start), descending."""
        cand = self.candidates
        if cand is None:
            return self._collect(range(start - 1, low - 1, -1))
        span = range(bisect_left(cand, start) - 1, bisect_left(cand, low) - 1, -1)
        return self._collect(cand[i] for i in span)

    def _collect(self, seq: Any) -> list[int]:
        check, limit = self.check, self.limit
        out: list[int] = []
        for pos in seq:
            if check is None or check(pos):
                out.append(pos)
                if len(out) >= limit:
                    break
        return out


def _plan(store: EventStore, log: DomainEvents, filters: dict[str, str]) -> tuple[Any, Any]:
    """Pick the most selective index for the filters and build a predicate for the rest."""
    parsed = {k: _terms(v) for k, v in filters.items()}
    candidates = None
    used = None
    for key, index in (
        ("message-id", log.by_batch),
        ("recipient", log.by_recipient),
        ("event", log.by_event),
    ):
        terms = parsed.get(key)
        if terms is None or len(terms) != 1 or terms[0][0]:
            continue
        value = terms[0][1]
        if key == "message-id":
            batch = store.messages.by_message_id.get(value)
            candidates = log.positions(index, batch.seq if batch is not None else -1)
        else:
            candidates = log.positions(index, value.lower() if key == "recipient" else value)
        used = key
        break
    rest = {k: v for k, v in parsed.items() if k != used}
    if not rest:
        return candidates, None
    return candidates, _predicate(store, log, rest)


def _predicate(store: EventStore, log: DomainEvents, rest: dict[str, Terms]) -> Callable[[int], bool]:
    def field_values(key: str, pos: int) -> list[str]:
        kind = log.kind[pos]
        if key == "event":
            return [KIND_NAMES[kind]]
        if key == "severity":
            status = STATUS.get(kind)
            return [status[3]] if status is not None and status[3] is not None else []
        batch, local = store.messages.locate(log.copy[pos])
        if key == "recipient":
            return [batch.copy_recipient(local)[0].lower()]
        if key == "message-id":
            return [batch.bare_id]
        if key == "tags":
            return [t.lower() for t in batch.tags]
        if key == "from":
            return [batch.sender_addr.lower(), batch.sender.lower()]
        if key in ("to", "list"):  # a message sent through a list is addressed to the list
            return [a.lower() for a in batch.to_addr]
        return [(batch.subject or "").lower()]

    def check(pos: int) -> bool:
        for key, terms in rest.items():
            values = field_values(key, pos)
            exact = key in ("event", "severity", "message-id")
            hit = False
            for negated, term in terms:
                wanted = term if exact else term.lower()
                found = any((wanted in v) if key == "subject" else (v == wanted) for v in values)
                if found != negated:
                    hit = True
                    break
            if not hit:
                return False
        return True

    return check
