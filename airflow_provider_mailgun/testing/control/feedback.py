"""Complaints and permanent bounces on demand, for mail that was already delivered.

Sending to ``complain...@`` or ``bounce...@`` addresses produces them at send time; real ones
also arrive later (a recipient marks a newsletter as spam days after it was delivered, a mailbox
is closed and the message bounces afterwards). This records such an event for the latest copy
sent to a recipient, with the same side effects (the address joins the complaints or bounces
table) and webhook posts as any other event::

    record(state, "complained", "ann@example.org")                    # visible at once
    record(state, "failed", "bob@example.org", index_delay=30)        # indexed 30 s late

Served as ``POST /_emulator/events`` and as ``emu.complain(...)`` / ``emu.bounce(...)``.
:func:`record_many` records several as one step (a poll of the events sees all or none of them)::

    record_many(state, [{"event": "complained", "recipient": "ann@example.org"},
                        {"event": "failed", "recipient": "bob@example.org", "index_delay": 30}])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_mailgun.testing.model.events import ACCEPTED, COMPLAINED, FAIL_BOUNCE
from airflow_provider_mailgun.testing.model.state import EmulatorState
from airflow_provider_mailgun.testing.util import ApiError

KINDS = {"complained": COMPLAINED, "failed": FAIL_BOUNCE}


class FeedbackError(ApiError, ValueError):
    """Nothing to attach the event to, or an event type this cannot produce."""


def record(
    state: EmulatorState,
    event: str,
    recipient: str,
    domain: str | None = None,
    *,
    index_delay: float = 0.0,
    storage_base: str = "",
) -> dict[str, Any]:
    """Add a ``complained`` or permanent ``failed`` event; return it in the Events API shape."""
    with state.lock:
        state.tick()  # release due events first: the log stays in timestamp order
        kind, key, (name, copy, batch_seq) = _check(state, event, recipient, domain, index_delay)
        now = state.now()
        log = state.events.log(name)
        position = log.append(now, kind, copy, key, batch_seq)
        state.events.count += 1
        state.apply_side_effects(name, kind, copy, now)
        if index_delay > 0:
            state.events.hide(name, position, now + index_delay)
        state.webhooks.poke()
        item = state.events.render(name, position, storage_base)
        item["domain"] = name
        return item


def record_many(
    state: EmulatorState, items: Sequence[Mapping[str, Any]], *, storage_base: str = ""
) -> list[dict[str, Any]]:
    """:func:`record` for each item (its keyword arguments) as one step; a bad item records none."""
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise FeedbackError("events must be a non-empty list of {event, recipient[, domain, index_delay]}")
    with state.lock:
        state.tick()
        calls = []
        for number, item in enumerate(items):
            try:
                if not isinstance(item, Mapping):
                    raise FeedbackError("each event is an object {event, recipient[, domain, index_delay]}")
                event, recipient, domain, index_delay = _arguments(item)
                _check(state, event, recipient, domain, index_delay)
            except (TypeError, ValueError) as exc:
                raise FeedbackError(f"events[{number}]: {exc}") from None
            calls.append((event, recipient, domain, index_delay))
        return [
            record(state, event, recipient, domain, index_delay=delay, storage_base=storage_base)
            for event, recipient, domain, delay in calls
        ]


def _arguments(item: Mapping[str, Any]) -> tuple[str, str, str | None, float]:
    return (
        str(item.get("event", "")),
        str(item.get("recipient", "")),
        str(item["domain"]) if item.get("domain") else None,
        float(item.get("index_delay") or 0.0),
    )


def _check(
    state: EmulatorState, event: str, recipient: str, domain: str | None, index_delay: float
) -> tuple[int, str, tuple[str, int, int]]:
    """(kind, address key, latest copy) of a valid event; :class:`FeedbackError` otherwise."""
    kind = KINDS.get(event)
    if kind is None:
        raise FeedbackError(f"event must be one of {', '.join(KINDS)} (a permanent bounce is 'failed')")
    if index_delay < 0:
        raise FeedbackError("index_delay cannot be negative")
    key = recipient.strip().lower()
    found = _latest_copy(state, key, domain.lower() if domain else None)
    if found is None:
        where = f" on {domain}" if domain else ""
        raise FeedbackError(f"No message was sent to {recipient}{where}: send one first")
    return kind, key, found


def _latest_copy(state: EmulatorState, key: str, domain: str | None) -> tuple[str, int, int] | None:
    """(domain, copy, batch seq) of the newest copy sent to ``key``."""
    best: tuple[float, str, int, int] | None = None
    for name, log in state.events.domains.items():
        if domain is not None and name != domain:
            continue
        for position in reversed(log.by_recipient.get(key, ())):
            if log.kind[position] == ACCEPTED:
                batch, _local = state.messages.locate(log.copy[position])
                if best is None or log.ts[position] > best[0]:
                    best = (log.ts[position], name, log.copy[position], batch.seq)
                break
    return None if best is None else best[1:]
