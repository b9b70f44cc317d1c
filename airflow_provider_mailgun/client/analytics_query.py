"""Request bodies of the v1 analytics APIs (Logs, Metrics, Tags), checked before anything is sent.

Pure functions shared by the sync and async clients. Every rule the API enforces that can be known
up front is checked here and raises
:class:`~airflow_provider_mailgun.exceptions.MailgunQueryError` with the offending value::

    logs_request(start=t0, end=t1, events=["delivered", "failed"],
                 filter={"domain": "mg.example.com", "tag": ["newsletter"]})
    # -> {"start": "Mon, 08 Jul 2024 00:00:00 +0000", "end": ..., "events": [...],
    #     "filter": {"AND": [{"attribute": "domain", "comparator": "=", "values": [...]}, ...]},
    #     "pagination": {"sort": "timestamp:asc", "limit": 100}}
    metrics_request(start=t0, end=t1, dimensions=["time", "tag"], metrics=["delivered_count"],
                    resolution="day")

Times are datetimes (naive ones are taken as UTC), epoch seconds, RFC 2822 or ISO 8601 strings,
sent as RFC 2822 with whole seconds: a start is rounded down and an end up, so the window asked
for always covers the one given (callers that need exact edges filter on each item's time).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from airflow_provider_mailgun._common.mailgun_names import (
    DIMENSIONS,
    LOG_EVENTS,
    METRICS,
    USAGE_DIMENSIONS,
    USAGE_METRICS,
)
from airflow_provider_mailgun.exceptions import MailgunQueryError

TimeLike = datetime | float | int | str

MAX_LOGS_PAGE = 100
LOGS_SORTS = ("timestamp:asc", "timestamp:desc")

FILTER_ATTRIBUTES = tuple(d for d in DIMENSIONS if d != "time")
COMPARATORS = ("=", "!=", "contains", "not contains")
RESOLUTIONS = ("hour", "day", "month")
#: How long Mailgun keeps metrics at each resolution (monthly ones are kept for good).
RETENTION = {"hour": timedelta(days=60), "day": timedelta(days=365)}
#: Metrics pages: up to 1,500 items with the time dimension, 1,000 otherwise.
MAX_METRICS_PAGE = {"time": 1500, "other": 1000}
METRICS_PER_WINDOW = 500  # requests per 10 s (the Metrics API's own rate limit)

_DURATION = re.compile(r"^[1-9][0-9]*[hdm]$")


def as_datetime(value: TimeLike, what: str = "time") -> datetime:
    """An aware UTC datetime from a datetime, epoch seconds, RFC 2822 or ISO 8601 text."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise MailgunQueryError(f"{what} must be a finite time, got {value!r}.")
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return as_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")), what)
        except ValueError:
            pass
        try:
            return as_datetime(parsedate_to_datetime(text), what)
        except (TypeError, ValueError, IndexError):
            pass
    raise MailgunQueryError(
        f"{what} {value!r} is not a time: give a datetime, epoch seconds, RFC 2822 or ISO 8601 text."
    )


def rfc2822(moment: datetime, *, round_up: bool = False) -> str:
    """``Mon, 08 Jul 2024 00:00:00 +0000``: whole seconds, rounded down (or up)."""
    utc = moment.astimezone(timezone.utc)
    if round_up and utc.microsecond:
        utc += timedelta(seconds=1)
    return format_datetime(utc.replace(microsecond=0))


def window(
    start: TimeLike | None, end: TimeLike | None, *, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """Check a time window: start before end, start not in the future."""
    begin = as_datetime(start, "start") if start is not None else None
    finish = as_datetime(end, "end") if end is not None else None
    if begin is not None and finish is not None and begin >= finish:
        raise MailgunQueryError(
            f"The window is empty or reversed: start {begin.isoformat()} is not before end "
            f"{finish.isoformat()}."
        )
    current = now or datetime.now(timezone.utc)
    if begin is not None and begin > current:
        raise MailgunQueryError(f"start {begin.isoformat()} is in the future: there is nothing to read yet.")
    return begin, finish


def filter_group(spec: Any, *, attributes: Sequence[str] | None = None) -> dict[str, Any] | None:
    """``{"AND": [predicate, ...]}`` from a full filter or a shorthand mapping.

    Shorthand: ``{"domain": "mg.example.com", "tag": ["a", "b"]}`` means attribute = any of the
    values. A full filter is checked: only ``AND``, known comparators, each value a string, and
    (for Metrics) a known attribute.
    """
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise MailgunQueryError(f"A filter is a mapping, got {type(spec).__name__}.")
    if "OR" in spec or "NOT" in spec:
        raise MailgunQueryError("Filters take only 'AND' (no OR or NOT): {\"AND\": [predicate, ...]}.")
    if "AND" not in spec:
        return {"AND": [_predicate(name, "=", values, attributes) for name, values in spec.items()]}
    extra = sorted(set(spec) - {"AND"})
    if extra:
        raise MailgunQueryError(f"Filters take only 'AND' (no OR), got also {extra}.")
    group = spec["AND"]
    if not isinstance(group, list | tuple) or not group:
        raise MailgunQueryError("A filter's 'AND' must be a non-empty list of predicates.")
    out = []
    for item in group:
        if not isinstance(item, Mapping) or not {"attribute", "comparator"} <= set(item):
            raise MailgunQueryError(
                f"A filter predicate needs attribute, comparator and values, got {item!r}."
            )
        out.append(_predicate(item["attribute"], item["comparator"], item.get("values"), attributes))
    return {"AND": out}


def _predicate(
    attribute: Any, comparator: Any, values: Any, attributes: Sequence[str] | None
) -> dict[str, Any]:
    if not isinstance(attribute, str) or not attribute.strip():
        raise MailgunQueryError(f"A filter attribute must be a non-empty string, got {attribute!r}.")
    if attributes is not None and attribute not in attributes:
        raise MailgunQueryError(
            f"Unknown filter attribute {attribute!r}; expected one of {', '.join(attributes)}."
        )
    if comparator not in COMPARATORS:
        raise MailgunQueryError(
            f"Unknown filter comparator {comparator!r}; expected one of {', '.join(COMPARATORS)}."
        )
    labelled = []
    for value in [values] if isinstance(values, str | Mapping) else list(values or ()):
        if isinstance(value, Mapping):
            label, text = value.get("label", value.get("value")), value.get("value")
        else:
            label = text = value
        if not isinstance(text, str) or not text or not isinstance(label, str):
            raise MailgunQueryError(
                f"Filter values of {attribute!r} must be non-empty strings, got {value!r}."
            )
        labelled.append({"label": label, "value": text})
    if not labelled:
        raise MailgunQueryError(f"The filter on {attribute!r} has no values.")
    return {"attribute": attribute, "comparator": comparator, "values": labelled}


def _names(values: Iterable[str] | str | None, known: Sequence[str], what: str) -> list[str] | None:
    if values is None:
        return None
    chosen = [values] if isinstance(values, str) else list(values)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise MailgunQueryError(
            f"Unknown {what} {', '.join(map(repr, unknown))}; expected some of {', '.join(known)}."
        )
    if not chosen:
        raise MailgunQueryError(f"An empty list of {what} selects nothing; leave it out to take all.")
    return list(dict.fromkeys(chosen))


def logs_request(
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    duration: str | None = None,
    events: Iterable[str] | str | None = None,
    metric_events: Iterable[str] | None = None,
    filter: Any = None,
    include_subaccounts: bool | None = None,
    include_totals: bool | None = None,
    limit: int = MAX_LOGS_PAGE,
    sort: str = "timestamp:asc",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The first-page body of ``POST /v1/analytics/logs`` (see the module docstring)."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LOGS_PAGE:
        raise MailgunQueryError(f"Logs pages hold 1..{MAX_LOGS_PAGE} items, got limit={limit!r}.")
    if sort not in LOGS_SORTS:
        raise MailgunQueryError(f"Logs sort must be one of {', '.join(LOGS_SORTS)}, got {sort!r}.")
    begin, finish = window(start, end, now=now)
    body: dict[str, Any] = {}
    if begin is not None:
        body["start"] = rfc2822(begin)
    if finish is not None:
        body["end"] = rfc2822(finish, round_up=True)
    if duration is not None:
        if not _DURATION.match(str(duration)):
            raise MailgunQueryError(f"Duration must look like '1d' or '2h', got {duration!r}.")
        body["duration"] = duration
    names = _names(events, LOG_EVENTS, "event type(s)")
    if names is not None:
        body["events"] = names
    if metric_events is not None:
        body["metric_events"] = list(metric_events)
    group = filter_group(filter)
    if group is not None:
        body["filter"] = group
    if include_subaccounts is not None:
        body["include_subaccounts"] = bool(include_subaccounts)
    if include_totals is not None:
        body["include_totals"] = bool(include_totals)
    body["pagination"] = {"sort": sort, "limit": limit}
    return body


def metrics_request(
    *,
    metrics: Iterable[str] | str,
    dimensions: Iterable[str] | str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    duration: str | None = None,
    resolution: str | None = None,
    filter: Any = None,
    include_subaccounts: bool | None = None,
    include_aggregates: bool | None = None,
    limit: int | None = None,
    sort: str | None = None,
    usage: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The first-page body of ``POST /v1/analytics/metrics`` (``usage=True``: ``/usage/metrics``)."""
    known_metrics, known_dims = (USAGE_METRICS, USAGE_DIMENSIONS) if usage else (METRICS, DIMENSIONS)
    body: dict[str, Any] = {"metrics": _names(metrics, known_metrics, "metric(s)")}
    dims = (_names(dimensions, known_dims, "dimension(s)") if dimensions is not None else None) or []
    body["dimensions"] = dims
    if resolution is not None and resolution not in RESOLUTIONS:
        raise MailgunQueryError(f"Resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}.")
    if duration is not None and not _DURATION.match(str(duration)):
        raise MailgunQueryError(f"Duration must look like '7d', '24h' or '2m' (months), got {duration!r}.")
    current = now or datetime.now(timezone.utc)
    begin, finish = window(start, end, now=current)
    kept = RETENTION.get(resolution or "day")
    if begin is not None and kept is not None and current - begin > kept:
        raise MailgunQueryError(
            f"Mailgun keeps {resolution or 'day'}-resolution metrics for {kept.days} days; start "
            f"{begin.date().isoformat()} is older. Use a coarser resolution or a later start."
        )
    for key, value in (("start", begin), ("end", finish)):
        if value is not None:
            body[key] = rfc2822(value, round_up=key == "end")
    for key, option in (("duration", duration), ("resolution", resolution)):
        if option is not None:
            body[key] = option
    group = filter_group(filter, attributes=FILTER_ATTRIBUTES if not usage else ("subaccount",))
    if group is not None:
        body["filter"] = group
    if include_subaccounts is not None:
        body["include_subaccounts"] = bool(include_subaccounts)
    if include_aggregates is not None:
        body["include_aggregates"] = bool(include_aggregates)
    most = MAX_METRICS_PAGE["time" if "time" in dims else "other"]
    size = most if limit is None else limit
    if not isinstance(size, int) or not 1 <= size <= most:
        raise MailgunQueryError(
            f"Metrics pages hold 1..{most} items with these dimensions, got limit={limit!r}."
        )
    body["pagination"] = {"skip": 0, "limit": size, **({"sort": sort} if sort else {})}
    return body


def tags_request(
    *,
    tag: str | None = None,
    include_metrics: bool | None = None,
    include_subaccounts: bool | None = None,
    limit: int = 100,
    sort: str | None = None,
) -> dict[str, Any]:
    """The first-page body of ``POST /v1/analytics/tags`` (at most 1,000 a page, 20 with metrics)."""
    most = 20 if include_metrics else 1000
    if not isinstance(limit, int) or not 1 <= limit <= most:
        raise MailgunQueryError(f"Tag pages hold 1..{most} items here, got limit={limit!r}.")
    body: dict[str, Any] = {"pagination": {"skip": 0, "limit": limit, "include_total": True}}
    if sort:
        body["pagination"]["sort"] = sort
    if tag:
        body["tag"] = tag
    if include_metrics is not None:
        body["include_metrics"] = bool(include_metrics)
    if include_subaccounts is not None:
        body["include_subaccounts"] = bool(include_subaccounts)
    return body
