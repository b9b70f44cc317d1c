"""The Metrics API (``POST /v1/analytics/metrics``, ``/usage/metrics``), computed from the event log.

Every event in the window is counted into the group its dimension values name (``time`` is the
bucket start at the query's resolution, ``tag`` one group per tag of the message, so an untagged
message is in no tag group). Counts follow the event kinds: ``delivered`` includes test-mode
deliveries, ``bounced``/``hard_bounces`` are 550 bounces, ``suppressed_*`` the 605/606/607
failures, ``sent`` is delivered plus failed minus suppressed. Rates are percentages of sent
(delivered, bounce, fail rates) or of delivered (engagement rates), as text with two decimals.
Dimensions the emulator has no data for (country, device, bot, ip_pool, subaccount) group
everything under ``"unknown"``.

Example::

    query = parse_metrics_request(body, now, usage=False)    # raises MetricsError
    body = metrics_response(query, aggregate(state, query))
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_mailgun._common.mailgun_names import DIMENSIONS, USAGE_DIMENSIONS
from airflow_provider_mailgun.testing.api.logs_query import LogsError, _predicates, _time, holds
from airflow_provider_mailgun.testing.model import events as ev
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import floor_time

_DURATION = re.compile(r"^(\d+)([hdm])$")
_UNITS = {"h": 3600, "d": 86400, "m": 30 * 86400}
RETENTION_DAYS = {"hour": 60, "day": 365}
_KIND_COUNTER = {
    ev.ACCEPTED: "accepted",
    ev.DELIVERED: "delivered",
    ev.DELIVERED_TEST: "delivered",
    ev.FAIL_TEMPORARY: "temporary_failed",
    ev.FAIL_BOUNCE: "bounced",
    ev.FAIL_SUPPRESS_BOUNCE: "suppressed_bounces",
    ev.FAIL_SUPPRESS_UNSUBSCRIBE: "suppressed_unsubscribed",
    ev.FAIL_SUPPRESS_COMPLAINT: "suppressed_complaints",
    ev.OPENED: "opened",
    ev.CLICKED: "clicked",
    ev.UNSUBSCRIBED: "unsubscribed",
    ev.COMPLAINED: "complained",
}


class MetricsError(LogsError):
    """A request the Metrics API refuses (400 with this message)."""


@dataclass
class MetricsQuery:
    start: float
    end: float
    resolution: str
    duration: str | None
    dimensions: list[str]
    metrics: list[str]
    predicates: list[tuple[str, str, tuple[str, ...]]]
    skip: int
    limit: int
    include_aggregates: bool


def parse_metrics_request(
    body: Any, now: float, known_metrics: tuple[str, ...], *, usage: bool
) -> MetricsQuery:
    if not isinstance(body, dict):
        raise MetricsError("Request body must be a JSON object")
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise MetricsError("'metrics' is required: a non-empty list of metric names")
    for name in metrics:
        if name not in known_metrics:
            raise MetricsError(f"Invalid metric: {name}")
    dimensions = body.get("dimensions") or []
    allowed = USAGE_DIMENSIONS if usage else DIMENSIONS
    if not isinstance(dimensions, list):
        raise MetricsError("'dimensions' must be a list")
    for name in dimensions:
        if name not in allowed:
            raise MetricsError(f"Invalid dimension: {name}")
    resolution = body.get("resolution") or "day"
    if resolution not in ("hour", "day", "month"):
        raise MetricsError(f"Invalid resolution: {resolution}")
    end = _time(body, "end")
    end = now if end is None else end
    start = _time(body, "start")
    duration = body.get("duration") or None
    if duration is not None:
        found = _DURATION.match(str(duration))
        if found is None:
            raise MetricsError(f"Invalid duration: {duration}")
        start = end - int(found.group(1)) * _UNITS[found.group(2)]
    start = end - 7 * 86400 if start is None else start
    if start > end:
        raise MetricsError("'start' must be before 'end'")
    kept = RETENTION_DAYS.get(resolution)
    if kept is not None and now - start > kept * 86400:
        raise MetricsError(f"{resolution} resolution data is only kept for {kept} days; 'start' is older")
    predicates = _predicates(body.get("filter"), tuple(d for d in allowed if d != "time"))
    paging = body.get("pagination") or {}
    most = 1500 if "time" in dimensions else 1000
    skip, limit = paging.get("skip", 0), paging.get("limit", most)
    if not isinstance(skip, int) or skip < 0:
        raise MetricsError("Invalid 'pagination.skip'")
    if not isinstance(limit, int) or not 1 <= limit <= most:
        raise MetricsError(f"Invalid 'pagination.limit': must be between 1 and {most}")
    aggregates = bool(body.get("include_aggregates"))
    return MetricsQuery(
        start, end, resolution, duration, dimensions, metrics, predicates, skip, limit, aggregates
    )


def _rfc2822_zero(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))


Groups = dict[tuple[str, ...], Counter[str]]
#: The key under which :func:`aggregate` keeps the totals (every event counted once).
TOTALS = ("\x00totals",)


def aggregate(state: EmulatorState, query: MetricsQuery) -> Groups:
    """Counts per group of dimension values, plus :data:`TOTALS` (call with the lock held)."""
    groups: Groups = {TOTALS: Counter()}
    uniques: dict[tuple[str, ...], set[tuple[int, int]]] = {}
    for domain, pos in _positions(state, query):
        log = state.events.domains[domain]
        kind = log.kind[pos]
        counter = _KIND_COUNTER.get(kind)
        if counter is None:
            continue
        batch, local = state.messages.locate(log.copy[pos])
        recipient = batch.copy_recipient(local)[0].lower()
        if not _passes(query, domain, recipient, batch.tags):
            continue
        values = _dimension_values(query, log.ts[pos], domain, recipient, batch.tags)
        for key in [TOTALS, *values]:
            slot = groups.get(key)
            if slot is None:
                slot = groups[key] = Counter()
            slot[counter] += 1
            if kind in (ev.OPENED, ev.CLICKED):
                seen = uniques.setdefault(key, set())
                if (kind, log.copy[pos]) not in seen:
                    seen.add((kind, log.copy[pos]))
                    slot[f"unique_{counter}"] += 1
    return groups


def _positions(state: EmulatorState, query: MetricsQuery) -> Iterator[tuple[str, int]]:
    for domain, log in state.events.domains.items():
        lo, hi = bisect_left(log.ts, query.start), bisect_right(log.ts, query.end)
        for pos in range(lo, hi):
            if pos not in log.hidden:
                yield domain, pos


def _passes(query: MetricsQuery, domain: str, recipient: str, tags: list[str]) -> bool:
    for attribute, comparator, values in query.predicates:
        found = {"domain": [domain], "tag": [t.lower() for t in tags]}.get(attribute)
        if attribute == "recipient_domain":
            found = [recipient.rpartition("@")[2]]
        if not holds(comparator, values, found if found is not None else ["unknown"]):
            return False
    return True


def _dimension_values(
    query: MetricsQuery, ts: float, domain: str, recipient: str, tags: list[str]
) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = [()]
    for name in query.dimensions:
        if name == "time":
            options = [f"{floor_time(ts, query.resolution):.0f}"]
        elif name == "tag":
            options = list(dict.fromkeys(tags))
        elif name == "domain":
            options = [domain]
        elif name == "recipient_domain":
            options = [recipient.rpartition("@")[2]]
        elif name == "ip":
            options = ["192.0.2.10"]
        else:
            options = ["unknown"]
        keys = [(*key, option) for key in keys for option in options]
    return keys


def metric_values(counts: Counter[str], names: list[str]) -> dict[str, Any]:
    delivered, bounced = counts["delivered"], counts["bounced"]
    suppressed = (
        counts["suppressed_bounces"] + counts["suppressed_unsubscribed"] + counts["suppressed_complaints"]
    )
    permanent = bounced + suppressed
    failed = permanent + counts["temporary_failed"]
    sent = delivered + counts["temporary_failed"] + bounced
    values: dict[str, int] = {
        **{f"{name}_count": counts[name] for name in _KIND_COUNTER.values()},
        "accepted_outgoing_count": counts["accepted"],
        "processed_count": counts["accepted"],
        "delivered_smtp_count": delivered,
        "unique_opened_count": counts["unique_opened"],
        "unique_clicked_count": counts["unique_clicked"],
        "sent_count": sent,
        "failed_count": failed,
        "permanent_failed_count": permanent,
        "hard_bounces_count": bounced,
    }
    rates = {
        "delivered_rate": (delivered, sent),
        "bounce_rate": (bounced, sent),
        "fail_rate": (failed, sent),
        "permanent_fail_rate": (permanent, sent),
        "temporary_fail_rate": (counts["temporary_failed"], sent),
        "opened_rate": (counts["opened"], delivered),
        "clicked_rate": (counts["clicked"], delivered),
        "unique_opened_rate": (counts["unique_opened"], delivered),
        "unique_clicked_rate": (counts["unique_clicked"], delivered),
        "unsubscribed_rate": (counts["unsubscribed"], delivered),
        "complained_rate": (counts["complained"], delivered),
    }
    out: dict[str, Any] = {}
    for name in names:
        if name.endswith("_rate"):
            part, whole = rates.get(name, (0, 0))
            out[name] = f"{100.0 * part / whole:.2f}" if whole else "0.00"
        else:
            out[name] = values.get(name, 0)
    return out


def usage_groups(state: EmulatorState, query: MetricsQuery) -> Groups:
    """Usage metrics: the emulator counts address validations (and sends as ``processed``)."""
    groups: Groups = {TOTALS: Counter()}
    moments = [(ts, "valid" if ok else "") for ts, ok in state.validations]
    moments += [(b.time, "processed") for b in state.messages.batches]
    for ts, what in moments:
        if not query.start <= ts <= query.end:
            continue
        key = tuple(
            f"{floor_time(ts, query.resolution):.0f}" if d == "time" else "unknown" for d in query.dimensions
        )
        for slot in (groups[TOTALS], groups.setdefault(key, Counter())):
            if what == "processed":
                slot["processed_count"] += 1
                continue
            slot["email_validation_count"] += 1
            slot["email_validation_single_count"] += 1
            slot["email_validation_public_count"] += 1
            slot["email_validation_valid_count"] += what == "valid"
    return groups


def usage_values(counts: Counter[str], names: list[str]) -> dict[str, Any]:
    return {name: counts[name] for name in names}


def metrics_response(query: MetricsQuery, groups: Groups, values: Any = metric_values) -> dict[str, Any]:
    totals = groups.get(TOTALS, Counter())
    rows = [(key, counts) for key, counts in groups.items() if key != TOTALS]
    ordered = sorted(rows, key=lambda kv: tuple(_sort_key(v) for v in kv[0]))
    page = ordered[query.skip : query.skip + query.limit]
    items = []
    for key, counts in page:
        dims = []
        for name, value in zip(query.dimensions, key, strict=True):
            shown = _rfc2822_zero(float(value)) if name == "time" else value
            dims.append({"dimension": name, "value": shown, "display_value": shown})
        items.append({"dimensions": dims, "metrics": values(counts, query.metrics)})
    body: dict[str, Any] = {
        "start": _rfc2822_zero(query.start),
        "end": _rfc2822_zero(query.end),
        "resolution": query.resolution,
        "dimensions": list(query.dimensions),
        "pagination": {"sort": "", "skip": query.skip, "limit": query.limit, "total": len(ordered)},
        "items": items,
    }
    if query.duration:
        body["duration"] = query.duration
    if query.include_aggregates:
        body["aggregates"] = {"metrics": values(totals, query.metrics)}
    return body


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)
