"""Turning the sensor's arguments into a :class:`DeliveryGoal` and a start time (pure, no Airflow).

``message_ids`` may be one id, a list of ids, the send operator's XCom result (a dict with
``message_ids``, ``recipients_per_message`` and optionally ``started_at`` and ``domain``), a list of
such results (a mapped send), or any of these rendered by Jinja to a string::

    sent = parse_message_ids(
        {"message_ids": ["<a@mg.example.com>"], "recipients_per_message": {"<a@mg.example.com>": 2},
         "started_at": 1718000000.0, "domain": "mg.example.com"}
    )
    sent.ids, sent.counts, sent.started_at, sent.domain
    # ("a@mg.example.com",), {"a@mg.example.com": 2}, 1718000000.0, "mg.example.com"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_mailgun._common.rendered import structured_text
from airflow_provider_mailgun.client.urls import strip_message_id

DEFAULT_BEGIN_MARGIN = timedelta(minutes=10)
IDS_KEY, COUNTS_KEY, STARTED_KEY, DOMAIN_KEY = "message_ids", "recipients_per_message", "started_at", "domain"
TimeInput = datetime | float | int | str


@dataclass
class SentMessages:
    """What ``message_ids`` says: ids (no brackets), known counts, earliest send, sending domain."""

    ids: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    started_at: float | None = None
    domain: str | None = None


def parse_message_ids(value: Any) -> SentMessages:
    """Read any accepted form of ``message_ids`` (see the module docstring); one clear error if bad."""
    ids: dict[str, None] = {}
    found = SentMessages()
    _collect(_literal(value), ids, found)
    if not ids:
        raise ValueError(
            "message_ids is empty: pass an id, a list of ids, or the send operator's result "
            "(e.g. send_task.output)."
        )
    found.ids = tuple(ids)
    return found


def _literal(value: Any) -> Any:
    # A Jinja-rendered XCom arrives as the repr of a dict or list unless the DAG renders natively.
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return structured_text(value)
        except ValueError:
            shown = value[:80]
            raise ValueError(f"message_ids looks like a dict or list but does not parse: {shown!r}") from None
    return value


def _collect(value: Any, ids: dict[str, None], found: SentMessages) -> None:
    if value is None:
        return
    if isinstance(value, str):
        for part in value.replace(",", " ").split():
            message_id = strip_message_id(part)
            if message_id:
                ids[message_id] = None
        return
    if isinstance(value, Mapping):
        _collect_result(value, ids, found)
        return
    if isinstance(value, Iterable):
        for item in value:
            _collect(item, ids, found)
        return
    raise ValueError(f"message_ids must be ids or the send operator's result, got {type(value).__name__}.")


def _collect_result(result: Mapping[str, Any], ids: dict[str, None], found: SentMessages) -> None:
    if IDS_KEY not in result and COUNTS_KEY not in result:
        raise ValueError(f"A dict given as message_ids needs a {IDS_KEY!r} key (the send operator's result).")
    _collect(result.get(IDS_KEY), ids, found)
    for raw_id, count in (result.get(COUNTS_KEY) or {}).items():
        message_id = strip_message_id(str(raw_id))
        ids[message_id] = None
        found.counts[message_id] = found.counts.get(message_id, 0) + _count(count, message_id)
    if result.get(STARTED_KEY) not in (None, ""):
        started = to_epoch(result[STARTED_KEY])
        found.started_at = started if found.started_at is None else min(found.started_at, started)
    domain = result.get(DOMAIN_KEY)
    if isinstance(domain, str) and domain:
        if found.domain not in (None, domain):
            raise ValueError(
                f"message_ids come from two domains ({found.domain}, {domain}): wait on each with its own "
                "sensor."
            )
        found.domain = domain


def _count(value: Any, message_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"Recipient count for {message_id!r} must be an integer, got {value!r}.")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"Recipient count for {message_id!r} must be an integer, got {value!r}.") from None
    if number < 1:
        raise ValueError(f"Recipient count for {message_id!r} must be at least 1, got {number}.")
    return number


def merge_expected(
    ids: tuple[str, ...], from_result: Mapping[str, int], expected_recipients: int | Mapping[str, Any] | None
) -> dict[str, int]:
    """Counts per id: ``expected_recipients`` (one number for every id, or per id) overrides the XCom's."""
    merged = dict(from_result)
    if expected_recipients is None:
        return merged
    if isinstance(expected_recipients, Mapping):
        for raw_id, count in expected_recipients.items():
            message_id = strip_message_id(str(raw_id))
            if message_id not in ids:
                raise ValueError(f"expected_recipients names {raw_id!r}, which is not in message_ids.")
            merged[message_id] = _count(count, message_id)
        return merged
    number = _count(expected_recipients, "every message")
    return {message_id: number for message_id in ids}


def to_epoch(value: TimeInput) -> float:
    """Epoch seconds from a datetime (naive means UTC), a number, or an ISO-8601 / numeric string."""
    if isinstance(value, bool):
        raise ValueError(f"Not a time: {value!r}.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=timezone.utc).timestamp()
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"begin must be a datetime, epoch seconds or ISO-8601 text, got {text!r}.") from None
    return to_epoch(parsed)


def default_begin(started_at: float | None, run_started: float | None, now: float) -> float:
    """A margin before the send: the result's ``started_at``, else the DAG run's start, else now."""
    anchor = started_at if started_at is not None else run_started if run_started is not None else now
    return min(anchor, now) - DEFAULT_BEGIN_MARGIN.total_seconds()
