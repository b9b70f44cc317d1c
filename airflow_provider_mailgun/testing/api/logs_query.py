"""The Logs API (``POST /v1/analytics/logs``): query rules, token paging and the item shape.

Logs read the same event log as the Events API, account-wide: every domain unless a ``domain``
filter names some. A page token carries a fingerprint of the query (a token used with another
query is refused) and, per domain, the log position where the next page starts. Positions never
move, so a token read again later returns the same page plus whatever was appended in its range;
nothing more is promised, as the spec promises nothing more.

Items are the Events API's event reshaped as the spec's ``LogEvent``: ``@timestamp`` as ISO 8601
text with milliseconds (rounded down), ``domain`` as ``{"name"}``, ``user-variables`` as JSON text,
``storage.url`` as a list.

Example::

    query = parse_logs_request(body, now)          # raises LogsError with Mailgun's words
    page = select_logs(state.events, domains, query)
    [log_item(state.events, d, pos, storage_base) for d, pos in page.positions]
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import math
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun._common.mailgun_names import LOG_EVENTS
from airflow_provider_mailgun.testing.model.events import KIND_NAMES, STATUS, EventStore
from airflow_provider_mailgun.testing.model.messages import MessageStore
from airflow_provider_mailgun.testing.util import ApiError, parse_date, rfc2822

MAX_LIMIT = 100
#: metric_events names and the event types they stand for.
METRIC_EVENTS = {
    **{name: "accepted" for name in ("accepted", "accepted_incoming", "accepted_outgoing", "processed")},
    **{
        name: "delivered" for name in ("delivered", "delivered_smtp", "delivered_http", "delivered_optimized")
    },
    **{name: "failed" for name in ("failed", "temporary_failed", "permanent_failed", "sent")},
    **{name: name for name in ("stored", "opened", "clicked", "complained", "unsubscribed")},
    "unique_opened": "opened",
    "unique_clicked": "clicked",
}
ATTRIBUTES = ("domain", "tag", "recipient", "recipient_domain", "event")
COMPARATORS = ("=", "!=", "contains", "not contains")
_DURATION = re.compile(r"^(\d+)([hdm])$")
_UNITS = {"h": 3600, "d": 86400, "m": 30 * 86400}
ACCOUNT_ID = "000000000000000000000001"


class LogsError(ApiError, ValueError):
    """A request the Logs API refuses (answered with 400 and this message)."""


Predicate = tuple[str, str, tuple[str, ...]]


@dataclass
class LogsQuery:
    start: float
    end: float
    events: tuple[str, ...] | None
    predicates: list[Predicate]
    limit: int
    ascending: bool
    include_totals: bool
    fingerprint: str
    cursors: dict[str, int] | None = None

    def token(self, cursors: Mapping[str, int]) -> str:
        """The window is kept in the token: a default start/end ("now") must not move between pages."""
        raw = {"q": self.fingerprint, "s": self.start, "e": self.end, "c": dict(cursors)}
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")

    def domains(self, known: list[str]) -> list[str]:
        """The domains in scope: those a ``domain =`` filter names, else all."""
        for attribute, comparator, values in self.predicates:
            if attribute == "domain" and comparator == "=":
                return [d for d in known if d in values]
        return known


def _time(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or _is_number(value) or (parsed := parse_date(value)) is None:
        raise LogsError(f"Invalid '{key}': {value!r} is not an RFC 2822 date")
    return parsed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_logs_request(body: Any, now: float) -> LogsQuery:
    """Apply the Logs API's rules to a request body (see the module docstring)."""
    if not isinstance(body, dict):
        raise LogsError("Request body must be a JSON object")
    end = _time(body, "end")
    end = now if end is None else end
    start = _time(body, "start")
    duration = body.get("duration")
    if duration not in (None, ""):
        found = _DURATION.match(str(duration))
        if found is None:
            raise LogsError(f"Invalid 'duration': {duration!r}")
        start = end - int(found.group(1)) * _UNITS[found.group(2)]
    start = end - 86400 if start is None else start
    if start > end:
        raise LogsError("'start' must be before 'end'")
    events = _events(body)
    predicates = _predicates(body.get("filter"))
    paging = body.get("pagination") or {}
    if not isinstance(paging, dict):
        raise LogsError("Invalid 'pagination': must be an object")
    limit = paging.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise LogsError(f"Invalid 'pagination.limit': must be between 1 and {MAX_LIMIT}")
    sort = paging.get("sort") or "timestamp:asc"
    if sort not in ("timestamp:asc", "timestamp:desc"):
        raise LogsError(f"Invalid 'pagination.sort': {sort!r}")
    asked = {k: v for k, v in body.items() if k != "pagination"}
    asked["pagination"] = {k: v for k, v in paging.items() if k != "token"}
    fingerprint = hashlib.blake2b(
        json.dumps(asked, sort_keys=True, default=str).encode(), digest_size=8
    ).hexdigest()
    query = LogsQuery(
        start,
        end,
        events,
        predicates,
        limit,
        sort == "timestamp:asc",
        bool(body.get("include_totals")),
        fingerprint,
    )
    token = paging.get("token")
    if token:
        query.start, query.end, query.cursors = _read_token(str(token), fingerprint)
    return query


def _events(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    chosen: list[str] = []
    for key, known in (("events", {e: e for e in LOG_EVENTS}), ("metric_events", METRIC_EVENTS)):
        values = body.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise LogsError(f"Invalid '{key}': must be a list of strings")
        for value in values:
            if value not in known:
                raise LogsError(f"Invalid event type in '{key}': {value}")
            chosen.append(known[value].replace("unique_", ""))
    return tuple(sorted(set(chosen))) if chosen else None


def _predicates(spec: Any, attributes: tuple[str, ...] = ATTRIBUTES) -> list[Predicate]:
    if spec in (None, {}):
        return []
    if not isinstance(spec, dict) or set(spec) != {"AND"} or not isinstance(spec["AND"], list):
        raise LogsError("Invalid 'filter': expected {\"AND\": [predicates]}")
    out: list[Predicate] = []
    for item in spec["AND"]:
        if not isinstance(item, dict):
            raise LogsError("Invalid 'filter': each predicate must be an object")
        attribute, comparator, values = item.get("attribute"), item.get("comparator"), item.get("values")
        if attribute not in attributes:
            raise LogsError(f"Invalid filter attribute: {attribute}")
        if comparator not in COMPARATORS:
            raise LogsError(f"Invalid filter comparator: {comparator}")
        if not isinstance(values, list) or not values:
            raise LogsError(f"Invalid filter values for '{attribute}'")
        texts = []
        for value in values:
            text = value.get("value") if isinstance(value, dict) else None
            if not isinstance(text, str) or not text:
                raise LogsError(f"Invalid filter value for '{attribute}': {value!r}")
            texts.append(text.lower())
        out.append((str(attribute), str(comparator), tuple(texts)))
    return out


def _read_token(token: str, fingerprint: str) -> tuple[float, float, dict[str, int]]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursors = {str(k): int(v) for k, v in dict(raw["c"]).items()}
        start, end, matches = float(raw["s"]), float(raw["e"]), raw["q"] == fingerprint
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LogsError("Invalid pagination token") from None
    if not matches:
        raise LogsError("Invalid pagination token: it belongs to another query")
    return start, end, cursors


@dataclass
class LogsPage:
    positions: list[tuple[str, int]]
    next_cursors: dict[str, int] | None


def _matcher(store: EventStore, domain: str, query: LogsQuery) -> Callable[[int], bool] | None:
    log = store.domains[domain]
    hidden, checks = log.hidden, []
    for attribute, comparator, values in query.predicates:
        if attribute == "domain":
            continue  # applied when choosing the domains
        checks.append((_field(store.messages, log, attribute), comparator, values))
    if not checks and not hidden:
        return None

    def match(pos: int) -> bool:
        if pos in hidden:
            return False
        return all(holds(comparator, values, read(pos)) for read, comparator, values in checks)

    return match


def holds(comparator: str, values: tuple[str, ...], found: list[str]) -> bool:
    """Whether a predicate holds for an event's values of its attribute (lower-case text)."""
    if comparator in ("=", "!="):
        hit = any(v in values for v in found)
    else:
        hit = any(w in v for v in found for w in values)
    return hit == (comparator in ("=", "contains"))


def _field(messages: MessageStore, log: Any, attribute: str) -> Callable[[int], list[str]]:
    def recipient(pos: int) -> list[str]:
        batch, local = messages.locate(log.copy[pos])
        return [batch.copy_recipient(local)[0].lower()]

    if attribute == "recipient":
        return recipient
    if attribute == "recipient_domain":
        return lambda pos: [recipient(pos)[0].rpartition("@")[2]]
    if attribute == "event":
        return lambda pos: [KIND_NAMES[log.kind[pos]]]
    return lambda pos: [t.lower() for t in messages.locate(log.copy[pos])[0].tags]


def _walk(store: EventStore, domain: str, query: LogsQuery, cursor: int | None) -> Iterator[int]:
    """Positions of one domain in the window, in the query's direction, from ``cursor``."""
    log = store.domains[domain]
    lo, hi = bisect_left(log.ts, query.start), bisect_right(log.ts, query.end)
    if query.ascending:
        first = lo if cursor is None else max(cursor, lo)
        if query.events is None:
            yield from range(first, hi)
            return
        lanes = [log.positions(log.by_event, name) for name in query.events]
        yield from heapq.merge(*(_slice(lane, first, hi) for lane in lanes))
        return
    last = hi if cursor is None else min(cursor, hi)
    if query.events is None:
        yield from range(last - 1, lo - 1, -1)
        return
    lanes = [log.positions(log.by_event, name) for name in query.events]
    yield from heapq.merge(*(_slice(lane, lo, last, reverse=True) for lane in lanes), reverse=True)


def _slice(lane: Any, start: int, stop: int, *, reverse: bool = False) -> Iterator[int]:
    a, b = bisect_left(lane, start), bisect_left(lane, stop)
    return (lane[i] for i in (range(b - 1, a - 1, -1) if reverse else range(a, b)))


def select_logs(store: EventStore, domains: list[str], query: LogsQuery) -> LogsPage:
    """One page: up to ``limit`` positions across ``domains``, and where the next page starts."""
    found: list[tuple[float, int, int, str]] = []
    order = {name: i for i, name in enumerate(domains)}
    for name in domains:
        if name not in store.domains:
            continue
        match = _matcher(store, name, query)
        cursor = query.cursors.get(name) if query.cursors else None
        taken = 0
        for pos in _walk(store, name, query, cursor):
            if match is None or match(pos):
                found.append((store.domains[name].ts[pos], order[name], pos, name))
                taken += 1
                if taken > query.limit:
                    break
    found.sort(reverse=not query.ascending)
    page = found[: query.limit]
    if len(found) <= query.limit:
        return LogsPage([(name, pos) for _ts, _o, pos, name in page], None)
    cursors = dict(query.cursors or {})
    for _ts, _o, pos, name in page:
        cursors[name] = pos + 1 if query.ascending else pos
    return LogsPage([(name, pos) for _ts, _o, pos, name in page], cursors)


def count_logs(store: EventStore, domains: list[str], query: LogsQuery) -> int:
    """``pagination.total`` (``include_totals``): every match in the window."""
    total = 0
    for name in domains:
        if name in store.domains:
            match = _matcher(store, name, query)
            total += sum(1 for pos in _walk(store, name, query, None) if match is None or match(pos))
    return total


def iso_ms(ts: float) -> str:
    """``2024-07-08T16:30:18.530Z``: milliseconds, rounded down."""
    whole = math.floor(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1000):03d}Z"


def log_item(store: EventStore, domain: str, pos: int, storage_base: str) -> dict[str, Any]:
    """The event at ``pos`` as a Logs ``LogEvent``."""
    item = store.render(domain, pos, storage_base)
    item["@timestamp"] = iso_ms(item.pop("timestamp"))
    item["domain"] = {"name": domain}
    item["account"] = {"id": ACCOUNT_ID}
    item["user-variables"] = json.dumps(item["user-variables"], separators=(",", ":"))
    storage = item.get("storage")
    if storage:
        item["storage"] = {**storage, "url": [storage["url"]]}
    item["flags"].update({"is-delayed-bounce": False, "is-callback": False})
    template = item.get("template")
    if template:
        template["is-text"] = template.get("is-text") == "yes"
    scheduled = item["message"].get("scheduled-for")
    if isinstance(scheduled, str):
        item["message"]["scheduled-for"] = int(parse_date(scheduled) or 0)
    item.pop("campaigns", None)
    status = STATUS.get(store.domains[domain].kind[pos])
    if status is not None and status[3] is not None:
        item["delivery-status"].setdefault("bounce-type", "hard" if status[3] == "permanent" else "soft")
    return item


def logs_response(
    query: LogsQuery, items: list[dict[str, Any]], page: LogsPage, total: int | None
) -> dict[str, Any]:
    pagination: dict[str, Any] = {"first": query.token({})}
    if page.next_cursors is not None:
        pagination["next"] = query.token(page.next_cursors)
    if total is not None:
        pagination["total"] = total
    return {
        "start": rfc2822(query.start),
        "end": rfc2822(query.end),
        "items": items,
        "pagination": pagination,
        "aggregates": {},
    }
